/**
 * `withIdempotency()`: the one protocol of idempotent control actions
 * (`POST /v1/jobs/run` with an `idempotency_key`, and
 * `POST /v1/interrupts/:interrupt_id/resume`). The first request claims the
 * key with its payload's hash, runs, and stores its response; a later
 * request with the same payload gets that response again (or, while the
 * first is still running, what `inFlight` answers), and one with another
 * payload is refused with the route's conflict. A failed first request
 * releases its claim, so that a retry can run.
 *
 * @module
 */

import type { RunResult } from "../actors/mod.ts";
import {
  type ControlStore,
  type IdempotencyRecord,
  type Json,
  type Logger,
  NotFoundError,
  payloadHash,
  type RunSnapshot,
} from "../kernel/mod.ts";
import { type ApiDeps, waitBounded } from "./api.ts";

/** One idempotent action: its key, its payload, and the route's answers. */
export interface IdempotencyOptions<T> {
  /** The store of idempotency records. */
  store: ControlStore;
  /** The key. */
  key: string;
  /** The operation, e.g. `job.run`: the same key of another operation is a conflict. */
  operation: string;
  /** The run the action concerns. */
  threadId: string;
  /** What makes two requests the same (hashed). */
  payload: Json;
  /** The clock (ms), for the claim's time. */
  now(): number;
  /** Where a failed release is logged. */
  logger: Logger;
  /** The error for a key already used with another payload (or operation). */
  conflict(record: IdempotencyRecord): Error;
  /**
   * What a repeat answers with the first request's stored response.
   * @default {the stored response as it is}
   */
  replay?(response: T): T;
  /** What a repeat answers while the first request is still running. */
  inFlight(): Promise<T>;
}

/**
 * Runs an action once per key: claims the key, runs `action` and stores its
 * response, or answers a repeat from the first request.
 *
 * @typeParam T The response.
 * @param options The key, payload and the route's answers.
 * @param action The action (runs only for the first request).
 * @returns The response.
 * @throws {Error} `options.conflict(record)` when the key was used with another payload.
 *
 * @example A repeat gets the stored response
 * ```ts
 * import { withIdempotency } from "./idempotency.ts";
 * import { ConflictError, MemoryStore } from "../mod.ts";
 * import { createJsonLogger } from "../actors/mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * let runs = 0;
 * const options = {
 *   store, key: "k-1", operation: "demo", threadId: "t-1", payload: { n: 1 }, now: () => 0,
 *   logger: createJsonLogger(),
 *   conflict: () => new ConflictError("used with another payload"),
 *   inFlight: () => Promise.resolve({ runs: -1 }),
 * };
 * const first = await withIdempotency(options, () => Promise.resolve({ runs: ++runs }));
 * const again = await withIdempotency(options, () => Promise.resolve({ runs: ++runs }));
 * assert.deepEqual([first, again], [{ runs: 1 }, { runs: 1 }]);
 * await assert.rejects(withIdempotency({ ...options, payload: { n: 2 } }, () => Promise.resolve({ runs: 0 })), ConflictError);
 * ```
 */
export async function withIdempotency<T>(
  options: IdempotencyOptions<T>,
  action: () => Promise<T>,
): Promise<T> {
  const { store, key, operation } = options;
  const hash = payloadHash(options.payload);
  const claim = await store.claimIdempotency({
    key,
    operation,
    threadId: options.threadId,
    payloadHash: hash,
    response: null,
    createdAt: options.now(),
  });
  if (!claim.claimed) {
    if (claim.record.operation !== operation || claim.record.payloadHash !== hash) {
      throw options.conflict(claim.record);
    }
    if (claim.record.response === null) return await options.inFlight();
    const stored = claim.record.response as T;
    return options.replay === undefined ? stored : options.replay(stored);
  }
  try {
    const response = await action();
    await store.completeIdempotency(key, response as Json);
    return response;
  } catch (error) {
    await store.releaseIdempotency(key).catch((releaseError) =>
      options.logger.error("idempotency release failed", { key, operation, error: releaseError })
    );
    throw error;
  }
}

/**
 * The run a first request is still working on, for a repeat to answer with:
 * the run once it comes to rest (within `waitMs`), or as it is then. Waits
 * for the run to exist (the first request may not have created it yet) by
 * polling every 10 ms.
 *
 * @param deps The runtime, clock and logger.
 * @param threadId The run.
 * @param waitMs How long to wait at most.
 * @returns The run.
 * @throws {NotFoundError} when the run does not exist within `waitMs`.
 */
export async function settleOrCurrent(
  deps: Pick<ApiDeps, "runtime" | "now" | "logger">,
  threadId: string,
  waitMs: number,
): Promise<RunResult | RunSnapshot> {
  const deadline = deps.now() + waitMs;
  for (;;) {
    const run = await deps.runtime.get(threadId);
    if (run !== null) {
      return await waitBounded(
        deps,
        threadId,
        deps.runtime.wait(threadId),
        Math.max(0, deadline - deps.now()),
      );
    }
    if (deps.now() >= deadline) throw new NotFoundError("run", threadId);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
