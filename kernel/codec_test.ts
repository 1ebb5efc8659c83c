import assert from "node:assert/strict";
import { NotFoundError, OrisError, StorageError, VersionConflictError } from "./errors.ts";
import type { RunCreatedEvent, RunEvent } from "./events.ts";
import type { ThreadId } from "./ids.ts";
import type { Json } from "./json.ts";
import { fold, type RunSnapshot } from "./snapshot.ts";
import type { EffectRecord } from "./store.ts";
import {
  checkEffectKey,
  currentSnapshot,
  encodeAppend,
  encodeCreate,
  encodeEffect,
  serializeError,
  summarize,
} from "./codec.ts";
import {
  appendAfterRunning,
  assertInvalid,
  createdEvent,
  queued,
  running,
  startedEvent,
  THREAD,
} from "./_fixtures_test.ts";

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
    tenantId: null,
    priority: 0,
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

Deno.test("encodeEffect() keeps when the effect started, and loads records without it", () => {
  const timed = effectRecord({ startedAt: 40, recordedAt: 55 });
  assert.deepEqual(JSON.parse(encodeEffect(timed)), timed);
  const old = JSON.parse(encodeEffect(effectRecord())) as EffectRecord;
  assert.equal(old.startedAt, undefined);
  assertInvalid(() => encodeEffect(effectRecord({ startedAt: Number.NaN })), "startedAt");
  assertInvalid(
    () => encodeEffect(effectRecord({ recordedAt: "x" as unknown as number })),
    "recordedAt",
  );
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
    tenantId: null,
    priority: 0,
  });
});

Deno.test("summarize() lists the tenant and priority of the run's creation metadata", () => {
  const created = fold(null, createdEvent({ metadata: { tenant_id: "acme", priority: 7 } }));
  const started = fold(created, startedEvent);
  assert.equal(started.tenantId, "acme");
  assert.deepEqual(
    { tenantId: summarize(started).tenantId, priority: summarize(started).priority },
    { tenantId: "acme", priority: 7 },
  );
  // The defaults leave the snapshot as it was before scheduling was noted.
  assert.equal("tenantId" in fold(null, createdEvent()), false);
  assert.equal("priority" in fold(null, createdEvent()), false);
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
