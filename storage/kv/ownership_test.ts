import assert from "node:assert/strict";
import {
  type Claim,
  fold,
  type RunCreatedEvent,
  type RunEvent,
  type ThreadId,
} from "../../kernel/mod.ts";
import { KvStore } from "./mod.ts";

let clock = 1_700_000_000_000;

function created(threadId: string, priority: number): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: ++clock,
    threadId: threadId as ThreadId,
    graph: "kv",
    input: { threadId },
    payloadHash: `hash:${threadId}`,
    state: {},
    next: [{ id: "1:a", node: "a" }],
    metadata: { priority, tenant_id: "acme" },
  };
}

/** Claims every run of the test graph for a new owner, with the given tenant cap. */
function claimAll(store: KvStore, cap: { tenantMaxActive?: number } = {}): Promise<Claim[]> {
  return store.claimRuns({ owner: "next", ttlMs: 60_000, graphs: ["kv"], limit: 10, ...cap });
}

const start: RunEvent = { type: "run.started", v: 1, at: 1, attemptId: "at_1" as never };

Deno.test("KvStore: a store opened on a database with runs left queued or running claims them, with their priority", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-kv-own-" });
  const path = `${dir}/runs.kv`;
  try {
    {
      await using store = await KvStore.open({ path });
      const low = (await store.createRun(created("left-low", 1))).run;
      await store.append(low.threadId, low.version, [start], fold(low, start));
      await store.createRun(created("left-high", 5));
      const done = (await store.createRun(created("left-done", 9))).run;
      const cancelled: RunEvent = { type: "run.cancelled", v: 1, at: 2, reason: null };
      await store.append(done.threadId, done.version, [cancelled], fold(done, cancelled));
    }
    await using reopened = await KvStore.open({ path });
    const claims = await claimAll(reopened, { tenantMaxActive: 2 });
    assert.deepEqual(claims.map((claim) => claim.threadId), ["left-high", "left-low"]);
    assert.equal(
      await reopened.acquireLease("left-done" as ThreadId, { owner: "x", ttlMs: 1 })
        .then((claim) => claim?.owner),
      "x",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvStore: a store opened on a database with a run at rest past its total deadline claims it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-kv-own-" });
  const path = `${dir}/runs.kv`;
  const pause: RunEvent = { type: "run.paused", v: 1, at: 2, reason: null };
  try {
    {
      await using store = await KvStore.open({ path });
      for (const [threadId, ms] of [["rest-due", 1], ["rest-later", 10 ** 13]] as const) {
        const event = {
          ...created(threadId, 0),
          deadline: { ms, status: "failed", scope: "total" },
        };
        const run = (await store.createRun(event as RunCreatedEvent)).run;
        const running = fold(run, start);
        await store.append(run.threadId, run.version, [start], running);
        await store.append(run.threadId, running.version, [pause], fold(running, pause));
      }
    }
    await using reopened = await KvStore.open({ path });
    const claims = await claimAll(reopened);
    assert.deepEqual(claims.map((claim) => claim.threadId), ["rest-due"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
