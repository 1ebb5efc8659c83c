/**
 * Paged listings, as every storage adapter serves them: page sizes, opaque
 * cursors (a listing position as URL-safe base64 of JSON), and the listing
 * orders that adapters page by key.
 *
 * @module
 */

import { InvalidArgumentError } from "./errors.ts";
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
 * const page = pageOf([3, 2, 1], 2, (n) => n);
 * assert.deepEqual(page.items, [3, 2]);
 * assert.equal(decodeCursor(page.nextCursor!), 2);
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
 * Decodes a cursor of a listing ordered by time then id (runs, interrupts,
 * audit entries): the position `[time, id]` of the last item of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The position, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed.
 *
 * @example
 * ```ts
 * import { decodeTimeIdCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeTimeIdCursor(encodeCursor([5, "x"])), { time: 5, id: "x" });
 * ```
 */
export function decodeTimeIdCursor(
  cursor: string | null | undefined,
): { time: number; id: string } | null {
  if (cursor === undefined || cursor === null) return null;
  const position = decodeCursor(cursor);
  if (
    !Array.isArray(position) || position.length !== 2 || typeof position[0] !== "number" ||
    typeof position[1] !== "string"
  ) {
    throw new InvalidArgumentError("cursor is not valid", { field: "cursor" });
  }
  return { time: position[0], id: position[1] };
}

/**
 * Decodes a run listing cursor into the position `[updatedAt, threadId]` of
 * the last run of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The position, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed.
 *
 * @example
 * ```ts
 * import { decodeRunCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeRunCursor(encodeCursor([5, "t"])), { updatedAt: 5, threadId: "t" });
 * ```
 */
export function decodeRunCursor(
  cursor: string | null | undefined,
): { updatedAt: number; threadId: string } | null {
  const position = decodeTimeIdCursor(cursor);
  return position === null ? null : { updatedAt: position.time, threadId: position.id };
}

/**
 * Decodes a checkpoint listing cursor into the version of the last
 * checkpoint of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The version, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed.
 *
 * @example
 * ```ts
 * import { decodeVersionCursor, encodeCursor } from "./paging.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeVersionCursor(encodeCursor(12)), 12);
 * ```
 */
export function decodeVersionCursor(cursor: string | null | undefined): number | null {
  if (cursor === undefined || cursor === null) return null;
  const position = decodeCursor(cursor);
  if (typeof position !== "number" || !Number.isSafeInteger(position)) {
    throw new InvalidArgumentError("cursor is not valid", { field: "cursor" });
  }
  return position;
}

/**
 * Compares listing positions: most recently updated first, then by thread id
 * descending. Adapters order and page runs by this key.
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
 * assert.ok(compareRunOrder({ updatedAt: 2, threadId: "a" }, { updatedAt: 1, threadId: "b" }) < 0);
 * ```
 */
export function compareRunOrder(
  a: { updatedAt: number; threadId: string },
  b: { updatedAt: number; threadId: string },
): number {
  return newestFirst(a.updatedAt, a.threadId, b.updatedAt, b.threadId);
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

/** The order of the listings by time then id (runs, interrupts, audit entries): both descending. */
function newestFirst(aTime: number, aId: string, bTime: number, bId: string): number {
  if (aTime !== bTime) return bTime - aTime;
  return aId < bId ? 1 : aId > bId ? -1 : 0;
}
