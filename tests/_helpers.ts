/**
 * Small helpers shared by the integration tests.
 *
 * @module
 */

import assert from "node:assert/strict";
import { ConflictError, type LogFields, type Logger, type LogLevel, type Store } from "../mod.ts";
import { parseThreadId, type StoredEvent, type ThreadId } from "../kernel/mod.ts";

/** A promise with its resolve function, for gating code under test. */
export interface Deferred<T> {
  /** Settles when `resolve` is called. */
  promise: Promise<T>;
  /** Resolves `promise`. */
  resolve(value: T): void;
}

/**
 * Makes a {@linkcode Deferred}.
 *
 * @returns The deferred.
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => resolve = done);
  return { promise, resolve };
}

/**
 * A run's whole event log.
 *
 * @param store The store.
 * @param threadId The run.
 * @returns Its events from seq 1.
 */
export function readLog(store: Store, threadId: string): Promise<StoredEvent[]> {
  return store.readEvents(parseThreadId(threadId), 1);
}

/**
 * Asserts that `action` rejects with a `ConflictError` (code `conflict`) whose message matches.
 *
 * @param action The call.
 * @param pattern The expected message.
 */
export async function assertConflict(
  action: () => Promise<unknown>,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(action, (error: unknown) => {
    assert.ok(error instanceof ConflictError, `expected a ConflictError, got ${String(error)}`);
    assert.equal(error.code, "conflict");
    assert.match(error.message, pattern);
    return true;
  });
}

/** One entry of a {@linkcode collectingLogger}. */
export interface LogEntry {
  /** The level. */
  level: LogLevel;
  /** The message. */
  message: string;
  /** The fields. */
  fields: LogFields;
}

/**
 * A logger that keeps its entries, for tests to read.
 *
 * @returns The logger and its entries.
 */
export function collectingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogLevel) => (message: string, fields: LogFields = {}) =>
    void entries.push({ level, message, fields });
  return {
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
    entries,
  };
}

/**
 * The store as a runtime that can no longer renew its leases sees it (a
 * frozen or partitioned process): a runtime over it that is abandoned (never
 * closed) loses its leases once they expire, so another runtime can take its
 * runs over, as after a crash.
 *
 * @param store The store.
 * @returns The same store, whose `renewLeases` fails.
 */
export function cutOffFromLeases<S extends Store>(store: S): S {
  return new Proxy(store, {
    get(target, property) {
      if (property === "renewLeases") return () => Promise.reject(new Error("cut off"));
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Resolves once no live runtime holds a run's lease (the store's state, polled).
 *
 * @param store The store.
 * @param threadId The run.
 */
export async function leaseExpired(store: Store, threadId: string): Promise<void> {
  for (;;) {
    const lease = await store.getLease(threadId as ThreadId);
    if (lease === null || lease.expiresAt <= Date.now()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
