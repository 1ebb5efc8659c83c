/**
 * How a run's execution stops short: the reason its abort signal carries
 * (a cancel or a timeout), and the result of a step that did not finish.
 *
 * @module
 */

import { errorInfoOf, OrisError, type RunMessage, type StepResult } from "../kernel/mod.ts";
import type { StepOutcome } from "./executor.ts";

/**
 * How a step that did not finish ended: a task failed for good, or tasks asked for input.
 *
 * @internal Used by the run actor.
 */
export function stoppedResult(outcome: StepOutcome): StepResult {
  return outcome.failure !== null
    ? { kind: "failed", error: errorInfoOf(outcome.failure.error, outcome.failure.node) }
    : { kind: "interrupted", interrupts: outcome.interrupts, writes: outcome.writes };
}

/**
 * Why a run's abort signal fires: it was cancelled, or it timed out.
 *
 * @internal Used by the run actor.
 */
export function abortReason(
  threadId: string,
  message: Extract<RunMessage, { type: "cancel" | "timeout" }>,
): OrisError {
  if (message.type === "timeout") {
    const total = message.scope === "total";
    return new OrisError(
      "timeout",
      `Run "${threadId}" did not finish within its ${
        total ? "total " : ""
      }timeout of ${message.ms} ms`,
      {
        details: {
          thread_id: threadId,
          timeout_ms: message.ms,
          scope: message.scope ?? "execution",
        },
      },
    );
  }
  const why = message.reason === null ? "" : `: ${message.reason}`;
  return new OrisError("cancelled", `Run "${threadId}" was cancelled${why}`, {
    details: { thread_id: threadId, reason: message.reason },
  });
}
