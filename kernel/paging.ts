/**
 * Paged listings, as every storage adapter serves them: page sizes, opaque
 * cursors (a listing position as URL-safe base64 of JSON: the listing's name
 * and the key of the last item of the previous page), and the listing orders
 * that adapters page by key. Every order key is immutable (a run's or an
 * interrupt's creation time and id, an audit entry's time and id, a
 * checkpoint's version, a key's id), so paging by key neither skips nor
 * repeats an item that changes while a client pages.
 *
 * @module
 */

import { InvalidArgumentError } from "./errors.ts";
import { isValidId } from "./ids.ts";
import type { Json } from "./json.ts";

/** One page of a listing. */
export interface Page<T> {
  /** The items, in listing order. */
  items: T[];
  /** Pass as `cursor` to get the next page; `null` on the last page. */
  nextCursor: string | null;
}

/** Options of a paged listing. */
export interface PageOptions {
  /**
   * How many items at most.
   * @default {50}
   */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | null;
}

/** The largest `limit` a listing accepts. */
export const MAX_PAGE_LIMIT = 1000;
/** The `limit` of a listing that gives none. */
export const DEFAULT_PAGE_LIMIT = 50;

/**
 * Validates a listing's `limit`.
 *
 * @param limit The caller's limit, if any.
 * @returns A whole number from 1 to {@linkcode MAX_PAGE_LIMIT}.
 * @throws {InvalidArgumentError} otherwise.
 *
 * @example
 * ```ts
 * import { pageLimit } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(pageLimit(undefined), 50);
 * assert.throws(() => pageLimit(-1), /limit must be/);
 * ```
 */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new InvalidArgumentError(
      `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}, got ${limit}`,
      {
        field: "limit",
      },
    );
  }
  return limit;
}

/**
 * Builds a page from rows read with one more than `limit`: the first `limit`
 * rows, and a cursor at the last of them when more remain.
 *
 * @internal Shared by the storage adapters.
 * @param rows The rows read (at most `limit`, or more when a next page exists).
 * @param limit The page size.
 * @param position The listing position of an item, encoded into the cursor.
 * @param map Converts a row to an item (default: as is).
 * @returns The page.
 *
 * @example
 * ```ts
 * import { decodeCursor, pageOf } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * const page = pageOf([3, 2, 1], 2, (n) => ["checkpoints", n]);
 * assert.deepEqual(page.items, [3, 2]);
 * assert.deepEqual(decodeCursor(page.nextCursor!), ["checkpoints", 2]);
 * ```
 */
export function pageOf<R, T = R>(
  rows: readonly R[],
  limit: number,
  position: (last: T) => Json,
  map: (row: R) => T = (row) => row as unknown as T,
): Page<T> {
  const items = rows.slice(0, limit).map(map);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null,
  };
}

/**
 * Encodes a listing position as an opaque cursor.
 *
 * @param position JSON describing where the page ended.
 * @returns A URL-safe string.
 *
 * @example
 * ```ts
 * import { decodeCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeCursor(encodeCursor([5, "t"])), [5, "t"]);
 * ```
 */
export function encodeCursor(position: Json): string {
  const bytes = new TextEncoder().encode(JSON.stringify(position));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/**
 * Decodes a cursor made by {@linkcode encodeCursor}.
 *
 * @param cursor The cursor.
 * @returns The position.
 * @throws {InvalidArgumentError} when it is not a cursor.
 *
 * @example
 * ```ts
 * import { decodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decodeCursor("%%%"), /cursor is not valid/);
 * ```
 */
export function decodeCursor(cursor: string): Json {
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(binary, (char) => char.charCodeAt(0)),
    );
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new InvalidArgumentError("cursor is not valid", { field: "cursor", cause: error });
  }
}

/**
 * The listings that page by cursor. A cursor names its listing, so that a
 * cursor of one listing given to another is refused rather than misread.
 */
type Listing = "runs" | "interrupts" | "audit" | "checkpoints" | "events" | "keys" | "dead_letters";

/** The longest id a cursor may carry (ids are at most 128 characters; stores key longer ones by hash). */
const CURSOR_ID_MAX = 1024;

function invalidCursor(listing: Listing, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`cursor is not valid for this listing (${listing})`, {
    field: "cursor",
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Whether `value` is an id a cursor may carry: 1 to 1024 characters, none of them a control character. */
function isCursorId(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= CURSOR_ID_MAX &&
    // deno-lint-ignore no-control-regex
    !/[\u0000-\u001f\u007f]/.test(value);
}

/** Decodes a cursor and checks that it is one of `listing`'s: `[listing, ...key]`. */
function decodeListingCursor(cursor: string, listing: Listing): Json[] {
  let position: Json;
  try {
    position = decodeCursor(cursor);
  } catch (error) {
    throw invalidCursor(listing, error);
  }
  if (!Array.isArray(position) || position[0] !== listing) throw invalidCursor(listing);
  return position.slice(1);
}

/**
 * The position of an item of a listing ordered by time then id (runs and
 * interrupts by creation, audit entries), for {@linkcode pageOf}.
 *
 * @internal Shared by the storage adapters.
 * @param listing The listing.
 * @param time The item's time (ms).
 * @param id The item's id.
 * @returns The position a cursor encodes.
 *
 * @example
 * ```ts
 * import { decodeTimeIdCursor, encodeCursor, timeIdPosition } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * const cursor = encodeCursor(timeIdPosition("audit", 5, "au_1"));
 * assert.deepEqual(decodeTimeIdCursor(cursor, "audit"), { time: 5, id: "au_1" });
 * ```
 */
export function timeIdPosition(
  listing: "runs" | "interrupts" | "audit" | "dead_letters",
  time: number,
  id: string,
): Json {
  return [listing, time, id];
}

/**
 * Decodes a cursor of a listing ordered by time then id (runs, interrupts,
 * audit entries): the position of the last item of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @param listing The listing it must belong to.
 * @returns The position, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed or of another listing.
 *
 * @example
 * ```ts
 * import { decodeTimeIdCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeTimeIdCursor(encodeCursor(["audit", 5, "x"]), "audit"), { time: 5, id: "x" });
 * assert.throws(() => decodeTimeIdCursor(encodeCursor(["runs", 5, "x"]), "audit"), /cursor is not valid/);
 * ```
 */
export function decodeTimeIdCursor(
  cursor: string | null | undefined,
  listing: "runs" | "interrupts" | "audit" | "dead_letters",
): { time: number; id: string } | null {
  if (cursor === undefined || cursor === null) return null;
  const key = decodeListingCursor(cursor, listing);
  const [time, id] = key;
  if (key.length !== 2 || typeof time !== "number" || !Number.isFinite(time) || !isCursorId(id)) {
    throw invalidCursor(listing);
  }
  return { time, id };
}

/**
 * Decodes a run listing cursor into the position `(createdAt, threadId)` of
 * the last run of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The position, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed or of another listing.
 *
 * @example
 * ```ts
 * import { decodeRunCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeRunCursor(encodeCursor(["runs", 5, "t"])), { createdAt: 5, threadId: "t" });
 * ```
 */
export function decodeRunCursor(
  cursor: string | null | undefined,
): { createdAt: number; threadId: string } | null {
  const position = decodeTimeIdCursor(cursor, "runs");
  if (position === null) return null;
  if (!isValidId(position.id)) throw invalidCursor("runs");
  return { createdAt: position.time, threadId: position.id };
}

/**
 * The position of a checkpoint in a run's checkpoint listing (or of an event
 * in a run's event log), for {@linkcode pageOf}.
 *
 * @internal Shared by the storage adapters.
 * @param version The checkpoint's version (the event's seq).
 * @param listing `checkpoints` (default) or `events`.
 * @returns The position a cursor encodes.
 *
 * @example
 * ```ts
 * import { decodeVersionCursor, encodeCursor, versionPosition } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeVersionCursor(encodeCursor(versionPosition(12))), 12);
 * ```
 */
export function versionPosition(
  version: number,
  listing: "checkpoints" | "events" = "checkpoints",
): Json {
  return [listing, version];
}

/**
 * Decodes a checkpoint listing cursor into the version of the last
 * checkpoint of the previous page (or an event log cursor into the seq of
 * its last event).
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @param listing `checkpoints` (default) or `events`.
 * @returns The version, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed or of another listing.
 *
 * @example
 * ```ts
 * import { decodeVersionCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeVersionCursor(encodeCursor(["checkpoints", 12])), 12);
 * ```
 */
export function decodeVersionCursor(
  cursor: string | null | undefined,
  listing: "checkpoints" | "events" = "checkpoints",
): number | null {
  if (cursor === undefined || cursor === null) return null;
  const key = decodeListingCursor(cursor, listing);
  const [version] = key;
  if (
    key.length !== 1 || typeof version !== "number" || !Number.isSafeInteger(version) ||
    version < 0
  ) {
    throw invalidCursor(listing);
  }
  return version;
}

/**
 * The position of an API key in the key listing (by key id), for {@linkcode pageOf}.
 *
 * @internal Shared by the storage adapters.
 * @param keyId The key's id.
 * @returns The position a cursor encodes.
 *
 * @example
 * ```ts
 * import { decodeKeyCursor, encodeCursor, keyPosition } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeKeyCursor(encodeCursor(keyPosition("ops-1"))), "ops-1");
 * ```
 */
export function keyPosition(keyId: string): Json {
  return ["keys", keyId];
}

/**
 * Decodes an API key listing cursor into the id of the last key of the
 * previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The key id, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed or of another listing.
 *
 * @example
 * ```ts
 * import { decodeKeyCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeKeyCursor(encodeCursor(["keys", "ops-1"])), "ops-1");
 * assert.throws(() => decodeKeyCursor(encodeCursor(["keys", "a b"])), /cursor is not valid/);
 * ```
 */
export function decodeKeyCursor(cursor: string | null | undefined): string | null {
  if (cursor === undefined || cursor === null) return null;
  const key = decodeListingCursor(cursor, "keys");
  const [keyId] = key;
  if (key.length !== 1 || !isValidId(keyId)) throw invalidCursor("keys");
  return keyId;
}

/**
 * Compares listing positions of runs: newest first (by creation time), then
 * by thread id descending. Adapters order and page runs by this key; it never
 * changes for a run, so paging neither skips nor repeats a run that changes
 * meanwhile.
 *
 * @internal Shared by the storage adapters.
 * @param a A run summary.
 * @param b Another.
 * @returns Negative when `a` lists before `b`.
 *
 * @example
 * ```ts
 * import { compareRunOrder } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(compareRunOrder({ createdAt: 2, threadId: "a" }, { createdAt: 1, threadId: "b" }) < 0);
 * ```
 */
export function compareRunOrder(
  a: { createdAt: number; threadId: string },
  b: { createdAt: number; threadId: string },
): number {
  return newestFirst(a.createdAt, a.threadId, b.createdAt, b.threadId);
}

/**
 * Orders interrupts newest first (by creation time, then id descending).
 *
 * @internal Shared by the storage adapters.
 * @param a An interrupt.
 * @param b Another.
 * @returns Negative when `a` lists first.
 *
 * @example
 * ```ts
 * import { compareInterruptOrder } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(compareInterruptOrder({ createdAt: 2, interruptId: "a" }, { createdAt: 1, interruptId: "b" }) < 0);
 * ```
 */
export function compareInterruptOrder(
  a: { createdAt: number; interruptId: string },
  b: { createdAt: number; interruptId: string },
): number {
  return newestFirst(a.createdAt, a.interruptId, b.createdAt, b.interruptId);
}

/**
 * Orders audit entries newest first (by time, then id descending).
 *
 * @internal Shared by the storage adapters.
 * @param a An entry.
 * @param b Another.
 * @returns Negative when `a` lists first.
 *
 * @example
 * ```ts
 * import { compareAuditOrder } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(compareAuditOrder({ createdAt: 1, auditId: "b" }, { createdAt: 1, auditId: "a" }) < 0);
 * ```
 */
export function compareAuditOrder(
  a: { createdAt: number; auditId: string },
  b: { createdAt: number; auditId: string },
): number {
  return newestFirst(a.createdAt, a.auditId, b.createdAt, b.auditId);
}

/** The order of the listings by time then id (runs, interrupts, audit entries): both descending. */
function newestFirst(aTime: number, aId: string, bTime: number, bId: string): number {
  if (aTime !== bTime) return bTime - aTime;
  return aId < bId ? 1 : aId > bId ? -1 : 0;
}
