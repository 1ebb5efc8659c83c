/**
 * Group commit, shared by the storage adapters: writes that arrive while earlier ones are in flight wait, and
 * then go out together as one batch (one statement, one transaction, one WAL
 * flush). Each item of a batch gets its own outcome, so one failing item does
 * not fail the others. Items with the same key never share a batch and never
 * overtake each other: a key has at most one item in flight, in arrival order.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** The outcome of one item of a batch. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Options of {@linkcode GroupCommitter}. */
export interface GroupCommitOptions<T, R> {
  /**
   * Writes a batch. Resolves with one outcome per item, in order; a rejection
   * fails every item of the batch with that error.
   */
  execute(items: T[]): Promise<Settled<R>[]>;
  /** The key of an item: items with equal keys are written one at a time, in order. */
  key(item: T): string;
  /** The size of an item in bytes, to bound a batch. */
  size(item: T): number;
  /** How many batches may be in flight at once. */
  maxInFlight: number;
  /** How many items a batch holds at most. */
  maxItems: number;
  /** How many bytes a batch holds at most (a single larger item still goes alone). */
  maxBytes: number;
  /**
   * Batches smaller than this are not split further: a queue of `n` items
   * with `k` free slots goes out as batches of `max(minSplit, n / k)`.
   */
  minSplit: number;
}

interface Pending<T, R> {
  item: T;
  key: string;
  size: number;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Batches writes: see the module doc.
 *
 * @example
 * ```ts
 * import { GroupCommitter } from "./_group_commit.ts";
 * import assert from "node:assert/strict";
 *
 * const batches: number[][] = [];
 * const committer = new GroupCommitter<number, number>({
 *   execute(items) {
 *     batches.push(items);
 *     return Promise.resolve(items.map((value) => ({ ok: true, value: value * 2 })));
 *   },
 *   key: (item) => String(item),
 *   size: () => 1,
 *   maxInFlight: 1,
 *   maxItems: 100,
 *   maxBytes: 1024,
 *   minSplit: 32,
 * });
 * assert.deepEqual(await Promise.all([1, 2, 3].map((n) => committer.submit(n))), [2, 4, 6]);
 * assert.deepEqual(batches, [[1, 2, 3]]);
 * ```
 */
export class GroupCommitter<T, R> {
  #options: GroupCommitOptions<T, R>;
  #queue: Pending<T, R>[] = [];
  #busy = new Set<string>();
  #inFlight = 0;
  #scheduled = false;
  #idle: (() => void)[] = [];

  /** @param options How to write a batch, and the bounds of one. */
  constructor(options: GroupCommitOptions<T, R>) {
    this.#options = options;
  }

  /** How many items are queued or in flight. */
  get pending(): number {
    return this.#queue.length + this.#busy.size;
  }

  /**
   * Queues an item for the next batch.
   *
   * @param item The write.
   * @returns Its own outcome.
   */
  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const options = this.#options;
      this.#queue.push({ item, key: options.key(item), size: options.size(item), resolve, reject });
      this.#schedule(this.#inFlight === 0);
    });
  }

  /**
   * Waits until nothing is queued or in flight.
   *
   * @returns When idle.
   */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #schedule(idle: boolean): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const pump = () => {
      this.#scheduled = false;
      this.#pump();
    };
    // Idle: go at once, with the writes made in the same turn. Busy: wait one
    // turn of the event loop, so that callers woken by the last batch join.
    if (idle) queueMicrotask(pump);
    else setImmediate(pump);
  }

  #pump(): void {
    const { maxInFlight, maxItems, maxBytes, minSplit } = this.#options;
    while (this.#inFlight < maxInFlight && this.#queue.length > 0) {
      // Share a long queue among the free slots, so that one batch is prepared
      // and sent while another executes, rather than all writers in lockstep.
      const free = maxInFlight - this.#inFlight;
      const limit = Math.min(maxItems, Math.max(minSplit, Math.ceil(this.#queue.length / free)));
      const batch: Pending<T, R>[] = [];
      const rest: Pending<T, R>[] = [];
      const keys = new Set<string>();
      let bytes = 0;
      for (const pending of this.#queue) {
        const fits = batch.length < limit &&
          (batch.length === 0 || bytes + pending.size <= maxBytes);
        if (fits && !this.#busy.has(pending.key) && !keys.has(pending.key)) {
          batch.push(pending);
          keys.add(pending.key);
          bytes += pending.size;
        } else {
          // Later items of a key wait behind the earlier one, in order.
          keys.add(pending.key);
          rest.push(pending);
        }
      }
      if (batch.length === 0) break;
      this.#queue = rest;
      this.#send(batch);
    }
    this.#checkIdle();
  }

  #send(batch: Pending<T, R>[]): void {
    this.#inFlight++;
    for (const pending of batch) this.#busy.add(pending.key);
    let outcome: Promise<Settled<R>[]>;
    try {
      outcome = this.#options.execute(batch.map((pending) => pending.item));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (results) => {
        batch.forEach((pending, i) => {
          const result = results[i];
          if (result === undefined) {
            pending.reject(new Error(`Group commit returned no outcome for item ${i}`));
          } else if (result.ok) pending.resolve(result.value);
          else pending.reject(result.error);
        });
      },
      (error) => {
        for (const pending of batch) pending.reject(error);
      },
    ).finally(() => {
      this.#inFlight--;
      for (const pending of batch) this.#busy.delete(pending.key);
      if (this.#queue.length > 0) this.#schedule(false);
      else this.#checkIdle();
    });
  }

  #checkIdle(): void {
    if (this.pending > 0 || this.#idle.length === 0) return;
    const waiters = this.#idle;
    this.#idle = [];
    for (const resolve of waiters) resolve();
  }
}
