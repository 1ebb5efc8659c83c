/**
 * `POST /v1/jobs/:thread_id/resume` is idempotent like
 * `POST /v1/interrupts/:interrupt_id/resume` (issue 8, defect 9), on memory,
 * Deno KV and PostgreSQL: an answer to a run's interrupts is one idempotent
 * action whichever route gives it.
 *
 * - a retry with the same value after success gets the stored response
 *   (200, identical); another value is a 409; neither writes anything;
 * - the interrupt-level route and the job-level route share the answer;
 * - concurrent duplicates resume once and get the same response;
 * - answers by id (`values`) are recognised after the run has moved on to a
 *   new interrupt, for one interrupt or several.
 */

import assert from "node:assert/strict";
import { defineState, END, interrupt, type Json, START, StateGraph } from "../mod.ts";
import { assertError, assertOk, type Body, type Harness, serverTest } from "./_server.ts";

async function approvalToInterrupt(h: Harness, threadId: string): Promise<Body> {
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: threadId, graph: "approval", input: { request: "deploy" } },
    }),
  );
  assert.equal(data.status, "interrupted");
  return data;
}

serverTest(
  "a retried job-level resume gets the stored response; another value is a 409",
  async (h) => {
    const started = await approvalToInterrupt(h, "jr-1");
    const id = started.pending_interrupts[0].interrupt_id;
    const done = assertOk(
      await h.request("POST", "/v1/jobs/jr-1/resume", { body: { value: true } }),
    );
    assert.equal(done.status, "completed");
    assert.equal(done.idempotent_replay, false);
    const log = await h.events("jr-1");

    for (let i = 0; i < 2; i++) {
      assert.deepEqual(
        assertOk(await h.request("POST", "/v1/jobs/jr-1/resume", { body: { value: true } })),
        done,
        "the retry gets the first response as it was",
      );
    }
    const conflict = assertError(
      await h.request("POST", "/v1/jobs/jr-1/resume", { body: { value: false } }),
      409,
      "conflict",
    );
    assert.equal(conflict.message, `Interrupt "${id}" was already resumed with another value`);
    assert.deepEqual(conflict.details, { interrupt_id: id, thread_id: "jr-1" });
    // The same answer through the other route is the same action.
    assert.deepEqual(
      assertOk(await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: true } })),
      done,
    );
    assertError(
      await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: "no" } }),
      409,
      "conflict",
    );
    assert.deepEqual(await h.events("jr-1"), log, "nothing was written");
    assert.equal((await h.store.listEffects("jr-1" as never)).length, 1, "the action ran once");

    // Answered through /v1/interrupts first: the job route repeats it too.
    const other = await approvalToInterrupt(h, "jr-2");
    const otherId = other.pending_interrupts[0].interrupt_id;
    const first = assertOk(
      await h.request("POST", `/v1/interrupts/${otherId}/resume`, { body: { value: false } }),
    );
    assert.deepEqual(
      assertOk(await h.request("POST", "/v1/jobs/jr-2/resume", { body: { value: false } })),
      first,
    );
    assertError(
      await h.request("POST", "/v1/jobs/jr-2/resume", { body: { value: true } }),
      409,
      "conflict",
    );
  },
);

serverTest("concurrent duplicate job-level resumes resume once and agree", async (h) => {
  await approvalToInterrupt(h, "jr-3");
  const responses = await Promise.all(
    Array.from(
      { length: 4 },
      () => h.request("POST", "/v1/jobs/jr-3/resume", { body: { value: true } }),
    ),
  );
  const bodies = responses.map(assertOk);
  for (const body of bodies) assert.deepEqual(body, bodies[0]);
  assert.equal(bodies[0].status, "completed");
  const resumed = (await h.events("jr-3")).filter((item) => item.event.type === "run.resumed");
  assert.equal(resumed.length, 1, "one resume was committed");
  assert.equal((await h.store.listEffects("jr-3" as never)).length, 1);
});

const Loop = defineState({
  answers: { default: (): Json[] => [], reducer: (a: Json[], b: Json[]) => [...a, ...b] },
});

const Pair = defineState({
  answers: { default: (): Json[] => [], reducer: (a: Json[], b: Json[]) => [...a, ...b] },
});

serverTest(
  "answers by id are recognised after the run moved on, for one interrupt or several",
  async (h) => {
    new StateGraph(Loop)
      .addNode("ask", async (state) => {
        const answer = await interrupt<Json>({ round: state.answers.length + 1 });
        return { answers: [answer] };
      })
      .addEdge(START, "ask")
      .addConditionalEdges("ask", (state) => state.answers.length < 3 ? "ask" : END, ["ask", END])
      .compile({ name: "loop", runtime: h.runtime });
    new StateGraph(Pair)
      .addNode("a", async () => ({ answers: [await interrupt<Json>("a?")] }))
      .addNode("b", async () => ({ answers: [await interrupt<Json>("b?")] }))
      .addEdge(START, "a")
      .addEdge(START, "b")
      .addEdge("a", END)
      .addEdge("b", END)
      .compile({ name: "pair", runtime: h.runtime });

    // One interrupt by id: the run is at its next interrupt when the retry comes.
    const round1 = assertOk(
      await h.request("POST", "/v1/jobs/run", { body: { thread_id: "jr-loop", graph: "loop" } }),
    );
    const id1 = round1.pending_interrupts[0].interrupt_id;
    const round2 = assertOk(
      await h.request("POST", "/v1/jobs/jr-loop/resume", { body: { values: { [id1]: "one" } } }),
    );
    assert.equal(round2.status, "interrupted");
    const log = await h.events("jr-loop");
    assert.deepEqual(
      assertOk(
        await h.request("POST", "/v1/jobs/jr-loop/resume", { body: { values: { [id1]: "one" } } }),
      ),
      round2,
    );
    assertError(
      await h.request("POST", "/v1/jobs/jr-loop/resume", { body: { values: { [id1]: "two" } } }),
      409,
      "conflict",
    );
    assert.deepEqual(await h.events("jr-loop"), log, "the retry answered nothing new");
    assert.deepEqual(
      assertOk(await h.request("GET", "/v1/jobs/jr-loop")).values.answers,
      ["one"],
    );

    // Several interrupts answered together.
    const pair = assertOk(
      await h.request("POST", "/v1/jobs/run", { body: { thread_id: "jr-pair", graph: "pair" } }),
    );
    const ids = pair.pending_interrupts.map((item: Body) => item.interrupt_id);
    assert.equal(ids.length, 2);
    const values = { [ids[0]]: "A", [ids[1]]: "B" };
    const both = assertOk(await h.request("POST", "/v1/jobs/jr-pair/resume", { body: { values } }));
    assert.equal(both.status, "completed");
    const reordered = { [ids[1]]: "B", [ids[0]]: "A" };
    assert.deepEqual(
      assertOk(await h.request("POST", "/v1/jobs/jr-pair/resume", { body: { values: reordered } })),
      both,
    );
    const conflict = assertError(
      await h.request("POST", "/v1/jobs/jr-pair/resume", {
        body: { values: { ...values, [ids[1]]: "C" } },
      }),
      409,
      "conflict",
    );
    assert.deepEqual(conflict.details.interrupt_ids, [...ids].sort());
  },
);
