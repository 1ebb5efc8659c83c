/**
 * `decide`: what a message does to a run, the counterpart of `fold`. Given
 * the run as it is and a message (from outside: start, resume, pause,
 * cancel, reject, timeout, update; or the result of executing what an earlier
 * decision asked for), it returns the events to commit and the run they make,
 * the work to execute first, or the error that refuses the message. It is
 * pure: time and new ids come from its environment, so the same run, message
 * and environment always give the same decision.
 *
 * A run actor is then only this loop: take a message, `decide`, execute what
 * needs executing (a step's tasks, an update's routing), `decide` on the
 * result, commit, notify.
 *
 * @module
 */

import {
  ConflictError,
  IllegalTransitionError,
  InvalidArgumentError,
  OrisError,
} from "./errors.ts";
import {
  type EffectRecordedEvent,
  type ErrorInfo,
  EVENT_FORMAT_VERSION,
  type InterruptRecord,
  newEvent,
  type RunCompletedEvent,
  type RunDeadline,
  type RunEvent,
  type StepCommittedEvent,
  type TaskWrite,
} from "./events.ts";
import type { StepPlan } from "./graph/graph.ts";
import type { AttemptId, CheckpointId, InterruptId } from "./ids.ts";
import { assertJson, type Json } from "./json.ts";
import { markCheckedJson } from "./_checked_json.ts";
import { diffJson } from "./json_delta.ts";
import { foldAll, isTerminal, type RunSnapshot } from "./snapshot.ts";
import { unusedAnswers } from "./_answers.ts";
import type { EffectRecord } from "./store.ts";

/**
 * How a resume answers a run: `value` answers its only pending interrupt
 * (with no value, it lifts a pause, or answers `null`); `by_id` answers
 * pending interrupts by id.
 */
export type ResumeAnswer =
  | { kind: "value"; value?: Json }
  | { kind: "by_id"; values: { [interruptId: string]: Json } };

/** A message to a run: every way to act on a run from outside its execution. */
export type RunMessage =
  /** Take up the run: a new attempt executes it (creation, recovery). */
  | { type: "start" }
  /** Execute the next superstep (an actor sends it to itself). */
  | { type: "step" }
  /** Answer interrupts, or lift a pause. */
  | { type: "resume"; answer: ResumeAnswer }
  /** Stop between two steps until resumed. */
  | { type: "pause"; reason: string | null }
  /** End the run `cancelled`. */
  | { type: "cancel"; reason: string | null }
  /** A person rejected a pending interrupt: the run ends `cancelled`. */
  | { type: "reject"; interruptId: string; reason: string | null }
  /**
   * The run's deadline passed: it ends with `status` and code `timeout`
   * (`scope`, default `execution`, says what the deadline measured).
   */
  | { type: "timeout"; ms: number; status: "failed" | "cancelled"; scope?: RunDeadline["scope"] }
  /** Edit the state as if `asNode` had returned `update` (time travel). */
  | { type: "update"; update: Json; asNode: string | null };

/** How a superstep's execution ended, as the actor reports it to {@linkcode decide}. */
export type StepResult =
  /** A task failed for good, or the next step could not be planned. */
  | { kind: "failed"; error: ErrorInfo }
  /** Tasks asked for human input; `writes` are the updates of siblings that finished. */
  | { kind: "interrupted"; interrupts: InterruptRecord[]; writes: TaskWrite[] }
  /**
   * Every task finished: `writes` in task order (see {@linkcode stepWrites}) and the plan
   * `planNext` made of them (which checked that they are JSON).
   */
  | { kind: "planned"; writes: TaskWrite[]; plan: StepPlan };

/** The result of executing what a decision asked for. */
export type ExecutionResult =
  /** The tasks of superstep `step` ran; `effects` are those journaled live. */
  | { type: "step.executed"; step: number; effects: EffectRecord[]; result: StepResult }
  /** An update was routed: `plan` is the state and next tasks it makes. */
  | { type: "update.planned"; update: Json; asNode: string | null; plan: StepPlan };

/** What {@linkcode decide} needs from the world: the time and new ids. */
export interface DecideEnv {
  /** The time of the events it makes (ms since the epoch). */
  readonly now: number;
  /** The steps a run may take before it fails with code `step_limit`. */
  readonly stepLimit: number;
  /** A new attempt id. */
  attemptId(): AttemptId;
  /** A new checkpoint id. */
  checkpointId(): CheckpointId;
}

/** What a message does to a run. */
export type Decision =
  /** Commit these events (none: the message changes nothing); `run` is the run after them. */
  | { kind: "commit"; events: RunEvent[]; run: RunSnapshot }
  /** Execute the tasks of superstep `step`, then decide on a `step.executed` result. */
  | { kind: "execute"; step: number }
  /** Route `write` (an update) through the graph, then decide on an `update.planned` result. */
  | { kind: "plan"; write: TaskWrite; step: number }
  /** The message does not apply to the run: nothing changes, the sender gets `error`. */
  | { kind: "refuse"; error: OrisError };

/** The name an update without `asNode` is attributed to in task writes. */
export const UPDATE_NODE = "__update__";

/**
 * Decides what a message does to a run.
 *
 * @param run The run as the deciding actor holds it.
 * @param message A message, or the result of executing an earlier decision.
 * @param env The time, the step limit and new ids.
 * @returns The decision.
 *
 * @example Resume racing cancel: whichever comes second is refused
 * ```ts
 * import { decide, type DecideEnv } from "./decide.ts";
 * import { fold } from "./snapshot.ts";
 * import type { AttemptId, CheckpointId, InterruptId, ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const env: DecideEnv = {
 *   now: 9, stepLimit: 100,
 *   attemptId: () => "at_1" as AttemptId, checkpointId: () => "cp_1" as CheckpointId,
 * };
 * let run = fold(null, {
 *   type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null,
 *   payloadHash: "h", state: {}, next: [{ id: "1:a", node: "a" }],
 * });
 * run = fold(run, { type: "run.started", v: 1, at: 2, attemptId: "at_0" as AttemptId });
 * run = fold(run, {
 *   type: "interrupt.raised", v: 1, at: 3, step: 1, writes: [],
 *   interrupts: [{ id: "in_1" as InterruptId, step: 1, taskId: "1:a", node: "a", index: 0, value: "ok?" }],
 * });
 * const cancelled = decide(run, { type: "cancel", reason: "no" }, env);
 * assert.equal(cancelled.kind, "commit");
 * if (cancelled.kind === "commit") {
 *   const late = decide(cancelled.run, { type: "resume", answer: { kind: "value", value: true } }, env);
 *   assert.equal(late.kind, "refuse");
 * }
 * ```
 */
export function decide(
  run: RunSnapshot,
  message: RunMessage | ExecutionResult,
  env: DecideEnv,
): Decision {
  try {
    switch (message.type) {
      case "start":
        return run.status === "queued" || run.status === "running"
          ? commit(run, [newEvent("run.started", env.now, { attemptId: env.attemptId() })])
          : commit(run, []);
      case "step":
        return decideStep(run, env);
      case "resume": {
        const values = resumeValues(run, message.answer);
        const events: RunEvent[] = [newEvent("run.resumed", env.now, { values })];
        if (run.attemptId === null) {
          events.push(newEvent("run.started", env.now, { attemptId: env.attemptId() }));
        }
        return commit(run, events);
      }
      case "pause":
        return commit(run, [newEvent("run.paused", env.now, { reason: message.reason })]);
      case "cancel":
        return commit(run, [newEvent("run.cancelled", env.now, { reason: message.reason })]);
      case "reject":
        return decideReject(run, message.interruptId, message.reason, env);
      case "timeout": {
        const text = message.scope === "total"
          ? `Run "${run.threadId}" did not finish within its total timeout of ${message.ms} ms (time waiting included)`
          : `Run "${run.threadId}" did not finish within its timeout of ${message.ms} ms`;
        return commit(run, [
          message.status === "failed"
            ? newEvent("run.failed", env.now, { error: { code: "timeout", message: text } })
            : newEvent("run.cancelled", env.now, { reason: text }),
        ]);
      }
      case "update": {
        if (isTerminal(run.status)) {
          throw new IllegalTransitionError(run.threadId, run.status, "state.updated");
        }
        const node = message.asNode ?? UPDATE_NODE;
        const step = run.step + 1;
        return {
          kind: "plan",
          step,
          write: { taskId: `${step}:${node}`, node, update: message.update },
        };
      }
      case "update.planned":
        return commit(run, [updateEvent(run, message.update, message.asNode, message.plan, env)]);
      case "step.executed":
        return decideExecuted(run, message, env);
    }
  } catch (error) {
    if (error instanceof OrisError) return { kind: "refuse", error };
    throw error;
  }
}

/** Nesting was limited where the values were accepted (the runtime's limit). */
const UNLIMITED_DEPTH = { maxDepth: Infinity };

/** Why `value` is not JSON (as an error of the run), or `null` when it is. */
function notJson(value: unknown, what: string): ErrorInfo | null {
  try {
    assertJson(value, what, UNLIMITED_DEPTH);
    return null;
  } catch (error) {
    return errorInfoOf(error);
  }
}

/** The events folded onto the run: the fold is the one judge of which transitions apply. */
function commit(run: RunSnapshot, events: RunEvent[]): Decision {
  return { kind: "commit", events, run: events.length === 0 ? run : foldAll(run, events)! };
}

function decideStep(run: RunSnapshot, env: DecideEnv): Decision {
  if (run.status !== "running") return commit(run, []);
  const step = run.step + 1;
  if (step > env.stepLimit) {
    return commit(run, [newEvent("run.failed", env.now, {
      error: {
        code: "step_limit",
        message:
          `Run "${run.threadId}" reached its limit of ${env.stepLimit} steps without reaching END`,
        step,
      },
    })]);
  }
  return { kind: "execute", step };
}

function decideReject(
  run: RunSnapshot,
  interruptId: string,
  reason: string | null,
  env: DecideEnv,
): Decision {
  if (run.status !== "interrupted" || !run.interrupts.some((record) => record.id === interruptId)) {
    throw new ConflictError(
      `Cannot reject interrupt "${interruptId}" of run "${run.threadId}": it is not pending`,
      { details: { thread_id: run.threadId, interrupt_id: interruptId, status: run.status } },
    );
  }
  return commit(run, [
    newEvent("run.cancelled", env.now, {
      reason,
      rejectedInterruptId: interruptId as InterruptId,
    }),
  ]);
}

function updateEvent(
  run: RunSnapshot,
  update: Json,
  asNode: string | null,
  plan: StepPlan,
  env: DecideEnv,
): RunEvent {
  const next = asNode === null ? null : plan.next;
  // Moving on drops the answers the run has not used: the interrupt index closes them.
  const dropped = next === null ? [] : unusedAnswers(run);
  return newEvent("state.updated", env.now, {
    step: run.step + 1,
    checkpointId: env.checkpointId(),
    parentCheckpointId: run.checkpointId,
    asNode,
    update,
    delta: diffJson(run.state, plan.state),
    next,
    ...(dropped.length === 0 ? {} : { droppedInterruptIds: dropped }),
  });
}

function decideExecuted(
  run: RunSnapshot,
  executed: Extract<ExecutionResult, { type: "step.executed" }>,
  env: DecideEnv,
): Decision {
  const { step, result } = executed;
  if (run.status !== "running" || step !== run.step + 1) {
    throw new ConflictError(
      `Cannot commit step ${step} of run "${run.threadId}": it is ${run.status} at step ${run.step}`,
      { details: { thread_id: run.threadId, step, status: run.status } },
    );
  }
  // The hot path of every step: typed literals rather than `newEvent`'s spread. Events made
  // only of checked JSON are marked so, and the store only stringifies them.
  const events: RunEvent[] = executed.effects.map((record): EffectRecordedEvent =>
    markCheckedJson({
      type: "effect.recorded",
      v: EVENT_FORMAT_VERSION,
      at: env.now,
      step,
      node: record.node,
      index: record.index,
      name: record.name,
      ok: record.result.ok,
    })
  );
  switch (result.kind) {
    case "failed":
      events.push(newEvent("run.failed", env.now, { error: { ...result.error, step } }));
      break;
    case "interrupted":
      events.push(newEvent("interrupt.raised", env.now, {
        step,
        interrupts: result.interrupts,
        writes: result.writes,
      }));
      break;
    case "planned": {
      const delta = diffJson(run.state, result.plan.state);
      // The writes and next tasks were checked by `planNext`; the delta holds what reducers
      // (user code) returned, so it is checked here (what changed, not the whole state): a
      // state that is not JSON fails the run, like a step that could not be planned.
      const refused = notJson(delta, `the state after step ${step}`);
      if (refused !== null) {
        events.push(newEvent("run.failed", env.now, { error: { ...refused, step } }));
        break;
      }
      const committed: StepCommittedEvent = {
        type: "step.committed",
        v: EVENT_FORMAT_VERSION,
        at: env.now,
        step,
        checkpointId: env.checkpointId(),
        parentCheckpointId: run.checkpointId,
        tasks: result.writes,
        delta,
        next: result.plan.next,
      };
      events.push(markCheckedJson(committed));
      if (result.plan.next.length === 0) {
        const completed: RunCompletedEvent = {
          type: "run.completed",
          v: EVENT_FORMAT_VERSION,
          at: committed.at,
        };
        events.push(markCheckedJson(completed));
      }
      break;
    }
  }
  return commit(run, events);
}

/**
 * The writes a superstep commits: those of tasks that finished before an
 * interrupt of this step and those that finished now, in the order of the
 * step's tasks.
 *
 * @param run The run before the step's commit.
 * @param writes The writes of the tasks that ran now.
 * @returns Every write of the step, in task order.
 *
 * @example
 * ```ts
 * import { stepWrites } from "./decide.ts";
 * import type { RunSnapshot } from "./snapshot.ts";
 * import assert from "node:assert/strict";
 *
 * const run = {
 *   next: [{ id: "1:a", node: "a" }, { id: "1:b", node: "b" }],
 *   pendingWrites: [{ taskId: "1:b", node: "b", update: null }],
 * } as unknown as RunSnapshot;
 * const writes = stepWrites(run, [{ taskId: "1:a", node: "a", update: { n: 1 } }]);
 * assert.deepEqual(writes.map((write) => write.node), ["a", "b"]);
 * ```
 */
export function stepWrites(run: RunSnapshot, writes: readonly TaskWrite[]): TaskWrite[] {
  const all = [...run.pendingWrites, ...writes];
  if (all.length > 1) {
    const order = new Map(run.next.map((task, index) => [task.id, index]));
    all.sort((a, b) => order.get(a.taskId)! - order.get(b.taskId)!);
  }
  return all;
}

/**
 * Why a task (or the planning of a step) failed, as the run records it: the
 * code of an `OrisError` (`internal` for anything else) and the message.
 *
 * @param error What was thrown.
 * @param node The node that threw it, if a node did.
 * @returns The error info (the step is added when the failure is committed).
 *
 * @example
 * ```ts
 * import { errorInfoOf } from "./decide.ts";
 * import { TerminalError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(errorInfoOf(new TerminalError("declined"), "pay"), {
 *   code: "terminal", message: "declined", node: "pay",
 * });
 * assert.equal(errorInfoOf("boom").code, "internal");
 * ```
 */
export function errorInfoOf(error: unknown, node?: string): ErrorInfo {
  const info: ErrorInfo = {
    code: error instanceof OrisError ? error.code : "internal",
    message: error instanceof Error ? error.message : String(error),
  };
  if (node !== undefined) info.node = node;
  return info;
}

/**
 * Resolves a resume's answer against a run's pending interrupts.
 *
 * @param run The run.
 * @param answer The answer.
 * @returns The answers by interrupt id (empty: lift a pause).
 * @throws {ConflictError} when the run has no pending interrupt (and is not
 * paused), a value is given for several pending interrupts, or an id is not
 * pending.
 * @throws {InvalidArgumentError} when answers by id name no interrupt.
 *
 * @example
 * ```ts
 * import { resumeValues } from "./decide.ts";
 * import type { RunSnapshot } from "./snapshot.ts";
 * import assert from "node:assert/strict";
 *
 * const run = {
 *   threadId: "t", status: "interrupted",
 *   interrupts: [{ id: "in_1", step: 1, taskId: "1:a", node: "a", index: 0, value: "ok?" }],
 * } as unknown as RunSnapshot;
 * assert.deepEqual(resumeValues(run, { kind: "value", value: true }), { in_1: true });
 * assert.throws(() => resumeValues(run, { kind: "by_id", values: { in_2: true } }), /not pending/);
 * ```
 */
export function resumeValues(run: RunSnapshot, answer: ResumeAnswer): { [id: string]: Json } {
  if (run.status === "paused" && answer.kind === "value" && answer.value === undefined) return {};
  if (run.status !== "interrupted") {
    throw new ConflictError(
      `Cannot resume run "${run.threadId}": it is ${run.status}, not interrupted`,
      { details: { thread_id: run.threadId, status: run.status } },
    );
  }
  const pending = run.interrupts.map((record) => record.id as string);
  if (answer.kind === "by_id") {
    const ids = Object.keys(answer.values);
    if (ids.length === 0) {
      throw new InvalidArgumentError(
        `Cannot resume run "${run.threadId}": answer at least one interrupt`,
        { field: "values" },
      );
    }
    const unknown = ids.find((id) => !pending.includes(id));
    if (unknown !== undefined) {
      throw new ConflictError(
        `Cannot resume run "${run.threadId}": interrupt "${unknown}" is not pending`,
        { details: { thread_id: run.threadId, interrupt_id: unknown, pending } },
      );
    }
    return answer.values;
  }
  if (pending.length !== 1) {
    throw new ConflictError(
      `Cannot resume run "${run.threadId}": ${pending.length} interrupts are pending; answer them with a map by interrupt id`,
      { details: { thread_id: run.threadId, pending } },
    );
  }
  return { [pending[0]!]: answer.value ?? null };
}
