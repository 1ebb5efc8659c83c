/**
 * What a call on a run resolves to ({@linkcode RunResult}): the run's status,
 * state and pending interrupts, and the trace of what happened during the
 * call, collected from the run actor's events.
 *
 * @module
 */

import type { ErrorInfo, Json, RunSnapshot, RunStatus, ThreadId } from "../kernel/mod.ts";
import type { Context } from "@opentelemetry/api";
import type { ActorEvent } from "./run_actor.ts";
import { traceRun } from "./tracing.ts";

/** One entry of {@linkcode RunResult.trace}. */
export type TraceEvent =
  | { type: "step_start"; step: number; nodes: string[] }
  | { type: "step_end"; step: number; nodes: string[]; checkpointId: string }
  | { type: "interrupt"; step: number; interruptId: string; node: string; value: Json }
  | { type: "resume"; interruptIds: string[] }
  | { type: "end"; status: RunStatus };

/** A pending interrupt as callers see it. */
export interface PendingInterrupt {
  /** Answer it with this id. */
  id: string;
  /** The node that asked. */
  node: string;
  /** What it asked. */
  value: Json;
}

/**
 * What `invoke`, `resume` and friends resolve to.
 *
 * @typeParam S The state's type.
 */
export interface RunResult<S = Record<string, unknown>> {
  /** The run. */
  threadId: ThreadId;
  /** Its status now. */
  status: RunStatus;
  /** Its state now. */
  state: S;
  /** Pending interrupts (when `interrupted`). */
  interrupts: PendingInterrupt[];
  /** The latest checkpoint, or `null` before the first step. */
  checkpointId: string | null;
  /** What happened during this call: step starts and ends, interrupts, resumes. */
  trace: TraceEvent[];
  /** Why the run failed (when `failed`). */
  error?: ErrorInfo;
}

/**
 * The pending interrupts of a run, as callers see them.
 *
 * @param run The run.
 * @returns Its pending interrupts (none unless it is `interrupted`).
 */
export function pendingInterrupts(run: RunSnapshot): PendingInterrupt[] {
  return run.status === "interrupted"
    ? run.interrupts.map(({ id, node, value }) => ({ id, node, value }))
    : [];
}

/**
 * Builds a {@linkcode RunResult} from a run and the trace of the call.
 *
 * @internal Used by the runtime.
 * @param run The run.
 * @param trace What happened during the call.
 * @returns The result.
 */
export function toResult(run: RunSnapshot, trace: TraceEvent[] = []): RunResult {
  const result: RunResult = {
    threadId: run.threadId,
    status: run.status,
    state: run.state as Record<string, unknown>,
    interrupts: pendingInterrupts(run),
    checkpointId: run.checkpointId,
    trace,
  };
  if (run.status === "failed") result.error = run.error;
  return result;
}

/**
 * Adds what an actor event says to a call's trace.
 *
 * @internal Used by the runtime.
 * @param trace The trace so far.
 * @param event The actor's event.
 */
export function collectTrace(trace: TraceEvent[], event: ActorEvent): void {
  if (event.kind === "step_start") {
    trace.push({
      type: "step_start",
      step: event.step,
      nodes: event.run.next.map((task) => task.node),
    });
    return;
  }
  if (event.kind !== "committed") return;
  for (const item of event.events) {
    if (item.type === "step.committed") {
      trace.push({
        type: "step_end",
        step: item.step,
        nodes: item.tasks.map((task) => task.node),
        checkpointId: item.checkpointId,
      });
    } else if (item.type === "interrupt.raised") {
      for (const record of item.interrupts) {
        trace.push({
          type: "interrupt",
          step: item.step,
          interruptId: record.id,
          node: record.node,
          value: record.value,
        });
      }
    } else if (item.type === "run.resumed") {
      trace.push({ type: "resume", interruptIds: Object.keys(item.values) });
    }
  }
}

/** What a call records while it follows a run: its trace and its span. @internal */
export interface CallRecorder {
  /** Takes an actor event into the trace, the span and the caller's listener. */
  observe(event: ActorEvent): void;
  /** The call's result once the run is at rest (`rest` settles); a failure ends the span too. */
  finish(rest: () => Promise<RunSnapshot>): Promise<RunResult>;
}

/**
 * Starts recording a call on a run: the trace it returns and the run's span,
 * for a run executing here or followed elsewhere alike.
 *
 * @internal Used by the runtime and the remote follower.
 * @param threadId The run.
 * @param parent The caller's trace context.
 * @param listener The caller's own listener of actor events.
 * @returns The recorder.
 */
export function recordCall(
  threadId: string,
  parent: Context | undefined,
  listener: ((event: ActorEvent) => void) | undefined,
): CallRecorder {
  const trace: TraceEvent[] = [];
  const span = traceRun(threadId, parent);
  return {
    observe(event) {
      span.observe(event);
      collectTrace(trace, event);
      listener?.(event);
    },
    async finish(rest) {
      try {
        const run = await rest();
        trace.push({ type: "end", status: run.status });
        span.end(run);
        return toResult(run, trace);
      } catch (error) {
        span.fail(error);
        throw error;
      }
    },
  };
}
