/**
 * Time travel and control over HTTP, on memory, Deno KV and PostgreSQL:
 * `POST /v1/jobs/:thread_id/fork` starts a new run from a checkpoint (the
 * latest by default), `POST /v1/jobs/:thread_id/state` updates a run's state
 * (a new checkpoint; with `as_node` an interrupted run becomes paused),
 * `POST /v1/jobs/:thread_id/pause` pauses a running run between two steps
 * and `POST /v1/jobs/:thread_id/resume` with an empty body continues it, and
 * `POST /v1/jobs/:thread_id/replay` with `mode: "rerun"` re-executes a run
 * as a new run with its effects served from the journal (once per
 * checkpoint). Each is audited; bad input writes nothing.
 */

import assert from "node:assert/strict";
import { defineState, END, type Runtime, START, StateGraph } from "../mod.ts";
import { assertError, assertOk, type Body, deferred, type Harness, serverTest } from "./_server.ts";

const Log = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
  charged: { default: () => 0 },
});

async function approvalToInterrupt(h: Harness, threadId: string): Promise<Body> {
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: threadId, graph: "approval", input: { request: "deploy v2" } },
    }),
  );
  assert.equal(data.status, "interrupted");
  return data;
}

async function auditActions(h: Harness, threadId: string): Promise<string[]> {
  const logs = assertOk(await h.request("GET", `/v1/audit/logs?limit=200`)).logs as Body[];
  return logs.filter((entry) => entry.resource_id === threadId).map((entry) => entry.action)
    .reverse();
}

serverTest("POST /v1/jobs/:thread_id/fork starts a new run from a checkpoint", async (h) => {
  const source = await approvalToInterrupt(h, "tt-fork");
  const history = assertOk(await h.request("GET", "/v1/jobs/tt-fork/history")).history as Body[];
  const first = history.at(-1)!; // after `prepare`
  // Default: from the latest checkpoint; a new id derived from the source's.
  const latest = assertOk(await h.request("POST", "/v1/jobs/tt-fork/fork", { body: {} }));
  assert.match(latest.thread_id, /^tt-fork-fork-/);
  assert.equal(latest.status, "interrupted");
  assert.deepEqual(latest.values, source.values);
  // From a named checkpoint, under a given id; the same fork again is the same run.
  const named = assertOk(
    await h.request("POST", "/v1/jobs/tt-fork/fork", {
      body: { checkpoint_id: first.checkpoint_id, thread_id: "tt-fork-b" },
    }),
  );
  assert.equal(named.thread_id, "tt-fork-b");
  assert.equal(named.status, "interrupted");
  const again = assertOk(
    await h.request("POST", "/v1/jobs/tt-fork/fork", {
      body: { checkpoint_id: first.checkpoint_id, thread_id: "tt-fork-b" },
    }),
  );
  assert.equal(again.checkpoint_id, named.checkpoint_id);
  // The source is untouched.
  const detail = assertOk(await h.request("GET", "/v1/jobs/tt-fork"));
  assert.equal(detail.checkpoint_id, source.checkpoint_id);
  // A wait of 0 answers with the new run as it is, never a 404 for a fork not made yet.
  const quick = assertOk(
    await h.request("POST", "/v1/jobs/tt-fork/fork", {
      body: { thread_id: "tt-fork-quick", wait_ms: 0 },
    }),
  );
  assert.equal(quick.thread_id, "tt-fork-quick");
  await h.runtime.wait("tt-fork-quick");
  // Errors write nothing.
  const runs = await h.allRuns();
  assertError(await h.request("POST", "/v1/jobs/ghost/fork", { body: {} }), 404, "not_found");
  assertError(
    await h.request("POST", "/v1/jobs/tt-fork/fork", {
      body: { checkpoint_id: "cp_00000000000000000000000000" },
    }),
    404,
    "not_found",
  );
  assertError(
    await h.request("POST", "/v1/jobs/tt-fork/fork", { body: { thread_id: "run" } }),
    400,
    "invalid_argument",
  );
  // Another run under that id is a conflict.
  assertError(
    await h.request("POST", "/v1/jobs/tt-fork/fork", { body: { thread_id: "tt-fork" } }),
    409,
    "conflict",
  );
  assert.deepEqual(await h.allRuns(), runs);
  assert.deepEqual(await auditActions(h, "tt-fork"), [
    "job.run",
    "job.fork",
    "job.fork",
    "job.fork",
    "job.fork",
    "job.fork",
    "job.fork",
    "job.fork",
  ]);
});

serverTest(
  "POST /v1/jobs/:thread_id/state updates the state; with as_node the run pauses and resume {} continues it",
  async (h) => {
    const source = await approvalToInterrupt(h, "tt-state");
    const log = await h.events("tt-state");
    // A stale checkpoint, an unknown node, a body that is not an update: nothing is written.
    assertError(
      await h.request("POST", "/v1/jobs/tt-state/state", {
        body: { values: { approved: true }, checkpoint_id: "cp_00000000000000000000000000" },
      }),
      409,
      "conflict",
    );
    assertError(
      await h.request("POST", "/v1/jobs/tt-state/state", {
        body: { values: { approved: true }, as_node: "ghost" },
      }),
      400,
      "invalid_argument",
    );
    assertError(
      await h.request("POST", "/v1/jobs/tt-state/state", { body: { values: 5 } }),
      400,
      "invalid_argument",
    );
    assertError(
      await h.request("POST", "/v1/jobs/tt-state/resume", { body: {} }),
      400,
      "invalid_argument",
    );
    assert.deepEqual(await h.events("tt-state"), log);

    const updated = assertOk(
      await h.request("POST", "/v1/jobs/tt-state/state", {
        body: {
          values: { approved: false },
          as_node: "approve",
          checkpoint_id: source.checkpoint_id,
        },
      }),
    );
    assert.equal(updated.status, "paused");
    assert.notEqual(updated.checkpoint_id, source.checkpoint_id);
    assert.equal(updated.values.approved, false);
    assert.deepEqual(updated.next, ["record_rejection"]);

    const resumed = assertOk(await h.request("POST", "/v1/jobs/tt-state/resume", { body: {} }));
    assert.equal(resumed.status, "completed");
    assert.deepEqual(resumed.values.result, { rejected: true });
    assert.deepEqual(await auditActions(h, "tt-state"), [
      "job.run",
      "job.state",
      "job.state",
      "job.state",
      "job.resume",
      "job.state",
      "job.resume",
    ]);
  },
);

/** A graph `one` -> `two` -> `three` whose `one` waits for the test. */
function pausable(runtime: Runtime) {
  const entered = deferred();
  const release = deferred();
  const ran: string[] = [];
  new StateGraph(Log)
    .addNode("one", async () => {
      ran.push("one");
      entered.resolve();
      await release.promise;
      return { log: ["one"] };
    })
    .addNode("two", () => (ran.push("two"), { log: ["two"] }))
    .addNode("three", () => (ran.push("three"), { log: ["three"] }))
    .addEdge(START, "one")
    .addEdge("one", "two")
    .addEdge("two", "three")
    .addEdge("three", END)
    .compile({ name: "pausable", runtime });
  return { entered: entered.promise, release: () => release.resolve(), ran };
}

serverTest(
  "POST /v1/jobs/:thread_id/pause pauses a running run between two steps; resume {} continues it",
  async (h) => {
    const gate = pausable(h.runtime);
    assertOk(
      await h.request("POST", "/v1/jobs/run?wait=false", {
        body: { thread_id: "tt-pause", graph: "pausable" },
      }),
    );
    await gate.entered;
    // Know when the pause is on its way to the run's mailbox (behind the step in progress).
    const runtime = h.runtime;
    const sent = deferred();
    const pause = runtime.pause;
    runtime.pause = (threadId, reason) => {
      const result = pause(threadId, reason);
      sent.resolve();
      return result;
    };
    const pausing = h.request("POST", "/v1/jobs/tt-pause/pause", {
      body: { reason: "maintenance" },
    });
    await sent.promise;
    // The run is in memory: the message is queued after this turn's promise jobs.
    await new Promise((resolve) => setTimeout(resolve, 0));
    gate.release();
    const paused = assertOk(await pausing);
    runtime.pause = pause;
    assert.equal(paused.status, "paused");
    assert.equal(paused.reason, "maintenance");
    assert.deepEqual(gate.ran, ["one"]);
    const job = assertOk(await h.request("GET", "/v1/jobs/tt-pause"));
    assert.equal(job.status, "paused");
    assert.deepEqual(job.next, ["two"]);
    // A paused run takes no answer; an empty body continues it.
    assertError(
      await h.request("POST", "/v1/jobs/tt-pause/resume", { body: { value: 1 } }),
      409,
      "conflict",
    );
    const done = assertOk(await h.request("POST", "/v1/jobs/tt-pause/resume", { body: {} }));
    assert.equal(done.status, "completed");
    assert.deepEqual(done.values.log, ["one", "two", "three"]);
    // A finished run cannot be paused.
    assertError(await h.request("POST", "/v1/jobs/tt-pause/pause", { body: {} }), 409, "conflict");
    assertError(await h.request("POST", "/v1/jobs/ghost/pause", { body: {} }), 404, "not_found");
    assert.deepEqual(await auditActions(h, "tt-pause"), [
      "job.run",
      "job.pause",
      "job.resume",
      "job.resume",
      "job.pause",
    ]);
  },
);

serverTest(
  "POST /v1/jobs/:thread_id/replay mode rerun re-executes as a new run, effects from the journal",
  async (h) => {
    let charges = 0;
    new StateGraph(Log)
      .addNode("plan", () => ({ log: ["plan"] }))
      .addNode("charge", async (_state, ctx) => {
        const charged = await ctx.effect("charge", () => ++charges);
        return { log: ["charge"], charged };
      })
      .addEdge(START, "plan")
      .addEdge("plan", "charge")
      .addEdge("charge", END)
      .compile({ name: "charging", runtime: h.runtime });
    const first = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "tt-rerun", graph: "charging" },
      }),
    );
    assert.equal(first.status, "completed");
    assert.equal(charges, 1);

    const rerun = assertOk(
      await h.request("POST", "/v1/jobs/tt-rerun/replay", { body: { mode: "rerun" } }),
    );
    assert.equal(rerun.mode, "rerun");
    assert.equal(rerun.thread_id, "tt-rerun");
    assert.equal(rerun.from_checkpoint_id, null);
    assert.equal(rerun.run.thread_id, "tt-rerun-rerun-input");
    assert.equal(rerun.run.status, "completed");
    assert.deepEqual(rerun.run.values, first.values);
    assert.equal(charges, 1, "the effect was served from the journal");
    // From a checkpoint (after `plan`); once per checkpoint.
    const history = assertOk(await h.request("GET", "/v1/jobs/tt-rerun/history")).history as Body[];
    const afterPlan = history.at(-1)!.checkpoint_id;
    const from = assertOk(
      await h.request("POST", "/v1/jobs/tt-rerun/replay", {
        body: { mode: "rerun", checkpoint_id: afterPlan },
      }),
    );
    assert.equal(from.run.thread_id, `tt-rerun-rerun-${afterPlan}`);
    assert.deepEqual(from.run.values, first.values);
    const again = assertOk(
      await h.request("POST", "/v1/jobs/tt-rerun/replay", {
        body: { mode: "rerun", checkpoint_id: afterPlan },
      }),
    );
    assert.equal(again.run.checkpoint_id, from.run.checkpoint_id);
    assert.equal(charges, 1);
    // verify keeps its meaning, and says so.
    const verified = assertOk(
      await h.request("POST", "/v1/jobs/tt-rerun/replay", { body: { mode: "verify" } }),
    );
    assert.equal(verified.mode, "verify");
    assert.equal(verified.ok, true);
    const runs = await h.allRuns();
    assertError(
      await h.request("POST", "/v1/jobs/tt-rerun/replay", { body: { mode: "again" } }),
      400,
      "invalid_argument",
    );
    assertError(
      await h.request("POST", "/v1/jobs/ghost/replay", { body: { mode: "rerun" } }),
      404,
      "not_found",
    );
    assert.deepEqual(await h.allRuns(), runs);
  },
);

serverTest(
  "time travel and control are open to operators, and audited with the operator's key id",
  async (h) => {
    const operator = { "x-api-key-id": "ops-1", "x-api-key": "ops-Secret-1" };
    const run = await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "tt-ops", graph: "approval", input: { request: "x" } },
      headers: operator,
    });
    assert.equal(assertOk(run).status, "interrupted");
    const fork = assertOk(
      await h.request("POST", "/v1/jobs/tt-ops/fork", { body: {}, headers: operator }),
    );
    assert.equal(fork.status, "interrupted");
    const state = assertOk(
      await h.request("POST", "/v1/jobs/tt-ops/state", {
        body: { values: { approved: true }, as_node: "approve" },
        headers: operator,
      }),
    );
    assert.equal(state.status, "paused");
    assertError(
      await h.request("POST", "/v1/jobs/tt-ops/pause", { body: {}, headers: operator }),
      409,
      "conflict",
    );
    assertOk(
      await h.request("POST", "/v1/jobs/tt-ops/replay", {
        body: { mode: "rerun" },
        headers: operator,
      }),
    );
    // Without credentials: 401, nothing done.
    assertError(
      await h.request("POST", "/v1/jobs/tt-ops/pause", { body: {} }),
      401,
      "unauthorized",
    );
    const logs = assertOk(
      await h.request("GET", "/v1/audit/logs?limit=50", { headers: operator }),
    ).logs as Body[];
    const mine = logs.filter((entry) =>
      entry.resource_id === "tt-ops" && entry.actor_id === "ops-1"
    )
      .map((entry) => `${entry.action}:${entry.result}`).reverse();
    assert.deepEqual(mine, [
      "job.run:success",
      "job.fork:success",
      "job.state:success",
      "job.pause:error",
      "job.replay:success",
    ]);
  },
  { auth: { apiKeyId: "ops-1", apiKey: "ops-Secret-1" } },
);
