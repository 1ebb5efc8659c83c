/**
 * The run snapshot (a discriminated union on `status`) and `fold`, the pure
 * function that applies one event to it. A transition the state machine does
 * not allow is an {@linkcode IllegalTransitionError}, never a silent change.
 *
 * ```
 * queued → running → (interrupted | paused) ⇄ running → completed | failed | cancelled
 * ```
 *
 * @module
 */

import { IllegalTransitionError, OrisError } from "./errors.ts";
import {
  type ErrorInfo,
  EVENT_FORMAT_VERSION,
  type InterruptRecord,
  type ResolvedInterrupt,
  type RunDeadline,
  type RunEvent,
  type StoredEvent,
  type TaskSpec,
  type TaskWrite,
} from "./events.ts";
import type { AttemptId, CheckpointId, ThreadId } from "./ids.ts";
import { isJsonObject, type Json, type JsonObject } from "./json.ts";
import { applyJsonDelta } from "./json_delta.ts";
import { schedulingOf } from "./scheduling.ts";

/** Every status a run can have. */
export type RunStatus =
  | "queued"
  | "running"
  | "interrupted"
  | "paused"
  | "completed"
  | "failed"
  | "cancelled";

/** Every {@linkcode RunStatus}. */
export const RUN_STATUSES: readonly RunStatus[] = [
  "queued",
  "running",
  "interrupted",
  "paused",
  "completed",
  "failed",
  "cancelled",
];

/** The statuses a run never leaves. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled"];

/**
 * Whether a status is terminal.
 *
 * @param status A run status.
 * @returns `true` for `completed`, `failed` and `cancelled`.
 *
 * @example
 * ```ts
 * import { isTerminal } from "./snapshot.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isTerminal("cancelled"));
 * assert.ok(!isTerminal("interrupted"));
 * ```
 */
export function isTerminal(status: RunStatus): boolean {
  return status === "completed" || status === "failed" || status === "cancelled";
}

/** What every snapshot has, whatever its status. */
export interface SnapshotBase {
  /** Format version. */
  v: number;
  /** The run. */
  threadId: ThreadId;
  /** The seq of the last event folded in. */
  version: number;
  /** The graph's name. */
  graph: string;
  /** Hash of the creating submission. */
  payloadHash: string;
  /** The last committed superstep (0 before the first). */
  step: number;
  /** The run's state. */
  state: JsonObject;
  /** Tasks of the next superstep. */
  next: TaskSpec[];
  /** The latest checkpoint, or `null` before the first step. */
  checkpointId: CheckpointId | null;
  /** Updates of tasks that finished in the current, uncommitted superstep. */
  pendingWrites: TaskWrite[];
  /** Answered interrupts whose tasks have not re-run yet. */
  resumes: ResolvedInterrupt[];
  /** The attempt executing the run, once started. */
  attemptId: AttemptId | null;
  /** When the run was created (ms). */
  createdAt: number;
  /** When the last event happened (ms). */
  updatedAt: number;
  /** The run's deadline, if it has one (from `run.created`). */
  deadline?: RunDeadline;
  /** The fingerprint of the graph that created the run, if recorded (from `run.created`). */
  graphFingerprint?: string;
  /** The run whose journal was copied into this run's (a rerun; from `run.created`). */
  journalFrom?: ThreadId;
  /** Its priority when not 0 (`metadata.priority` of `run.created`; see `schedulingOf`). */
  priority?: number;
  /** Its tenant, if it has one (`metadata.tenant_id` of `run.created`). */
  tenantId?: string;
  /** The trace the run was created in (`traceparent` of `run.created`). */
  traceparent?: string;
}

/** Created, not started. */
export interface QueuedSnapshot extends SnapshotBase {
  /** Discriminator. */
  status: "queued";
}
/** Executing. */
export interface RunningSnapshot extends SnapshotBase {
  /** Discriminator. */
  status: "running";
}
/** Waiting for human input. */
export interface InterruptedSnapshot extends SnapshotBase {
  /** Discriminator. */
  status: "interrupted";
  /** The pending interrupts (at least one). */
  interrupts: InterruptRecord[];
}
/** Paused between steps by an operator. */
export interface PausedSnapshot extends SnapshotBase {
  /** Discriminator. */
  status: "paused";
  /** Why, if given. */
  reason: string | null;
}
/** Finished. */
export interface CompletedSnapshot extends SnapshotBase {
  /** Discriminator. */
  status: "completed";
}
/** Failed for good. */
export interface FailedSnapshot extends SnapshotBase {
  /** Discriminator. */
  status: "failed";
  /** What went wrong. */
  error: ErrorInfo;
}
/** Cancelled. */
export interface CancelledSnapshot extends SnapshotBase {
  /** Discriminator. */
  status: "cancelled";
  /** Why, if given. */
  reason: string | null;
}

/** A run at one version: the fold of its log up to that version. */
export type RunSnapshot =
  | QueuedSnapshot
  | RunningSnapshot
  | InterruptedSnapshot
  | PausedSnapshot
  | CompletedSnapshot
  | FailedSnapshot
  | CancelledSnapshot;

function base(snapshot: RunSnapshot, at: number): SnapshotBase {
  const next: SnapshotBase = {
    v: EVENT_FORMAT_VERSION,
    threadId: snapshot.threadId,
    version: snapshot.version + 1,
    graph: snapshot.graph,
    payloadHash: snapshot.payloadHash,
    step: snapshot.step,
    state: snapshot.state,
    next: snapshot.next,
    checkpointId: snapshot.checkpointId,
    pendingWrites: snapshot.pendingWrites,
    resumes: snapshot.resumes,
    attemptId: snapshot.attemptId,
    createdAt: snapshot.createdAt,
    updatedAt: at,
  };
  if (snapshot.deadline !== undefined) next.deadline = snapshot.deadline;
  if (snapshot.graphFingerprint !== undefined) next.graphFingerprint = snapshot.graphFingerprint;
  if (snapshot.journalFrom !== undefined) next.journalFrom = snapshot.journalFrom;
  if (snapshot.priority !== undefined) next.priority = snapshot.priority;
  if (snapshot.tenantId !== undefined) next.tenantId = snapshot.tenantId;
  if (snapshot.traceparent !== undefined) next.traceparent = snapshot.traceparent;
  return next;
}

/**
 * Applies one event to a snapshot (`null` before `run.created`). Pure: the
 * input is not modified and unchanged parts are shared.
 *
 * @param snapshot The run before the event, or `null` for a new run.
 * @param event The event.
 * @returns The run after the event, its `version` one higher.
 * @throws {IllegalTransitionError} when the event does not apply to the run's status.
 *
 * @example A run from creation to completion
 * ```ts
 * import { fold } from "./snapshot.ts";
 * import type { AttemptId, ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * let run = fold(null, {
 *   type: "run.created", v: 1, at: 1, threadId: "t-1" as ThreadId, graph: "g", input: {},
 *   payloadHash: "h", state: { n: 0 }, next: [],
 * });
 * run = fold(run, { type: "run.started", v: 1, at: 2, attemptId: "at_1" as AttemptId });
 * run = fold(run, { type: "run.completed", v: 1, at: 3 });
 * assert.equal(run.status, "completed");
 * assert.equal(run.version, 3);
 * assert.throws(() => fold(run, { type: "run.cancelled", v: 1, at: 4, reason: null }), /the run is completed/);
 * ```
 */
export function fold(snapshot: RunSnapshot | null, event: RunEvent): RunSnapshot {
  if (snapshot === null) {
    if (event.type !== "run.created") {
      throw new OrisError(
        "internal",
        `Cannot apply "${event.type}": the run has no "run.created" event`,
      );
    }
    const created: QueuedSnapshot = {
      v: EVENT_FORMAT_VERSION,
      status: "queued",
      threadId: event.threadId,
      version: 1,
      graph: event.graph,
      payloadHash: event.payloadHash,
      step: 0,
      state: event.state,
      next: event.next,
      checkpointId: null,
      pendingWrites: [],
      resumes: [],
      attemptId: null,
      createdAt: event.at,
      updatedAt: event.at,
    };
    if (event.deadline !== undefined) created.deadline = event.deadline;
    if (event.graphFingerprint !== undefined) created.graphFingerprint = event.graphFingerprint;
    if (event.journalFrom !== undefined) created.journalFrom = event.journalFrom;
    const { priority, tenantId } = schedulingOf(event.metadata);
    if (priority !== 0) created.priority = priority;
    if (tenantId !== null) created.tenantId = tenantId;
    if (event.traceparent !== undefined) created.traceparent = event.traceparent;
    return created;
  }
  const illegal = (reason?: string) =>
    new IllegalTransitionError(snapshot.threadId, snapshot.status, event.type, reason);
  if (isTerminal(snapshot.status)) throw illegal();
  const next = base(snapshot, event.at);
  switch (event.type) {
    case "run.created":
      throw illegal("the run already exists");
    case "run.started":
      if (snapshot.status !== "queued" && snapshot.status !== "running") throw illegal();
      return { ...next, status: "running", attemptId: event.attemptId };
    case "step.committed": {
      if (snapshot.status !== "running") throw illegal();
      if (event.step !== snapshot.step + 1) {
        throw illegal(`step ${event.step} does not follow step ${snapshot.step}`);
      }
      const state = event.delta === null
        ? snapshot.state
        : applyJsonDelta(snapshot.state, event.delta);
      if (!isJsonObject(state)) throw illegal("the state must stay a JSON object");
      return {
        ...next,
        status: "running",
        step: event.step,
        state,
        next: event.next,
        checkpointId: event.checkpointId,
        pendingWrites: [],
        resumes: [],
      };
    }
    case "state.updated": {
      if (event.step !== snapshot.step + 1) {
        throw illegal(`step ${event.step} does not follow step ${snapshot.step}`);
      }
      const state = event.delta === null
        ? snapshot.state
        : applyJsonDelta(snapshot.state, event.delta);
      if (!isJsonObject(state)) throw illegal("the state must stay a JSON object");
      const edited = { ...next, step: event.step, state, checkpointId: event.checkpointId };
      if (event.next === null) return { ...snapshot, ...edited } as RunSnapshot;
      const moved = { ...edited, next: event.next, pendingWrites: [], resumes: [] };
      if (snapshot.status === "interrupted") return { ...moved, status: "paused", reason: null };
      return { ...snapshot, ...moved } as RunSnapshot;
    }
    case "effect.recorded":
      if (snapshot.status !== "running") throw illegal();
      return { ...next, status: "running" };
    case "interrupt.raised": {
      if (snapshot.status !== "running") throw illegal();
      if (event.interrupts.length === 0) throw illegal("it raises no interrupt");
      const written = new Set(event.writes.map((write) => write.taskId));
      return {
        ...next,
        status: "interrupted",
        interrupts: event.interrupts,
        pendingWrites: [
          ...snapshot.pendingWrites.filter((write) => !written.has(write.taskId)),
          ...event.writes,
        ],
      };
    }
    case "run.resumed": {
      const ids = Object.keys(event.values);
      if (snapshot.status === "paused") {
        if (ids.length > 0) throw illegal("the run is paused, not interrupted");
        return { ...next, status: "running" };
      }
      if (snapshot.status !== "interrupted") throw illegal("the run has no pending interrupt");
      if (ids.length === 0) throw illegal("no interrupt is answered");
      const pending = new Map(snapshot.interrupts.map((record) => [record.id as string, record]));
      const unknown = ids.filter((id) => !pending.has(id));
      if (unknown.length > 0) throw illegal(`interrupt "${unknown[0]}" is not pending`);
      const answered = ids.map((id) => ({ ...pending.get(id)!, resume: event.values[id] as Json }));
      return { ...next, status: "running", resumes: [...snapshot.resumes, ...answered] };
    }
    case "run.paused":
      if (snapshot.status !== "running" && snapshot.status !== "queued") throw illegal();
      return { ...next, status: "paused", reason: event.reason };
    case "run.completed":
      if (snapshot.status !== "running") throw illegal();
      if (snapshot.next.length > 0) throw illegal("tasks are still scheduled");
      return { ...next, status: "completed" };
    case "run.failed":
      return { ...next, status: "failed", error: event.error };
    case "run.cancelled":
      return { ...next, status: "cancelled", reason: event.reason };
  }
}

/**
 * Folds events in order onto a snapshot.
 *
 * @param snapshot The starting snapshot, or `null` for a log from seq 1.
 * @param events Events, or stored events whose `seq` must follow on without gaps.
 * @returns The resulting snapshot.
 * @throws {IllegalTransitionError} on an event that does not apply.
 * @throws {OrisError} code `internal` when stored events leave a gap.
 *
 * @example
 * ```ts
 * import { foldAll } from "./snapshot.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const run = foldAll(null, [
 *   { type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] },
 *   { type: "run.cancelled", v: 1, at: 2, reason: "no longer needed" },
 * ]);
 * assert.equal(run?.status, "cancelled");
 * ```
 */
export function foldAll(
  snapshot: RunSnapshot | null,
  events: readonly (RunEvent | StoredEvent)[],
): RunSnapshot | null {
  let current = snapshot;
  for (const item of events) {
    if ("seq" in item) {
      const expected = (current?.version ?? 0) + 1;
      if (item.seq !== expected) {
        throw new OrisError(
          "internal",
          `Cannot fold event ${item.seq}: expected event ${expected}`,
        );
      }
      current = fold(current, item.event);
    } else {
      current = fold(current, item);
    }
  }
  return current;
}
