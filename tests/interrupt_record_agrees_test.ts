/**
 * The interrupt index agrees with the run, whatever order a resume and a
 * cancel of the same run take (issue 8, defect 8), on memory, Deno KV and
 * PostgreSQL, through the server:
 *
 * - a resume (job-level or interrupt-level) and a cancel are sent together,
 *   many times, in both orders; once both have answered, the interrupt's
 *   record says what the run's log says: `resumed` when a step committed
 *   with its answer, `cancelled` when the run ended before using it, never
 *   `pending` or `resumed` on a run that never used the answer;
 * - every request answers 200 or a 409 conflict (a resume of a cancelled
 *   run, a cancel of a completed one), never another error;
 * - `updateState` with `asNode` (which moves the run on and drops the
 *   answers it has not used) closes those answers' records too.
 */

import assert from "node:assert/strict";
import {
  createRuntime,
  defineState,
  END,
  interrupt,
  type Json,
  START,
  StateGraph,
} from "../mod.ts";
import type { ControlStore, StoredEvent } from "../kernel/mod.ts";
import { assertOk, type Body, type Harness, serverTest, strictClock } from "./_server.ts";
import { storeTest } from "./_stores.ts";

/** What the interrupt's record must say, given the run's log. */
function expectedStatus(log: readonly StoredEvent[], interruptId: string): string {
  const answeredAt = log.findIndex((item) =>
    item.event.type === "run.resumed" && interruptId in item.event.values
  );
  const last = log.at(-1)!.event;
  if (last.type === "run.cancelled" && last.rejectedInterruptId === interruptId) {
    return "rejected";
  }
  if (answeredAt === -1) {
    return last.type === "interrupt.raised" ? "pending" : "cancelled";
  }
  const used = log.slice(answeredAt + 1).some((item) => item.event.type === "step.committed");
  return used ? "resumed" : "cancelled";
}

/** Asserts that every interrupt of a run agrees with the run's log. */
async function assertAgree(h: Harness, threadId: string, round: string): Promise<string> {
  const log = await h.events(threadId);
  const job = assertOk(await h.request("GET", `/v1/jobs/${threadId}`));
  const rows = assertOk(await h.request("GET", `/v1/interrupts?run_id=${threadId}`)).interrupts;
  assert.ok(rows.length > 0, `${round}: the run raised an interrupt`);
  for (const row of rows as Body[]) {
    const expected = expectedStatus(log, row.interrupt_id);
    assert.equal(
      row.status,
      expected,
      `${round}: interrupt ${row.interrupt_id} is ${row.status}, the run (${job.status}) says ${expected}: ${
        JSON.stringify(log.map((item) => item.event.type))
      }`,
    );
    const detail = assertOk(await h.request("GET", `/v1/interrupts/${row.interrupt_id}`));
    assert.equal(detail.status, row.status, `${round}: the detail agrees with the listing`);
  }
  return job.status;
}

/** A 200, or a 409 conflict: the answers a request of the race may get. */
function settled(response: { status: number; body: Body; text: string }, what: string): boolean {
  if (response.status === 200) return true;
  assert.equal(response.status, 409, `${what}: expected 200 or 409, got ${response.text}`);
  assert.equal(response.body.error.code, "conflict");
  return false;
}

const ROUNDS = 24;

serverTest(
  "a resume racing a cancel leaves the interrupt's record agreeing with the run",
  async (h) => {
    const outcomes = new Map<string, number>();
    for (let i = 0; i < ROUNDS; i++) {
      const threadId = `race-${i}`;
      const started = assertOk(
        await h.request("POST", "/v1/jobs/run", {
          body: { thread_id: threadId, graph: "approval", input: { request: `r${i}` } },
        }),
      );
      assert.equal(started.status, "interrupted");
      const interruptId = started.pending_interrupts[0].interrupt_id;
      const resume = () =>
        i % 4 < 2
          ? h.request("POST", `/v1/interrupts/${interruptId}/resume`, { body: { value: true } })
          : h.request("POST", `/v1/jobs/${threadId}/resume`, { body: { value: true } });
      const cancel = () =>
        h.request("POST", `/v1/jobs/${threadId}/cancel`, { body: { reason: "race" } });
      // Both orders of sending, and a cancel sent a turn of the event loop later.
      const [resumed, cancelled] = i % 2 === 0
        ? await Promise.all([resume(), cancel()])
        : await Promise.all([
          resume(),
          Promise.resolve().then(() => new Promise((r) => setTimeout(r, 0))).then(cancel),
        ]);
      const resumeOk = settled(resumed, `round ${i} resume`);
      const cancelOk = settled(cancelled, `round ${i} cancel`);
      assert.ok(resumeOk || cancelOk, `round ${i}: one of them went through`);
      const status = await assertAgree(h, threadId, `round ${i}`);
      assert.ok(["completed", "cancelled"].includes(status), `round ${i}: ${status}`);
      if (cancelOk) assert.equal(status, "cancelled", `round ${i}: an accepted cancel holds`);
      const key = `${status}/${resumeOk ? "resume 200" : "resume 409"}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    console.log(`outcomes (${h.kind}): ${JSON.stringify(Object.fromEntries(outcomes))}`);
  },
  { now: strictClock() },
);

const TwoQuestions = defineState({
  answers: { default: (): Json[] => [], reducer: (a: Json[], b: Json[]) => [...a, ...b] },
});

storeTest(
  "updateState that moves a run on closes the interrupts whose answers it drops",
  async (rawStore) => {
    const store = rawStore as typeof rawStore & ControlStore;
    await using runtime = createRuntime({ store });
    new StateGraph(TwoQuestions)
      .addNode("ask", async () => {
        const first = await interrupt<Json>("first?");
        const second = await interrupt<Json>("second?");
        return { answers: [first, second] };
      })
      .addNode("after", () => ({ answers: ["after"] }))
      .addEdge(START, "ask")
      .addEdge("ask", "after")
      .addEdge("after", END)
      .compile({ name: "two", runtime });

    const asked = await runtime.invoke("two", {}, { threadId: "upd-run" });
    const firstId = asked.interrupts[0]!.id;
    // The first answer lets the node go on to its second question: it has
    // not finished with the answer, so the run has not used it yet.
    const again = await runtime.resume("upd-run", "yes");
    assert.equal(again.status, "interrupted");
    const secondId = again.interrupts[0]!.id;
    assert.notEqual(secondId, firstId);
    assert.equal((await store.getInterrupt(firstId))?.status, "resumed");

    const moved = await runtime.updateState("upd-run", { answers: ["edited"] }, { asNode: "ask" });
    assert.equal(moved.status, "paused");
    const first = await store.getInterrupt(firstId);
    assert.equal(first?.status, "cancelled", "the dropped answer's record is closed");
    assert.equal(first?.resumeValue, "yes", "it keeps the answer it was given");
    assert.equal((await store.getInterrupt(secondId))?.status, "cancelled");
    const log = await store.readEvents(moved.threadId, 1);
    const update = log.at(-1)!.event;
    assert.equal(update.type, "state.updated");
    assert.deepEqual(update.type === "state.updated" && update.droppedInterruptIds, [firstId]);

    // The run goes on from the edited node; its closed records stay closed.
    const done = await runtime.resume("upd-run");
    assert.equal(done.status, "completed");
    assert.deepEqual(done.state.answers, ["edited", "after"]);
    const rows = await store.listInterrupts({ threadId: "upd-run" });
    assert.deepEqual(rows.items.map((row) => row.status), ["cancelled", "cancelled"]);
  },
);
