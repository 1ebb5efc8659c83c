/**
 * The Store conformance suite: one set of tests that every storage adapter's
 * test file runs against a fresh store, so that memory, Deno KV and
 * PostgreSQL keep exactly the same contract.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type CheckpointId,
  currentSnapshot,
  type EffectRecord,
  fold,
  foldAll,
  IdempotencyConflictError,
  InvalidArgumentError,
  type Json,
  type JsonObject,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type RunSummary,
  type StepCommittedEvent,
  type Store,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { diffJson } from "../../kernel/mod.ts";

/** Options a conformance test asks of a fresh store. */
export interface ConformanceStoreOptions {
  /** Persist a running run's snapshot every this many versions. */
  snapshotEvery: number;
}

/** Makes a fresh, empty store; the suite closes it. */
export type StoreFactory = (options: ConformanceStoreOptions) => Promise<Store>;

let clock = 1_700_000_000_000;
function tick(): number {
  return ++clock;
}

function createdEvent(
  threadId: string,
  input: Json = { n: 0 },
  state: JsonObject = {},
): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: tick(),
    threadId: threadId as ThreadId,
    graph: "conformance",
    input,
    payloadHash: `hash:${JSON.stringify(input)}`,
    state,
    next: [{ id: "1:a", node: "a" }],
  };
}

function started(): RunEvent {
  return { type: "run.started", v: 1, at: tick(), attemptId: `at_${tick()}` as never };
}

let checkpointCounter = 0;
function stepEvent(run: RunSnapshot, state: JsonObject, node = "a"): StepCommittedEvent {
  return {
    type: "step.committed",
    v: 1,
    at: tick(),
    step: run.step + 1,
    checkpointId: `cp_${String(++checkpointCounter).padStart(8, "0")}` as CheckpointId,
    parentCheckpointId: run.checkpointId,
    tasks: [{ taskId: `${run.step + 1}:${node}`, node, update: state }],
    delta: diffJson(run.state, state),
    next: [{ id: `${run.step + 2}:${node}`, node }],
  };
}

/** Folds events onto `run` and appends them; returns the run after them. */
async function appendAll(store: Store, run: RunSnapshot, events: RunEvent[]): Promise<RunSnapshot> {
  const next = foldAll(run, events)!;
  const result = await store.append(run.threadId, run.version, events, next);
  assert.equal(result.version, next.version);
  return next;
}

async function startRun(
  store: Store,
  threadId: string,
  state: JsonObject = {},
): Promise<RunSnapshot> {
  const { run } = await store.createRun(createdEvent(threadId, { id: threadId }, state));
  return appendAll(store, run, [started()]);
}

async function current(store: Store, threadId: string): Promise<RunSnapshot | null> {
  const loaded = await store.load(threadId as ThreadId);
  return loaded === null ? null : currentSnapshot(loaded);
}

async function allRuns(
  store: Store,
  options: { status?: RunSummary["status"]; limit: number },
): Promise<RunSummary[]> {
  const seen: RunSummary[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listRuns({ ...options, cursor });
    seen.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return seen;
}

/**
 * Registers the conformance tests for one adapter.
 *
 * @param name The adapter's name, prefixed to every test name.
 * @param factory Makes a fresh, empty store.
 */
export function runStoreConformance(name: string, factory: StoreFactory): void {
  function test(title: string, body: (store: Store) => Promise<void>, snapshotEvery = 1): void {
    Deno.test(`${name}: ${title}`, async () => {
      await using store = await factory({ snapshotEvery });
      await body(store);
    });
  }

  test("createRun() starts a queued run at version 1 with one event", async (store) => {
    const event = createdEvent("create-1", { question: "hi" }, { messages: [] });
    const { created, run } = await store.createRun(event);
    assert.equal(created, true);
    assert.equal(run.status, "queued");
    assert.equal(run.version, 1);
    assert.deepEqual(run, fold(null, event));
    assert.deepEqual(await store.readEvents(run.threadId, 1), [{ seq: 1, event }]);
    assert.deepEqual(await current(store, "create-1"), run);
  });

  test("createRun() with the same payload returns the existing run", async (store) => {
    const event = createdEvent("idem-1", { a: 1 });
    const first = await store.createRun(event);
    const moved = await appendAll(store, first.run, [started()]);
    const again = await store.createRun({ ...event, at: tick() });
    assert.equal(again.created, false);
    assert.deepEqual(again.run, moved);
  });

  test("createRun() with another payload is a conflict and changes nothing", async (store) => {
    await store.createRun(createdEvent("idem-2", { a: 1 }));
    await assert.rejects(
      () => store.createRun(createdEvent("idem-2", { a: 2 })),
      (error) => error instanceof IdempotencyConflictError && error.code === "conflict",
    );
    assert.equal((await store.readEvents("idem-2" as ThreadId, 1)).length, 1);
  });

  test("concurrent createRun() of one thread creates it once", async (store) => {
    const event = createdEvent("idem-3", { a: 1 });
    const results = await Promise.all(Array.from({ length: 8 }, () => store.createRun(event)));
    assert.equal(results.filter((result) => result.created).length, 1);
    assert.equal((await store.readEvents("idem-3" as ThreadId, 1)).length, 1);
  });

  test("append() and load() round-trip events, state and snapshot", async (store) => {
    let run = await startRun(store, "round-1", { count: 0, log: [] });
    const events: RunEvent[] = [];
    for (let i = 1; i <= 5; i++) {
      const event = stepEvent(run, { count: i, log: [...(run.state.log as Json[]), `step ${i}`] });
      events.push(event);
      run = await appendAll(store, run, [event]);
    }
    const paused: RunEvent = { type: "run.paused", v: 1, at: tick(), reason: "operator" };
    run = await appendAll(store, run, [paused]);
    assert.deepEqual(await current(store, "round-1"), run);
    assert.deepEqual(run.state, {
      count: 5,
      log: ["step 1", "step 2", "step 3", "step 4", "step 5"],
    });
    const log = await store.readEvents(run.threadId, 1);
    assert.deepEqual(log.map((item) => item.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(foldAll(null, log), run);
    const middle = await store.readEvents(run.threadId, 4, { limit: 2 });
    assert.deepEqual(middle, [{ seq: 4, event: events[1] }, { seq: 5, event: events[2] }]);
    assert.deepEqual(await store.readEvents(run.threadId, 9), []);
  });

  test("append() of several events is one atomic step", async (store) => {
    const run = await startRun(store, "multi-1", { n: 0 });
    const step = stepEvent(run, { n: 1 });
    const afterStep = fold(run, step);
    const interrupt: RunEvent = {
      type: "interrupt.raised",
      v: 1,
      at: tick(),
      step: 2,
      interrupts: [{
        id: "in_1" as never,
        step: 2,
        taskId: "2:a",
        node: "a",
        index: 0,
        value: "ok?",
      }],
      writes: [],
    };
    const after = await appendAll(store, run, [step, interrupt]);
    assert.equal(after.status, "interrupted");
    assert.equal(afterStep.version + 1, after.version);
    assert.deepEqual(await current(store, "multi-1"), after);
  });

  test("append() at a stale version is a conflict and writes nothing", async (store) => {
    const run = await startRun(store, "stale-1", { n: 0 });
    const next = await appendAll(store, run, [stepEvent(run, { n: 1 })]);
    const stale = stepEvent(run, { n: 99 });
    await assert.rejects(
      () => store.append(run.threadId, run.version, [stale], fold(run, stale)),
      (error) =>
        error instanceof VersionConflictError && error.code === "conflict" &&
        error.expectedVersion === run.version && error.actualVersion === next.version,
    );
    assert.deepEqual(await current(store, "stale-1"), next);
    assert.equal((await store.readEvents(run.threadId, 1)).length, next.version);
    assert.equal((await store.listCheckpoints(run.threadId)).items.length, 1);
  });

  test("append() to an unknown run is a conflict with no actual version", async (store) => {
    const created = createdEvent("ghost-1");
    const run = fold(null, created);
    const event = started();
    await assert.rejects(
      () => store.append(run.threadId, 1, [event], fold(run, event)),
      (error) => error instanceof VersionConflictError && error.actualVersion === null,
    );
    assert.equal(await store.load(run.threadId), null);
  });

  test("two appends at the same version: exactly one wins, nothing of the other is visible", async (store) => {
    const run = await startRun(store, "race-1", { winner: "none" });
    const a = stepEvent(run, { winner: "a" }, "a");
    const b = stepEvent(run, { winner: "b" }, "b");
    const results = await Promise.allSettled([
      store.append(run.threadId, run.version, [a], fold(run, a)),
      store.append(run.threadId, run.version, [b], fold(run, b)),
    ]);
    const won = results.filter((result) => result.status === "fulfilled");
    assert.equal(won.length, 1);
    const lost = results.find((result) => result.status === "rejected") as PromiseRejectedResult;
    assert.ok(lost.reason instanceof VersionConflictError);
    const stored = await current(store, "race-1");
    const winner = stored!.state.winner as string;
    assert.deepEqual(stored, fold(run, winner === "a" ? a : b));
    const log = await store.readEvents(run.threadId, 1);
    assert.equal(log.length, run.version + 1);
    const checkpoints = await store.listCheckpoints(run.threadId);
    assert.deepEqual(checkpoints.items.map((record) => record.checkpointId), [
      (winner === "a" ? a : b).checkpointId,
    ]);
  });

  test("many concurrent appends: each run's log stays gap-free and complete", async (store) => {
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => startRun(store, `many-${i}`, { n: 0 })),
    );
    const finals = await Promise.all(runs.map(async (start) => {
      let run = start;
      for (let i = 1; i <= 15; i++) run = await appendAll(store, run, [stepEvent(run, { n: i })]);
      return run;
    }));
    for (const run of finals) {
      const log = await store.readEvents(run.threadId, 1);
      assert.deepEqual(log.map((item) => item.seq), Array.from({ length: 17 }, (_, i) => i + 1));
      assert.deepEqual(foldAll(null, log), run);
    }
  });

  test("writers contending on one run: every version is written exactly once", async (store) => {
    await startRun(store, "contend-1", { writes: [] });
    const writers = 6;
    const perWriter = 8;
    const wins = await Promise.all(Array.from({ length: writers }, async (_, writer) => {
      let done = 0;
      while (done < perWriter) {
        const run = (await current(store, "contend-1"))!;
        const event = stepEvent(
          run,
          { writes: [...(run.state.writes as Json[]), writer] },
          `w${writer}`,
        );
        try {
          await store.append(run.threadId, run.version, [event], fold(run, event));
          done++;
        } catch (error) {
          if (!(error instanceof VersionConflictError)) throw error;
        }
      }
      return done;
    }));
    const run = (await current(store, "contend-1"))!;
    assert.equal(run.version, 2 + writers * perWriter);
    const log = await store.readEvents(run.threadId, 1);
    assert.deepEqual(foldAll(null, log), run);
    for (let writer = 0; writer < writers; writer++) {
      assert.equal((run.state.writes as number[]).filter((w) => w === writer).length, wins[writer]);
    }
  });

  test("a 1 MiB state round-trips", async (store) => {
    let run = await startRun(store, "big-1", {});
    const blob = Array.from(
      { length: 1024 },
      (_, i) => `${i}:`.padEnd(1024, String.fromCharCode(97 + (i % 26))),
    );
    run = await appendAll(store, run, [stepEvent(run, { blob })]);
    run = await appendAll(store, run, [stepEvent(run, { blob, more: "x" })]);
    const loaded = await current(store, "big-1");
    assert.deepEqual(loaded, run);
    assert.equal((loaded!.state.blob as string[]).join("").length, 1024 * 1024);
    assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), run);
  });

  test("load() returns the stored snapshot and the events after it", async (store) => {
    let run = await startRun(store, "tail-1", { n: 0 });
    run = await appendAll(store, run, [stepEvent(run, { n: 1 })]);
    const loaded = await store.load(run.threadId);
    assert.ok(loaded !== null);
    assert.ok(
      loaded.snapshot.version < run.version,
      "a running run is not snapshotted at every step",
    );
    assert.deepEqual(
      loaded.events.map((item) => item.seq),
      Array.from(
        { length: run.version - loaded.snapshot.version },
        (_, i) => loaded.snapshot.version + 1 + i,
      ),
    );
    assert.deepEqual(currentSnapshot(loaded), run);
    for (let i = 2; i <= 9; i++) run = await appendAll(store, run, [stepEvent(run, { n: i })]);
    const later = (await store.load(run.threadId))!;
    assert.ok(
      later.snapshot.version > loaded.snapshot.version,
      "snapshots are written periodically",
    );
    assert.deepEqual(currentSnapshot(later), run);
    run = await appendAll(store, run, [{ type: "run.paused", v: 1, at: tick(), reason: null }]);
    const atRest = (await store.load(run.threadId))!;
    assert.deepEqual(atRest, { snapshot: run, events: [] });
  }, 4);

  test("a large state is rewritten only once the events after it outweigh it", async (store) => {
    // A 64 KiB state changed by small steps: the byte rule of the snapshot policy (the
    // version cap is set out of the way).
    const blob = "b".repeat(64 * 1024);
    let run = await startRun(store, "large-1", { blob, scratch: "" });
    const small = (i: number): RunEvent => {
      const state = { ...run.state, scratch: `${i}:`.padEnd(512, "s") };
      return {
        type: "step.committed",
        v: 1,
        at: tick(),
        step: run.step + 1,
        checkpointId: `cp_${String(++checkpointCounter).padStart(8, "0")}` as CheckpointId,
        parentCheckpointId: run.checkpointId,
        tasks: [{ taskId: `${run.step + 1}:a`, node: "a", update: { scratch: state.scratch } }],
        delta: diffJson(run.state, state),
        next: [{ id: `${run.step + 2}:a`, node: "a" }],
      };
    };
    const size = (value: unknown) => JSON.stringify(value).length;
    const first = (await store.load(run.threadId))!;
    const firstSize = size(first.snapshot);
    assert.ok(firstSize > 64 * 1024);

    // Appends alone (no loads between them): the store follows its own writes.
    for (let i = 1; i <= 30; i++) run = await appendAll(store, run, [small(i)]);
    let loaded = (await store.load(run.threadId))!;
    assert.equal(loaded.snapshot.version, first.snapshot.version, "30 small steps: no rewrite");
    assert.deepEqual(currentSnapshot(loaded), run);

    // Then with a load after each append: each rewrite comes once the tail outweighs the
    // snapshot, not before it is half as large.
    let rewrites = 0;
    for (let i = 31; i <= 150; i++) {
      const event = small(i);
      const threshold = Math.max(size(loaded.snapshot), 4096);
      const tail = loaded.events.reduce((total, item) => total + size(item.event), 0);
      const before = loaded.snapshot.version;
      run = await appendAll(store, run, [event]);
      loaded = (await store.load(run.threadId))!;
      assert.deepEqual(currentSnapshot(loaded), run);
      const rewritten = loaded.snapshot.version !== before;
      if (rewritten) {
        rewrites++;
        assert.equal(loaded.snapshot.version, run.version);
        assert.ok(tail + size(event) >= threshold / 2, `step ${i}: rewritten too early`);
      } else {
        assert.ok(tail + size(event) < threshold, `step ${i}: the tail outweighs the snapshot`);
      }
    }
    assert.ok(rewrites >= 1, "a snapshot is written once the tail outweighs it");
    assert.ok(rewrites <= 6, `most appends do not rewrite the snapshot (${rewrites} of 120)`);
    assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), run);
    run = await appendAll(store, run, [{ type: "run.paused", v: 1, at: tick(), reason: null }]);
    assert.deepEqual(await store.load(run.threadId), { snapshot: run, events: [] });
  }, 1000);

  test("listRuns() pages without duplicates or gaps while runs are updated", async (store) => {
    const runs = new Map<string, RunSnapshot>();
    for (let i = 0; i < 30; i++) {
      const id = `page-${String(i).padStart(2, "0")}`;
      runs.set(id, await startRun(store, id));
    }
    const seen: string[] = [];
    const touched = new Set<string>();
    let cursor: string | null = null;
    let page = 0;
    do {
      const result = await store.listRuns({ limit: 7, cursor });
      seen.push(...result.items.map((item) => item.threadId));
      cursor = result.nextCursor;
      // Between pages, update one run already listed and one not yet listed.
      for (const id of [seen[0]!, `page-${String(page * 3).padStart(2, "0")}`]) {
        if (touched.has(id)) continue;
        const run = runs.get(id)!;
        runs.set(id, await appendAll(store, run, [stepEvent(run, { touched: true })]));
        touched.add(id);
      }
      page++;
    } while (cursor !== null);
    assert.equal(new Set(seen).size, seen.length, "no run is listed twice");
    for (const id of runs.keys()) {
      if (!touched.has(id)) {
        assert.ok(seen.includes(id), `${id} was not updated and must be listed`);
      }
    }
    const fresh = await allRuns(store, { limit: 4 });
    assert.equal(fresh.length, 30);
    for (let i = 1; i < fresh.length; i++) {
      const [a, b] = [fresh[i - 1]!, fresh[i]!];
      assert.ok(
        a.updatedAt > b.updatedAt || (a.updatedAt === b.updatedAt && a.threadId > b.threadId),
      );
    }
    assert.deepEqual(fresh[0], {
      threadId: fresh[0]!.threadId,
      status: "running",
      graph: "conformance",
      version: runs.get(fresh[0]!.threadId)!.version,
      createdAt: runs.get(fresh[0]!.threadId)!.createdAt,
      updatedAt: runs.get(fresh[0]!.threadId)!.updatedAt,
    });
  });

  test("listRuns() filters by status and follows status changes", async (store) => {
    const a = await startRun(store, "status-a");
    await startRun(store, "status-b");
    await store.createRun(createdEvent("status-c"));
    await appendAll(store, a, [{ type: "run.cancelled", v: 1, at: tick(), reason: "test" }]);
    const ids = async (status: RunSummary["status"]) =>
      (await allRuns(store, { status, limit: 1 })).map((item) => item.threadId);
    assert.deepEqual(await ids("cancelled"), ["status-a"]);
    assert.deepEqual(await ids("running"), ["status-b"]);
    assert.deepEqual(await ids("queued"), ["status-c"]);
    assert.deepEqual(await ids("completed"), []);
  });

  test("checkpoints list newest first, page by cursor and resolve by id", async (store) => {
    let run = await startRun(store, "cp-1", { n: 0 });
    let other = await startRun(store, "cp-2", { n: 0 });
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const event = stepEvent(run, { n: i });
      ids.push(event.checkpointId);
      run = await appendAll(store, run, [event]);
      other = await appendAll(store, other, [stepEvent(other, { n: i })]);
    }
    const listed: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await store.listCheckpoints(run.threadId, { limit: 2, cursor });
      listed.push(...page.items.map((item) => item.checkpointId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(listed, [...ids].reverse());
    const third = await store.getCheckpoint(run.threadId, ids[2] as CheckpointId);
    assert.deepEqual(third, {
      threadId: run.threadId,
      checkpointId: ids[2],
      parentCheckpointId: ids[1],
      step: 3,
      version: 5,
      createdAt: third!.createdAt,
    });
    assert.equal(await store.getCheckpoint(run.threadId, "cp_missing" as CheckpointId), null);
    assert.equal(await store.getCheckpoint(other.threadId, ids[0] as CheckpointId), null);
    const state = foldAll(null, await store.readEvents(run.threadId, 1, { limit: third!.version }));
    assert.deepEqual(state!.state, { n: 3 });
  });

  test("unicode, deep and empty JSON round-trip", async (store) => {
    let deep: Json = "bottom";
    for (let i = 0; i < 300; i++) deep = i % 2 === 0 ? { [`level${i}`]: deep } : [deep];
    const state: JsonObject = {
      "emoji 🚀": "héllo wörld ✓ 你好 مرحبا 🎉",
      nul: "a\u0000b",
      surrogate: "\ud83d",
      "dotted.key:with/slash": ["", '\n\t"\\'],
      empty: {},
      emptyList: [],
      emptyString: "",
      numbers: [0, -0.5, 1e300, -1e-300, Number.MAX_SAFE_INTEGER],
      flags: [true, false, null],
      deep,
    };
    let run = await startRun(store, "json-1", {});
    run = await appendAll(store, run, [stepEvent(run, state)]);
    run = await appendAll(store, run, [stepEvent(run, {})]);
    run = await appendAll(store, run, [stepEvent(run, state)]);
    assert.deepEqual(await current(store, "json-1"), run);
    assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), run);
    const { run: created } = await store.createRun(
      createdEvent("json-2", { "ключ": "значение" }, state),
    );
    assert.deepEqual((await current(store, "json-2"))!.state, state);
    assert.equal(created.version, 1);
  });

  test("values that are not JSON are refused before anything is written", async (store) => {
    const run = await startRun(store, "notjson-1", { ok: true });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const bad: [string, unknown][] = [
      ["a function", () => 1],
      ["undefined in an array", [1, undefined]],
      ["a BigInt", 10n],
      ["a cycle", cycle],
      ["NaN", NaN],
      ["Infinity", Infinity],
      ["a Date", new Date(0)],
      ["a Map", new Map()],
      ["a symbol", Symbol("s")],
    ];
    for (const [what, value] of bad) {
      const event = {
        ...stepEvent(run, {}),
        tasks: [{ taskId: "x", node: "a", update: value }],
      } as RunEvent;
      await assert.rejects(
        () => store.append(run.threadId, run.version, [event], fold(run, event)),
        (error) => error instanceof InvalidArgumentError && error.code === "invalid_argument",
        `${what} must be refused`,
      );
      await assert.rejects(
        () =>
          store.createRun(
            {
              ...createdEvent(`notjson-${what.replaceAll(" ", "-")}`),
              input: value,
            } as RunCreatedEvent,
          ),
        InvalidArgumentError,
      );
      await assert.rejects(
        () =>
          store.recordEffect({
            threadId: run.threadId,
            step: 1,
            node: "a",
            index: 0,
            name: what,
            result: { ok: true, value: value as Json },
            recordedAt: tick(),
          }),
        InvalidArgumentError,
      );
    }
    assert.deepEqual(await current(store, "notjson-1"), run);
    assert.equal((await store.readEvents(run.threadId, 1)).length, run.version);
    assert.deepEqual((await store.listRuns({ limit: 100 })).items.map((item) => item.threadId), [
      "notjson-1",
    ]);
    assert.equal(
      await store.getEffect({ threadId: run.threadId, step: 1, node: "a", index: 0 }),
      null,
    );
  });

  test("append() refuses malformed arguments", async (store) => {
    const run = await startRun(store, "args-1");
    const event = started();
    const next = fold(run, event);
    await assert.rejects(
      () => store.append("bad id" as ThreadId, 2, [event], next),
      InvalidArgumentError,
    );
    await assert.rejects(
      () => store.append(run.threadId, run.version, [], run),
      InvalidArgumentError,
    );
    await assert.rejects(
      () => store.append(run.threadId, run.version, [event], { ...next, version: 99 }),
      InvalidArgumentError,
    );
    await assert.rejects(() => store.append(run.threadId, -1, [event], next), InvalidArgumentError);
    await assert.rejects(() => store.listRuns({ limit: 0 }), InvalidArgumentError);
    await assert.rejects(() => store.listRuns({ limit: 100_000 }), InvalidArgumentError);
    await assert.rejects(() => store.listRuns({ cursor: "not a cursor" }), InvalidArgumentError);
    await assert.rejects(
      () => store.listCheckpoints(run.threadId, { cursor: "W10" }),
      InvalidArgumentError,
    );
    assert.deepEqual(await current(store, "args-1"), run);
  });

  test("the effect journal records once and reads by (thread, step, node, index)", async (store) => {
    const threadId = "fx-1" as ThreadId;
    const record = (step: number, node: string, index: number, value: Json): EffectRecord => ({
      threadId,
      step,
      node,
      index,
      name: "llm",
      result: { ok: true, value },
      recordedAt: tick(),
    });
    const first = record(1, "agent", 0, { text: "hello" });
    assert.deepEqual(await store.recordEffect(first), first);
    assert.deepEqual(await store.recordEffect(record(1, "agent", 0, { text: "other" })), first);
    const racing = await Promise.all(
      Array.from({ length: 6 }, (_, i) => store.recordEffect(record(1, "tool", 0, i))),
    );
    assert.equal(new Set(racing.map((item) => JSON.stringify(item))).size, 1);
    const failed: EffectRecord = {
      ...record(1, "agent", 1, null),
      result: {
        ok: false,
        error: { name: "TimeoutError", message: "slow", code: "timeout", details: { ms: 5 } },
      },
    };
    await store.recordEffect(failed);
    await store.recordEffect(record(2, "agent", 0, "step two"));
    assert.deepEqual(await store.getEffect({ threadId, step: 1, node: "agent", index: 1 }), failed);
    assert.equal(await store.getEffect({ threadId, step: 3, node: "agent", index: 0 }), null);
    const stepOne = await store.listEffects(threadId, 1);
    assert.deepEqual(stepOne.map((item) => [item.node, item.index]), [["agent", 0], ["agent", 1], [
      "tool",
      0,
    ]]);
    assert.equal((await store.listEffects(threadId)).length, 4);
    assert.deepEqual(await store.listEffects("fx-none" as ThreadId), []);
  });

  test("reads of unknown runs are empty and ping() answers", async (store) => {
    const ghost = "nobody" as ThreadId;
    assert.equal(await store.load(ghost), null);
    assert.deepEqual(await store.readEvents(ghost, 1), []);
    assert.deepEqual(await store.listCheckpoints(ghost), { items: [], nextCursor: null });
    assert.deepEqual(await store.listRuns(), { items: [], nextCursor: null });
    await store.ping();
  });
}
