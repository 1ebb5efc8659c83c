import assert from "node:assert/strict";
import type { Json } from "./json.ts";
import {
  compareRunOrder,
  decodeCursor,
  decodeKeyCursor,
  decodeRunCursor,
  decodeTimeIdCursor,
  decodeVersionCursor,
  DEFAULT_PAGE_LIMIT,
  encodeCursor,
  keyPosition,
  MAX_PAGE_LIMIT,
  pageLimit,
  timeIdPosition,
  versionPosition,
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

Deno.test('decodeRunCursor() decodes ["runs", createdAt, threadId]', () => {
  assert.equal(decodeRunCursor(undefined), null);
  assert.equal(decodeRunCursor(null), null);
  assert.deepEqual(decodeRunCursor(encodeCursor(["runs", 5, "t"])), {
    createdAt: 5,
    threadId: "t",
  });
  assert.deepEqual(
    decodeRunCursor(encodeCursor(timeIdPosition("runs", 0, "order-42:v1"))),
    { createdAt: 0, threadId: "order-42:v1" },
  );
});

Deno.test("decodeRunCursor() refuses cursors of the wrong shape or listing", () => {
  const wrong: Json[] = [
    5,
    "t",
    null,
    [],
    [5, "t"],
    ["runs"],
    ["runs", 5],
    ["runs", "t", 5],
    ["runs", 5, "t", 1],
    ["runs", 5, null],
    ["runs", null, "t"],
    ["runs", "5", "t"],
    ["runs", 5, "💬"],
    ["runs", 5, "a\u0000b"],
    ["runs", 5, ""],
    ["interrupts", 5, "t"],
    ["audit", 5, "t"],
    { createdAt: 5, threadId: "t" },
  ];
  for (const position of wrong) {
    assertInvalid(
      () => decodeRunCursor(encodeCursor(position)),
      "cursor",
      /^cursor is not valid for this listing \(runs\)$/,
    );
  }
  assertInvalid(() => decodeRunCursor("%%%"), "cursor");
});

Deno.test("decodeTimeIdCursor() accepts only its own listing's cursors", () => {
  for (const listing of ["runs", "interrupts", "audit"] as const) {
    const cursor = encodeCursor(timeIdPosition(listing, 7, "x_1"));
    assert.deepEqual(decodeTimeIdCursor(cursor, listing), { time: 7, id: "x_1" });
    for (const other of ["runs", "interrupts", "audit"] as const) {
      if (other === listing) continue;
      assertInvalid(() => decodeTimeIdCursor(cursor, other), "cursor");
    }
  }
  for (
    const position of [["audit", Infinity, "x"], ["audit", 1, "x".repeat(1025)], [
      "audit",
      1,
      "a\nb",
    ]]
  ) {
    assertInvalid(() => decodeTimeIdCursor(encodeCursor(position as Json), "audit"), "cursor");
  }
});

Deno.test("decodeVersionCursor() decodes a whole number", () => {
  assert.equal(decodeVersionCursor(undefined), null);
  assert.equal(decodeVersionCursor(null), null);
  assert.equal(decodeVersionCursor(encodeCursor(["checkpoints", 12])), 12);
  assert.equal(decodeVersionCursor(encodeCursor(versionPosition(0))), 0);
});

Deno.test("decodeVersionCursor() refuses cursors of the wrong shape or listing", () => {
  for (
    const position of [
      12,
      ["checkpoints", "12"],
      ["checkpoints", 1.5],
      ["checkpoints"],
      ["checkpoints", 12, 1],
      ["keys", 12],
      { version: 12 },
      null,
      true,
      ["checkpoints", 2 ** 53],
    ]
  ) {
    assertInvalid(
      () => decodeVersionCursor(encodeCursor(position)),
      "cursor",
      /^cursor is not valid for this listing \(checkpoints\)$/,
    );
  }
  assertInvalid(() => decodeVersionCursor(""), "cursor");
});

Deno.test("decodeVersionCursor() reads an event log's cursors apart from a checkpoint listing's", () => {
  const events = encodeCursor(versionPosition(7, "events"));
  assert.equal(decodeVersionCursor(events, "events"), 7);
  assertInvalid(() => decodeVersionCursor(events), "cursor", /\(checkpoints\)$/);
  assertInvalid(
    () => decodeVersionCursor(encodeCursor(versionPosition(7)), "events"),
    "cursor",
    /\(events\)$/,
  );
  assertInvalid(() => decodeVersionCursor(encodeCursor(["events", -1]), "events"), "cursor");
});

Deno.test("decodeKeyCursor() decodes a key id and refuses anything else", () => {
  assert.equal(decodeKeyCursor(null), null);
  assert.equal(decodeKeyCursor(encodeCursor(keyPosition("ops-1"))), "ops-1");
  for (const position of [["keys", "a b"], ["keys", 1], ["keys"], ["runs", 1, "ops-1"], "ops-1"]) {
    assertInvalid(() => decodeKeyCursor(encodeCursor(position)), "cursor");
  }
});

// ---------------------------------------------------------------------------
// compareRunOrder

Deno.test("compareRunOrder() lists the newest run first", () => {
  assert.ok(compareRunOrder({ createdAt: 2, threadId: "a" }, { createdAt: 1, threadId: "b" }) < 0);
  assert.ok(compareRunOrder({ createdAt: 1, threadId: "b" }, { createdAt: 2, threadId: "a" }) > 0);
});

Deno.test("compareRunOrder() breaks ties by thread id, descending", () => {
  assert.ok(compareRunOrder({ createdAt: 1, threadId: "b" }, { createdAt: 1, threadId: "a" }) < 0);
  assert.ok(compareRunOrder({ createdAt: 1, threadId: "a" }, { createdAt: 1, threadId: "b" }) > 0);
  assert.equal(
    compareRunOrder({ createdAt: 1, threadId: "a" }, { createdAt: 1, threadId: "a" }),
    0,
  );
});

Deno.test("compareRunOrder() sorts a listing and pages it without overlap", () => {
  const runs = [
    { createdAt: 3, threadId: "c" },
    { createdAt: 1, threadId: "z" },
    { createdAt: 3, threadId: "a" },
    { createdAt: 2, threadId: "m" },
    { createdAt: 3, threadId: "b" },
  ];
  const sorted = [...runs].sort(compareRunOrder);
  assert.deepEqual(sorted.map((r) => r.threadId), ["c", "b", "a", "m", "z"]);
  // Paging by key: what comes after a cursor is what compares greater than it.
  const cursor = decodeRunCursor(encodeCursor(["runs", 3, "b"]))!;
  const after = sorted.filter((r) => compareRunOrder(r, cursor) > 0);
  assert.deepEqual(after.map((r) => r.threadId), ["a", "m", "z"]);
  // Antisymmetric.
  for (const a of runs) {
    for (const b of runs) {
      assert.ok(Math.sign(compareRunOrder(a, b)) === -Math.sign(compareRunOrder(b, a)));
    }
  }
});
