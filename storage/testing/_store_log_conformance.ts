/**
 * The Store conformance tests of the event log: `createRun()` and its
 * idempotency, `append()` and its optimistic concurrency, and `load()` with
 * the snapshots a store keeps.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  currentSnapshot,
  diffJson,
  fold,
  foldAll,
  IdempotencyConflictError,
  type Json,
  type RunEvent,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import {
  appendAll,
  type ConformanceTest,
  createdEvent,
  current,
  nextCheckpointId,
  started,
  startRun,
  stepEvent,
  tick,
} from "./_store_fixtures.ts";

/**
 * Adds the event log's tests, in order.
 *
 * @param test Registers one test against a fresh store.
 */
export function registerLogTests(test: ConformanceTest): void {
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
        checkpointId: nextCheckpointId(),
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
}
