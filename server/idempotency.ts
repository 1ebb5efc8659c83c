/**
 * Idempotent control actions (`POST /v1/jobs/run` with an
 * `idempotency_key`, and resumes by the interrupts they answer, through
 * `POST /v1/interrupts/:interrupt_id/resume` or
 * `POST /v1/jobs/:thread_id/resume`; see `resume.ts`): the
 * first request claims the key with its payload's hash, runs, and stores its
 * response; a later request with the same payload gets that response again,
 * and one with another payload is refused with the route's conflict. A
 * failed first request releases its claim, so that a retry can run.
 *
 * While the first request is still running, a repeat in the same process
 * waits for it and gets its response (no polling); a repeat whose first
 * request runs in another process gets what the route's `elsewhere` answers.
 *
 * @module
 */

import {
  type ControlStore,
  type IdempotencyRecord,
  type Json,
  type Logger,
  payloadHash,
} from "../kernel/mod.ts";

/** One idempotent request: its key, its payload, and the route's answers. */
export interface IdempotentRequest<T> {
  /** The key. */
  key: string;
  /** The operation, e.g. `job.run`: the same key of another operation is a conflict. */
  operation: string;
  /** The run the action concerns. */
  threadId: string;
  /** What makes two requests the same (hashed). */
  payload: Json;
  /** The error for a key already used with another payload (or operation). */
  conflict(record: Pick<IdempotencyRecord, "operation" | "payloadHash">): Error;
  /**
   * What a repeat answers with the first request's response.
   * @default {the response as it is}
   */
  replay?(response: T): T;
  /** What a repeat answers while the first request runs in another process. */
  elsewhere(): Promise<T>;
}

/** What the first local request of a key is doing. */
interface Running {
  operation: string;
  payloadHash: string;
  /** Its answer, as the first request gives it (a repeat applies `replay`). */
  response: Promise<unknown>;
}

/** What idempotent actions need: the store of claims, the clock and the logger. */
export interface IdempotencyDeps {
  /** The store of idempotency records. */
  store: ControlStore;
  /** The clock (ms), for the claim's time. */
  now(): number;
  /** Where a failed release is logged. */
  logger: Logger;
}

/**
 * The idempotent actions of one server: the store's claims, and the first
 * requests of each key running in this process.
 *
 * @example A repeat gets the first response
 * ```ts
 * import { IdempotentActions } from "./idempotency.ts";
 * import { ConflictError, createJsonLogger, MemoryStore } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * const actions = new IdempotentActions({ store, now: () => 0, logger: createJsonLogger() });
 * let runs = 0;
 * const request = {
 *   key: "k-1", operation: "demo", threadId: "t-1", payload: { n: 1 },
 *   conflict: () => new ConflictError("used with another payload"),
 *   elsewhere: () => Promise.resolve({ runs: -1 }),
 * };
 * const action = () => Promise.resolve({ runs: ++runs });
 * const [first, concurrent] = await Promise.all([actions.once(request, action), actions.once(request, action)]);
 * const later = await actions.once(request, action);
 * assert.deepEqual([first, concurrent, later], [{ runs: 1 }, { runs: 1 }, { runs: 1 }]);
 * await assert.rejects(actions.once({ ...request, payload: { n: 2 } }, action), ConflictError);
 * ```
 */
export class IdempotentActions {
  #deps: IdempotencyDeps;
  #running = new Map<string, Running>();

  /**
   * Creates the actions of a server.
   *
   * @param deps The store, clock and logger.
   */
  constructor(deps: IdempotencyDeps) {
    this.#deps = deps;
  }

  /**
   * Runs an action once per key: claims the key, runs `action` and stores
   * its response, or answers a repeat from the first request.
   *
   * @typeParam T The response.
   * @param request The key, payload and the route's answers.
   * @param action The action (runs only for the first request).
   * @returns The response.
   * @throws {Error} `request.conflict(record)` when the key was used with another payload.
   */
  async once<T>(request: IdempotentRequest<T>, action: () => Promise<T>): Promise<T> {
    const { key, operation } = request;
    const hash = payloadHash(request.payload);
    const replay = (response: T): T =>
      request.replay === undefined ? response : request.replay(response);
    const local = this.#running.get(key);
    if (local !== undefined) {
      if (local.operation !== operation || local.payloadHash !== hash) {
        throw request.conflict(local);
      }
      return replay(await local.response as T);
    }
    // This request is the first here: repeats that arrive meanwhile wait for it.
    let settle!: { resolve(value: T): void; reject(error: unknown): void };
    const response = new Promise<T>((resolve, reject) => (settle = { resolve, reject }));
    response.catch(() => {}); // Its failure reaches this request's caller below.
    this.#running.set(key, { operation, payloadHash: hash, response });
    try {
      const answer = await this.#claimAndRun(request, hash, replay, action);
      settle.resolve(answer);
      return answer;
    } catch (error) {
      settle.reject(error);
      throw error;
    } finally {
      this.#running.delete(key);
    }
  }

  async #claimAndRun<T>(
    request: IdempotentRequest<T>,
    hash: string,
    replay: (response: T) => T,
    action: () => Promise<T>,
  ): Promise<T> {
    const { store, now, logger } = this.#deps;
    const { key, operation } = request;
    const claim = await store.claimIdempotency({
      key,
      operation,
      threadId: request.threadId,
      payloadHash: hash,
      response: null,
      createdAt: now(),
    });
    if (!claim.claimed) {
      if (claim.record.operation !== operation || claim.record.payloadHash !== hash) {
        throw request.conflict(claim.record);
      }
      if (claim.record.response === null) return await request.elsewhere();
      return replay(claim.record.response as T);
    }
    try {
      const response = await action();
      await store.completeIdempotency(key, response as Json);
      return response;
    } catch (error) {
      await store.releaseIdempotency(key).catch((releaseError) =>
        logger.error("idempotency release failed", { key, operation, error: releaseError })
      );
      throw error;
    }
  }
}
