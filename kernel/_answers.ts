/**
 * Which answers a run has not used: the one rule the interrupt index and
 * `decide` share for answers a run drops (by ending, or by an update that
 * moves it on).
 *
 * @module
 */

import type { InterruptId } from "./ids.ts";
import type { RunSnapshot } from "./snapshot.ts";

/**
 * The answered interrupts of a run whose tasks have not run again with the
 * answer (their writes are not among the step's pending writes).
 *
 * @param run The run.
 * @returns Their ids, in the order they were answered.
 */
export function unusedAnswers(run: RunSnapshot): InterruptId[] {
  if (run.resumes.length === 0) return [];
  const done = new Set(run.pendingWrites.map((write) => write.taskId));
  return run.resumes.filter((resume) => !done.has(resume.taskId)).map((resume) => resume.id);
}
