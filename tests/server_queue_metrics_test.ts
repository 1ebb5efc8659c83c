/**
 * `/metrics` reports the store's queue, read at scrape time: how many runs
 * are `queued` (submitted, not started by any runtime) and how long the
 * oldest has waited. Runs of a graph that no runtime serves yet stay queued
 * (a runtime claims only runs of graphs it can execute); once a runtime
 * serves the graph and recovers them, they start and the queue empties.
 */

import assert from "node:assert/strict";
import { END, START, StateGraph, type ThreadId } from "../mod.ts";
import { defineState } from "../mod.ts";
import { type Harness, serverTest } from "./_server.ts";

const LaterState = defineState({ n: { default: () => 0 } });

/** A run of graph `later` as a submitter stores it, created `ageMs` ago. */
async function submitLater(h: Harness, threadId: string, ageMs: number): Promise<void> {
  const input = { n: 0 };
  await h.store.createRun({
    type: "run.created",
    v: 1,
    at: Date.now() - ageMs,
    threadId: threadId as ThreadId,
    graph: "later",
    input,
    payloadHash: `test:${threadId}`,
    state: input,
    next: [{ id: "1:work", node: "work" }],
  });
}

async function queueSeries(h: Harness): Promise<{ depth: number; age: number }> {
  const response = await h.server.app.request("/metrics");
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.match(text, /^# TYPE oris_queued_runs gauge$/m);
  assert.match(text, /^# TYPE oris_queued_run_oldest_age_ms gauge$/m);
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)![1]);
  return { depth: value("oris_queued_runs"), age: value("oris_queued_run_oldest_age_ms") };
}

serverTest(
  "/metrics reports the queued runs and the age of the oldest, read from the store",
  async (h) => {
    assert.deepEqual(await queueSeries(h), { depth: 0, age: 0 });

    await submitLater(h, "q-old", 60_000);
    await submitLater(h, "q-new", 1_000);
    const queued = await queueSeries(h);
    assert.equal(queued.depth, 2);
    assert.ok(queued.age >= 60_000 && queued.age < 600_000, `oldest age ${queued.age}`);
    const listed = await h.request("GET", "/v1/jobs?status=queued");
    assert.deepEqual(listed.body.data.jobs.map((job: { thread_id: string }) => job.thread_id), [
      "q-new",
      "q-old",
    ]);

    // A runtime that serves the graph takes the queue.
    new StateGraph(LaterState)
      .addNode("work", (state) => ({ n: state.n + 1 }))
      .addEdge(START, "work")
      .addEdge("work", END)
      .compile({ name: "later", runtime: h.runtime });
    const { recovered } = await h.runtime.recover();
    assert.deepEqual(recovered.sort(), ["q-new", "q-old"]);
    for (const threadId of recovered) {
      assert.equal((await h.runtime.wait(threadId)).status, "completed");
    }
    assert.deepEqual(await queueSeries(h), { depth: 0, age: 0 });
  },
);
