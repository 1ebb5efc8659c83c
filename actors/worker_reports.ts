/**
 * A worker's report-steps: its events appended to the run under its fencing
 * token, at the version the worker read.
 *
 * - **Idempotent by the run's log.** A report repeated because its answer was
 *   lost finds its events already committed after `expectedVersion`: it is
 *   answered as a repeat (`repeated`), and nothing is written. A report with
 *   other events at a version the run has passed is a conflict. No dedupe
 *   record is written per step: the log is the record.
 * - **The run is kept folded between reports.** After a report commits, the
 *   run as it now is stays in memory for the attempt's next report (up to
 *   {@linkcode DEFAULT_KEPT_RUNS} runs, least recently reported dropped
 *   first), so a report neither reads nor folds the run's log. A kept copy
 *   can only be stale when another writer moved the run on (another server
 *   process, a takeover): the store refuses the append at the kept version,
 *   and the report is tried once more on the run read afresh.
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import {
  type AttemptRecord,
  ConflictError,
  NotFoundError,
  type RunEvent,
  type RunSnapshot,
  type Store,
} from "../kernel/mod.ts";
import { commitFolded, loadRun } from "./worker_runs.ts";

/** How many folded runs a {@linkcode WorkerReports} keeps, by default. */
export const DEFAULT_KEPT_RUNS = 1024;

/** A step reported by a worker. */
export interface StepReport {
  /** The attempt. */
  attemptId: string;
  /** The lease. */
  leaseId: string;
  /** The lease's fencing token. */
  fencingToken: number;
  /** The run's version the events follow. */
  expectedVersion: number;
  /** The events. */
  events: readonly RunEvent[];
  /** The mailbox message the events apply (marked applied in the same commit). */
  mailSeq?: number;
}

/** What a report did. */
export interface ReportOutcome {
  /** The run's version after the reported events. */
  version: number;
  /** Whether the events were already committed (a repeat): nothing was written. */
  repeated: boolean;
}

/** A run kept folded for the next report of the attempt holding it. */
interface Kept {
  token: number;
  run: RunSnapshot;
}

/**
 * Appends workers' reported steps; see the module doc.
 *
 * @example
 * ```ts
 * import { WorkerReports } from "./worker_reports.ts";
 * import { MemoryStore } from "../mod.ts";
 *
 * const reports = new WorkerReports(new MemoryStore());
 * reports.forget("a-1"); // An attempt that ended: its kept run is dropped.
 * ```
 */
export class WorkerReports {
  #store: Store;
  #max: number;
  #kept = new Map<string, Kept>();

  /**
   * @param store The store.
   * @param max How many folded runs to keep.
   */
  constructor(store: Store, max: number = DEFAULT_KEPT_RUNS) {
    this.#store = store;
    this.#max = max;
  }

  /**
   * Appends a report of an attempt the caller checked the worker holds.
   *
   * @param attempt The attempt, as read for the check.
   * @param report The step.
   * @returns The run's version after it, and whether it was a repeat.
   * @throws {ConflictError} for another version, an illegal transition or a lost lease.
   * @throws {NotFoundError} when the run does not exist.
   */
  async report(attempt: AttemptRecord, report: StepReport): Promise<ReportOutcome> {
    const kept = this.#take(attempt.attemptId, report.fencingToken);
    if (kept !== null && kept.version === report.expectedVersion) {
      try {
        return await this.#append(attempt.attemptId, kept, report);
      } catch (error) {
        // The run moved on without this server (or the lease did): read it afresh, once.
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    const run = await loadRun(this.#store, attempt.threadId);
    if (run === null) throw new NotFoundError("run", attempt.threadId);
    if (run.version === report.expectedVersion) {
      return await this.#append(attempt.attemptId, run, report);
    }
    const end = report.expectedVersion + report.events.length;
    if (run.version >= end && await this.#committed(run, report)) {
      return { version: end, repeated: true };
    }
    throw new ConflictError(
      `Run "${run.threadId}" is at version ${run.version}, not ${report.expectedVersion}`,
      {
        details: {
          thread_id: run.threadId,
          expected_version: report.expectedVersion,
          actual_version: run.version,
        },
      },
    );
  }

  /**
   * Drops the run kept for an attempt (it ended or let its lease go).
   *
   * @param attemptId The attempt.
   */
  forget(attemptId: string): void {
    this.#kept.delete(attemptId);
  }

  async #append(attemptId: string, run: RunSnapshot, report: StepReport): Promise<ReportOutcome> {
    const next = await commitFolded(
      this.#store,
      run,
      report.events,
      report.fencingToken,
      report.mailSeq,
    );
    this.#keep(attemptId, { token: report.fencingToken, run: next });
    return { version: next.version, repeated: false };
  }

  /** Whether the run's events after the report's version are the reported ones. */
  async #committed(run: RunSnapshot, report: StepReport): Promise<boolean> {
    const stored = await this.#store.readEvents(run.threadId, report.expectedVersion + 1, {
      limit: report.events.length,
    });
    return stored.length === report.events.length &&
      stored.every(({ event }, i) => isDeepStrictEqual(event, report.events[i]));
  }

  /** The run kept for the attempt under this token, taken out (a report puts it back once committed). */
  #take(attemptId: string, token: number): RunSnapshot | null {
    const kept = this.#kept.get(attemptId);
    if (kept === undefined) return null;
    this.#kept.delete(attemptId);
    return kept.token === token ? kept.run : null;
  }

  #keep(attemptId: string, kept: Kept): void {
    this.#kept.delete(attemptId);
    this.#kept.set(attemptId, kept);
    if (this.#kept.size > this.#max) {
      const oldest = this.#kept.keys().next().value;
      if (oldest !== undefined) this.#kept.delete(oldest);
    }
  }
}
