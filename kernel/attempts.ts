/**
 * Attempts and dead letters: the bookkeeping of the worker plane
 * ({@linkcode AttemptStore}, part of every `Store` as `store.attempts`).
 *
 * An **attempt** is a run's execution by workers, from its dispatch until it
 * ends: `queued` (waiting to be dispatched again), `leased` (a worker holds
 * the run's lease: `workerId`, `fencingToken`, `leaseExpiresAt`),
 * `retry_backoff` (it failed and runs again at `nextRetryAt`, as attempt
 * `attemptNo + 1`), or ended: `completed`, `failed`, `cancelled`. A run has at
 * most one attempt that has not ended. A lease expired before the worker
 * finished sends the attempt back to `queued` (same attempt, another worker,
 * a higher fencing token).
 *
 * A **dead letter** records an attempt that ended `failed` for good (no
 * retry left: `terminal_failed`; or its execution timed out:
 * `execution_timeout`). Replaying it once requeues the attempt; a second
 * replay is refused.
 *
 * The helpers below compute retries and keep the adapters' validation
 * identical.
 *
 * @module
 */

import { ConflictError, InvalidArgumentError } from "./errors.ts";
import { isValidId } from "./ids.ts";
import type { Page, PageOptions } from "./paging.ts";

/** Where an attempt stands. */
export type AttemptStatus =
  | "queued"
  | "leased"
  | "retry_backoff"
  | "completed"
  | "failed"
  | "cancelled";

/** Every {@linkcode AttemptStatus}. */
export const ATTEMPT_STATUSES: readonly AttemptStatus[] = [
  "queued",
  "leased",
  "retry_backoff",
  "completed",
  "failed",
  "cancelled",
];

/** The statuses of an attempt that has ended. */
export type AttemptTerminalStatus = "completed" | "failed" | "cancelled";

/** How a failed attempt is retried. */
export interface AttemptRetryPolicy {
  /** `fixed`: always `backoffMs`; `exponential`: `backoffMs · multiplier^(retry − 1)`, capped. */
  strategy: "fixed" | "exponential";
  /** The first (or every) delay, ms, from 1. */
  backoffMs: number;
  /** The largest delay (ms, at least `backoffMs`), if capped. */
  maxBackoffMs: number | null;
  /** The growth of exponential delays (more than 1; default 2). */
  multiplier: number;
  /** How many retries at most (from 0). */
  maxRetries: number;
}

/** One retry of an attempt. */
export interface RetryRecord {
  /** 1 for the first retry. */
  retryNo: number;
  /** The attempt number that retry runs as. */
  attemptNo: number;
  /** The policy's strategy. */
  strategy: AttemptRetryPolicy["strategy"];
  /** The delay before it (ms). */
  backoffMs: number;
  /** The policy's retry budget. */
  maxRetries: number;
  /** When it was scheduled (ms). */
  scheduledAt: number;
  /** When it may be dispatched (ms). */
  retryAt: number;
}

/** An attempt (see the module doc). */
export interface AttemptRecord {
  /** Its id. */
  attemptId: string;
  /** The run. */
  threadId: string;
  /** 1, then 2 after one retry, ... */
  attemptNo: number;
  /** Where it stands. */
  status: AttemptStatus;
  /** The worker holding (or that last held) its lease. */
  workerId: string | null;
  /** The fencing token of that lease (the run's lease token). */
  fencingToken: number | null;
  /** When that lease ends unless renewed (ms). */
  leaseExpiresAt: number | null;
  /** When it was first dispatched (ms). */
  startedAt: number | null;
  /** When it may be dispatched again (`retry_backoff`, ms). */
  nextRetryAt: number | null;
  /** The run's tenant. */
  tenantId: string | null;
  /** How long one execution may last (ms), from the run's execution timeout. */
  timeoutMs: number | null;
  /** How the attempt ends when it lasts longer. */
  onTimeoutStatus: "failed" | "cancelled" | null;
  /** The last retry policy given. */
  retryPolicy: AttemptRetryPolicy | null;
  /** Its retries, oldest first. */
  retries: RetryRecord[];
  /** Increases with every change (optimistic concurrency). */
  version: number;
  /** When it was created (ms). */
  createdAt: number;
  /** When it last changed (ms). */
  updatedAt: number;
}

/** Why an attempt was dead-lettered. */
export type DeadLetterReason = "terminal_failed" | "execution_timeout";

/** Whether a dead letter was replayed. */
export type ReplayStatus = "pending" | "replayed";

/** A dead letter (see the module doc). */
export interface DeadLetterRecord {
  /** The attempt. */
  attemptId: string;
  /** The run. */
  threadId: string;
  /** The attempt's number when it ended. */
  attemptNo: number;
  /** How it ended. */
  terminalStatus: AttemptTerminalStatus;
  /** Why. */
  reason: DeadLetterReason;
  /** When (ms). */
  deadAt: number;
  /** `pending` until replayed. */
  replayStatus: ReplayStatus;
  /** How many times it was replayed. */
  replayCount: number;
  /** When it was last replayed (ms). */
  lastReplayedAt: number | null;
}

/** Options of {@linkcode AttemptStore.listDeadLetters}. */
export interface ListDeadLettersOptions extends PageOptions {
  /** Only dead letters with this replay status. */
  status?: ReplayStatus;
}

/** Options of {@linkcode AttemptStore.listAttempts}. */
export interface ListAttemptsOptions {
  /** Only attempts with this status. */
  status: AttemptStatus;
  /** Only attempts of this worker. */
  workerId?: string;
  /** How many at most (default 100). */
  limit?: number;
}

/**
 * Attempts and dead letters. Implemented by every storage adapter and checked
 * by the shared conformance suite.
 */
export interface AttemptStore {
  /**
   * Creates an attempt unless its run has one that has not ended (then
   * nothing is written).
   *
   * @returns `true` when it was created.
   * @throws {InvalidArgumentError} when the record is not valid.
   */
  createAttempt(record: AttemptRecord): Promise<boolean>;
  /** An attempt, or `null`. */
  getAttempt(attemptId: string): Promise<AttemptRecord | null>;
  /** The attempt of a run that has not ended, or `null`. */
  openAttempt(threadId: string): Promise<AttemptRecord | null>;
  /**
   * Replaces an attempt if it is still at `record.version`, storing it at
   * `version + 1`, and creates `deadLetter` in the same atomic write.
   *
   * @returns The stored attempt.
   * @throws {ConflictError} when the attempt changed meanwhile, or another
   * attempt of its run is open (nothing is written).
   * @throws {NotFoundError} for an unknown attempt.
   */
  saveAttempt(record: AttemptRecord, deadLetter?: DeadLetterRecord): Promise<AttemptRecord>;
  /** Attempts with a status (of one worker), oldest first. */
  listAttempts(options: ListAttemptsOptions): Promise<AttemptRecord[]>;
  /** Dead letters, newest first, paging by (deadAt, attemptId). */
  listDeadLetters(options?: ListDeadLettersOptions): Promise<Page<DeadLetterRecord>>;
  /** A dead letter, or `null`. */
  getDeadLetter(attemptId: string): Promise<DeadLetterRecord | null>;
  /**
   * Replays a pending dead letter: marks it `replayed` (count + 1) and its
   * attempt `queued`, atomically.
   *
   * @returns Both, as stored.
   * @throws {NotFoundError} for an unknown dead letter.
   * @throws {ConflictError} when it was replayed already, or its run has
   * another open attempt (nothing is written).
   */
  replayDeadLetter(
    attemptId: string,
    now: number,
  ): Promise<{ deadLetter: DeadLetterRecord; attempt: AttemptRecord }>;
}

/**
 * Whether an attempt with this status has ended.
 *
 * @param status The status.
 * @returns `true` for `completed`, `failed`, `cancelled`.
 *
 * @example
 * ```ts
 * import { isAttemptEnded } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isAttemptEnded("failed"));
 * assert.ok(!isAttemptEnded("retry_backoff"));
 * ```
 */
export function isAttemptEnded(status: AttemptStatus): status is AttemptTerminalStatus {
  return status === "completed" || status === "failed" || status === "cancelled";
}

/**
 * The delay before a retry.
 *
 * @param policy The retry policy.
 * @param retryNo The retry (1 for the first).
 * @returns The delay (ms, at least 1).
 *
 * @example
 * ```ts
 * import { retryDelay } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * const policy = { strategy: "exponential", backoffMs: 100, maxBackoffMs: 250, multiplier: 3, maxRetries: 2 } as const;
 * assert.deepEqual([1, 2].map((n) => retryDelay(policy, n)), [100, 250]);
 * ```
 */
export function retryDelay(policy: AttemptRetryPolicy, retryNo: number): number {
  const raw = policy.strategy === "fixed"
    ? policy.backoffMs
    : policy.backoffMs * policy.multiplier ** (retryNo - 1);
  const capped = policy.maxBackoffMs === null ? raw : Math.min(raw, policy.maxBackoffMs);
  return Math.max(1, Math.round(capped));
}

/**
 * What a failed attempt becomes under a retry policy: `retry_backoff` as its
 * next attempt number with the retry recorded, or `null` when no retry is left.
 *
 * @param attempt The attempt (its `retries` count the retries so far).
 * @param policy The policy.
 * @param now The clock (ms).
 * @returns The attempt to store, or `null`.
 *
 * @example
 * ```ts
 * import { scheduleRetry } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * const attempt = {
 *   attemptId: "at_1", threadId: "t", attemptNo: 1, status: "leased", workerId: "w", fencingToken: 1,
 *   leaseExpiresAt: 30_000, startedAt: 0, nextRetryAt: null, tenantId: null, timeoutMs: null,
 *   onTimeoutStatus: null, retryPolicy: null, retries: [], version: 1, createdAt: 0, updatedAt: 0,
 * } as const;
 * const policy = { strategy: "fixed", backoffMs: 1000, maxBackoffMs: null, multiplier: 2, maxRetries: 1 } as const;
 * const retried = scheduleRetry({ ...attempt, retries: [] }, policy, 10)!;
 * assert.equal(retried.status, "retry_backoff");
 * assert.equal(retried.attemptNo, 2);
 * assert.equal(retried.nextRetryAt, 1010);
 * assert.equal(scheduleRetry(retried, policy, 20), null);
 * ```
 */
export function scheduleRetry(
  attempt: AttemptRecord,
  policy: AttemptRetryPolicy,
  now: number,
): AttemptRecord | null {
  const retryNo = attempt.retries.length + 1;
  if (retryNo > policy.maxRetries) return null;
  const backoffMs = retryDelay(policy, retryNo);
  const retry: RetryRecord = {
    retryNo,
    attemptNo: attempt.attemptNo + 1,
    strategy: policy.strategy,
    backoffMs,
    maxRetries: policy.maxRetries,
    scheduledAt: now,
    retryAt: now + backoffMs,
  };
  return {
    ...attempt,
    status: "retry_backoff",
    attemptNo: retry.attemptNo,
    leaseExpiresAt: null,
    nextRetryAt: retry.retryAt,
    retryPolicy: policy,
    retries: [...attempt.retries, retry],
    updatedAt: now,
  };
}

/**
 * The lease id of an attempt's lease, as workers name it: the attempt id and
 * the fencing token.
 *
 * @param attemptId The attempt.
 * @param token The fencing token.
 * @returns The lease id.
 *
 * @example
 * ```ts
 * import { leaseIdOf, parseLeaseId } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(leaseIdOf("at_1", 3), "at_1:3");
 * assert.deepEqual(parseLeaseId("at_1:3"), { attemptId: "at_1", token: 3 });
 * assert.equal(parseLeaseId("nope"), null);
 * ```
 */
export function leaseIdOf(attemptId: string, token: number): string {
  return `${attemptId}:${token}`;
}

/**
 * Reads a lease id made by {@linkcode leaseIdOf}.
 *
 * @param leaseId Anything.
 * @returns The attempt and token, or `null` when it is not a lease id.
 */
export function parseLeaseId(leaseId: unknown): { attemptId: string; token: number } | null {
  if (typeof leaseId !== "string") return null;
  const at = leaseId.lastIndexOf(":");
  const attemptId = leaseId.slice(0, at);
  const token = Number(leaseId.slice(at + 1));
  if (at < 1 || !isValidId(attemptId) || !/^[0-9]{1,15}$/.test(leaseId.slice(at + 1))) return null;
  return { attemptId, token };
}

/**
 * Validates an attempt before it is stored.
 *
 * @internal Shared by the storage adapters.
 * @param record Anything.
 * @throws {InvalidArgumentError} when it is not a valid attempt.
 *
 * @example
 * ```ts
 * import { checkAttemptRecord } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => checkAttemptRecord({ attemptId: "" } as never), /attempt_id/);
 * ```
 */
export function checkAttemptRecord(record: AttemptRecord): void {
  const bad = (field: string, what: string) =>
    new InvalidArgumentError(`${field} ${what}`, { field });
  if (!isValidId(record?.attemptId)) throw bad("attempt_id", "must be a valid id");
  if (!isValidId(record.threadId)) throw bad("thread_id", "must be a valid id");
  if (!ATTEMPT_STATUSES.includes(record.status)) {
    throw bad("status", `must be one of ${ATTEMPT_STATUSES.join(", ")}`);
  }
  for (const field of ["attemptNo", "version", "createdAt", "updatedAt"] as const) {
    const value = record[field];
    if (!Number.isSafeInteger(value) || value < 0) throw bad(field, "must be a whole number");
  }
  if (!Array.isArray(record.retries)) throw bad("retries", "must be a list");
}

/**
 * The error of a replay refused because the dead letter was replayed already.
 *
 * @internal Shared by the storage adapters.
 * @param attemptId The attempt.
 * @returns The error.
 *
 * @example
 * ```ts
 * import { alreadyReplayed } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(alreadyReplayed("at_1").code, "conflict");
 * ```
 */
export function alreadyReplayed(attemptId: string): ConflictError {
  return new ConflictError(`Dead letter "${attemptId}" was replayed already`, {
    details: { attempt_id: attemptId, replay_status: "replayed" },
  });
}

/**
 * The dead letter and the attempt after a replay: the letter counted as
 * replayed, the attempt queued again with its version bumped.
 *
 * @internal Shared by the storage adapters.
 * @param letter The stored dead letter.
 * @param stored The stored attempt.
 * @param now The time of the replay (ms).
 * @returns Both records to write.
 * @throws {ConflictError} when the letter was replayed already.
 *
 * @example
 * ```ts
 * import { type AttemptRecord, type DeadLetterRecord, replayedRecords } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * const letter = { attemptId: "at_1", replayStatus: "pending", replayCount: 0 } as DeadLetterRecord;
 * const stored = { attemptId: "at_1", status: "failed", version: 3 } as AttemptRecord;
 * const { deadLetter, attempt } = replayedRecords(letter, stored, 9);
 * assert.equal(deadLetter.replayCount, 1);
 * assert.equal(attempt.status, "queued");
 * assert.equal(attempt.version, 4);
 * assert.throws(() => replayedRecords(deadLetter, attempt, 10), /replayed already/);
 * ```
 */
export function replayedRecords(
  letter: DeadLetterRecord,
  stored: AttemptRecord,
  now: number,
): { deadLetter: DeadLetterRecord; attempt: AttemptRecord } {
  if (letter.replayStatus !== "pending") throw alreadyReplayed(letter.attemptId);
  const deadLetter: DeadLetterRecord = {
    ...letter,
    replayStatus: "replayed",
    replayCount: letter.replayCount + 1,
    lastReplayedAt: now,
  };
  const attempt: AttemptRecord = {
    ...stored,
    status: "queued",
    leaseExpiresAt: null,
    nextRetryAt: null,
    version: stored.version + 1,
    updatedAt: now,
  };
  return { deadLetter, attempt };
}

/**
 * The error of a write refused because the attempt changed meanwhile or
 * another attempt of its run is open.
 *
 * @internal Shared by the storage adapters.
 * @param attemptId The attempt.
 * @param reason What happened.
 * @returns The error.
 *
 * @example
 * ```ts
 * import { attemptConflict } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(attemptConflict("at_1", "it changed").message, /at_1/);
 * ```
 */
export function attemptConflict(attemptId: string, reason: string): ConflictError {
  return new ConflictError(`Cannot save attempt "${attemptId}": ${reason}`, {
    details: { attempt_id: attemptId },
  });
}

/**
 * Validates the options of {@linkcode AttemptStore.listAttempts}.
 *
 * @internal Shared by the storage adapters.
 * @param options The options.
 * @returns The limit (default 100, at most 1000).
 * @throws {InvalidArgumentError} for an unknown status or a bad limit.
 *
 * @example
 * ```ts
 * import { checkListAttempts } from "./attempts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkListAttempts({ status: "leased" }), 100);
 * assert.throws(() => checkListAttempts({ status: "nope" as never }), /status/);
 * ```
 */
export function checkListAttempts(options: ListAttemptsOptions): number {
  if (!ATTEMPT_STATUSES.includes(options?.status)) {
    throw new InvalidArgumentError(`status must be one of ${ATTEMPT_STATUSES.join(", ")}`, {
      field: "status",
    });
  }
  const limit = options.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError("limit must be a whole number from 1 to 1000", {
      field: "limit",
    });
  }
  return limit;
}
