/**
 * The Store conformance tests of listings: `listRuns()` (paging while runs
 * change, filtering by status) and a run's checkpoints.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type CheckpointId, foldAll, type RunSnapshot, type RunSummary } from "../../kernel/mod.ts";
import {
  allRuns,
  appendAll,
  type ConformanceTest,
  createdEvent,
  started,
  startRun,
  stepEvent,
  tick,
} from "./_store_fixtures.ts";

/**
 * Adds the listings' tests, in order.
 *
 * @param test Registers one test against a fresh store.
 */
export function registerListingTests(test: ConformanceTest): void {
  test("listRuns() lists each run exactly once, newest first, while runs change between pages", async (store) => {
    const runs = new Map<string, RunSnapshot>();
    for (let i = 0; i < 30; i++) {
      const id = `page-${String(i).padStart(2, "0")}`;
      runs.set(id, await startRun(store, id));
    }
    const before = new Set(runs.keys());
    const seen: RunSummary[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const result = await store.listRuns({ limit: 7, cursor });
      seen.push(...result.items);
      cursor = result.nextCursor;
      // Between pages: update a run already listed, update one not listed yet,
      // end one not listed yet (its status changes), and create a new run.
      const listed = seen[page]!.threadId;
      const ahead = `page-${String(29 - 7 * page - 8).padStart(2, "0")}`;
      const ending = `page-${String(29 - 7 * page - 9).padStart(2, "0")}`;
      for (const id of [listed, ahead]) {
        if (!runs.has(id)) continue;
        const run = runs.get(id)!;
        runs.set(id, await appendAll(store, run, [stepEvent(run, { touched: page })]));
      }
      if (runs.has(ending) && runs.get(ending)!.status === "running") {
        const run = runs.get(ending)!;
        runs.set(
          ending,
          await appendAll(store, run, [{ type: "run.cancelled", v: 1, at: tick(), reason: null }]),
        );
      }
      runs.set(`new-${page}`, await startRun(store, `new-${page}`));
      page++;
    } while (cursor !== null);
    const ids = seen.map((item) => item.threadId);
    assert.equal(new Set(ids).size, ids.length, "no run is listed twice");
    assert.deepEqual(
      ids.filter((id) => before.has(id)),
      [...before].reverse(),
      "every run there before paging began is listed once, newest first",
    );
    assert.ok(page >= 5, "runs changed between at least four pages");
    // Runs created while paging list after none of the older ones (they are newer).
    const fresh = await allRuns(store, { limit: 4 });
    assert.equal(fresh.length, runs.size);
    for (let i = 1; i < fresh.length; i++) {
      const [a, b] = [fresh[i - 1]!, fresh[i]!];
      assert.ok(
        a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.threadId > b.threadId),
      );
    }
    const changed = fresh.find((item) => item.threadId === "page-20")!;
    const run = runs.get("page-20")!;
    assert.deepEqual(changed, {
      threadId: "page-20",
      status: run.status,
      graph: "conformance",
      version: run.version,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      tenantId: null,
      priority: 0,
    });
    assert.ok(changed.updatedAt > changed.createdAt);
  });

  test("listRuns() by status lists each run that keeps its status once while others change", async (store) => {
    const runs: RunSnapshot[] = [];
    for (let i = 0; i < 12; i++) {
      runs.push(await startRun(store, `st-${String(i).padStart(2, "0")}`));
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const result = await store.listRuns({ status: "running", limit: 3, cursor });
      seen.push(...result.items.map((item) => item.threadId));
      cursor = result.nextCursor;
      // Between pages: one run not listed yet ends (leaves the filter), one listed and
      // one not listed are updated.
      const [ending, ahead, listed] = [runs[8 - 3 * page], runs[7 - 3 * page], runs[11 - page]];
      if (ending !== undefined && ending.status === "running") {
        runs[8 - 3 * page] = await appendAll(store, ending, [{
          type: "run.cancelled",
          v: 1,
          at: tick(),
          reason: null,
        }]);
      }
      for (const [index, run] of [[7 - 3 * page, ahead], [11 - page, listed]] as const) {
        if (run !== undefined && run.status === "running") {
          runs[index] = await appendAll(store, run, [stepEvent(run, { page })]);
        }
      }
      page++;
    } while (cursor !== null);
    assert.equal(new Set(seen).size, seen.length, "no run is listed twice");
    const kept: string[] = runs.filter((run) => run.status === "running").map((run) =>
      run.threadId
    );
    assert.deepEqual(seen.filter((id) => kept.includes(id)), [...kept].reverse());
    assert.ok(runs.some((run) => run.status === "cancelled"));
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

  test("listRuns() filters by graph (with or without a status), pages it by cursor and lists tenant and priority", async (store) => {
    const runs = new Map<string, RunSnapshot>();
    for (let i = 0; i < 14; i++) {
      const id = `graph-${String(i).padStart(2, "0")}`;
      const event = {
        ...createdEvent(id, { id }),
        graph: i % 3 === 0 ? "triage" : "conformance",
        ...(i % 2 === 0 ? { metadata: { tenant_id: `t${i}`, priority: i } } : {}),
      };
      const { run } = await store.createRun(event);
      runs.set(id, await appendAll(store, run, [started()]));
    }
    const triage = [...runs.keys()].filter((_, i) => i % 3 === 0).reverse();
    const paged = await allRuns(store, { graph: "triage", limit: 2 });
    assert.deepEqual(paged.map((item) => item.threadId), triage);
    assert.ok(paged.every((item) => item.graph === "triage"));
    // A run changes between pages: the filtered paging still lists each run once.
    const first = await store.listRuns({ graph: "triage", limit: 2 });
    const moved = runs.get(triage[2]!)!;
    await appendAll(store, moved, [{ type: "run.cancelled", v: 1, at: tick(), reason: null }]);
    const rest = await allRuns(store, { graph: "triage", limit: 2, cursor: first.nextCursor });
    assert.deepEqual([...first.items, ...rest].map((item) => item.threadId), triage);
    // With a status too.
    const running = await allRuns(store, { graph: "triage", status: "running", limit: 1 });
    assert.deepEqual(
      running.map((item) => item.threadId),
      triage.filter((id) => id !== triage[2]),
    );
    const cancelled = await allRuns(store, { graph: "triage", status: "cancelled", limit: 1 });
    assert.deepEqual(cancelled.map((item) => item.threadId), [triage[2]]);
    assert.deepEqual(await allRuns(store, { graph: "nothing", limit: 5 }), []);
    // Each line carries its creation's tenant and priority, after later appends too.
    const lines = new Map(
      (await allRuns(store, { limit: 50 })).map((item) => [item.threadId as string, item]),
    );
    const line = (id: string) => {
      const item = lines.get(id)!;
      return { tenantId: item.tenantId, priority: item.priority };
    };
    assert.deepEqual(line("graph-00"), { tenantId: "t0", priority: 0 });
    assert.deepEqual(line("graph-01"), { tenantId: null, priority: 0 });
    assert.deepEqual(line("graph-06"), { tenantId: "t6", priority: 6 });
    assert.equal(lines.get("graph-06")!.status, "cancelled");
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
}
