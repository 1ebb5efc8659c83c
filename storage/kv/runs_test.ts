import assert from "node:assert/strict";
import {
  fold,
  type RunCreatedEvent,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { KvStore } from "./kv_store.ts";

function created(): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: 1,
    threadId: "t-1" as ThreadId,
    graph: "g",
    input: {},
    payloadHash: "h",
    state: {},
    next: [],
  };
}

Deno.test("KvStore.createRun() creates a run once", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const event = created();
  assert.equal((await store.createRun(event)).created, true);
  assert.equal((await store.createRun(event)).created, false);
});

Deno.test("KvStore.append() appends at the expected version and refuses another", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const { run } = await store.createRun(created());
  const cancel = { type: "run.cancelled", v: 1, at: 2, reason: null } as const;
  assert.deepEqual(await store.append(run.threadId, 1, [cancel], fold(run, cancel)), {
    version: 2,
  });
  await assert.rejects(
    () => store.append(run.threadId, 1, [cancel], fold(run, cancel)),
    VersionConflictError,
  );
});

Deno.test("KvStore.load() returns null for an unknown run", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.equal(await store.load("nobody" as ThreadId), null);
});

Deno.test("KvStore.readEvents() reads a run's events from a seq", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  await store.createRun(created());
  const events = await store.readEvents("t-1" as ThreadId, 1, { limit: 10 });
  assert.deepEqual(events.map((item) => item.event.type), ["run.created"]);
});

Deno.test("KvStore.listRuns() lists nothing in an empty store", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.deepEqual(await store.listRuns({ status: "running" }), { items: [], nextCursor: null });
});
