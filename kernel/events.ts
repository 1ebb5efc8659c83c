/**
 * The events of a run's log. Each is JSON, carries the log format version `v`
 * and the time `at` (ms since the epoch, from the writer's clock), and has a
 * dotted `type`. The log is the truth; a snapshot is a fold of it.
 *
 * @module
 */

import { OrisError } from "./errors.ts";
import type { AttemptId, CheckpointId, InterruptId, ThreadId } from "./ids.ts";
import { isJsonObject, type Json, type JsonObject } from "./json.ts";
import type { JsonDelta } from "./json_delta.ts";

/**
 * The format version of events and snapshots written by this code. A log
 * written with a higher version is refused; lower versions are upgraded on
 * read by {@linkcode decodeEvent}.
 */
export const EVENT_FORMAT_VERSION = 1;

/** A task scheduled for a superstep: a node to run, with an optional `Send` argument. */
export interface TaskSpec {
  /** Unique within the run's step, stable across re-execution. */
  id: string;
  /** The node to run. */
  node: string;
  /** The argument of a `Send`, instead of the run's state. */
  arg?: Json;
}

/** Where a task sends the run next, besides the graph's edges (a `Command`'s `goto`). */
export interface TaskTarget {
  /** The node. */
  node: string;
  /** The argument of a `Send`. */
  arg?: Json;
}

/** The update a finished task produced. */
export interface TaskWrite {
  /** The task's id. */
  taskId: string;
  /** The node that ran. */
  node: string;
  /** What the node returned (its update, before reducers merged it), or `null`. */
  update: Json;
  /** Where the node's `Command` sent the run, if it returned one with `goto`. */
  goto?: TaskTarget[];
}

/** A request for human input raised by a task. */
export interface InterruptRecord {
  /** Unique across all interrupts ever raised. */
  id: InterruptId;
  /** The superstep that raised it. */
  step: number;
  /** The task that raised it. */
  taskId: string;
  /** The node that raised it. */
  node: string;
  /** Which `interrupt()` call of the task (0 for the first). */
  index: number;
  /** The payload shown to the person. */
  value: Json;
}

/** An interrupt that has been answered, waiting for its task to re-run. */
export interface ResolvedInterrupt extends InterruptRecord {
  /** The answer. */
  resume: Json;
}

/** Why a run failed. */
export interface ErrorInfo {
  /** A stable code, e.g. `internal` or `timeout`. */
  code: string;
  /** For people. */
  message: string;
  /** The node that failed, if a node failed. */
  node?: string;
  /** The superstep, if a step failed. */
  step?: number;
}

/** Fields every event has. */
export interface EventBase {
  /** The format version the event was written with. */
  v: number;
  /** When it happened, in ms since the Unix epoch (writer's clock). */
  at: number;
}

/**
 * A run's deadline, recorded with it: how long it may take, and what it ends
 * as (with error code `timeout`) when it does not finish in time.
 */
export interface RunDeadline {
  /** The bound, in ms. */
  ms: number;
  /** The status the run ends with when the bound passes. */
  status: "failed" | "cancelled";
  /**
   * What the bound measures: `execution` bounds each stretch of execution
   * (from a start, a resume or a recovery until the run comes to rest, time
   * waiting at an interrupt or a pause excluded); `total` bounds the run from
   * its creation until it finishes, time waiting included.
   */
  scope: "execution" | "total";
}

/** A run was created: seq 1 of every log. Status becomes `queued`. */
export interface RunCreatedEvent extends EventBase {
  /** Discriminator. */
  type: "run.created";
  /** The run. */
  threadId: ThreadId;
  /** The name of the graph that runs it. */
  graph: string;
  /** What the caller submitted. */
  input: Json;
  /** Hash of the submission, for idempotent creation. */
  payloadHash: string;
  /** The initial state. */
  state: JsonObject;
  /** The first tasks. */
  next: TaskSpec[];
  /** Facts about the run that do not change its execution (priority, tenant, timeout policy). */
  metadata?: JsonObject;
  /** The run's deadline, if it has one. */
  deadline?: RunDeadline;
  /** The structural fingerprint of the graph that created the run (`graphFingerprint`). */
  graphFingerprint?: string;
  /**
   * The run whose effect journal was copied into this run's before it started
   * (a rerun): its effects are served from the journal, which is always read.
   */
  journalFrom?: ThreadId;
  /**
   * The W3C `traceparent` of the span that created the run: an execution no
   * caller waits on (a recovery, a takeover, a remote worker) continues that trace.
   */
  traceparent?: string;
}

/** An attempt took up the run. Status becomes `running`. */
export interface RunStartedEvent extends EventBase {
  /** Discriminator. */
  type: "run.started";
  /** The attempt now executing the run. */
  attemptId: AttemptId;
}

/** A superstep finished and its outcome is a checkpoint. */
export interface StepCommittedEvent extends EventBase {
  /** Discriminator. */
  type: "step.committed";
  /** The superstep number, from 1. */
  step: number;
  /** The checkpoint this step makes. */
  checkpointId: CheckpointId;
  /** The checkpoint before it, or `null` for the first step. */
  parentCheckpointId: CheckpointId | null;
  /** Each task's update (kept for replay verification and history). */
  tasks: TaskWrite[];
  /** The change to the run's state, or `null` when it did not change. */
  delta: JsonDelta | null;
  /** The tasks of the next superstep (empty: the graph reached its end). */
  next: TaskSpec[];
}

/**
 * The state was edited from outside the graph (time travel's `updateState`),
 * as if `asNode` had returned `update`. It makes a checkpoint like a step.
 * With `next`, the run continues from `asNode`'s edges: the current step's
 * pending work and interrupts are dropped, and an interrupted run becomes
 * `paused` (resume it to go on). Without `next`, only the state changes.
 */
export interface StateUpdatedEvent extends EventBase {
  /** Discriminator. */
  type: "state.updated";
  /** The step number this checkpoint takes (the previous step + 1). */
  step: number;
  /** The checkpoint this edit makes. */
  checkpointId: CheckpointId;
  /** The checkpoint before it. */
  parentCheckpointId: CheckpointId | null;
  /** The node the update is attributed to, if any. */
  asNode: string | null;
  /** The update as given. */
  update: Json;
  /** The change to the state. */
  delta: JsonDelta | null;
  /** The tasks to run next, when the run continues from `asNode`. */
  next: TaskSpec[] | null;
  /**
   * With `next`: the answered interrupts whose answers the edit drops (their
   * tasks never ran again with them); the interrupt index closes them.
   */
  droppedInterruptIds?: InterruptId[];
}

/** An effect finished; its result is in the effect journal. */
export interface EffectRecordedEvent extends EventBase {
  /** Discriminator. */
  type: "effect.recorded";
  /** The superstep. */
  step: number;
  /** The node (task path) that ran the effect. */
  node: string;
  /** The call index within the node's execution. */
  index: number;
  /** The effect's name. */
  name: string;
  /** Whether it returned (`true`) or threw (`false`). */
  ok: boolean;
}

/** Tasks asked for human input. Status becomes `interrupted`. */
export interface InterruptRaisedEvent extends EventBase {
  /** Discriminator. */
  type: "interrupt.raised";
  /** The superstep. */
  step: number;
  /** The new pending interrupts (at least one). */
  interrupts: InterruptRecord[];
  /** Updates of sibling tasks that finished; they are not run again. */
  writes: TaskWrite[];
}

/** The run continues: interrupts answered, or a pause lifted. Status becomes `running`. */
export interface RunResumedEvent extends EventBase {
  /** Discriminator. */
  type: "run.resumed";
  /** Answers by interrupt id; empty when lifting a pause. */
  values: { [interruptId: string]: Json };
}

/** An operator paused the run between steps. Status becomes `paused`. */
export interface RunPausedEvent extends EventBase {
  /** Discriminator. */
  type: "run.paused";
  /** Why, if given. */
  reason: string | null;
}

/** The graph reached its end. Status becomes `completed`. */
export interface RunCompletedEvent extends EventBase {
  /** Discriminator. */
  type: "run.completed";
}

/** The run failed for good. Status becomes `failed`. */
export interface RunFailedEvent extends EventBase {
  /** Discriminator. */
  type: "run.failed";
  /** What went wrong. */
  error: ErrorInfo;
}

/** The run was cancelled. Status becomes `cancelled`. */
export interface RunCancelledEvent extends EventBase {
  /** Discriminator. */
  type: "run.cancelled";
  /** Why, if given. */
  reason: string | null;
  /** The pending interrupt whose rejection cancelled the run, if that is how it ended. */
  rejectedInterruptId?: InterruptId;
}

/** Any event of a run's log. */
export type RunEvent =
  | RunCreatedEvent
  | RunStartedEvent
  | StepCommittedEvent
  | StateUpdatedEvent
  | EffectRecordedEvent
  | InterruptRaisedEvent
  | RunResumedEvent
  | RunPausedEvent
  | RunCompletedEvent
  | RunFailedEvent
  | RunCancelledEvent;

/** The `type` of any {@linkcode RunEvent}. */
export type RunEventType = RunEvent["type"];

/** Every event type, in the order a typical run meets them. */
export const RUN_EVENT_TYPES: readonly RunEventType[] = [
  "run.created",
  "run.started",
  "step.committed",
  "state.updated",
  "effect.recorded",
  "interrupt.raised",
  "run.resumed",
  "run.paused",
  "run.completed",
  "run.failed",
  "run.cancelled",
];

/** The event of one `type`. */
export type EventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

/** The fields of an event of one `type`, besides `type`, `v` and `at`. */
export type EventFields<T extends RunEventType> = Omit<EventOf<T>, "type" | "v" | "at">;

/**
 * Makes an event of the current format. Typed by `type`, so a missing or
 * misspelled field is a type error.
 *
 * @typeParam T The event type.
 * @param type The event type.
 * @param at When it happened (ms since the epoch).
 * @param fields The event's own fields.
 * @returns The event.
 *
 * @example
 * ```ts
 * import { newEvent } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * const paused = newEvent("run.paused", 5, { reason: "maintenance" });
 * assert.deepEqual(paused, { type: "run.paused", v: 1, at: 5, reason: "maintenance" });
 * ```
 */
export function newEvent<T extends RunEventType>(
  type: T,
  at: number,
  fields: EventFields<T>,
): EventOf<T> {
  return { type, v: EVENT_FORMAT_VERSION, at, ...fields } as unknown as EventOf<T>;
}

/** An event as stored: its position in the log and the event. */
export interface StoredEvent {
  /** Position in the run's log, from 1, without gaps. */
  seq: number;
  /** The event. */
  event: RunEvent;
}

/**
 * Reads an event decoded from storage, upgrading older formats, and refuses
 * anything that is not an event of a known format.
 *
 * @param raw A parsed JSON value read from storage.
 * @returns The event in the current format.
 * @throws {OrisError} code `internal` when the value is not an event or was
 * written by a newer version of Oris.
 *
 * @example
 * ```ts
 * import { decodeEvent } from "./events.ts";
 * import assert from "node:assert/strict";
 *
 * const event = decodeEvent({ v: 1, at: 0, type: "run.completed" });
 * assert.equal(event.type, "run.completed");
 * assert.throws(() => decodeEvent({ v: 99, at: 0, type: "run.completed" }), /newer/);
 * ```
 */
export function decodeEvent(raw: unknown): RunEvent {
  if (!isJsonObject(raw) || typeof raw.type !== "string" || typeof raw.v !== "number") {
    throw new OrisError("internal", `Cannot read event: ${JSON.stringify(raw)?.slice(0, 200)}`);
  }
  if (raw.v > EVENT_FORMAT_VERSION) {
    throw new OrisError(
      "internal",
      `Cannot read event of format ${raw.v}: it was written by a newer Oris (this one reads up to ${EVENT_FORMAT_VERSION})`,
    );
  }
  if (!(RUN_EVENT_TYPES as readonly string[]).includes(raw.type)) {
    throw new OrisError("internal", `Cannot read event: unknown type "${raw.type}"`);
  }
  return raw as unknown as RunEvent;
}
