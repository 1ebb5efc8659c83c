/**
 * `/v1/interrupts` over HTTP (`app.request()`, no network), on memory, Deno
 * KV and PostgreSQL.
 *
 * - list: newest first, filtered by status and run id, bounded by limit;
 * - get: one interrupt with its run's attempt id; an unknown id is a 404;
 * - resume: completes the approval run; the same value again is the
 *   identical response, another value or a non-pending interrupt a 409;
 * - reject: the run ends `cancelled` and the interrupt `rejected`; a later
 *   resume or a second reject is a 409;
 * - a thread that interrupts in a loop gets a distinct id each time.
 *
 * Records are timed with a strict clock (distinct, increasing times), so
 * "newest first" is decided without waiting.
 */

import assert from "node:assert/strict";
import { defineState, END, interrupt, type Json, START, StateGraph } from "../mod.ts";
import {
  assertError,
  assertOk,
  type Body,
  type Harness,
  serverTest,
  strictClock,
} from "./_server.ts";

// ---------------------------------------------------------------------------
// Helpers

const QUESTION = (request: string) => ({
  question: "Approve this action?",
  action: { kind: "execute", request },
});

/** Runs `approval` to its interrupt; returns the run response's data. */
async function approval(h: Harness, threadId: string, request = "deploy v2"): Promise<Body> {
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: threadId, graph: "approval", input: { request } },
    }),
  );
  assert.equal(data.status, "interrupted");
  assert.equal(data.pending_interrupts.length, 1);
  return data;
}

function list(h: Harness, query = ""): Promise<Body[]> {
  return h.request("GET", `/v1/interrupts${query}`).then((response) =>
    assertOk(response).interrupts
  );
}

const ROW_KEYS = [
  "created_at",
  "interrupt_id",
  "node",
  "resolved_at",
  "resume_value",
  "run_id",
  "status",
  "step",
  "thread_id",
  "value",
];

// ---------------------------------------------------------------------------
// List and get

serverTest(
  "GET /v1/interrupts lists newest first, filtered by status and run_id, bounded by limit",
  async (h) => {
    const ids: Record<string, string> = {};
    for (const name of ["i-1", "i-2", "i-3", "i-4"]) {
      ids[name] = (await approval(h, name, `request ${name}`)).pending_interrupts[0].interrupt_id;
    }
    assert.equal(new Set(Object.values(ids)).size, 4);
    assertOk(
      await h.request("POST", `/v1/interrupts/${ids["i-1"]}/resume`, { body: { value: true } }),
    );
    assertOk(await h.request("POST", `/v1/interrupts/${ids["i-2"]}/reject`, { body: {} }));
    assertOk(await h.request("POST", "/v1/jobs/i-4/cancel", { body: { reason: "stop" } }));

    const all = await list(h);
    assert.deepEqual(
      all.map((row: Body) => [row.thread_id, row.status]),
      [["i-4", "cancelled"], ["i-3", "pending"], ["i-2", "rejected"], ["i-1", "resumed"]],
      "newest first",
    );
    const created = all.map((row: Body) => Date.parse(row.created_at));
    assert.deepEqual(created, [...created].sort((a, b) => b - a));
    for (const row of all) {
      assert.deepEqual(Object.keys(row).sort(), ROW_KEYS);
      assert.equal(row.interrupt_id, ids[row.thread_id]);
      assert.equal(row.run_id, row.thread_id);
      assert.equal(row.node, "approve");
      assert.equal(row.step, 2);
      assert.deepEqual(row.value, QUESTION(`request ${row.thread_id}`));
    }
    const [cancelled, pending, rejected, resumed] = all;
    assert.equal(pending.resume_value, null);
    assert.equal(pending.resolved_at, null);
    assert.equal(resumed.resume_value, true);
    for (const row of [cancelled, rejected, resumed]) {
      assert.ok(Date.parse(row.resolved_at) >= Date.parse(row.created_at), JSON.stringify(row));
    }

    // Status filters.
    for (const [status, rows] of Object.entries({ pending, resumed, rejected, cancelled })) {
      assert.deepEqual(await list(h, `?status=${status}`), [rows], status);
    }
    // Run filter, alone and with a status.
    assert.deepEqual(await list(h, "?run_id=i-2"), [rejected]);
    assert.deepEqual(await list(h, "?run_id=i-3&status=pending"), [pending]);
    assert.deepEqual(await list(h, "?run_id=i-3&status=resumed"), []);
    assert.deepEqual(await list(h, "?run_id=nobody"), []);
    // Limit: the newest ones.
    assert.deepEqual(await list(h, "?limit=1"), [cancelled]);
    assert.deepEqual(await list(h, "?limit=3"), all.slice(0, 3));
    assert.deepEqual(await list(h, "?limit=200"), all);
    // Two more pending interrupts: still newest first.
    await approval(h, "i-5");
    await approval(h, "i-6");
    assert.deepEqual(
      (await list(h, "?status=pending")).map((row: Body) => row.thread_id),
      ["i-6", "i-5", "i-3"],
    );
    assert.deepEqual(
      (await list(h, "?status=pending&limit=2")).map((row: Body) => row.thread_id),
      ["i-6", "i-5"],
    );

    for (
      const query of [
        "?status=waiting",
        "?status=",
        "?limit=0",
        "?limit=201",
        "?limit=-1",
        "?limit=x",
        "?run_id=bad%20id",
        "?run_id=" + "x".repeat(129),
        "?thread_id=i-1",
      ]
    ) {
      assertError(await h.request("GET", `/v1/interrupts${query}`), 400, "invalid_argument");
    }
  },
  { now: strictClock() },
);

serverTest(
  "GET /v1/interrupts/:id is one interrupt with its attempt id; unknown is a 404",
  async (h) => {
    const data = await approval(h, "get-1");
    const id = data.pending_interrupts[0].interrupt_id;
    const row = assertOk(await h.request("GET", `/v1/interrupts/${id}`));
    assert.deepEqual(Object.keys(row).sort(), [...ROW_KEYS, "attempt_id"].sort());
    assert.equal(row.interrupt_id, id);
    assert.equal(row.thread_id, "get-1");
    assert.equal(row.run_id, "get-1");
    assert.equal(row.node, "approve");
    assert.equal(row.status, "pending");
    assert.deepEqual(row.value, QUESTION("deploy v2"));
    assert.deepEqual(row.value, data.interrupts[0]);
    assert.equal(row.resume_value, null);
    assert.equal(row.resolved_at, null);
    const detail = assertOk(await h.request("GET", "/v1/jobs/get-1/detail"));
    assert.equal(detail.attempts.length, 1);
    assert.equal(row.attempt_id, detail.attempts[0].attempt_id);
    assert.match(row.attempt_id, /^at_/);
    // The list row is the same record without the attempt.
    const { attempt_id: _attempt, ...listed } = row;
    assert.deepEqual(await list(h, "?run_id=get-1"), [listed]);

    // Resumed: the row says so.
    assertOk(await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: true } }));
    const after = assertOk(await h.request("GET", `/v1/interrupts/${id}`));
    assert.equal(after.status, "resumed");
    assert.equal(after.resume_value, true);
    assert.notEqual(after.resolved_at, null);

    for (const unknown of ["in_0000000000000000", "nope", `${id}0`]) {
      const error = assertError(
        await h.request("GET", `/v1/interrupts/${unknown}`),
        404,
        "not_found",
      );
      assert.equal(error.details.interrupt_id, unknown);
      assertError(
        await h.request("POST", `/v1/interrupts/${unknown}/resume`, { body: { value: true } }),
        404,
        "not_found",
      );
      assertError(
        await h.request("POST", `/v1/interrupts/${unknown}/reject`, { body: {} }),
        404,
        "not_found",
      );
    }
    for (const bad of ["bad%20id", "x".repeat(129), "%C3%A9"]) {
      assertError(await h.request("GET", `/v1/interrupts/${bad}`), 400, "invalid_argument");
    }
  },
);

// ---------------------------------------------------------------------------
// Resume

serverTest(
  "POST /v1/interrupts/:id/resume completes the run; same value is the identical response, another a 409",
  async (h) => {
    const data = await approval(h, "res-1");
    const id = data.pending_interrupts[0].interrupt_id;
    const first = assertOk(
      await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: true } }),
    );
    assert.equal(first.thread_id, "res-1");
    assert.equal(first.status, "completed");
    assert.deepEqual(first.interrupts, []);
    assert.deepEqual(first.pending_interrupts, []);
    assert.equal(first.idempotent_replay, false);
    assert.match(first.checkpoint_id, /^cp_/);
    assert.match(first.trace.trace_id, /^[0-9a-f]{32}$/);
    const job = assertOk(await h.request("GET", "/v1/jobs/res-1"));
    assert.equal(job.status, "completed");
    assert.equal(job.checkpoint_id, first.checkpoint_id);
    assert.deepEqual(job.values.result, { performed: { kind: "execute", request: "deploy v2" } });
    assert.deepEqual(job.values.log, ["prepared", "approved", "performed"]);
    const log = await h.events("res-1");

    // The same value: the identical response (trace included), nothing run.
    for (let i = 0; i < 2; i++) {
      const again = assertOk(
        await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: true } }),
      );
      assert.deepEqual(again, first);
    }
    // Another value: 409.
    for (const value of [false, "true", { approved: true }, null]) {
      const error = assertError(
        await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value } }),
        409,
        "conflict",
      );
      assert.equal(error.details.interrupt_id, id);
      assert.equal(error.details.thread_id, "res-1");
    }
    assert.deepEqual(await h.events("res-1"), log, "nothing was written");
    assert.equal((await h.store.listEffects("res-1" as never)).length, 1, "performed once");

    // A rejection through resume(false) takes the other branch.
    const other = await approval(h, "res-2");
    const rejected = assertOk(
      await h.request("POST", `/v1/interrupts/${other.pending_interrupts[0].interrupt_id}/resume`, {
        body: { value: false },
      }),
    );
    assert.equal(rejected.status, "completed");
    const job2 = assertOk(await h.request("GET", "/v1/jobs/res-2"));
    assert.deepEqual(job2.values.result, { rejected: true });
    assert.deepEqual(await h.store.listEffects("res-2" as never), []);
  },
);

serverTest(
  "POST /v1/interrupts/:id/resume of an interrupt that is not pending is a 409 and writes nothing",
  async (h) => {
    // Resumed through /v1/jobs/:thread_id/resume: the same answer to the same
    // interrupt, so the same value here gets its response; another is a 409.
    const data = await approval(h, "np-1");
    const id = data.pending_interrupts[0].interrupt_id;
    const first = assertOk(
      await h.request("POST", "/v1/jobs/np-1/resume", { body: { value: true } }),
    );
    const log = await h.events("np-1");
    assert.deepEqual(
      assertOk(await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: true } })),
      first,
    );
    const other = assertError(
      await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: false } }),
      409,
      "conflict",
    );
    assert.deepEqual(other.details, { interrupt_id: id, thread_id: "np-1" });
    assert.deepEqual(await h.events("np-1"), log);
    assert.equal((await h.store.listEffects("np-1" as never)).length, 1);

    // Cancelled with its run.
    const cancelled = await approval(h, "np-2");
    const cancelledId = cancelled.pending_interrupts[0].interrupt_id;
    assertOk(await h.request("POST", "/v1/jobs/np-2/cancel", { body: {} }));
    const error = assertError(
      await h.request("POST", `/v1/interrupts/${cancelledId}/resume`, { body: { value: true } }),
      409,
      "conflict",
    );
    assert.equal(error.details.status, "cancelled");
    assert.equal(assertOk(await h.request("GET", "/v1/jobs/np-2")).status, "cancelled");
    assert.deepEqual(await h.store.listEffects("np-2" as never), []);

    // A refused resume claimed nothing: the 409 is not replayed as a success later.
    assertError(
      await h.request("POST", `/v1/interrupts/${cancelledId}/resume`, { body: { value: true } }),
      409,
      "conflict",
    );
  },
);

// ---------------------------------------------------------------------------
// Reject

serverTest(
  "POST /v1/interrupts/:id/reject ends the run cancelled; a later resume or reject is a 409",
  async (h) => {
    const data = await approval(h, "rej-1");
    const id = data.pending_interrupts[0].interrupt_id;
    const response = await h.request("POST", `/v1/interrupts/${id}/reject`, {
      body: { reason: "not today" },
    });
    const rejected = assertOk(response);
    assert.deepEqual(Object.keys(rejected).sort(), [
      "interrupt_id",
      "reason",
      "status",
      "thread_id",
      "trace",
    ]);
    assert.equal(rejected.thread_id, "rej-1");
    assert.equal(rejected.interrupt_id, id);
    assert.equal(rejected.status, "cancelled");
    assert.equal(rejected.reason, "not today");
    assert.match(rejected.trace.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const job = assertOk(await h.request("GET", "/v1/jobs/rej-1/detail"));
    assert.equal(job.status, "cancelled");
    assert.deepEqual(job.pending_interrupts, []);
    const row = assertOk(await h.request("GET", `/v1/interrupts/${id}`));
    assert.equal(row.status, "rejected");
    assert.notEqual(row.resolved_at, null);
    assert.deepEqual(await h.store.listEffects("rej-1" as never), [], "nothing was performed");
    const log = await h.events("rej-1");

    const again = assertError(
      await h.request("POST", `/v1/interrupts/${id}/reject`, { body: { reason: "twice" } }),
      409,
      "conflict",
    );
    assert.deepEqual(again.details, { interrupt_id: id, status: "rejected", thread_id: "rej-1" });
    for (const value of [true, false]) {
      const resumed = assertError(
        await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value } }),
        409,
        "conflict",
      );
      assert.equal(resumed.details.status, "rejected");
    }
    assertError(
      await h.request("POST", "/v1/jobs/rej-1/resume", { body: { value: true } }),
      409,
      "conflict",
    );
    assertError(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "rej-1", graph: "approval", input: { request: "deploy v2" } },
      }),
      409,
      "conflict",
    );
    assert.deepEqual(await h.events("rej-1"), log, "nothing was written");
    assert.equal(assertOk(await h.request("GET", `/v1/interrupts/${id}`)).status, "rejected");
    assert.equal(assertOk(await h.request("GET", "/v1/jobs/rej-1")).status, "cancelled");
    assert.deepEqual(await list(h, "?status=rejected"), [
      (({ attempt_id: _, ...rest }) => rest)(row),
    ]);

    // Without a body or reason: the default reason.
    const other = await approval(h, "rej-2");
    const plain = assertOk(
      await h.request("POST", `/v1/interrupts/${other.pending_interrupts[0].interrupt_id}/reject`),
    );
    assert.equal(plain.status, "cancelled");
    assert.equal(plain.reason, "interrupt rejected");
    assertError(
      await h.request("POST", `/v1/interrupts/${other.pending_interrupts[0].interrupt_id}/reject`, {
        body: { reason: 5 },
      }),
      400,
      "invalid_argument",
    );
  },
);

// ---------------------------------------------------------------------------
// Interrupts in a loop

const LoopState = defineState({
  answers: { default: (): Json[] => [], reducer: (a: Json[], b: Json[]) => [...a, ...b] },
});

serverTest(
  "a thread that interrupts in a loop gets a distinct interrupt id each time",
  async (h) => {
    new StateGraph(LoopState)
      .addNode("ask", async (state) => {
        const answer = await interrupt<Json>({ round: state.answers.length + 1 });
        return { answers: [answer] };
      })
      .addEdge(START, "ask")
      .addConditionalEdges("ask", (state) => state.answers.length < 3 ? "ask" : END, ["ask", END])
      .compile({ name: "loop", runtime: h.runtime });

    const first = assertOk(
      await h.request("POST", "/v1/jobs/run", { body: { thread_id: "loop-1", graph: "loop" } }),
    );
    assert.equal(first.status, "interrupted");
    assert.deepEqual(first.interrupts, [{ round: 1 }]);
    const ids = [first.pending_interrupts[0].interrupt_id];
    const responses: Body[] = [];
    for (const round of [2, 3]) {
      const resumed = assertOk(
        await h.request("POST", `/v1/interrupts/${ids.at(-1)}/resume`, {
          body: { value: `answer ${round - 1}` },
        }),
      );
      responses.push(resumed);
      assert.equal(resumed.status, "interrupted");
      assert.deepEqual(resumed.interrupts, [{ round }]);
      ids.push(resumed.pending_interrupts[0].interrupt_id);
    }
    assert.equal(new Set(ids).size, 3, `distinct ids: ${ids}`);

    const rows = await list(h, "?run_id=loop-1");
    assert.deepEqual(
      rows.map((row: Body) => [row.interrupt_id, row.status, row.value, row.resume_value]),
      [
        [ids[2], "pending", { round: 3 }, null],
        [ids[1], "resumed", { round: 2 }, "answer 2"],
        [ids[0], "resumed", { round: 1 }, "answer 1"],
      ],
    );
    assert.deepEqual(rows.map((row: Body) => row.step), [3, 2, 1]);
    assert.deepEqual(
      (await list(h, "?run_id=loop-1&status=pending")).map((row: Body) => row.interrupt_id),
      [ids[2]],
    );

    // Resuming an earlier interrupt again replays its response; another value is a 409.
    const replayed = assertOk(
      await h.request("POST", `/v1/interrupts/${ids[0]}/resume`, { body: { value: "answer 1" } }),
    );
    assert.deepEqual(replayed, responses[0]);
    assertError(
      await h.request("POST", `/v1/interrupts/${ids[0]}/resume`, { body: { value: "other" } }),
      409,
      "conflict",
    );

    // The third answer ends the loop.
    const done = assertOk(
      await h.request("POST", `/v1/interrupts/${ids[2]}/resume`, { body: { value: "answer 3" } }),
    );
    assert.equal(done.status, "completed");
    const job = assertOk(await h.request("GET", "/v1/jobs/loop-1"));
    assert.deepEqual(job.values.answers, ["answer 1", "answer 2", "answer 3"]);
    assert.deepEqual(
      (await list(h, "?run_id=loop-1")).map((row: Body) => row.status),
      ["resumed", "resumed", "resumed"],
    );
  },
  { now: strictClock() },
);

serverTest(
  "POST /v1/jobs/:thread_id/resume answers by interrupt id with values, and a value meant as a map is one answer",
  async (h) => {
    const data = await approval(h, "by-id-1");
    const id = data.pending_interrupts[0].interrupt_id;
    const done = assertOk(
      await h.request("POST", "/v1/jobs/by-id-1/resume", { body: { values: { [id]: true } } }),
    );
    assert.equal(done.status, "completed");
    const [row] = await list(h, "?run_id=by-id-1");
    assert.equal(row!.status, "resumed");
    assert.equal(row!.resume_value, true);

    // A value is the answer itself, whatever its shape: no guessing at maps.
    const other = await approval(h, "by-id-2");
    const otherId = other.pending_interrupts[0].interrupt_id;
    assertOk(
      await h.request("POST", "/v1/jobs/by-id-2/resume", {
        body: { value: { [otherId]: false } },
      }),
    );
    const [answered] = await list(h, "?run_id=by-id-2");
    assert.deepEqual(answered!.resume_value, { [otherId]: false });
  },
);
