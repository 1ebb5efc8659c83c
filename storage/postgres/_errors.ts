/**
 * Turns postgres.js and socket errors into Oris errors, so that nothing of the
 * driver reaches callers except as a `cause`.
 *
 * @module
 */

import { InvalidArgumentError, OrisError, StorageError } from "../../kernel/mod.ts";

/** Socket-level error codes of Node's `net` (as Deno reports them). */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * The SQLSTATE (or driver code) of an error, if it has one.
 *
 * @param error Anything thrown.
 * @returns Its `code`, or `""`.
 *
 * @example
 * ```ts
 * import { errorCode } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(errorCode(Object.assign(new Error("x"), { code: "40P01" })), "40P01");
 * assert.equal(errorCode("nope"), "");
 * ```
 */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

/**
 * Whether the same call may succeed if retried: the connection failed or was
 * refused, the server is shutting down or out of resources, or the
 * transaction lost a deadlock or serialization race.
 *
 * @param error Anything thrown by the driver.
 * @returns Whether it is transient.
 *
 * @example
 * ```ts
 * import { isTransient } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isTransient(Object.assign(new Error("x"), { code: "ECONNREFUSED" })));
 * assert.ok(!isTransient(Object.assign(new Error("x"), { code: "42P01" })));
 * ```
 */
export function isTransient(error: unknown): boolean {
  const code = errorCode(error);
  return NETWORK_CODES.has(code) ||
    code.startsWith("CONNECT") || // CONNECT_TIMEOUT, CONNECTION_CLOSED, _DESTROYED, _ENDED
    code.startsWith("08") || // connection exception
    code.startsWith("53") || // insufficient resources
    code.startsWith("57P") || // admin shutdown, crash shutdown, cannot connect now
    code === "40001" || // serialization failure
    code === "40P01"; // deadlock detected
}

/**
 * Whether postgres.js rejected a statement with the error of an earlier
 * connection rather than its own: the statement was never sent, and may be
 * sent again whatever it writes.
 *
 * postgres.js 3.4.9 keeps a connection's statement in flight and the server's
 * error for it (`terminating connection due to administrator command`, `the
 * database system is shutting down`) when the server closes the connection;
 * the next connection it makes replays that error onto the first statement
 * it was to send (porsager/postgres#1223). After a database restart some
 * statements made once the database is back fail so. The driver names on the
 * error the arguments of the statement it failed first; a server's error
 * naming other arguments than the statement's own is such a replay.
 *
 * @param error Anything a statement was rejected with.
 * @param parameters The very array of parameters the statement was given.
 * @returns Whether the error was replayed onto the statement.
 *
 * @example
 * ```ts
 * import { isReplayedError } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * const mine = ["run-1"];
 * // The driver names the arguments of the statement it failed first (not enumerable).
 * const failed = (args: unknown[]) =>
 *   Object.defineProperty(Object.assign(new Error("terminating"), { code: "57P01" }), "args", {
 *     value: args,
 *   });
 * assert.ok(isReplayedError(failed(["run-0"]), mine));
 * assert.ok(!isReplayedError(failed(mine), mine));
 * ```
 */
export function isReplayedError(error: unknown, parameters: readonly unknown[]): boolean {
  const args = (error as { args?: unknown } | null)?.args;
  return SQLSTATE.test(errorCode(error)) && Array.isArray(args) && args !== parameters;
}

/**
 * Whether the server ended the session (an administrator's or a crash's
 * shutdown) or refused to start one now: nothing of a transaction that had
 * not yet sent a statement was done.
 *
 * @param error Anything thrown by the driver.
 * @returns Whether it is such an error.
 *
 * @example
 * ```ts
 * import { isSessionEnded } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isSessionEnded(Object.assign(new Error("x"), { code: "57P01" })));
 * assert.ok(!isSessionEnded(Object.assign(new Error("x"), { code: "23505" })));
 * ```
 */
export function isSessionEnded(error: unknown): boolean {
  return errorCode(error).startsWith("57P");
}

/** A SQLSTATE: an error the server sent, as opposed to the driver's or the socket's codes. */
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** How often a write that lost a race (deadlock, serialization failure) is tried in all. */
export const RACE_RETRIES = 3;

/**
 * Whether the transaction failed only because it lost a race (deadlock or
 * serialization failure): it wrote nothing and may simply run again.
 *
 * @param error Anything thrown by the driver.
 * @returns Whether to retry at once.
 *
 * @example
 * ```ts
 * import { isRaceLost } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isRaceLost(Object.assign(new Error("x"), { code: "40P01" })));
 * ```
 */
export function isRaceLost(error: unknown): boolean {
  const code = errorCode(error);
  return code === "40001" || code === "40P01";
}

/**
 * Whether the error is a connection failure: the statement may or may not
 * have committed.
 *
 * @param error Anything thrown by the driver.
 * @returns Whether the connection broke.
 *
 * @example
 * ```ts
 * import { isConnectionError } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isConnectionError(Object.assign(new Error("x"), { code: "CONNECTION_CLOSED" })));
 * ```
 */
export function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  return NETWORK_CODES.has(code) || code.startsWith("CONNECT") || code.startsWith("08") ||
    code.startsWith("57P");
}

/** What a value error of PostgreSQL means, by SQLSTATE, in words that do not quote the driver. */
const VALUE_ERRORS: Readonly<Record<string, string>> = {
  "22001": "a text value is too long",
  "22003": "a number is out of range",
  "22021": "a text value contains a NUL character or is not valid UTF-8",
  "22P02": "a value is not in the expected format",
  "22P05": "a text value contains a character PostgreSQL cannot store",
  "23502": "a required value is missing",
  "23514": "a value is outside what is allowed",
};

/**
 * Whether the error says that no connection can be made to the database now
 * (refused, unreachable, timed out, or the database is starting up or shutting
 * down), as opposed to one connection that broke.
 *
 * @param error Anything thrown by the driver.
 * @returns Whether the database cannot be reached.
 *
 * @example
 * ```ts
 * import { isUnreachable } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isUnreachable(Object.assign(new Error("x"), { code: "ECONNREFUSED" })));
 * assert.ok(!isUnreachable(Object.assign(new Error("x"), { code: "CONNECTION_CLOSED" })));
 * ```
 */
export function isUnreachable(error: unknown): boolean {
  const code = errorCode(error);
  return UNREACHABLE_CODES.has(code) || code === "CONNECT_TIMEOUT" ||
    code === "57P03" || // cannot connect now: starting up, shutting down
    code === "08001" || code === "08004"; // unable to establish, rejected
}

/** Socket-level codes that mean no connection can be made. */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * Wraps a driver error as an Oris error: {@linkcode InvalidArgumentError} for
 * data PostgreSQL cannot store (e.g. `\u0000` in a text column), otherwise a
 * {@linkcode StorageError}, retryable when {@linkcode isTransient}. Oris errors
 * pass through unchanged.
 *
 * An invalid argument is a caller's error, so its message says what kind of
 * value was refused (and `details.sqlstate`) without the driver's text, which
 * may quote SQL or the value; the driver error stays the `cause`, for logs.
 *
 * @param action What was being done, e.g. `append to run "t-1"`.
 * @param error Anything thrown.
 * @returns The error to throw.
 *
 * @example
 * ```ts
 * import { toStorageError } from "./_errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = toStorageError("load run \"t\"", Object.assign(new Error("refused"), { code: "ECONNREFUSED" }));
 * assert.equal(error.message, 'Cannot load run "t": refused');
 * assert.equal(error.code, "unavailable");
 *
 * const nul = toStorageError("list audit entries", Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: "22021" }));
 * assert.equal(nul.code, "invalid_argument");
 * assert.equal(nul.message, "Cannot list audit entries: a text value contains a NUL character or is not valid UTF-8");
 * ```
 */
export function toStorageError(action: string, error: unknown): OrisError {
  if (error instanceof OrisError) return error;
  const code = errorCode(error);
  // Data exceptions, a NULL where a value is required, a CHECK refusing a value.
  if (code.startsWith("22") || code === "23502" || code === "23514") {
    const what = VALUE_ERRORS[code] ?? "a value cannot be stored in PostgreSQL";
    return new InvalidArgumentError(`Cannot ${action}: ${what}`, {
      cause: error,
      details: { sqlstate: code },
    });
  }
  const message = `Cannot ${action}: ${error instanceof Error ? error.message : String(error)}`;
  return new StorageError(message, {
    cause: error,
    retryable: isTransient(error),
    ...(code === "" ? {} : { details: { sqlstate: code } }),
  });
}
