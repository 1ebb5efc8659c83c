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
}
