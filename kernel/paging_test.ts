import assert from "node:assert/strict";
import type { Json } from "./json.ts";
import {
  compareRunOrder,
  decodeCursor,
  decodeRunCursor,
  decodeVersionCursor,
  DEFAULT_PAGE_LIMIT,
  encodeCursor,
  MAX_PAGE_LIMIT,
  pageLimit,
} from "./paging.ts";
import { assertInvalid } from "./_fixtures_test.ts";

// ---------------------------------------------------------------------------
// pageLimit

Deno.test("pageLimit() defaults to 50 and accepts 1 to 1000", () => {
  assert.equal(DEFAULT_PAGE_LIMIT, 50);
  assert.equal(MAX_PAGE_LIMIT, 1000);
  assert.equal(pageLimit(undefined), 50);
  for (const limit of [1, 2, 50, 999, 1000]) assert.equal(pageLimit(limit), limit);
});

Deno.test("pageLimit() refuses anything else", () => {
  for (const limit of [0, -1, 1001, 1.5, Number.NaN, Infinity, "10", null]) {
    assertInvalid(
      () => pageLimit(limit as number),
      "limit",
      /^limit must be a whole number from 1 to 1000, got /,
    );
  }
});

// ---------------------------------------------------------------------------
// Cursors

Deno.test("encodeCursor() and decodeCursor() round-trip JSON positions", () => {
  const positions: Json[] = [
    [5, "t"],
    [1_700_000_000_000, "order-42:v1"],
    12,
    0,
    null,
    "",
    "plain",
    { a: [1, { b: null }] },
    ["日本語", "💬", "é", "\u0000"],
    ["~~~", "???", ">>>"],
  ];
  for (const position of positions) {
    const cursor = encodeCursor(position);
    assert.match(cursor, /^[A-Za-z0-9_-]*$/, cursor);
    assert.deepEqual(decodeCursor(cursor), position);
  }
});

Deno.test("encodeCursor() is URL-safe and unpadded", () => {
  const cursors = Array.from({ length: 64 }, (_, i) => encodeCursor([i, "~?>".repeat(i % 5)]));
  for (const cursor of cursors) {
    assert.match(cursor, /^[A-Za-z0-9_-]+$/);
    assert.equal(encodeURIComponent(cursor), cursor);
  }
  assert.ok(cursors.some((cursor) => cursor.includes("-")));
  assert.ok(cursors.some((cursor) => cursor.includes("_")));
  // Lengths that would need padding in standard base64.
  for (const text of ["a", "ab", "abc", "abcd"]) {
    assert.equal(decodeCursor(encodeCursor(text)), text);
  }
});

Deno.test("decodeCursor() refuses what is not a cursor", () => {
  const utf8Invalid = btoa(String.fromCharCode(0x22, 0xff, 0xfe, 0x22))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const notJson = btoa("not json").replace(/=+$/, "");
  for (const cursor of ["%%%", "", "a", "!!!!", "Zm9v$", notJson, utf8Invalid, "W10=W10="]) {
    const error = assertInvalid(() => decodeCursor(cursor), "cursor", /^cursor is not valid$/);
    assert.ok(error.cause !== undefined, cursor);
  }
});

Deno.test("decodeRunCursor() decodes [updatedAt, threadId]", () => {
  assert.equal(decodeRunCursor(undefined), null);
  assert.equal(decodeRunCursor(null), null);
  assert.deepEqual(decodeRunCursor(encodeCursor([5, "t"])), { updatedAt: 5, threadId: "t" });
  assert.deepEqual(decodeRunCursor(encodeCursor([0, "💬"])), { updatedAt: 0, threadId: "💬" });
});

Deno.test("decodeRunCursor() refuses cursors of the wrong shape", () => {
  const wrong: Json[] = [
    5,
    "t",
    null,
    [],
    [5],
    ["t", 5],
    [5, "t", 1],
    [5, null],
    [null, "t"],
    ["5", "t"],
    { updatedAt: 5, threadId: "t" },
  ];
  for (const position of wrong) {
    assertInvalid(() => decodeRunCursor(encodeCursor(position)), "cursor", /^cursor is not valid$/);
  }
  assertInvalid(() => decodeRunCursor("%%%"), "cursor");
});

Deno.test("decodeVersionCursor() decodes a whole number", () => {
  assert.equal(decodeVersionCursor(undefined), null);
  assert.equal(decodeVersionCursor(null), null);
  assert.equal(decodeVersionCursor(encodeCursor(12)), 12);
  assert.equal(decodeVersionCursor(encodeCursor(0)), 0);
});

Deno.test("decodeVersionCursor() refuses cursors of the wrong shape", () => {
  for (const position of ["12", 1.5, [12], { version: 12 }, null, true, 2 ** 53]) {
    assertInvalid(
      () => decodeVersionCursor(encodeCursor(position)),
      "cursor",
      /^cursor is not valid$/,
    );
  }
  assertInvalid(() => decodeVersionCursor(""), "cursor");
});

// ---------------------------------------------------------------------------
// compareRunOrder

Deno.test("compareRunOrder() lists the most recently updated first", () => {
  assert.ok(compareRunOrder({ updatedAt: 2, threadId: "a" }, { updatedAt: 1, threadId: "b" }) < 0);
  assert.ok(compareRunOrder({ updatedAt: 1, threadId: "b" }, { updatedAt: 2, threadId: "a" }) > 0);
});

Deno.test("compareRunOrder() breaks ties by thread id, descending", () => {
  assert.ok(compareRunOrder({ updatedAt: 1, threadId: "b" }, { updatedAt: 1, threadId: "a" }) < 0);
  assert.ok(compareRunOrder({ updatedAt: 1, threadId: "a" }, { updatedAt: 1, threadId: "b" }) > 0);
  assert.equal(
    compareRunOrder({ updatedAt: 1, threadId: "a" }, { updatedAt: 1, threadId: "a" }),
    0,
  );
});

Deno.test("compareRunOrder() sorts a listing and pages it without overlap", () => {
  const runs = [
    { updatedAt: 3, threadId: "c" },
    { updatedAt: 1, threadId: "z" },
    { updatedAt: 3, threadId: "a" },
    { updatedAt: 2, threadId: "m" },
    { updatedAt: 3, threadId: "b" },
  ];
  const sorted = [...runs].sort(compareRunOrder);
  assert.deepEqual(sorted.map((r) => r.threadId), ["c", "b", "a", "m", "z"]);
  // Paging by key: what comes after a cursor is what compares greater than it.
  const cursor = decodeRunCursor(encodeCursor([3, "b"]))!;
  const after = sorted.filter((r) => compareRunOrder(r, cursor) > 0);
  assert.deepEqual(after.map((r) => r.threadId), ["a", "m", "z"]);
  // Antisymmetric.
  for (const a of runs) {
    for (const b of runs) {
      assert.ok(Math.sign(compareRunOrder(a, b)) === -Math.sign(compareRunOrder(b, a)));
    }
  }
});
