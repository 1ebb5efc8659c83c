/**
 * The PostgreSQL adapter's pool, renewable: a postgres.js client that is
 * replaced by a fresh one when its connections stop connecting.
 *
 * Why: postgres.js 3.4.9 leaves a connection unable to send when its socket
 * closes while a small write is queued (its `closed()` clears the write timer
 * without forgetting it, so every later small write waits for a timer that
 * never fires). Such a connection's reconnections never send their startup
 * message: each times out (`CONNECT_TIMEOUT`, every `connect_timeout`) until
 * enough bytes are queued, which takes minutes, and a restarting server waits
 * for those half-open clients before it exits. A database restart under load
 * leaves some connections so. A connect timeout is the sign: the store then
 * renews the pool (at most once per {@linkcode RENEW_INTERVAL_MS}), moves its
 * listeners to the fresh pool and ends the old one, whose statements in
 * flight get {@linkcode RETIRE_TIMEOUT_SECONDS} to finish.
 *
 * @module
 */

import type postgres from "postgres";
import { shareArrayTypes } from "./_client.ts";

/** The shortest time between two renewals of the pool, in ms. */
export const RENEW_INTERVAL_MS = 2_000;
/** How long an old pool's statements in flight get to finish, in s. */
export const RETIRE_TIMEOUT_SECONDS = 5;

/** A channel listened to, moved to each fresh pool. */
interface Listener {
  channel: string;
  onPayload: (payload: string) => void;
  stop: () => Promise<void>;
  sql: postgres.Sql;
}

/**
 * A postgres.js client that can be renewed; see the module doc.
 *
 * @example
 * ```ts
 * import { openClient } from "./_client.ts";
 * import { RenewablePool } from "./_pool.ts";
 * import assert from "node:assert/strict";
 *
 * const url = "postgres://postgres@127.0.0.1:1/none"; // Never connected to here.
 * const pool = new RenewablePool(openClient(url, { max: 1 }), () => openClient(url, { max: 1 }));
 * const first = pool.sql;
 * assert.equal(pool.renew(), true);
 * assert.notEqual(pool.sql, first);
 * assert.equal(pool.renew(), false); // Too soon.
 * await pool.end();
 * ```
 */
export class RenewablePool {
  #sql: postgres.Sql;
  #reopen: (() => postgres.Sql) | undefined;
  #listeners = new Set<Listener>();
  #renewedAt = -Infinity;
  #retiring = new Set<Promise<void>>();

  /**
   * @param sql The pool to start with.
   * @param reopen Makes a fresh pool with the same settings (none: never renewed).
   */
  constructor(sql: postgres.Sql, reopen?: () => postgres.Sql) {
    this.#sql = sql;
    this.#reopen = reopen;
  }

  /** The pool statements go to now. */
  get sql(): postgres.Sql {
    return this.#sql;
  }

  /**
   * Replaces the pool by a fresh one (it connects on first use), moves the
   * listeners to it and ends the old one behind.
   *
   * @returns Whether it did (not without a way to reopen, nor twice within {@linkcode RENEW_INTERVAL_MS}).
   */
  renew(): boolean {
    const now = performance.now();
    if (this.#reopen === undefined || now - this.#renewedAt < RENEW_INTERVAL_MS) return false;
    this.#renewedAt = now;
    const retired = this.#sql;
    const fresh = this.#reopen();
    shareArrayTypes(retired, fresh);
    this.#sql = fresh;
    const retiring = this.#retire(retired);
    this.#retiring.add(retiring);
    void retiring.finally(() => this.#retiring.delete(retiring));
    return true;
  }

  /**
   * Listens to a channel on a connection of its own, on whichever pool is
   * current (postgres.js listens again after a reconnect; a renewal moves it).
   *
   * @param channel The channel.
   * @param onPayload Receives each notification's payload.
   * @returns A function that stops listening.
   */
  async listen(
    channel: string,
    onPayload: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    const sql = this.#sql;
    const { unlisten } = await sql.listen(channel, onPayload);
    const listener: Listener = { channel, onPayload, stop: unlisten, sql };
    this.#listeners.add(listener);
    // Renewed meanwhile: the old pool is ending.
    if (this.#sql !== sql) await this.#move(listener);
    return async () => {
      this.#listeners.delete(listener);
      await listener.stop();
    };
  }

  /**
   * Ends the pool, after the old ones being retired.
   *
   * @param timeoutSeconds How long statements in flight get.
   */
  async end(timeoutSeconds: number = RETIRE_TIMEOUT_SECONDS): Promise<void> {
    await Promise.all(this.#retiring);
    await this.#sql.end({ timeout: timeoutSeconds });
  }

  /** Moves the old pool's listeners, then ends it; one that cannot move keeps it (it reconnects by itself). */
  async #retire(retired: postgres.Sql): Promise<void> {
    let kept = false;
    for (const listener of [...this.#listeners]) {
      if (listener.sql !== retired) continue;
      try {
        await this.#move(listener);
      } catch {
        kept = true; // Still listening on the old pool, which stays for it.
      }
    }
    if (!kept) await retired.end({ timeout: RETIRE_TIMEOUT_SECONDS });
  }

  /** Listens on the current pool, then stops listening on the old one (a signal may come twice: signals are hints). */
  async #move(listener: Listener): Promise<void> {
    const sql = this.#sql;
    const { unlisten } = await sql.listen(listener.channel, listener.onPayload);
    const previous = listener.stop;
    listener.stop = unlisten;
    listener.sql = sql;
    // The old pool is ending: its listening connection goes with it, whatever this answers.
    await previous().catch(() => undefined);
  }
}
