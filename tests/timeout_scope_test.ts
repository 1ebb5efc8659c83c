/**
 * Deadlines and their scope (issue 8: `timeout_policy.scope`), on memory,
 * Deno KV and PostgreSQL, with an injected clock and sleep (no real waiting):
 *
 * - `total` ends a run waiting at an interrupt (its actor passivated) when
 *   the deadline passes: the run ends with the policy's status and code
 *   `timeout`, its interrupt is closed, a late answer is a 409;
 * - `total` is derived from what the run records: a runtime that loads the
 *   run after its deadline passed ends it before anything else runs;
 * - `execution` (the default) does not count time waiting at an interrupt,
 *   and bounds each stretch of execution: a resume is bounded by the run's
 *   recorded deadline;
 * - through the server: `timeout_policy.scope` is validated, recorded, and
 *   "total" cancels a run whose approval did not come in time.
 */

import assert from "node:assert/strict";
import {
  ConflictError,
  createRuntime,
  defineState,
  END,
  interrupt,
  type Json,
  type Runtime,
  START,
  StateGraph,
  type Store,
} from "../mod.ts";
import { internalsOf } from "../actors/mod.ts";
import type { ControlStore, RunSnapshot } from "../kernel/mod.ts";
import { assertError, assertOk, type Deferred, deferred, serverTest } from "./_server.ts";
import { storeTest } from "./_stores.ts";

/** A sleep whose waits end only when the test says so. */
interface FakeSleep {
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** The durations of the waits not yet over (nor aborted). */
  live(): number[];
  /** Ends the (first) live wait of `ms`. */
  pass(ms: number): void;
}

function fakeSleep(): FakeSleep {
  const waits: { ms: number; resolve(): void }[] = [];
  return {
    sleep(ms, signal) {
      return new Promise((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const wait = { ms, resolve };
        waits.push(wait);
        signal.addEventListener("abort", () => {
          waits.splice(waits.indexOf(wait), 1);
          reject(signal.reason);
        }, { once: true });
      });
    },
    live: () => waits.map((wait) => wait.ms),
    pass(ms) {
      const index = waits.findIndex((wait) => wait.ms === ms);
      assert.ok(index >= 0, `a wait of ${ms} ms is live: ${waits.map((wait) => wait.ms)}`);
      waits.splice(index, 1)[0]!.resolve();
    },
  };
}

/** Resolves with the run once a commit ends it. */
function ended(runtime: Runtime, threadId: string): Promise<RunSnapshot> {
  const done = deferred<RunSnapshot>();
  const stop = internalsOf(runtime).observe((id, event) => {
    if (id !== threadId || event.kind !== "committed") return;
    if (["completed", "failed", "cancelled"].includes(event.run.status)) {
      stop();
      done.resolve(event.run);
    }
  });
  return done.promise;
}

const State = defineState({
  answers: { default: (): Json[] => [], reducer: (a: Json[], b: Json[]) => [...a, ...b] },
});

/**
 * `ask`: asks for approval, then `work`, which waits for the test's gate (or
 * the run's abort signal) when one is set.
 */
function compileAsk(
  runtime: Runtime,
  gates: Map<string, Deferred<void>>,
  entered?: Deferred<void>,
) {
  new StateGraph(State)
    .addNode("ask", async () => ({ answers: [await interrupt<Json>("approve?")] }))
    .addNode("work", async (_state, ctx) => {
      const gate = gates.get(ctx.threadId);
      if (gate !== undefined) {
        entered?.resolve();
        await new Promise<void>((resolve, reject) => {
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
          gate.promise.then(resolve);
        });
      }
      return { answers: ["worked"] };
    })
    .addEdge(START, "ask")
    .addEdge("ask", "work")
    .addEdge("work", END)
    .compile({ name: "ask", runtime });
}

storeTest("a total deadline ends a run that waits at an interrupt", async (rawStore) => {
  const store = rawStore as Store & ControlStore;
  let clock = 1_000_000;
  const timers = fakeSleep();
  await using runtime = createRuntime({ store, now: () => clock, sleep: timers.sleep });
  compileAsk(runtime, new Map());
  const asked = await runtime.invoke("ask", {}, {
    threadId: "total-1",
    deadline: { ms: 60_000, status: "failed", scope: "total" },
  });
  assert.equal(asked.status, "interrupted");
  const interruptId = asked.interrupts[0]!.id;
  assert.deepEqual(timers.live(), [60_000], "the total deadline stays armed while the run waits");
  assert.equal(runtime.activeRuns(), 0, "the waiting run is passivated");
  assert.deepEqual((await runtime.get("total-1"))?.deadline, {
    ms: 60_000,
    status: "failed",
    scope: "total",
  });

  const end = ended(runtime, "total-1");
  clock += 60_000;
  timers.pass(60_000);
  const run = await end;
  assert.equal(run.status, "failed");
  assert.equal(run.status === "failed" && run.error.code, "timeout");
  assert.match(
    run.status === "failed" ? run.error.message : "",
    /did not finish within its total timeout of 60000 ms/,
  );
  assert.equal((await store.getInterrupt(interruptId))?.status, "cancelled");
  await assert.rejects(() => runtime.resume("total-1", true), ConflictError);
  assert.deepEqual(timers.live(), []);

  // A run that finishes in time disarms its total deadline.
  const quick = await runtime.invoke("ask", {}, {
    threadId: "total-2",
    deadline: { ms: 60_000, status: "cancelled", scope: "total" },
  });
  assert.equal(quick.status, "interrupted");
  assert.equal((await runtime.resume("total-2", "yes")).status, "completed");
  assert.deepEqual(timers.live(), [], "nothing is left armed");
});

storeTest(
  "a total deadline is derived from the run's record: a runtime that loads the run after it ends it",
  async (rawStore) => {
    const store = rawStore as Store & ControlStore;
    let clock = 5_000_000;
    const first = createRuntime({ store, now: () => clock, sleep: fakeSleep().sleep });
    compileAsk(first, new Map());
    const asked = await first.invoke("ask", {}, {
      threadId: "total-3",
      deadline: { ms: 1_000, status: "cancelled", scope: "total" },
    });
    assert.equal(asked.status, "interrupted");
    await first.close(); // The process stops; its timers with it.

    clock += 1_001;
    const timers = fakeSleep();
    await using second = createRuntime({ store, now: () => clock, sleep: timers.sleep });
    compileAsk(second, new Map());
    // The answer comes too late: the deadline ends the run before it is taken.
    await assert.rejects(() => second.resume("total-3", true), (error: unknown) => {
      assert.ok(error instanceof ConflictError, String(error));
      assert.match(error.message, /cancelled, not interrupted/);
      return true;
    });
    const run = await second.get("total-3");
    assert.equal(run?.status, "cancelled");
    assert.match(run?.status === "cancelled" ? run.reason ?? "" : "", /total timeout of 1000 ms/);
    assert.equal((await store.getInterrupt(asked.interrupts[0]!.id))?.status, "cancelled");
    assert.deepEqual(timers.live(), []);
  },
);

storeTest(
  "an execution deadline does not count waiting, and bounds each resumed stretch",
  async (rawStore) => {
    const store = rawStore as Store & ControlStore;
    let clock = 9_000_000;
    const timers = fakeSleep();
    await using runtime = createRuntime({ store, now: () => clock, sleep: timers.sleep });
    const gates = new Map<string, Deferred<void>>();
    const entered = deferred();
    compileAsk(runtime, gates, entered);
    const asked = await runtime.invoke("ask", {}, {
      threadId: "exec-1",
      deadline: { ms: 5_000, status: "cancelled" },
    });
    assert.equal(asked.status, "interrupted");
    assert.deepEqual(timers.live(), [], "waiting at the interrupt is not counted");
    assert.equal((await runtime.get("exec-1"))?.deadline?.scope, "execution");

    // A day later the answer comes: the resumed stretch gets the run's 5 s.
    clock += 24 * 3600 * 1000;
    gates.set("exec-1", deferred());
    const resumed = runtime.resume("exec-1", "yes");
    await entered.promise;
    assert.deepEqual(timers.live(), [5_000], "the resume is bounded by the recorded deadline");
    clock += 5_000;
    timers.pass(5_000);
    const result = await resumed;
    assert.equal(result.status, "cancelled");
    assert.deepEqual(result.state.answers, ["yes"], "the stopped node wrote nothing");
    const run = await runtime.get("exec-1");
    assert.match(
      run?.status === "cancelled" ? run.reason ?? "" : "",
      /did not finish within its timeout of 5000 ms/,
    );
  },
);

storeTest(
  "a recovery starts a stretch of execution that the run's deadline bounds",
  async (store) => {
    const first = deferred();
    const second = deferred();
    const held = deferred();
    function compileTwoSteps(runtime: Runtime): void {
      new StateGraph(State)
        .addNode("one", async () => {
          await first.promise;
          return { answers: ["one"] };
        })
        .addNode("two", (_state, ctx) =>
          new Promise((_resolve, reject) => {
            held.resolve();
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
            second.promise.then(() => reject(new Error("never released")));
          }))
        .addEdge(START, "one")
        .addEdge("one", "two")
        .addEdge("two", END)
        .compile({ name: "two-steps", runtime });
    }
    const before = fakeSleep();
    const old = createRuntime({ store, sleep: before.sleep });
    compileTwoSteps(old);
    await old.start("two-steps", {}, {
      threadId: "recovered-1",
      deadline: { ms: 7_000, status: "failed" },
    });
    assert.deepEqual(before.live(), [7_000]);
    // The process stops mid-run: the first step commits, the second never starts.
    const closing = old.close();
    first.resolve();
    await closing;

    const timers = fakeSleep();
    await using runtime = createRuntime({ store, sleep: timers.sleep });
    compileTwoSteps(runtime);
    const end = ended(runtime, "recovered-1");
    assert.deepEqual((await runtime.recover()).recovered, ["recovered-1"]);
    await held.promise;
    assert.deepEqual(timers.live(), [7_000], "the recovered stretch is bounded");
    timers.pass(7_000);
    const run = await end;
    assert.equal(run.status, "failed");
    assert.equal(run.status === "failed" && run.error.code, "timeout");
    second.resolve();
  },
);

storeTest("a bad deadline is refused before anything is written", async (store) => {
  await using runtime = createRuntime({ store });
  compileAsk(runtime, new Map());
  for (
    const deadline of [
      { ms: 0, status: "failed" },
      { ms: 1.5, status: "failed" },
      { ms: 10, status: "paused" },
      { ms: 10, status: "failed", scope: "forever" },
    ]
  ) {
    await assert.rejects(
      () => runtime.invoke("ask", {}, { threadId: "bad-1", deadline: deadline as never }),
      /deadline\.(ms|status|scope)/,
    );
  }
  assert.equal(await runtime.get("bad-1"), null);
});

// ---------------------------------------------------------------------------
// Through the server

const policyTimers = fakeSleep();
serverTest(
  "timeout_policy scope total cancels a run whose approval does not come in time",
  async (h) => {
    const response = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: {
          thread_id: "tp-total",
          graph: "approval",
          input: { request: "deploy" },
          timeout_policy: { timeout_ms: 60_000, on_timeout_status: "cancelled", scope: "total" },
        },
      }),
    );
    assert.equal(response.status, "interrupted");
    const interruptId = response.pending_interrupts[0].interrupt_id;
    const detail = assertOk(await h.request("GET", "/v1/jobs/tp-total/detail"));
    assert.deepEqual(detail.metadata.timeout_policy, {
      timeout_ms: 60_000,
      on_timeout_status: "cancelled",
      scope: "total",
    });
    assert.deepEqual(policyTimers.live(), [60_000]);

    const end = ended(h.runtime, "tp-total");
    policyTimers.pass(60_000);
    assert.equal((await end).status, "cancelled");
    const job = assertOk(await h.request("GET", "/v1/jobs/tp-total/detail"));
    assert.equal(job.status, "cancelled");
    assert.match(job.reason, /total timeout of 60000 ms/);
    const row = assertOk(await h.request("GET", `/v1/interrupts/${interruptId}`));
    assert.equal(row.status, "cancelled");
    assertError(
      await h.request("POST", `/v1/interrupts/${interruptId}/resume`, { body: { value: true } }),
      409,
      "conflict",
    );

    // Execution (the default): waiting at the interrupt is not counted.
    const waiting = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: {
          thread_id: "tp-exec",
          graph: "approval",
          input: { request: "deploy" },
          timeout_policy: { timeout_ms: 60_000, on_timeout_status: "failed" },
        },
      }),
    );
    assert.equal(waiting.status, "interrupted");
    assert.deepEqual(policyTimers.live(), []);
    const done = assertOk(
      await h.request("POST", "/v1/jobs/tp-exec/resume", { body: { value: true } }),
    );
    assert.equal(done.status, "completed");

    // A scope that does not exist is a 400, and nothing is written.
    const bad = assertError(
      await h.request("POST", "/v1/jobs/run", {
        body: {
          thread_id: "tp-bad",
          timeout_policy: { timeout_ms: 10, on_timeout_status: "failed", scope: "forever" },
        },
      }),
      400,
      "invalid_argument",
    );
    assert.match(JSON.stringify(bad), /scope/);
    assertError(await h.request("GET", "/v1/jobs/tp-bad"), 404, "not_found");
  },
  // A clock that stands still: the deadline's wait is exactly the policy's.
  { sleep: policyTimers.sleep, now: () => 1_900_000_000_000 },
);
