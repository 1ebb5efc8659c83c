/**
 * `AuditQueue`: writes the server's audit entries, and keeps those the store
 * cannot take for now.
 *
 * A request's entry is handed over with `record()` once the route has
 * answered, and the response waits for its write: the store group-commits it
 * with the writes in flight (Deno KV and PostgreSQL batch concurrent entries
 * and appends into one commit), so it costs the request one group commit at
 * most, and an answered request's entry is durable. `settled()` waits for
 * the entries handed over before it, and `close()` for all of them. While the store is `unavailable` (a database outage),
 * entries wait in a bounded in-memory queue and are written in order once it
 * answers again: retried with exponential backoff (no busy loop), one at a
 * time, oldest first. While entries wait, new entries queue behind them, so
 * the store receives them in the order they were made.
 *
 * An entry is dropped, logged (`audit dropped`, with its request id) and
 * counted (`onDropped`) when the queue is full (`queue_full`), when the store
 * refuses it for good (`rejected`: not an `unavailable` error), or when the
 * server closes before the store came back (`closed`): `close()` stops the
 * retries and writes what the store takes, then drops the rest.
 *
 * A retried write may repeat one that reached the store before its
 * connection broke: stores write an audit id once (a repeat is a no-op).
 *
 * @module
 */

import {
  type AuditRecord,
  type ControlStore,
  InvalidArgumentError,
  type Logger,
  toOrisError,
} from "../kernel/mod.ts";

/** Why an audit entry was dropped (the `reason` label of `oris_audit_dropped_total`). */
export type AuditDropReason = "queue_full" | "rejected" | "closed";

/** Defaults of {@linkcode AuditQueueOptions}. */
export const AUDIT_QUEUE_DEFAULTS = {
  maxEntries: 10_000,
  retryInitialMs: 100,
  retryMaxMs: 5_000,
} as const;

/** Options of {@linkcode AuditQueue}. */
export interface AuditQueueOptions {
  /** Where entries are written. */
  store: Pick<ControlStore, "appendAudit">;
  /** Where drops and outages are logged. */
  logger: Logger;
  /**
   * The most entries kept while the store is unavailable (0: none are kept).
   * @default {10000}
   */
  maxEntries?: number;
  /**
   * The first wait before a retry, in ms; it doubles after each failed retry.
   * @default {100}
   */
  retryInitialMs?: number;
  /**
   * The longest wait between retries, in ms.
   * @default {5000}
   */
  retryMaxMs?: number;
  /** Called with each dropped entry's reason (metrics). */
  onDropped?(reason: AuditDropReason): void;
}

/** The bounded queue of audit entries (see the module doc). */
export class AuditQueue {
  readonly #store: Pick<ControlStore, "appendAudit">;
  readonly #logger: Logger;
  readonly #maxEntries: number;
  readonly #retryInitialMs: number;
  readonly #retryMaxMs: number;
  readonly #onDropped: (reason: AuditDropReason) => void;
  readonly #queue: AuditRecord[] = [];
  #delayMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> | null = null;
  #closed = false;
  /** The writes handed over by `record()` that have not settled. */
  readonly #inFlight = new Set<Promise<void>>();

  /**
   * Creates the queue.
   *
   * @param options The store, logger, bounds and drop callback.
   * @throws {InvalidArgumentError} when a bound is not a whole number in range.
   */
  constructor(options: AuditQueueOptions) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#maxEntries = whole(
      options.maxEntries ?? AUDIT_QUEUE_DEFAULTS.maxEntries,
      "maxEntries",
      0,
    );
    this.#retryInitialMs = whole(
      options.retryInitialMs ?? AUDIT_QUEUE_DEFAULTS.retryInitialMs,
      "retryInitialMs",
      1,
    );
    this.#retryMaxMs = Math.max(
      this.#retryInitialMs,
      whole(options.retryMaxMs ?? AUDIT_QUEUE_DEFAULTS.retryMaxMs, "retryMaxMs", 1),
    );
    this.#onDropped = options.onDropped ?? (() => {});
    this.#delayMs = this.#retryInitialMs;
  }

  /** How many entries wait for the store. */
  get depth(): number {
    return this.#queue.length;
  }

  /**
   * Hands an entry over to be written (as {@linkcode write}), kept among
   * the entries in flight that {@linkcode settled} and {@linkcode close} wait
   * for.
   *
   * @param record The entry.
   * @returns When it is written (in the store's next group commit), queued
   * (the store is unavailable) or dropped; never rejects.
   */
  record(record: AuditRecord): Promise<void> {
    const writing = this.write(record);
    this.#inFlight.add(writing);
    void writing.finally(() => this.#inFlight.delete(writing));
    return writing;
  }

  /**
   * Waits until every entry handed over before this call is written, queued
   * (the store is unavailable) or dropped.
   *
   * @returns When they are.
   */
  async settled(): Promise<void> {
    if (this.#inFlight.size === 0) return;
    await Promise.all(this.#inFlight);
  }

  /**
   * Writes an entry: at once when nothing waits, else behind the waiting
   * ones. Never rejects: what cannot be written is queued or dropped.
   *
   * @param record The entry.
   * @returns When it is written, queued or dropped.
   */
  async write(record: AuditRecord): Promise<void> {
    if (this.#queue.length > 0 || this.#flushing !== null) return this.#enqueue(record, null);
    try {
      await this.#store.appendAudit(record);
    } catch (error) {
      if (this.#closed || !isUnavailable(error)) {
        return this.#drop(record, this.#closed ? "closed" : "rejected", error);
      }
      this.#enqueue(record, error);
    }
  }

  /**
   * Waits for the entries handed over, then stops retrying: writes the
   * waiting entries the store takes now, in order, and drops (logs and
   * counts) the rest. Later entries are written
   * at once or dropped.
   *
   * @returns When done.
   */
  async close(): Promise<void> {
    await this.settled();
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    if (this.#queue.length > 0) await this.#flush();
    for (const record of this.#queue.splice(0)) this.#drop(record, "closed", null);
  }

  #enqueue(record: AuditRecord, error: unknown): void {
    if (this.#queue.length >= this.#maxEntries) return this.#drop(record, "queue_full", error);
    if (this.#queue.length === 0) {
      this.#logger.warn("audit queued: the store is unavailable", {
        request_id: record.requestId,
        ...(error === null ? {} : { error }),
      });
    }
    this.#queue.push(record);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined || this.#flushing !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = null;
        if (this.#queue.length > 0) this.#schedule();
      });
    }, this.#delayMs);
  }

  /** Writes waiting entries, oldest first, until the queue is empty or the store fails. */
  async #flush(): Promise<void> {
    let written = 0;
    while (this.#queue.length > 0) {
      const record = this.#queue[0]!;
      try {
        await this.#store.appendAudit(record);
        written++;
      } catch (error) {
        if (isUnavailable(error)) {
          this.#delayMs = Math.min(this.#delayMs * 2, this.#retryMaxMs);
          return;
        }
        this.#drop(record, "rejected", error);
      }
      this.#queue.shift();
    }
    this.#delayMs = this.#retryInitialMs;
    if (written > 0) this.#logger.info("audit queue written", { count: written });
  }

  #drop(record: AuditRecord, reason: AuditDropReason, error: unknown): void {
    this.#onDropped(reason);
    this.#logger.error("audit dropped", {
      reason,
      request_id: record.requestId,
      audit_id: record.auditId,
      action: record.action,
      ...(error === null ? {} : { error }),
    });
  }
}

function isUnavailable(error: unknown): boolean {
  return toOrisError(error).code === "unavailable";
}

function whole(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `audit queue ${name} must be a whole number from ${min}, got ${value}`,
      { field: name },
    );
  }
  return value;
}
