import assert from "node:assert/strict";
import {
  InvalidArgumentError,
  NotFoundError,
  OrisError,
  StorageError,
  VersionConflictError,
} from "./errors.ts";
import type { RunCreatedEvent, RunEvent, StepCommittedEvent } from "./events.ts";
import type { CheckpointId, ThreadId } from "./ids.ts";
import type { Json } from "./json.ts";
import { fold, foldAll, type RunSnapshot } from "./snapshot.ts";
import {
  checkEffectKey,
  compareRunOrder,
  currentSnapshot,
  decodeCursor,
  decodeRunCursor,
  decodeVersionCursor,
  DEFAULT_PAGE_LIMIT,
  DEFAULT_SNAPSHOT_EVERY,
  type EffectRecord,
  encodeAppend,
  encodeCreate,
  encodeCursor,
  encodeEffect,
  MAX_PAGE_LIMIT,
  pageLimit,
  serializeError,
  SNAPSHOT_MIN_BYTES,
  snapshotDue,
  storedSnapshotAfter,
  summarize,
} from "./store.ts";

// ---------------------------------------------------------------------------
// Fixtures

const THREAD = "t-1" as ThreadId;

function createdEvent(overrides: Partial<RunCreatedEvent> = {}): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: 100,
    threadId: THREAD,
    graph: "g",
    input: { q: "hi" },
    payloadHash: "sha256:abc",
    state: { n: 0 },
    next: [{ id: "1:a", node: "a" }],
    ...overrides,
  };
}

function stepEvent(step: number, parent: string | null, at: number): StepCommittedEvent {
  return {
    type: "step.committed",
    v: 1,
    at,
    step,
    checkpointId: `cp_${step}` as CheckpointId,
    parentCheckpointId: parent as CheckpointId | null,
    tasks: [{ taskId: `${step}:a`, node: "a", update: { n: step } }],
    delta: { $obj: { n: { $set: step } } },
    next: step < 2 ? [{ id: `${step + 1}:a`, node: "a" }] : [],
  };
}

const queued = fold(null, createdEvent());
const startedEvent: RunEvent = { type: "run.started", v: 1, at: 200, attemptId: "at_1" as never };
const running = fold(queued, startedEvent);

/** The events of an append after `running` (version 2), and the snapshot they make. */
function appendAfterRunning(): { events: RunEvent[]; snapshot: RunSnapshot } {
  const events: RunEvent[] = [
    { type: "effect.recorded", v: 1, at: 300, step: 1, node: "a", index: 0, name: "f", ok: true },
    stepEvent(1, null, 400),
    stepEvent(2, "cp_1", 500),
    { type: "run.completed", v: 1, at: 600 },
  ];
  const snapshot = foldAll(running, events);
  assert.ok(snapshot !== null);
  return { events, snapshot };
}

function assertInvalid(fn: () => unknown, field: string, message?: RegExp): InvalidArgumentError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${caught}`);
  assert.equal(caught.code, "invalid_argument");
  assert.equal(caught.field, field);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

// ---------------------------------------------------------------------------
// encodeAppend

Deno.test("encodeAppend() numbers events from expectedVersion + 1 and encodes them", () => {
  const { events, snapshot } = appendAfterRunning();
  const append = encodeAppend(THREAD, 2, events, snapshot);
  assert.equal(append.threadId, THREAD);
  assert.equal(append.expectedVersion, 2);
  assert.deepEqual(
    append.events.map(({ seq, type, at }) => ({ seq, type, at })),
    [
      { seq: 3, type: "effect.recorded", at: 300 },
      { seq: 4, type: "step.committed", at: 400 },
      { seq: 5, type: "step.committed", at: 500 },
      { seq: 6, type: "run.completed", at: 600 },
    ],
  );
  append.events.forEach((item, i) => {
    assert.equal(item.json, JSON.stringify(events[i]));
    assert.deepEqual(JSON.parse(item.json), events[i]);
  });
  assert.equal(append.snapshot, snapshot);
  assert.deepEqual(append.summary, summarize(snapshot));
  assert.equal(append.summary.version, 6);
  assert.equal(append.summary.status, "completed");
});

Deno.test("encodeAppend() extracts a checkpoint from each step.committed", () => {
  const { events, snapshot } = appendAfterRunning();
  const append = encodeAppend(THREAD, 2, events, snapshot);
  assert.deepEqual(append.checkpoints, [
    {
      threadId: THREAD,
      checkpointId: "cp_1",
      parentCheckpointId: null,
      step: 1,
      version: 4,
      createdAt: 400,
    },
    {
      threadId: THREAD,
      checkpointId: "cp_2",
      parentCheckpointId: "cp_1",
      step: 2,
      version: 5,
      createdAt: 500,
    },
  ]);
  const none = encodeAppend(THREAD, 1, [startedEvent], running);
  assert.deepEqual(none.checkpoints, []);
});

Deno.test("encodeAppend() encodes the snapshot only when it is to be written", () => {
  const { events, snapshot } = appendAfterRunning();
  const written = encodeAppend(THREAD, 2, events, snapshot, true);
  assert.equal(written.snapshotJson, JSON.stringify(snapshot));
  assert.equal(encodeAppend(THREAD, 2, events, snapshot).snapshotJson, JSON.stringify(snapshot));
  const skipped = encodeAppend(THREAD, 2, events, snapshot, false);
  assert.equal(skipped.snapshotJson, null);
  assert.equal(skipped.snapshot, snapshot);
  assert.equal(skipped.events.length, 4);
});

Deno.test("encodeAppend() asks a policy with the events' size, after validating them", () => {
  const { events, snapshot } = appendAfterRunning();
  const asked: number[] = [];
  const written = encodeAppend(THREAD, 2, events, snapshot, (bytes) => asked.push(bytes) > 0);
  assert.deepEqual(asked, [written.eventBytes]);
  assert.equal(written.eventBytes, written.events.reduce((n, event) => n + event.json.length, 0));
  assert.equal(written.snapshotJson, JSON.stringify(snapshot));
  assert.equal(encodeAppend(THREAD, 2, events, snapshot, () => false).snapshotJson, null);
  const bad = { ...startedEvent, at: NaN } as RunEvent;
  assertInvalid(
    () =>
      encodeAppend(THREAD, 1, [bad], running, () => {
        throw new Error("the policy is asked only about a valid append");
      }),
    "event 1 of the append.at",
  );
  assertInvalid(
    () =>
      encodeAppend(THREAD, 1, [startedEvent], queued, () => {
        throw new Error("the policy is asked only about a valid append");
      }),
    "snapshot",
  );
});

Deno.test("encodeAppend() leaves out undefined properties of events", () => {
  const event = {
    type: "run.paused",
    v: 1,
    at: 300,
    reason: null,
    extra: undefined,
  } as unknown as RunEvent;
  const snapshot = fold(running, event);
  const append = encodeAppend(THREAD, 2, [event], snapshot);
  assert.equal(append.events[0]!.json, '{"type":"run.paused","v":1,"at":300,"reason":null}');
});

Deno.test("encodeAppend() does not modify its arguments", () => {
  const { events, snapshot } = appendAfterRunning();
  const before = structuredClone({ events, snapshot });
  encodeAppend(THREAD, 2, events, snapshot);
  assert.deepEqual({ events, snapshot }, before);
});

Deno.test("encodeAppend() refuses a bad thread id", () => {
  for (const id of ["", "a/b", "x".repeat(129), "é"]) {
    assertInvalid(
      () => encodeAppend(id as ThreadId, 1, [startedEvent], running),
      "thread_id",
    );
  }
});

Deno.test("encodeAppend() refuses an expected version that is not a whole number", () => {
  for (const version of [-1, 1.5, Number.NaN, Infinity, 2 ** 53, "1" as unknown as number]) {
    assertInvalid(
      () => encodeAppend(THREAD, version, [startedEvent], running),
      "expectedVersion",
      /^expectedVersion must be a whole number/,
    );
  }
});

Deno.test("encodeAppend() refuses an append with no events", () => {
  assertInvalid(() => encodeAppend(THREAD, 1, [], running), "events", /no events given/);
  assertInvalid(
    () => encodeAppend(THREAD, 1, null as unknown as RunEvent[], running),
    "events",
  );
});

Deno.test("encodeAppend() refuses an event that is not an event object", () => {
  for (const event of [null, 5, "run.completed", [], { v: 1, at: 1 }, { type: "x", v: 1 }]) {
    assertInvalid(
      () => encodeAppend(THREAD, 1, [event as unknown as RunEvent], running),
      "events",
      /^Cannot append: event 1 has no type or time$/,
    );
  }
});

Deno.test("encodeAppend() refuses events that are not JSON, naming the path", () => {
  const bad = {
    type: "run.paused",
    v: 1,
    at: 300,
    reason: null,
    extra: { n: 10n },
  } as unknown as RunEvent;
  const error = assertInvalid(
    () => encodeAppend(THREAD, 1, [startedEvent, bad], fold(running, bad)),
    "event 2 of the append.extra.n",
  );
  assert.equal(
    error.message,
    "Cannot store event 2 of the append: event 2 of the append.extra.n is a bigint",
  );
  const nan = { type: "run.completed", v: 1, at: Number.NaN } as RunEvent;
  assertInvalid(() => encodeAppend(THREAD, 2, [nan], running), "event 1 of the append.at");
});

Deno.test("encodeAppend() refuses a snapshot of another run or another version", () => {
  const message = /^Cannot append to run "t-1": the snapshot must be of this run at version 2$/;
  const other = fold(null, createdEvent({ threadId: "t-2" as ThreadId }));
  assertInvalid(
    () => encodeAppend(THREAD, 1, [startedEvent], fold(other, startedEvent)),
    "snapshot",
    message,
  );
  assertInvalid(() => encodeAppend(THREAD, 1, [startedEvent], queued), "snapshot", message);
  assertInvalid(
    () => encodeAppend(THREAD, 1, [startedEvent], fold(running, startedEvent)),
    "snapshot",
    message,
  );
  assertInvalid(
    () => encodeAppend(THREAD, 1, [startedEvent], null as unknown as RunSnapshot),
    "snapshot",
    message,
  );
});

Deno.test("encodeAppend() refuses a snapshot with an unknown status", () => {
  const snapshot = { ...running, status: "sleeping" } as unknown as RunSnapshot;
  assertInvalid(
    () => encodeAppend(THREAD, 1, [startedEvent], snapshot),
    "snapshot",
    /unknown status "sleeping"/,
  );
});

Deno.test("encodeAppend() refuses a snapshot that is not JSON when it is to be written", () => {
  const snapshot = { ...running, state: { when: new Date(0) } } as unknown as RunSnapshot;
  const error = assertInvalid(
    () => encodeAppend(THREAD, 1, [startedEvent], snapshot),
    "snapshot.state.when",
  );
  assert.match(error.message, /^Cannot store snapshot: snapshot\.state\.when is a Date/);
});

// ---------------------------------------------------------------------------
// encodeCreate

Deno.test("encodeCreate() encodes run.created as the append of seq 1", () => {
  const event = createdEvent();
  const append = encodeCreate(event);
  assert.equal(append.threadId, THREAD);
  assert.equal(append.expectedVersion, 0);
  assert.deepEqual(append.events, [
    { seq: 1, type: "run.created", at: 100, json: JSON.stringify(event) },
  ]);
  assert.deepEqual(append.snapshot, fold(null, event));
  assert.equal(append.snapshot.status, "queued");
  assert.equal(append.snapshot.version, 1);
  assert.equal(append.snapshotJson, JSON.stringify(append.snapshot));
  assert.deepEqual(append.checkpoints, []);
  assert.deepEqual(append.summary, {
    threadId: THREAD,
    status: "queued",
    graph: "g",
    version: 1,
    createdAt: 100,
    updatedAt: 100,
  });
});

Deno.test("encodeCreate() refuses an event that is not run.created", () => {
  for (const event of [startedEvent, { type: "run.completed", v: 1, at: 1 }, null, undefined]) {
    assertInvalid(
      () => encodeCreate(event as unknown as RunCreatedEvent),
      "event",
      /^Cannot create a run: the event must be "run.created"$/,
    );
  }
});

Deno.test("encodeCreate() refuses an empty or missing payloadHash", () => {
  for (const payloadHash of ["", undefined, 5, null]) {
    assertInvalid(
      () => encodeCreate(createdEvent({ payloadHash: payloadHash as string })),
      "payloadHash",
      /payloadHash must not be empty/,
    );
  }
});

Deno.test("encodeCreate() refuses a bad thread id", () => {
  for (const threadId of ["", "a b", 7]) {
    assertInvalid(
      () => encodeCreate(createdEvent({ threadId: threadId as ThreadId })),
      "thread_id",
    );
  }
});

Deno.test("encodeCreate() refuses input that is not JSON", () => {
  assertInvalid(
    () => encodeCreate(createdEvent({ input: { list: [1, Infinity] } })),
    "run.created event.input.list[1]",
  );
  assertInvalid(
    () => encodeCreate(createdEvent({ state: { f: (() => 1) as unknown as Json } })),
    "run.created event.state.f",
  );
});

// ---------------------------------------------------------------------------
// snapshotDue

Deno.test("snapshotDue() always writes the first snapshot (or when nothing is known)", () => {
  assert.ok(snapshotDue(queued, null, 10, 100));
  assert.ok(snapshotDue(running, null, 10, 100));
});

Deno.test("snapshotDue() always writes a run at rest", () => {
  const interrupted = fold(running, {
    type: "interrupt.raised",
    v: 1,
    at: 300,
    step: 1,
    interrupts: [{ id: "in_1" as never, step: 1, taskId: "1:a", node: "a", index: 0, value: 1 }],
    writes: [],
  });
  const rest = [
    interrupted,
    fold(running, { type: "run.paused", v: 1, at: 300, reason: null }),
    fold(fold(null, createdEvent({ next: [] })), {
      type: "run.cancelled",
      v: 1,
      at: 3,
      reason: null,
    }),
    fold(running, { type: "run.failed", v: 1, at: 300, error: { code: "x", message: "y" } }),
  ];
  for (const snapshot of rest) {
    const stored = { version: snapshot.version - 1, bytes: 1_000_000, tailBytes: 0 };
    assert.ok(snapshotDue(snapshot, stored, 10, 1000), snapshot.status);
    assert.ok(snapshotDue(snapshot, { ...stored, version: snapshot.version }, 10, 1000));
  }
});

/** `running` after `n` more events (at version 2 + n). */
function runningAt(n: number): RunSnapshot {
  let snapshot = running;
  for (let i = 0; i < n; i++) {
    snapshot = fold(snapshot, {
      type: "effect.recorded",
      v: 1,
      at: 300 + i,
      step: 1,
      node: "a",
      index: i,
      name: "f",
      ok: true,
    });
  }
  return snapshot;
}

Deno.test("snapshotDue() writes a running or queued run at least every `every` versions", () => {
  const snapshot = runningAt(10);
  assert.equal(snapshot.version, 12);
  const big = (version: number) => ({ version, bytes: 1_000_000, tailBytes: 0 });
  assert.ok(!snapshotDue(snapshot, big(5), 10, 8));
  assert.ok(snapshotDue(snapshot, big(4), 10, 8));
  assert.ok(snapshotDue(snapshot, big(3), 10, 8));
  assert.ok(snapshotDue(snapshot, big(11), 10, 1));
  assert.ok(!snapshotDue(snapshot, big(12), 10, 1));
  assert.ok(!snapshotDue(queued, big(1), 10, 2));
  assert.ok(snapshotDue(queued, big(0), 10, 1));
});

Deno.test("snapshotDue() writes a running run once the events after its snapshot outweigh it", () => {
  const snapshot = runningAt(10);
  const stored = { version: 11, bytes: 50_000, tailBytes: 30_000 };
  assert.ok(!snapshotDue(snapshot, stored, 19_999, 64));
  assert.ok(snapshotDue(snapshot, stored, 20_000, 64));
  assert.ok(snapshotDue(snapshot, { ...stored, tailBytes: 50_000 }, 1, 64));
  assert.ok(snapshotDue(snapshot, stored, 100_000, 64), "one append larger than the snapshot");
});

Deno.test("snapshotDue() lets a small snapshot be followed by SNAPSHOT_MIN_BYTES of events", () => {
  const snapshot = runningAt(10);
  const stored = { version: 11, bytes: 100, tailBytes: 0 };
  assert.ok(!snapshotDue(snapshot, stored, 200, 64), "not at every step");
  assert.ok(!snapshotDue(snapshot, stored, SNAPSHOT_MIN_BYTES - 1, 64));
  assert.ok(snapshotDue(snapshot, stored, SNAPSHOT_MIN_BYTES, 64));
  assert.ok(snapshotDue(snapshot, { ...stored, tailBytes: SNAPSHOT_MIN_BYTES - 5 }, 5, 64));
});

Deno.test("storedSnapshotAfter() follows the stored snapshot and its tail", () => {
  const { events, snapshot } = appendAfterRunning();
  const skipped = encodeAppend(THREAD, 2, events, snapshot, false);
  assert.equal(
    skipped.eventBytes,
    skipped.events.reduce((total, event) => total + event.json.length, 0),
  );
  const before = { version: 1, bytes: 300, tailBytes: 40 };
  assert.deepEqual(storedSnapshotAfter(before, skipped), {
    version: 1,
    bytes: 300,
    tailBytes: 40 + skipped.eventBytes,
  });
  assert.deepEqual(before, { version: 1, bytes: 300, tailBytes: 40 }, "not modified");
  assert.equal(storedSnapshotAfter(null, skipped), null);
  const written = encodeAppend(THREAD, 2, events, snapshot, true);
  assert.deepEqual(storedSnapshotAfter(before, written), {
    version: snapshot.version,
    bytes: JSON.stringify(snapshot).length,
    tailBytes: 0,
  });
  assert.deepEqual(storedSnapshotAfter(null, written), storedSnapshotAfter(before, written));
});

Deno.test("the default snapshot cap is 64 versions", () => {
  assert.equal(DEFAULT_SNAPSHOT_EVERY, 64);
  assert.equal(SNAPSHOT_MIN_BYTES, 4096);
});

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

// ---------------------------------------------------------------------------
// serializeError

Deno.test("serializeError() keeps the code and details of an OrisError", () => {
  assert.deepEqual(serializeError(new VersionConflictError("t", 1, 2)), {
    name: "VersionConflictError",
    message: 'Cannot append to run "t": expected version 1, current version is 2',
    code: "conflict",
    details: { thread_id: "t", expected_version: 1, actual_version: 2 },
  });
  assert.deepEqual(serializeError(new NotFoundError("run", "t")), {
    name: "NotFoundError",
    message: 'Cannot find run "t"',
    code: "not_found",
    details: { resource: "run", id: "t" },
  });
  assert.deepEqual(serializeError(new StorageError("Cannot reach", { retryable: true })), {
    name: "StorageError",
    message: "Cannot reach",
    code: "unavailable",
    details: {},
  });
});

Deno.test("serializeError() drops details that are not JSON", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (const details of [{ n: 1n }, { when: new Date(0) }, cyclic, { f: () => 1 }]) {
    const serialized = serializeError(new OrisError("internal", "Cannot go on", { details }));
    assert.deepEqual(serialized, { name: "OrisError", message: "Cannot go on", code: "internal" });
    assert.ok(!("details" in serialized));
  }
});

Deno.test("serializeError() keeps only name and message of other errors", () => {
  assert.deepEqual(serializeError(new TypeError("bad")), { name: "TypeError", message: "bad" });
  assert.deepEqual(serializeError(new Error("plain", { cause: new Error("inner") })), {
    name: "Error",
    message: "plain",
  });
  class QuotaError extends Error {
    override name = "QuotaError";
  }
  assert.deepEqual(serializeError(new QuotaError("over")), { name: "QuotaError", message: "over" });
});

Deno.test("serializeError() describes thrown values that are not errors", () => {
  const cases: [unknown, string][] = [
    ["boom", "boom"],
    [42, "42"],
    [null, "null"],
    [undefined, "undefined"],
    [{ a: 1 }, "[object Object]"],
    [Object.create(null), "[object Object]"],
  ];
  for (const [value, message] of cases) {
    assert.deepEqual(serializeError(value), { name: "Error", message });
  }
});

Deno.test("serializeError() always returns JSON", () => {
  const values: unknown[] = [
    new Error("x"),
    new VersionConflictError("t", 1, null),
    new OrisError("internal", "x", { details: { n: 1n } }),
    new OrisError("internal", "x", { details: { a: undefined, b: [1] } }),
    "text",
    Symbol("s"),
  ];
  for (const value of values) {
    const serialized = serializeError(value);
    assert.deepEqual(
      JSON.parse(JSON.stringify(serialized)),
      JSON.parse(JSON.stringify(serialized)),
    );
    assert.equal(typeof serialized.name, "string");
    assert.equal(typeof serialized.message, "string");
  }
});

// ---------------------------------------------------------------------------
// Effects, summaries and loading

function effectRecord(overrides: Partial<EffectRecord> = {}): EffectRecord {
  return {
    threadId: THREAD,
    step: 1,
    node: "a",
    index: 0,
    name: "fetch",
    result: { ok: true, value: { status: 200 } },
    recordedAt: 1,
    ...overrides,
  };
}

Deno.test("encodeEffect() encodes a valid record as JSON", () => {
  const record = effectRecord();
  assert.equal(encodeEffect(record), JSON.stringify(record));
  const failed = effectRecord({ result: { ok: false, error: serializeError(new Error("x")) } });
  assert.deepEqual(JSON.parse(encodeEffect(failed)), failed);
});

Deno.test("encodeEffect() refuses malformed records", () => {
  assertInvalid(() => encodeEffect(effectRecord({ threadId: "" as ThreadId })), "thread_id");
  assertInvalid(() => encodeEffect(effectRecord({ step: -1 })), "step");
  assertInvalid(() => encodeEffect(effectRecord({ step: 1.5 })), "step");
  assertInvalid(() => encodeEffect(effectRecord({ index: -1 })), "index");
  assertInvalid(() => encodeEffect(effectRecord({ node: "" })), "node");
  assertInvalid(() => encodeEffect(effectRecord({ name: 5 as unknown as string })), "name");
  assertInvalid(
    () =>
      encodeEffect(effectRecord({ result: { ok: "yes" } as unknown as EffectRecord["result"] })),
    "result",
  );
  assertInvalid(
    () => encodeEffect(effectRecord({ result: { ok: true, value: Number.NaN } })),
    'effect "fetch".result.value',
  );
});

Deno.test("checkEffectKey() accepts a well-formed key", () => {
  assert.doesNotThrow(() => checkEffectKey({ threadId: THREAD, step: 0, node: "a/b", index: 0 }));
});

Deno.test("summarize() keeps the listing fields of a snapshot", () => {
  const { snapshot } = appendAfterRunning();
  assert.deepEqual(summarize(snapshot), {
    threadId: THREAD,
    status: "completed",
    graph: "g",
    version: 6,
    createdAt: 100,
    updatedAt: 600,
  });
});

Deno.test("currentSnapshot() folds the events after the loaded snapshot", () => {
  const { events, snapshot } = appendAfterRunning();
  const loaded = currentSnapshot({
    snapshot: running,
    events: events.map((event, i) => ({ seq: i + 3, event })),
  });
  assert.deepEqual(loaded, snapshot);
  assert.equal(currentSnapshot({ snapshot: running, events: [] }), running);
});

Deno.test("currentSnapshot() refuses events that do not follow the snapshot", () => {
  assert.throws(
    () => currentSnapshot({ snapshot: running, events: [{ seq: 4, event: startedEvent }] }),
    (error: unknown) => error instanceof OrisError && error.code === "internal",
  );
});
