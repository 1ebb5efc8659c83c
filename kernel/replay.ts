/**
 * Replay verification: compares what a re-executed step produced with what
 * the log recorded, task by task.
 *
 * @module
 */

import { NondeterminismError } from "./errors.ts";
import type { TaskWrite } from "./events.ts";
import { jsonEqual } from "./json.ts";

/**
 * Checks that replayed task writes equal the recorded ones: the same tasks,
 * each with the same update and the same `goto`.
 *
 * @param threadId The run.
 * @param step The superstep.
 * @param recorded The writes in the log's `step.committed` event.
 * @param replayed The writes replay produced.
 * @throws {NondeterminismError} naming the step, the node and both values, at the first difference.
 *
 * @example
 * ```ts
 * import { verifyStepWrites } from "./replay.ts";
 * import assert from "node:assert/strict";
 *
 * const recorded = [{ taskId: "1:a", node: "a", update: { n: 1 } }];
 * verifyStepWrites("t", 1, recorded, [{ taskId: "1:a", node: "a", update: { n: 1 } }]);
 * assert.throws(
 *   () => verifyStepWrites("t", 1, recorded, [{ taskId: "1:a", node: "a", update: { n: 2 } }]),
 *   /diverged at step 1 in node "a"/,
 * );
 * ```
 */
export function verifyStepWrites(
  threadId: string,
  step: number,
  recorded: readonly TaskWrite[],
  replayed: readonly TaskWrite[],
): void {
  const byTask = new Map(replayed.map((write) => [write.taskId, write]));
  for (const write of recorded) {
    const again = byTask.get(write.taskId);
    const recordedValue = { update: write.update, goto: write.goto ?? [] };
    const replayedValue = again === undefined
      ? undefined
      : { update: again.update, goto: again.goto ?? [] };
    if (replayedValue === undefined || !jsonEqual(recordedValue, replayedValue)) {
      throw new NondeterminismError({
        threadId,
        step,
        node: write.node,
        recorded: write.update,
        replayed: again === undefined ? "(the task did not run)" : again.update,
      });
    }
    byTask.delete(write.taskId);
  }
  for (const extra of byTask.values()) {
    throw new NondeterminismError({
      threadId,
      step,
      node: extra.node,
      recorded: "(the task did not run)",
      replayed: extra.update,
    });
  }
}
