/**
 * A counting semaphore: at most `limit` holders at once, the rest wait in
 * FIFO order.
 *
 * @module
 */

/**
 * Limits how many callers run at once.
 *
 * @example
 * ```ts
 * import { Semaphore } from "./semaphore.ts";
 * import assert from "node:assert/strict";
 *
 * const semaphore = new Semaphore(1);
 * let running = 0;
 * let most = 0;
 * await Promise.all([1, 2, 3].map(() =>
 *   semaphore.run(async () => {
 *     most = Math.max(most, ++running);
 *     await Promise.resolve();
 *     running--;
 *   })
 * ));
 * assert.equal(most, 1);
 * ```
 */
export class Semaphore {
  #available: number;
  #waiting: (() => void)[] = [];

  /**
   * Creates a semaphore.
   *
   * @param limit How many may hold it at once (`Infinity` for no limit).
   */
  constructor(limit: number) {
    if (!(limit >= 1)) {
      throw new RangeError(`Cannot limit concurrency to ${limit}: it must be at least 1`);
    }
    this.#available = limit;
  }

  /** How many callers wait. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `fn` once a place is free.
   *
   * @param fn The work.
   * @returns What `fn` returns.
   */
  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#available <= 0) return this.#queued(fn);
    // A free place (the usual case): no frame of its own around the work.
    this.#available--;
    let work: Promise<T>;
    try {
      work = Promise.resolve(fn());
    } catch (error) {
      this.#release();
      return Promise.reject(error);
    }
    // Registered before the caller's reaction: the place is free again when the caller goes on.
    work.then(this.#released, this.#released);
    return work;
  }

  async #queued<T>(fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #released = (): void => this.#release();

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#available++;
  }
}
