/**
 * Conformance of durable timers: every store keeps with a run its wake-up
 * time (`wakeAtOf`: a total deadline while the run has not ended) and
 * `claimRuns()` takes a run at rest whose time is due, exactly as it takes a
 * run with mail waiting; a run whose time is not due, that bounds only its
 * execution, or that has ended, is not taken.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  fold,
  type RunDeadline,
  type RunEvent,
  type RunSnapshot,
  type Store,
  type ThreadId,
} from "../../kernel/mod.ts";
import { appendAll, type ConformanceTest, createdEvent, started, tick } from "./_store_fixtures.ts";

const TTL = 60_000;
const GRAPHS = ["conformance"];
/** Far past any clock the stores use: a deadline that is never due in a test. */
const NEVER_MS = 10 ** 13;

/** Creates a run with a deadline, starts it and pauses it (a run at rest). */
async function resting(
  store: Store,
  threadId: string,
  deadline: RunDeadline,
): Promise<RunSnapshot> {
  const { run } = await store.createRun({ ...createdEvent(threadId), deadline });
  return await appendAll(store, run, [started(), paused()]);
}

function paused(): RunEvent {
  return { type: "run.paused", v: 1, at: tick(), reason: null };
}

/**
 * Registers the timer tests.
 *
 * @param test Registers one test with a fresh store.
 */
export function registerTimerTests(test: ConformanceTest): void {
  test("claimRuns() takes a run at rest whose total deadline is due, not one that is not due, bounds only its execution, or ended", async (store) => {
    await resting(store, "timer-due", { ms: 1, status: "failed", scope: "total" });
    await resting(store, "timer-later", { ms: NEVER_MS, status: "failed", scope: "total" });
    await resting(store, "timer-execution", { ms: 1, status: "failed", scope: "execution" });
    const ended = await resting(store, "timer-ended", { ms: 1, status: "failed", scope: "total" });
    await appendAll(store, ended, [{ type: "run.cancelled", v: 1, at: tick(), reason: null }]);
    const request = { owner: "a", ttlMs: TTL, graphs: GRAPHS, limit: 10 };
    const claims = await store.claimRuns(request);
    assert.deepEqual(claims.map((claim) => [claim.threadId, claim.mail]), [["timer-due", false]]);
    // Held: no one else takes it; released while still due: it is taken again.
    assert.deepEqual(await store.claimRuns({ ...request, owner: "b" }), []);
    assert.equal(await store.releaseLease("a", claims[0]!), "released");
    const again = await store.claimRuns({ ...request, owner: "b" });
    assert.deepEqual(again.map((claim) => claim.threadId), ["timer-due"]);
    assert.ok(again[0]!.token > claims[0]!.token);
  });

  test("a run's wake-up time goes with its deadline: the append that ends it clears it", async (store) => {
    const run = await resting(store, "timer-fired", { ms: 1, status: "cancelled", scope: "total" });
    const lease = (await store.acquireLease(run.threadId, { owner: "a", ttlMs: TTL }))!;
    const timedOut: RunEvent = {
      type: "run.cancelled",
      v: 1,
      at: tick(),
      reason: "deadline",
    };
    await store.append(run.threadId, run.version, [timedOut], fold(run, timedOut), {
      fence: lease.token,
    });
    assert.equal(await store.releaseLease("a", lease), "released");
    assert.deepEqual(
      await store.claimRuns({ owner: "b", ttlMs: TTL, graphs: GRAPHS, limit: 10 }),
      [],
    );
    assert.equal(await store.getLease("timer-fired" as ThreadId), null);
  });
}
