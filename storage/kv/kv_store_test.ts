import assert from "node:assert/strict";
import {
  type CheckpointId,
  currentSnapshot,
  diffJson,
  type EffectRecord,
  fold,
  foldAll,
  type IdempotencyRecord,
  type InterruptId,
  type JsonObject,
  OrisError,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type Store,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { runStoreConformance } from "../testing/mod.ts";
import { runControlStoreConformance } from "../testing/mod.ts";
import { KvStore } from "./mod.ts";

runStoreConformance(
  "KvStore",
  (options) => KvStore.open({ path: ":memory:", snapshotEvery: options.snapshotEvery }),
);

runControlStoreConformance("KvStore", () => KvStore.open({ path: ":memory:" }));

let clock = 1_700_000_000_000;
let counter = 0;

function created(threadId: string, state: JsonObject = {}): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: ++clock,
    threadId: threadId as ThreadId,
    graph: "kv",
    input: { threadId },
    payloadHash: `hash:${threadId}`,
    state,
    next: [{ id: "1:a", node: "a" }],
  };
}

function step(run: RunSnapshot, state: JsonObject, node = "a"): RunEvent {
  return {
    type: "step.committed",
    v: 1,
    at: ++clock,
    step: run.step + 1,
    checkpointId: `cp_${String(++counter).padStart(8, "0")}` as CheckpointId,
    parentCheckpointId: run.checkpointId,
    tasks: [{ taskId: `${run.step + 1}:${node}`, node, update: null }],
    delta: diffJson(run.state, state),
    next: [{ id: `${run.step + 2}:${node}`, node }],
  };
}

function effect(index: number): RunEvent {
  return {
    type: "effect.recorded",
    v: 1,
    at: ++clock,
    step: 1,
    node: "a",
    index,
    name: "tool",
    ok: true,
  };
}

async function append(store: Store, run: RunSnapshot, events: RunEvent[]): Promise<RunSnapshot> {
  const next = foldAll(run, events)!;
  assert.deepEqual(await store.append(run.threadId, run.version, events, next), {
    version: next.version,
  });
  return next;
}

async function startRun(store: Store, threadId: string, state: JsonObject = {}) {
  const { run } = await store.createRun(created(threadId, state));
  return append(store, run, [{
    type: "run.started",
    v: 1,
    at: ++clock,
    attemptId: "at_1" as never,
  }]);
}

async function current(store: Store, threadId: string): Promise<RunSnapshot | null> {
  const loaded = await store.load(threadId as ThreadId);
  return loaded === null ? null : currentSnapshot(loaded);
}

function megabyte(seed: string): string[] {
  return Array.from({ length: 1024 }, (_, i) => `${seed}${i}:`.padEnd(1024, "abcdefgh"[i % 8]));
}

/** Opens the database file directly, to look at the keys a store wrote. */
async function chunkNonces(path: string, threadId: string): Promise<Map<string, number>> {
  const kv = await Deno.openKv(path);
  try {
    const nonces = new Map<string, number>();
    for await (const entry of kv.list({ prefix: ["oris", "chunk", threadId] })) {
      const nonce = entry.key[3] as string;
      nonces.set(nonce, (nonces.get(nonce) ?? 0) + 1);
    }
    return nonces;
  } finally {
    kv.close();
  }
}

/** The chunk nonces that committed values reference. */
async function referencedNonces(path: string, threadId: string): Promise<Set<string>> {
  const kv = await Deno.openKv(path);
  try {
    const nonces = new Set<string>();
    const prefixes = [["oris", "ev", threadId], ["oris", "eff", threadId]];
    const values: unknown[] = [(await kv.get(["oris", "snap", threadId])).value];
    for (const prefix of prefixes) {
      for await (const entry of kv.list({ prefix })) values.push(entry.value);
    }
    for (const value of values) {
      if (value !== null && !(value instanceof Uint8Array)) {
        nonces.add((value as { nonce: string }).nonce);
      }
    }
    return nonces;
  } finally {
    kv.close();
  }
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris_kv_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KvStore.append() round-trips a 1 MiB snapshot and a 1 MiB event in one append", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/store.db`;
    {
      await using store = await KvStore.open({ path, snapshotEvery: 1 });
      let run = await startRun(store, "big-1");
      const event = step(run, { blob: megabyte("e") });
      assert.ok(JSON.stringify(event).length > 1024 * 1024);
      run = await append(store, run, [event]);
      const loaded = await store.load(run.threadId);
      assert.deepEqual(loaded, { snapshot: run, events: [] }, "the 1 MiB snapshot is stored");
      assert.ok(JSON.stringify(loaded!.snapshot).length > 1024 * 1024);
      const log = await store.readEvents(run.threadId, 3);
      assert.deepEqual(log, [{ seq: 3, event }], "the 1 MiB event is stored");
      assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), run);
    }
    const chunks = await chunkNonces(path, "big-1");
    assert.equal(chunks.size, 2, "the event batch and the snapshot are chunked");
    assert.deepEqual(new Set(chunks.keys()), await referencedNonces(path, "big-1"));
  });
});

Deno.test("KvStore.append() of 2,000 small events is one append", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  let run = await startRun(store, "many-1");
  const events = Array.from({ length: 2000 }, (_, i) => effect(i));
  run = await append(store, run, events);
  assert.equal(run.version, 2002);
  const log = await store.readEvents(run.threadId, 1);
  assert.deepEqual(log.map((item) => item.seq), Array.from({ length: 2002 }, (_, i) => i + 1));
  assert.deepEqual(foldAll(null, log), run);
  assert.deepEqual(await store.readEvents(run.threadId, 1500, { limit: 3 }), [
    { seq: 1500, event: events[1497] },
    { seq: 1501, event: events[1498] },
    { seq: 1502, event: events[1499] },
  ]);
  assert.deepEqual(await current(store, "many-1"), run);
  const last = effect(2000);
  run = await append(store, run, [last]);
  assert.deepEqual(await current(store, "many-1"), run);
  assert.deepEqual(await store.readEvents(run.threadId, 2002), [
    { seq: 2002, event: events[1999] },
    { seq: 2003, event: last },
  ]);
});

Deno.test("KvStore.append() of 2,000 steps makes 2,000 checkpoints", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  let run = await startRun(store, "steps-1", { n: 0 });
  const events: RunEvent[] = [];
  let next = run;
  for (let i = 1; i <= 2000; i++) {
    const event = step(next, { n: i });
    events.push(event);
    next = fold(next, event);
  }
  run = await append(store, run, events);
  const ids = events.map((event) => (event as { checkpointId: CheckpointId }).checkpointId);
  const record = await store.getCheckpoint(run.threadId, ids[1233]!);
  assert.deepEqual(record, {
    threadId: run.threadId,
    checkpointId: ids[1233],
    parentCheckpointId: ids[1232],
    step: 1234,
    version: 1236,
    createdAt: events[1233]!.at,
  });
  const listed: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listCheckpoints(run.threadId, { limit: 1000, cursor });
    listed.push(...page.items.map((item) => item.checkpointId));
    cursor = page.nextCursor;
  } while (cursor !== null);
  assert.deepEqual(listed, [...ids].reverse());
  run = await append(store, run, [step(run, { n: -1 })]);
  assert.equal((await store.listCheckpoints(run.threadId, { limit: 1 })).items[0]?.version, 2003);
});

Deno.test("KvStore.append() from two instances on one file: exactly one wins per version", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/shared.db`;
    await using a = await KvStore.open({ path, snapshotEvery: 3 });
    await using b = await KvStore.open({ path, snapshotEvery: 3 });
    await startRun(a, "shared-1", { writes: [] });
    const wins = { a: 0, b: 0 };
    for (let round = 0; round < 20; round++) {
      const [runA, runB] = await Promise.all([current(a, "shared-1"), current(b, "shared-1")]);
      assert.deepEqual(runA, runB);
      const base = runA!;
      const writes = base.state.writes as string[];
      const eventA = step(base, { writes: [...writes, "a"] }, "a");
      const eventB = step(base, { writes: [...writes, "b"] }, "b");
      const results = await Promise.allSettled([
        a.append(base.threadId, base.version, [eventA], fold(base, eventA)),
        b.append(base.threadId, base.version, [eventB], fold(base, eventB)),
      ]);
      const won = results.flatMap((result, i) => result.status === "fulfilled" ? [i] : []);
      assert.equal(won.length, 1, `round ${round}: exactly one append wins`);
      const lost = results[1 - won[0]!] as PromiseRejectedResult;
      assert.ok(
        lost.reason instanceof VersionConflictError,
        String(lost.reason?.stack ?? lost.reason),
      );
      assert.equal(lost.reason.actualVersion, base.version + 1);
      wins[won[0] === 0 ? "a" : "b"]++;
    }
    const run = (await current(b, "shared-1"))!;
    assert.equal(run.version, 22);
    const writes = run.state.writes as string[];
    assert.deepEqual(
      { a: writes.filter((w) => w === "a").length, b: writes.filter((w) => w === "b").length },
      wins,
    );
    assert.deepEqual(foldAll(null, await a.readEvents(run.threadId, 1)), run);
    assert.equal((await a.listCheckpoints(run.threadId, { limit: 100 })).items.length, 20);
  });
});

Deno.test("KvStore.append() after another instance appended re-reads the run", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/stale.db`;
    await using a = await KvStore.open({ path });
    await using b = await KvStore.open({ path });
    const run = await startRun(a, "stale-1", { n: 0 });
    const moved = await append(b, run, [step(run, { n: 1 })]);
    const stale = step(run, { n: 2 });
    await assert.rejects(
      () => a.append(run.threadId, run.version, [stale], fold(run, stale)),
      (error) => error instanceof VersionConflictError && error.actualVersion === moved.version,
    );
    const next = await append(a, moved, [step(moved, { n: 3 })]);
    assert.deepEqual(await current(b, "stale-1"), next);
  });
});

Deno.test("KvStore.append() cleans up the chunks of a lost race", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/race.db`;
    {
      await using a = await KvStore.open({ path, snapshotEvery: 1 });
      await using b = await KvStore.open({ path, snapshotEvery: 1 });
      const run = await startRun(a, "race-1");
      await current(b, "race-1");
      const eventA = step(run, { blob: megabyte("a") }, "a");
      const eventB = step(run, { blob: megabyte("b") }, "b");
      const results = await Promise.allSettled([
        a.append(run.threadId, run.version, [eventA], fold(run, eventA)),
        b.append(run.threadId, run.version, [eventB], fold(run, eventB)),
      ]);
      assert.equal(results.filter((result) => result.status === "fulfilled").length, 1);
      const stored = (await current(a, "race-1"))!;
      const winner = stored.state.blob === undefined
        ? null
        : (stored.state.blob as string[])[0]![0];
      assert.deepEqual(stored, fold(run, winner === "a" ? eventA : eventB));
    }
    const chunks = await chunkNonces(path, "race-1");
    assert.deepEqual(new Set(chunks.keys()), await referencedNonces(path, "race-1"));
    assert.equal(chunks.size, 2, "only the winner's event batch and snapshot have chunks");
  });
});

Deno.test("KvStore.append() deletes the chunks of a replaced snapshot", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/replace.db`;
    {
      await using store = await KvStore.open({ path, snapshotEvery: 1 });
      let run = await startRun(store, "replace-1");
      run = await append(store, run, [step(run, { blob: megabyte("x") })]);
      run = await append(store, run, [step(run, { blob: megabyte("x"), more: 1 })]);
      run = await append(store, run, [step(run, { blob: megabyte("x"), more: 2 })]);
      assert.deepEqual(await store.load(run.threadId), { snapshot: run, events: [] });
    }
    const chunks = await chunkNonces(path, "replace-1");
    assert.deepEqual(new Set(chunks.keys()), await referencedNonces(path, "replace-1"));
    assert.equal(chunks.size, 2, "the first event batch and the latest snapshot");
  });
});

Deno.test("KvStore.open() on an existing file reads everything back", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/reopen.db`;
    let run: RunSnapshot;
    const record: EffectRecord = {
      threadId: "reopen-1" as ThreadId,
      step: 1,
      node: "agent",
      index: 0,
      name: "llm",
      result: { ok: true, value: { text: "x".repeat(100_000) } },
      recordedAt: ++clock,
    };
    {
      await using store = await KvStore.open({ path, snapshotEvery: 4 });
      run = await startRun(store, "reopen-1", { n: 0 });
      for (let i = 1; i <= 6; i++) run = await append(store, run, [step(run, { n: i })]);
      await store.createRun(created("reopen-2"));
      assert.deepEqual(await store.recordEffect(record), record);
    }
    await using store = await KvStore.open({ path, snapshotEvery: 4 });
    assert.deepEqual(await current(store, "reopen-1"), run);
    assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), run);
    const runs = await store.listRuns();
    assert.deepEqual(runs.items.map((item) => [item.threadId, item.status]), [
      ["reopen-2", "queued"],
      ["reopen-1", "running"],
    ]);
    assert.equal((await store.listCheckpoints(run.threadId)).items.length, 6);
    assert.deepEqual(await store.getEffect(record), record);
    assert.deepEqual(await store.listEffects(record.threadId), [record]);
    run = await append(store, run, [{ type: "run.paused", v: 1, at: ++clock, reason: null }]);
    assert.deepEqual(await store.load(run.threadId), { snapshot: run, events: [] });
    const { created: again } = await store.createRun(created("reopen-2"));
    assert.equal(again, false);
  });
});

Deno.test("KvStore.recordEffect() stores results over 64 KiB and keeps the first", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/effects.db`;
    const record = (value: string): EffectRecord => ({
      threadId: "fx-1" as ThreadId,
      step: 2,
      node: "tool",
      index: 0,
      name: "fetch",
      result: { ok: true, value: value.repeat(200_000) },
      recordedAt: 1,
    });
    {
      await using a = await KvStore.open({ path });
      await using b = await KvStore.open({ path });
      const results = await Promise.all(
        ["a", "b", "c", "d"].map((value, i) => (i % 2 === 0 ? a : b).recordEffect(record(value))),
      );
      assert.equal(
        new Set(results.map((result) => result.result.ok && result.result.value)).size,
        1,
      );
      assert.deepEqual(await b.getEffect(record("a")), results[0]);
      assert.deepEqual(await a.listEffects("fx-1" as ThreadId, 2), [results[0]]);
    }
    const chunks = await chunkNonces(path, "fx-1");
    assert.equal(chunks.size, 1, "the losers' chunks are removed");
    assert.deepEqual(new Set(chunks.keys()), await referencedNonces(path, "fx-1"));
  });
});

Deno.test("KvStore.close() is idempotent and later calls fail", async () => {
  const store = await KvStore.open({ path: ":memory:" });
  await store.ping();
  await store.close();
  await store.close();
  await assert.rejects(
    () => store.ping(),
    (error) => error instanceof OrisError && error.code === "unavailable",
  );
  await assert.rejects(() => store.load("t" as ThreadId), OrisError);
});

Deno.test("KvStore.open() refuses a snapshot interval that is not a whole number from 1", async () => {
  await assert.rejects(() => KvStore.open({ path: ":memory:", snapshotEvery: 0 }), RangeError);
  await assert.rejects(() => KvStore.open({ path: ":memory:", snapshotEvery: 1.5 }), RangeError);
});

function raise(step: number, ids: string[], value: (id: string) => JsonObject): RunEvent {
  return {
    type: "interrupt.raised",
    v: 1,
    at: ++clock,
    step,
    interrupts: ids.map((id, index) => ({
      id: id as InterruptId,
      step,
      taskId: `${step}:n${index}`,
      node: `n${index}`,
      index: 0,
      value: value(id),
    })),
    writes: [],
  };
}

/** Every key under `["oris", kind]` in a database file. */
async function keysOf(path: string, kind: string): Promise<Deno.KvKey[]> {
  const kv = await Deno.openKv(path);
  try {
    const keys: Deno.KvKey[] = [];
    for await (const entry of kv.list({ prefix: ["oris", kind] })) keys.push(entry.key);
    return keys;
  } finally {
    kv.close();
  }
}

Deno.test("KvStore keeps the interrupt index across reopening a file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/index.db`;
    let run: RunSnapshot;
    {
      await using store = await KvStore.open({ path });
      run = await startRun(store, "idx-1");
      run = await append(store, run, [raise(1, ["in_x", "in_y"], (id) => ({ ask: id }))]);
      run = await append(store, run, [{
        type: "run.resumed",
        v: 1,
        at: ++clock,
        values: { in_x: "yes" },
      }]);
      await store.claimIdempotency({
        key: "k-1",
        operation: "job.run",
        threadId: "idx-1",
        payloadHash: "h",
        response: null,
        createdAt: ++clock,
      });
      await store.completeIdempotency("k-1", { ok: true });
    }
    {
      await using store = await KvStore.open({ path });
      assert.equal((await store.getInterrupt("in_x"))?.status, "resumed");
      assert.deepEqual((await store.getInterrupt("in_x"))?.resumeValue, "yes");
      const pending = await store.listInterrupts({ status: "pending" });
      assert.deepEqual(pending.items.map((row) => row.interruptId), ["in_y"]);
      const all = await store.listInterrupts({ threadId: "idx-1" });
      assert.deepEqual(all.items.map((row) => row.interruptId).sort(), ["in_x", "in_y"]);
      const again = await store.claimIdempotency({
        key: "k-1",
        operation: "job.run",
        threadId: "idx-1",
        payloadHash: "other",
        response: null,
        createdAt: ++clock,
      });
      assert.deepEqual([again.claimed, again.record.response], [false, { ok: true }]);
      // Cancelling in the reopened store closes the interrupt raised before,
      // and the one answered but never used (no task ran again with it).
      run = await append(store, run, [{ type: "run.cancelled", v: 1, at: ++clock, reason: null }]);
      assert.equal((await store.getInterrupt("in_y"))?.status, "cancelled");
      assert.equal((await store.getInterrupt("in_x"))?.status, "cancelled");
      assert.deepEqual((await store.getInterrupt("in_x"))?.resumeValue, "yes");
    }
    assert.deepEqual(await keysOf(path, "intp"), [], "no pending list is left");
    assert.deepEqual(
      (await keysOf(path, "ints")).map((key) => key[2]).sort(),
      ["cancelled", "cancelled"],
    );
  });
});

Deno.test("KvStore.claimIdempotency() from two instances on one file: exactly one claim", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/idem.db`;
    await using a = await KvStore.open({ path });
    await using b = await KvStore.open({ path });
    for (let round = 0; round < 10; round++) {
      const record = (payloadHash: string): IdempotencyRecord => ({
        key: `shared-${round}`,
        operation: "job.run",
        threadId: "t-1",
        payloadHash,
        response: null,
        createdAt: ++clock,
      });
      const results = await Promise.all([
        a.claimIdempotency(record("a1")),
        b.claimIdempotency(record("b1")),
        a.claimIdempotency(record("a2")),
        b.claimIdempotency(record("b2")),
      ]);
      const winners = results.filter((result) => result.claimed);
      assert.equal(winners.length, 1, `round ${round}: exactly one claim`);
      for (const result of results) assert.deepEqual(result.record, winners[0]!.record);
    }
  });
});

Deno.test("KvStore interrupt index: large values are chunked, replaced chunks removed", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/large.db`;
    const big = (id: string) => ({ id, text: id.repeat(50_000) });
    const resumed = (values: Record<string, JsonObject | string>): RunEvent => ({
      type: "run.resumed",
      v: 1,
      at: ++clock,
      values,
    });
    {
      await using store = await KvStore.open({ path });
      let run = await startRun(store, "large-1");
      run = await append(store, run, [
        raise(1, ["in_big", "in_small"], (id) => id === "in_big" ? big("first") : { ask: id }),
      ]);
      assert.deepEqual((await store.getInterrupt("in_big"))?.value, big("first"));
      run = await append(store, run, [resumed({ in_small: "ok" })]);
      // Raised again with another value: the first value's chunks go.
      run = await append(store, run, [raise(1, ["in_big"], () => big("again"))]);
      const answer = { text: "z".repeat(100_000) };
      run = await append(store, run, [resumed({ in_big: answer })]);
      const row = await store.getInterrupt("in_big");
      assert.deepEqual([row?.status, row?.value, row?.resumeValue], [
        "resumed",
        big("again"),
        answer,
      ]);
      // Raised again, in_big keeps its place: raised with in_small, after it by id.
      const listed = await store.listInterrupts({ status: "resumed", threadId: "large-1" });
      assert.deepEqual(listed.items.map((item) => item.interruptId), ["in_small", "in_big"]);
      assert.deepEqual(listed.items[1], row);
      // Step 1 commits (its answers are used), then step 2 raises.
      run = await append(store, run, [{
        type: "step.committed",
        v: 1,
        at: ++clock,
        step: 1,
        checkpointId: "cp_large1" as CheckpointId,
        parentCheckpointId: null,
        tasks: [],
        delta: null,
        next: run.next,
      }]);
      run = await append(store, run, [raise(2, ["in_last"], () => big("last"))]);
      run = await append(store, run, [{ type: "run.cancelled", v: 1, at: ++clock, reason: null }]);
      assert.equal((await store.getInterrupt("in_last"))?.status, "cancelled");
      assert.deepEqual((await store.getInterrupt("in_last"))?.value, big("last"));
      assert.deepEqual(await store.getInterrupt("in_big"), row);
    }
    const kv = await Deno.openKv(path);
    try {
      const nonces = new Set<string>();
      for await (const entry of kv.list({ prefix: ["oris", "cchunk", "int"] })) {
        nonces.add(entry.key[3] as string);
      }
      const referenced = new Set<string>();
      for await (const entry of kv.list<Record<string, unknown>>({ prefix: ["oris", "int"] })) {
        for (const blob of [entry.value.value, entry.value.resumeValue]) {
          if (blob !== null && !(blob instanceof Uint8Array)) {
            referenced.add((blob as { nonce: string }).nonce);
          }
        }
      }
      assert.equal(nonces.size, 3, "the second value, the answer and the last value");
      assert.deepEqual(nonces, referenced);
    } finally {
      kv.close();
    }
  });
});

Deno.test("KvStore interrupt index: 300 interrupts raised in one append and cancelled in one", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  let run = await startRun(store, "wide-1");
  const ids = Array.from({ length: 300 }, (_, i) => `in_w${String(i).padStart(4, "0")}`);
  run = await append(store, run, [raise(1, ids, (id) => ({ ask: id, pad: "p".repeat(3000) }))]);
  const listed: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listInterrupts({ threadId: "wide-1", limit: 70, cursor });
    listed.push(...page.items.map((row) => row.interruptId));
    cursor = page.nextCursor;
  } while (cursor !== null);
  assert.deepEqual(listed, [...ids].reverse());
  run = await append(store, run, [{
    type: "run.cancelled",
    v: 1,
    at: ++clock,
    reason: "interrupt rejected",
    rejectedInterruptId: ids[7] as InterruptId,
  }]);
  assert.equal((await store.listInterrupts({ status: "pending" })).items.length, 0);
  const cancelled = await store.listInterrupts({ status: "cancelled", limit: 1000 });
  assert.equal(cancelled.items.length, 299);
  assert.deepEqual(cancelled.items[0]?.value, { ask: ids[299], pad: "p".repeat(3000) });
  const rejected = await store.listInterrupts({ status: "rejected", threadId: "wide-1" });
  assert.deepEqual(rejected.items.map((row) => row.interruptId), [ids[7]]);
});

Deno.test("KvStore interrupt index: a rejected-then-retried append writes the index once", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/race-index.db`;
    await using a = await KvStore.open({ path });
    await using b = await KvStore.open({ path });
    const run = await startRun(a, "race-idx");
    await current(b, "race-idx");
    const eventA = raise(1, ["in_ra"], () => ({ by: "a" }));
    const eventB = raise(1, ["in_rb"], () => ({ by: "b" }));
    const results = await Promise.allSettled([
      a.append(run.threadId, run.version, [eventA], fold(run, eventA)),
      b.append(run.threadId, run.version, [eventB], fold(run, eventB)),
    ]);
    assert.equal(results.filter((result) => result.status === "fulfilled").length, 1);
    const won = results[0]!.status === "fulfilled" ? "in_ra" : "in_rb";
    const rows = await b.listInterrupts({});
    assert.deepEqual(rows.items.map((row) => row.interruptId), [won]);
    assert.deepEqual((await a.listInterrupts({ threadId: "race-idx" })).items, rows.items);
  });
});

Deno.test("KvStore.listAudit() combines filters, time windows and cursors", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const base = ++clock;
  for (let i = 0; i < 30; i++) {
    await store.appendAudit({
      auditId: `au_${String(i).padStart(3, "0")}`,
      actorType: "anonymous",
      actorId: null,
      actorRole: null,
      action: i % 2 === 0 ? "job.run" : "job.cancel",
      resourceType: "thread",
      resourceId: null,
      result: "success",
      requestId: `req-${i % 5}`,
      details: {},
      createdAt: base + Math.floor(i / 3),
    });
  }
  const ids = (page: { items: { auditId: string }[] }) => page.items.map((item) => item.auditId);
  assert.deepEqual(
    ids(await store.listAudit({ requestId: "req-1", action: "job.cancel" })),
    ["au_021", "au_011", "au_001"],
  );
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listAudit({
      action: "job.run",
      fromMs: base + 2,
      toMs: base + 6,
      limit: 2,
      cursor,
    });
    seen.push(...ids(page));
    cursor = page.nextCursor;
  } while (cursor !== null);
  assert.deepEqual(seen, [
    "au_020",
    "au_018",
    "au_016",
    "au_014",
    "au_012",
    "au_010",
    "au_008",
    "au_006",
  ]);
  assert.deepEqual(ids(await store.listAudit({ fromMs: base + 5, toMs: base + 4 })), []);
  const long = "r".repeat(3000);
  await store.appendAudit({
    auditId: "au_long",
    actorType: "anonymous",
    actorId: null,
    actorRole: null,
    action: "job.run",
    resourceType: "thread",
    resourceId: null,
    result: "error",
    requestId: long,
    details: {},
    createdAt: base + 100,
  });
  assert.deepEqual(ids(await store.listAudit({ requestId: long })), ["au_long"]);
  assert.equal(await store.countApiKeys(), 0);
});

Deno.test("KvStore interrupt index: changes over one commit's limits fail and write nothing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/limit.db`;
    {
      await using store = await KvStore.open({ path });
      const run = await startRun(store, "limit-1");
      const ids = Array.from({ length: 400 }, (_, i) => `in_l${i}`);
      const event = raise(1, ids, () => ({ pad: "q".repeat(20_000) }));
      await assert.rejects(
        () => store.append(run.threadId, run.version, [event], fold(run, event)),
        (error) => error instanceof OrisError && /do not fit in one commit/.test(error.message),
      );
      assert.deepEqual(await current(store, "limit-1"), run);
      assert.deepEqual(await store.listInterrupts({}), { items: [], nextCursor: null });
    }
    assert.deepEqual(await keysOf(path, "cchunk"), [], "the chunks written are removed");
    assert.deepEqual(await chunkNonces(path, "limit-1"), new Map(), "so are the batch's");
  });
});

Deno.test("KvStore: a run this instance has not written or loaded gets a snapshot at its next append", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/policy.db`;
    const blob = "x".repeat(64 * 1024);
    let run: RunSnapshot;
    {
      await using store = await KvStore.open({ path });
      run = await startRun(store, "policy-1", { blob });
      run = await append(store, run, [effect(0)]);
      const loaded = (await store.load(run.threadId))!;
      assert.equal(loaded.snapshot.version, 1, "small events after a large state: no rewrite");
      assert.deepEqual(currentSnapshot(loaded), run);
    }
    {
      await using store = await KvStore.open({ path });
      run = await append(store, run, [effect(1)]);
      assert.deepEqual(await store.load(run.threadId), { snapshot: run, events: [] });
    }
    {
      await using store = await KvStore.open({ path });
      assert.deepEqual(await current(store, run.threadId), run);
      run = await append(store, run, [effect(2)]);
      run = await append(store, run, [effect(3)]);
      const loaded = (await store.load(run.threadId))!;
      assert.equal(loaded.snapshot.version, run.version - 2, "a loaded run's sizes are known");
      assert.deepEqual(currentSnapshot(loaded), run);
    }
  });
});

Deno.test("KvStore: a stale head cache costs extra snapshots, never a wrong load", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/stale.db`;
    await using a = await KvStore.open({ path });
    await using b = await KvStore.open({ path });
    await using reader = await KvStore.open({ path });
    let run = await startRun(a, "stale-1", { blob: "x".repeat(64 * 1024) });
    for (let i = 0; i < 6; i++) {
      // Each instance appends after the other: its cached head is behind, so it writes one.
      run = await append(i % 2 === 0 ? b : a, run, [effect(i)]);
      assert.deepEqual(await reader.load(run.threadId), { snapshot: run, events: [] });
    }
    run = await append(a, run, [effect(6)]);
    const loaded = (await reader.load(run.threadId))!;
    assert.equal(loaded.snapshot.version, run.version - 1, "a wrote the last one: no rewrite");
    assert.deepEqual(currentSnapshot(loaded), run);
    assert.deepEqual(foldAll(null, await reader.readEvents(run.threadId, 1)), run);
  });
});

/** Counts the Deno KV atomic commits made in this process while `body` runs. */
async function countingCommits<T>(body: () => Promise<T>): Promise<{ value: T; commits: number }> {
  const prototype = Deno.AtomicOperation.prototype;
  const original = prototype.commit;
  let commits = 0;
  prototype.commit = function (this: Deno.AtomicOperation) {
    commits++;
    return original.call(this);
  };
  try {
    const value = await body();
    return { value, commits };
  } finally {
    prototype.commit = original;
  }
}

Deno.test("KvStore group commit: 100 concurrent appends to 100 runs land in fewer commits", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const runs = await Promise.all(
    Array.from({ length: 100 }, (_, i) => startRun(store, `group-${i}`, { n: 0 })),
  );
  const events = runs.map((run) => step(run, { n: 1 }));
  const { value: results, commits } = await countingCommits(() =>
    Promise.all(
      runs.map((run, i) =>
        store.append(run.threadId, run.version, [events[i]!], fold(run, events[i]!))
      ),
    )
  );
  assert.deepEqual(results, runs.map((run) => ({ version: run.version + 1 })));
  assert.ok(commits < 100, `100 appends made ${commits} commits`);
  for (const [i, run] of runs.entries()) {
    const expected = fold(run, events[i]!);
    assert.deepEqual(await current(store, run.threadId), expected);
    assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), expected);
    const listed = await store.listRuns({ status: expected.status, limit: 200 });
    assert.equal(listed.items.filter((item) => item.threadId === run.threadId).length, 1);
  }
  // Each run's next append still goes through (the head cache followed the batch).
  const next = step(fold(runs[0]!, events[0]!), { n: 2 });
  const base = fold(runs[0]!, events[0]!);
  assert.deepEqual(await store.append(base.threadId, base.version, [next], fold(base, next)), {
    version: base.version + 1,
  });
});

Deno.test("KvStore group commit: 100 concurrent creations land in fewer commits", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const { value: results, commits } = await countingCommits(() =>
    Promise.all(Array.from({ length: 100 }, (_, i) => store.createRun(created(`make-${i}`))))
  );
  assert.ok(results.every((result) => result.created));
  assert.ok(commits < 100, `100 creations made ${commits} commits`);
  assert.equal((await store.listRuns({ limit: 200 })).items.length, 100);
  const again = await Promise.all(
    Array.from({ length: 100 }, (_, i) => store.createRun(created(`make-${i}`))),
  );
  assert.ok(again.every((result) => !result.created && result.run.version === 1));
});

Deno.test("KvStore group commit: a stale append in a batch fails alone, the others land", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/group.db`;
    await using a = await KvStore.open({ path });
    await using b = await KvStore.open({ path });
    const runs = await Promise.all(
      Array.from({ length: 100 }, (_, i) => startRun(a, `stale-${i}`, { n: 0 })),
    );
    // Another instance moves the last run on: `a`'s head cache still has it at the old version.
    const stale = runs[99]!;
    const moved = step(stale, { n: 7 });
    await b.append(stale.threadId, stale.version, [moved], fold(stale, moved));
    const events = runs.map((run) => step(run, { n: 1 }));
    const { value: results, commits } = await countingCommits(() =>
      Promise.allSettled(
        runs.map((run, i) =>
          a.append(run.threadId, run.version, [events[i]!], fold(run, events[i]!))
        ),
      )
    );
    for (const [i, result] of results.entries()) {
      if (i === 99) {
        assert.equal(result.status, "rejected");
        const reason = (result as PromiseRejectedResult).reason;
        assert.ok(reason instanceof VersionConflictError, String(reason));
        assert.equal(reason.expectedVersion, stale.version);
        assert.equal(reason.actualVersion, stale.version + 1);
      } else {
        assert.deepEqual(result, { status: "fulfilled", value: { version: runs[i]!.version + 1 } });
      }
    }
    // The batch holding the stale append failed as a whole and its appends went alone.
    assert.ok(commits > 100, `the fallback commits each append alone (${commits} commits)`);
    for (const [i, run] of runs.entries()) {
      const expected = i === 99 ? fold(run, moved) : fold(run, events[i]!);
      assert.deepEqual(await current(b, run.threadId), expected);
      assert.deepEqual(foldAll(null, await b.readEvents(run.threadId, 1)), expected);
    }
  });
});

Deno.test("KvStore group commit: large appends are split under the commit size limit", async () => {
  await using store = await KvStore.open({ path: ":memory:", snapshotEvery: 1 });
  const runs = await Promise.all(
    Array.from({ length: 30 }, (_, i) => startRun(store, `large-${i}`, { text: "" })),
  );
  // About 50 KiB of event and 50 KiB of snapshot each: 30 of them are over 800 KiB.
  const events = runs.map((run, i) => step(run, { text: `${i}:`.padEnd(50_000, "x") }));
  const { value: results, commits } = await countingCommits(() =>
    Promise.all(
      runs.map((run, i) =>
        store.append(run.threadId, run.version, [events[i]!], fold(run, events[i]!))
      ),
    )
  );
  assert.deepEqual(results, runs.map((run) => ({ version: run.version + 1 })));
  // Split by size (no batch over the limit falling back to one commit per append).
  assert.ok(commits < 30, `30 large appends made ${commits} commits`);
  for (const [i, run] of runs.entries()) {
    assert.deepEqual(await current(store, run.threadId), fold(run, events[i]!));
  }
});
