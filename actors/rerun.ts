/**
 * Rerun: re-executes a run from one of its checkpoints (or from its input)
 * as a new run, with the current code, and every effect the original run
 * journaled for those steps served from its journal (copied to the new
 * run's journal first), so that a rerun never repeats an effect the run
 * already performed. A rerun of the same checkpoint is the same run: asking
 * again returns it (continuing it if it is not at rest), never a second one.
 *
 * @module
 */

import {
  type Json,
  type JsonObject,
  NotFoundError,
  parseThreadId,
  type TaskSpec,
} from "../kernel/mod.ts";
import { internalsOf } from "./runtime.ts";
import type { RunResult } from "./run_result.ts";
import type { Runtime } from "./runtime_api.ts";

/** Options of {@linkcode rerun}. */
export interface RerunOptions {
  /** The checkpoint to start from (default: the run's input, before its first step). */
  checkpointId?: string;
  /** The new run's id (default: `<threadId>-rerun-<checkpointId or "input">`). */
  newThreadId?: string;
}

/**
 * The id of a rerun by default: `<threadId>-rerun-<checkpointId or "input">`
 * (the same for every rerun of one checkpoint).
 *
 * @param threadId The run.
 * @param checkpointId The checkpoint it is rerun from, if any.
 * @returns The rerun's id.
 */
export function rerunThreadId(threadId: string, checkpointId?: string): string {
  return `${threadId.slice(0, 80)}-rerun-${checkpointId ?? "input"}`;
}

/**
 * Re-executes a run from a checkpoint as a new run, effects served from the
 * original run's journal, and runs it until it comes to rest.
 *
 * @param runtime The runtime (made by `createRuntime`).
 * @param threadId The run.
 * @param options The checkpoint and the new run's id.
 * @returns The new run's result.
 * @throws {NotFoundError} for an unknown run or checkpoint.
 * @throws {ConflictError} when the new run's id is taken by another run.
 */
export async function rerun(
  runtime: Runtime,
  threadId: string,
  options: RerunOptions = {},
): Promise<RunResult> {
  const source = parseThreadId(threadId);
  const run = await runtime.get(source);
  if (run === null) throw new NotFoundError("run", source, { details: { thread_id: source } });
  let start: { state: JsonObject; next: TaskSpec[]; step: number };
  if (options.checkpointId === undefined) {
    const [created] = await runtime.store.readEvents(source, 1, { limit: 1 });
    if (created?.event.type !== "run.created") {
      throw new NotFoundError("run", source, { details: { thread_id: source } });
    }
    start = { state: created.event.state, next: created.event.next, step: 0 };
  } else {
    const at = await runtime.getState(source, { checkpointId: options.checkpointId });
    start = { state: at.values as JsonObject, next: at.tasks, step: at.step };
  }
  const target = parseThreadId(
    options.newThreadId ?? rerunThreadId(source, options.checkpointId),
  );
  // A run of that id exists: the same rerun (its journal is seeded) or another
  // run (a conflict when it is created below). Either way, nothing is copied.
  if (await runtime.get(target) === null) {
    // The new run's step n is the original's step `start.step + n`.
    for (const effect of await runtime.store.listEffects(source)) {
      if (effect.step <= start.step) continue;
      await runtime.store.recordEffect({
        ...effect,
        threadId: target,
        step: effect.step - start.step,
      });
    }
  }
  return await internalsOf(runtime).invoke(
    run.graph,
    { rerun_of: { thread_id: source, checkpoint_id: options.checkpointId ?? null } } as Json,
    { threadId: target, initial: { state: start.state, next: start.next }, journalFrom: source },
  );
}
