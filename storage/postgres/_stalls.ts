/**
 * The statements of a {@linkcode PostgresContext} waiting for their answers,
 * watched: one that gets no answer within a time limit fails, as on a broken
 * connection, instead of waiting for ever.
 *
 * Why: postgres.js 3.4.9 can leave a connection that opened after a database
 * restart unable to send what it is given (its write timer is lost when a
 * socket closes with a write queued; see `_pool.ts`): a statement on it is
 * never sent and never answered, and no timeout of the driver's covers an
 * open connection. A request that waited on such a statement hung for good
 * (seen under load, after `pg_ctl restart`). A stalled statement fails with
 * the driver-style code `CONNECTION_STALLED` (a connection error: its
 * outcome is unknown, as after any broken connection, so a read is sent once
 * more and a write fails `unavailable`), and the context renews its pool.
 *
 * One timer per context sweeps the statements in the order they were sent;
 * a statement costs an entry in a set, no timer of its own.
 *
 * @module
 */

/** How long a statement may go unanswered by default, in ms (the store's statements take ms). */
export const DEFAULT_STALL_MS = 30_000;

/** A statement waiting for its answer. */
interface Waiting {
  readonly sentAt: number;
  fail(error: Error): void;
}

/**
 * Watches statements for answers that never come; see the module doc.
 *
 * @example
 * ```ts
 * import { StallWatch } from "./_stalls.ts";
 * import assert from "node:assert/strict";
 *
 * let stalls = 0;
 * const watch = new StallWatch(20, () => stalls++);
 * assert.equal(await watch.watch(Promise.resolve("answer")), "answer");
 * const socket = setInterval(() => {}, 1_000); // What a statement waits on keeps the process alive.
 * const never = watch.watch(new Promise<string>(() => {}));
 * await assert.rejects(never, { code: "CONNECTION_STALLED" });
 * assert.equal(stalls, 1);
 * clearInterval(socket);
 * watch.close();
 * ```
 */
export class StallWatch {
  readonly #limitMs: number;
  readonly #onStall: () => void;
  /** In the order the statements were sent. */
  readonly #waiting = new Set<Waiting>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /**
   * @param limitMs How long a statement may go unanswered, in ms.
   * @param onStall Called once per sweep that failed statements (the pool is renewed).
   */
  constructor(limitMs: number, onStall: () => void) {
    this.#limitMs = limitMs;
    this.#onStall = onStall;
  }

  /**
   * Waits for a statement's answer, or fails it once it is overdue.
   *
   * @param statement The statement, sent.
   * @returns Its answer.
   * @throws its error, or an error with code `CONNECTION_STALLED` once it is overdue.
   */
  watch<T>(statement: Promise<T>): Promise<T> {
    if (this.#closed) return statement;
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = { sentAt: performance.now(), fail: reject };
      this.#waiting.add(waiting);
      this.#arm();
      statement.then((value) => {
        this.#waiting.delete(waiting);
        resolve(value);
      }, (error) => {
        this.#waiting.delete(waiting);
        reject(error);
      });
    });
  }

  /** Stops watching (the context closes); statements still waiting wait for their answers. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Starts the sweep once; it does not keep the process alive. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    const every = Math.max(1, Math.min(1_000, Math.floor(this.#limitMs / 4)));
    this.#timer = setInterval(() => this.#sweep(), every);
    Deno.unrefTimer(this.#timer);
  }

  #sweep(): void {
    const overdue = performance.now() - this.#limitMs;
    let stalled = 0;
    for (const waiting of this.#waiting) {
      if (waiting.sentAt > overdue) break; // The rest were sent later.
      this.#waiting.delete(waiting);
      waiting.fail(
        Object.assign(
          new Error(
            `PostgreSQL did not answer within ${this.#limitMs} ms: the connection is taken as broken`,
          ),
          { code: "CONNECTION_STALLED" },
        ),
      );
      stalled++;
    }
    if (stalled > 0) this.#onStall();
  }
}
