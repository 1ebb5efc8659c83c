/**
 * A tiny FIFO mailbox: messages are processed one at a time, in the order
 * they were sent; each sender gets a promise of its message's result.
 *
 * @module
 */

interface Envelope<M, R> {
  message: M;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * A FIFO mailbox over a processor. A failing message rejects its sender's
 * promise and does not stop the mailbox.
 *
 * @typeParam M The message type.
 * @typeParam R The result type.
 *
 * @example Messages are processed in order, one at a time
 * ```ts
 * import { Mailbox } from "./mailbox.ts";
 * import assert from "node:assert/strict";
 *
 * const seen: number[] = [];
 * const mailbox = new Mailbox<number, number>(async (n) => {
 *   await Promise.resolve();
 *   seen.push(n);
 *   return n * 2;
 * });
 * const results = await Promise.all([mailbox.send(1), mailbox.send(2), mailbox.send(3)]);
 * assert.deepEqual(seen, [1, 2, 3]);
 * assert.deepEqual(results, [2, 4, 6]);
 * ```
 */
export class Mailbox<M, R> {
  #queue: Envelope<M, R>[] = [];
  #processing = false;
  #process: (message: M) => Promise<R>;
  #idle: (() => void)[] = [];

  /**
   * Creates a mailbox.
   *
   * @param process Handles one message; the next waits until it settles.
   */
  constructor(process: (message: M) => Promise<R>) {
    this.#process = process;
  }

  /**
   * Enqueues a message.
   *
   * @param message The message.
   * @returns Its result, once processed.
   */
  send(message: M): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ message, resolve, reject });
      if (!this.#processing) void this.#drain();
    });
  }

  /** How many messages wait, the one being processed included. */
  get size(): number {
    return this.#queue.length + (this.#processing ? 1 : 0);
  }

  /**
   * Resolves when no message is waiting or being processed.
   *
   * @returns A promise that resolves when the mailbox is idle.
   */
  idle(): Promise<void> {
    if (!this.#processing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #drain(): Promise<void> {
    this.#processing = true;
    try {
      while (this.#queue.length > 0) {
        const envelope = this.#queue.shift()!;
        try {
          envelope.resolve(await this.#process(envelope.message));
        } catch (error) {
          envelope.reject(error);
        }
      }
    } finally {
      this.#processing = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }
}
