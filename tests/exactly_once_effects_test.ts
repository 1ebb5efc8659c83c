/**
 * Exactly-once effects: a node's journaled effects (`ctx.effect`, and the
 * journaled `ctx.now()`, `ctx.random()`, `ctx.uuid()` and `ctx.sleep()`) run
 * once, however often the node runs again: after interrupts and resumes (by
 * fresh runtimes), after retries, and in replay. A failed effect is journaled
 * too and fails the same way again. Two runtimes racing to record one effect
 * get one stored result.
 *
 * Every test runs on memory, Deno KV and PostgreSQL.
 */

import assert from "node:assert/strict";
import {
  Command,
  createRuntime,
  defineState,
  END,
  interrupt,
  OrisError,
  type Runtime,
  START,
  StateGraph,
  type ThreadId,
} from "../mod.ts";
import { storeTest } from "./_stores.ts";
import { collectingLogger, cutOffFromLeases, leaseExpired } from "./_helpers.ts";

const ROUNDS = 3;

const ReviewState = defineState({
  answers: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/**
 * A node that charges, asks, fetches, asks twice more, then sends (three
 * effects around three interrupts), looping for `ROUNDS` rounds.
 */
function reviewGraph(calls: string[], executions: number[]) {
  return new StateGraph(ReviewState)
    .addNode("review", async (_state, ctx) => {
      executions.push(ctx.step);
      const charge = await ctx.effect("charge", () => {
        calls.push(`charge@${ctx.step}`);
        return `charged ${ctx.step}`;
      });
      const first = await interrupt<string>({ question: "first", step: ctx.step });
      const fetched = await ctx.effect("fetch", () => {
        calls.push(`fetch@${ctx.step}`);
        return `fetched ${first}`;
      });
      const second = await ctx.interrupt<string>({ question: "second", step: ctx.step });
      const third = await ctx.interrupt<string>({ question: "third", step: ctx.step });
      const sent = await ctx.effect("send", () => {
        calls.push(`send@${ctx.step}`);
        return `sent ${first}/${second}/${third}`;
      });
      return { answers: [first, second, third], log: [charge, fetched, sent] };
    })
    .addEdge(START, "review")
    .addConditionalEdges(
      "review",
      (state) => state.answers.length < 3 * ROUNDS ? "review" : END,
    );
}

storeTest(
  "ctx.effect() calls before and between interrupts run exactly once across many interrupts " +
    "and resumes, each resume made by a fresh runtime",
  async (store) => {
    const calls: string[] = [];
    const executions: number[] = [];
    const threadId = "review-1";
    const open = () => {
      const runtime = createRuntime({ store });
      return { runtime, app: reviewGraph(calls, executions).compile({ runtime, name: "review" }) };
    };
    let { runtime, app } = open();
    let result = await app.invoke({}, { threadId });
    let resumes = 0;
    try {
      while (result.status === "interrupted") {
        assert.equal(result.interrupts.length, 1);
        const { question, step } = result.interrupts[0]!.value as {
          question: string;
          step: number;
        };
        await runtime.close();
        ({ runtime, app } = open());
        const answer = `${question}-${step}`;
        // Both ways of resuming: resume() and invoke(new Command({ resume })).
        result = resumes % 2 === 0
          ? await app.resume(threadId, answer)
          : await app.invoke(new Command({ resume: answer }), { threadId });
        resumes++;
      }
    } finally {
      await runtime.close();
    }
    assert.equal(result.status, "completed");
    assert.equal(resumes, 3 * ROUNDS);
    const rounds = Array.from({ length: ROUNDS }, (_, i) => i + 1);
    // The node ran 4 times per round (the first time and after each of 3 resumes)...
    assert.deepEqual(executions, rounds.flatMap((step) => [step, step, step, step]));
    // ...and each effect ran once.
    assert.deepEqual(
      calls,
      rounds.flatMap((step) => [`charge@${step}`, `fetch@${step}`, `send@${step}`]),
    );
    assert.deepEqual(
      result.state.answers,
      rounds.flatMap((step) => [`first-${step}`, `second-${step}`, `third-${step}`]),
    );
    assert.deepEqual(
      result.state.log,
      rounds.flatMap((step) => [
        `charged ${step}`,
        `fetched first-${step}`,
        `sent first-${step}/second-${step}/third-${step}`,
      ]),
    );
    // Replay re-executes every step from the journal: no effect runs.
    await using replayer = createRuntime({ store });
    const report = await reviewGraph(calls, executions)
      .compile({ runtime: replayer, name: "review" })
      .replay(threadId);
    assert.equal(report.steps, ROUNDS);
    assert.equal(calls.length, 3 * ROUNDS);
  },
);

const ErrorState = defineState({
  errors: { default: (): Record<string, unknown>[] => [] },
  answer: { default: () => "" },
});

function describeError(error: unknown): Record<string, unknown> {
  assert.ok(error instanceof Error);
  return {
    name: error.name,
    message: error.message,
    code: error instanceof OrisError ? error.code : null,
    details: error instanceof OrisError ? error.details : null,
  };
}

storeTest(
  "ctx.effect() that throws is journaled, and a re-execution throws the same error (name, " +
    "message, OrisError code and details) without calling the effect again",
  async (store) => {
    let calls = 0;
    const observed: Record<string, unknown>[][] = [];
    const failures: [string, () => Error][] = [
      ["gateway", () =>
        new OrisError("unavailable", "Payment gateway is down", {
          details: { gateway: "acme", retry_after_s: 30 },
        })],
      ["parse", () => new TypeError("Cannot parse the invoice")],
      ["declined", () => Object.assign(new Error("Card declined"), { name: "PaymentError" })],
    ];
    const graph = new StateGraph(ErrorState)
      .addNode("pay", async (_state, ctx) => {
        const seen: Record<string, unknown>[] = [];
        for (const [name, make] of failures) {
          try {
            await ctx.effect(name, () => {
              calls++;
              throw make();
            });
            assert.fail(`effect "${name}" did not throw`);
          } catch (error) {
            seen.push(describeError(error));
          }
        }
        observed.push(seen);
        const answer = await ctx.interrupt<string>("Retry the payment by hand?");
        return { errors: seen, answer };
      })
      .addEdge(START, "pay")
      .addEdge("pay", END);
    await using runtime = createRuntime({ store });
    const app = graph.compile({ runtime, name: "pay" });
    const threadId = "pay-1";
    const first = await app.invoke({}, { threadId });
    assert.equal(first.status, "interrupted");
    assert.equal(calls, 3);
    const result = await app.resume(threadId, "no");
    assert.equal(result.status, "completed");
    assert.equal(calls, 3);
    const expected = [
      {
        name: "OrisError",
        message: "Payment gateway is down",
        code: "unavailable",
        details: { gateway: "acme", retry_after_s: 30 },
      },
      { name: "TypeError", message: "Cannot parse the invoice", code: null, details: null },
      { name: "PaymentError", message: "Card declined", code: null, details: null },
    ];
    assert.deepEqual(observed, [expected, expected]);
    assert.deepEqual(result.state.errors, expected);
    const journal = await store.listEffects(threadId as ThreadId);
    assert.deepEqual(
      journal.map((record) => [record.name, record.result.ok]),
      [["gateway", false], ["parse", false], ["declined", false]],
    );
    const report = await app.replay(threadId);
    assert.equal(report.steps, 1);
    assert.equal(calls, 3);
    assert.deepEqual(observed, [expected, expected, expected]);
  },
);

const DrawState = defineState({
  drawn: { default: (): (number | string)[] => [] },
  answer: { default: () => "" },
});

storeTest(
  "ctx.now(), ctx.random() and ctx.uuid() return the same values when the node runs again " +
    "after a resume by another runtime",
  async (store) => {
    const observed: (number | string)[][] = [];
    const graph = new StateGraph(DrawState)
      .addNode("draw", async (_state, ctx) => {
        const drawn = [await ctx.now(), await ctx.random(), await ctx.uuid()];
        observed.push(drawn);
        const answer = await ctx.interrupt<string>("Keep these?");
        return { drawn, answer };
      })
      .addEdge(START, "draw")
      .addEdge("draw", END);
    // Each runtime's clock and random numbers differ from the other's at every call.
    const runtimeWith = (base: number): Runtime => {
      let tick = 0;
      return createRuntime({
        store,
        now: () => base + ++tick,
        random: () => (base / 1e6 + ++tick / 1e3) % 1,
      });
    };
    const threadId = "draw-1";
    {
      await using runtime = runtimeWith(1_000_000);
      const first = await graph.compile({ runtime, name: "draw" }).invoke({}, { threadId });
      assert.equal(first.status, "interrupted");
    }
    await using runtime = runtimeWith(7_000_000);
    const app = graph.compile({ runtime, name: "draw" });
    const result = await app.resume(threadId, "yes");
    assert.equal(result.status, "completed");
    assert.equal(observed.length, 2);
    assert.deepEqual(observed[1], observed[0]);
    const [now, random, uuid] = observed[0]!;
    assert.ok(typeof now === "number" && now > 1_000_000 && now < 2_000_000);
    assert.ok(typeof random === "number" && random >= 0 && random < 1);
    assert.match(String(uuid), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.deepEqual(result.state.drawn, observed[0]);
    const journal = await store.listEffects(threadId as ThreadId);
    assert.deepEqual(
      journal.map((record) => [record.name, record.result.ok ? record.result.value : null]),
      [["oris.now", now], ["oris.random", random], ["oris.uuid", uuid]],
    );
    await app.replay(threadId);
    assert.deepEqual(observed[2], observed[0]);
  },
);

const SleepState = defineState({ answers: { default: (): string[] => [] } });

storeTest(
  "ctx.sleep() journals its wake-up time, so a re-execution waits only what is left of it",
  async (store) => {
    let clock = 10_000;
    const slept: number[] = [];
    const graph = new StateGraph(SleepState)
      .addNode("nap", async (_state, ctx) => {
        await ctx.sleep(5_000);
        const first = await ctx.interrupt<string>("first");
        const second = await ctx.interrupt<string>("second");
        return { answers: [first, second] };
      })
      .addEdge(START, "nap")
      .addEdge("nap", END);
    await using runtime = createRuntime({
      store,
      now: () => clock,
      sleep: (ms) => {
        slept.push(ms);
        return Promise.resolve();
      },
    });
    const app = graph.compile({ runtime, name: "nap" });
    const threadId = "nap-1";
    assert.equal((await app.invoke({}, { threadId })).status, "interrupted");
    assert.deepEqual(slept, [5_000]);
    clock = 13_000; // 2 s of the nap are left.
    assert.equal((await app.resume(threadId, "a")).status, "interrupted");
    assert.deepEqual(slept, [5_000, 2_000]);
    clock = 20_000; // The nap is over.
    const result = await app.resume(threadId, "b");
    assert.equal(result.status, "completed");
    assert.deepEqual(result.state.answers, ["a", "b"]);
    assert.deepEqual(slept, [5_000, 2_000]);
    const journal = await store.listEffects(threadId as ThreadId);
    assert.deepEqual(
      journal.map((record) => [record.name, record.result.ok ? record.result.value : null]),
      [["oris.sleep", 15_000]],
    );
  },
);

const RetryState = defineState({
  result: { default: () => "" },
  attempt: { default: () => 0 },
});

storeTest(
  "a node whose effect fails twice then succeeds under retry (maxAttempts 3, " +
    "initialIntervalMs 0) completes after exactly 3 calls, and replay reproduces the run " +
    "without calling the effect",
  async (store) => {
    let calls = 0;
    const graph = new StateGraph(RetryState)
      .addNode("flaky", async (_state, ctx) => {
        const value = await ctx.effect("call", () => {
          calls++;
          if (calls < 3) throw new Error(`Upstream failure ${calls}`);
          return `ok after ${calls} calls`;
        });
        return { result: value, attempt: ctx.attempt };
      }, { retry: { maxAttempts: 3, initialIntervalMs: 0 } })
      .addEdge(START, "flaky")
      .addEdge("flaky", END);
    const slept: number[] = [];
    await using runtime = createRuntime({
      store,
      sleep: (ms) => {
        slept.push(ms);
        return Promise.resolve();
      },
    });
    const app = graph.compile({ runtime, name: "flaky" });
    const threadId = "flaky-1";
    const result = await app.invoke({}, { threadId });
    assert.equal(result.status, "completed");
    assert.deepEqual(result.state, { result: "ok after 3 calls", attempt: 3 });
    assert.equal(calls, 3);
    assert.deepEqual(slept, []);
    const journal = (await store.listEffects(threadId as ThreadId))
      .filter((record) => record.name === "call");
    assert.deepEqual(
      journal.map((record) => [record.node, record.result]),
      [
        ["1:flaky", { ok: false, error: { name: "Error", message: "Upstream failure 1" } }],
        ["1:flaky~2", { ok: false, error: { name: "Error", message: "Upstream failure 2" } }],
        ["1:flaky~3", { ok: true, value: "ok after 3 calls" }],
      ],
    );
    const report = await app.replay(threadId);
    assert.equal(report.steps, 1);
    assert.equal(calls, 3);
  },
);

const RaceState = defineState({ value: { default: () => "" } });

/**
 * The race graph for one runtime: its effect reports that it started, waits
 * for `release`, and returns the runtime's label.
 */
function raceGraph(
  label: string,
  hooks: {
    entered(): void;
    release: Promise<void>;
    returned: string[];
    calls: string[];
    onReturn?(value: string): void;
  },
) {
  return new StateGraph(RaceState)
    .addNode("work", async (_state, ctx) => {
      const value = await ctx.effect("claim", async () => {
        hooks.calls.push(label);
        hooks.entered();
        await hooks.release;
        return label;
      });
      hooks.returned.push(`${label}:${value}`);
      hooks.onReturn?.(value);
      return { value };
    })
    .addEdge(START, "work")
    .addEdge("work", END);
}

storeTest(
  "a runtime whose lease was taken over mid-effect records nothing: the new owner's effect " +
    "is journaled once and the run commits it once",
  async (store) => {
    const threadId = "race-1";
    const calls: string[] = [];
    const returned: string[] = [];
    const a = Promise.withResolvers<void>();
    const enteredA = Promise.withResolvers<void>();
    const enteredB = Promise.withResolvers<void>();
    const { logger: loggerA, entries: linesA } = collectingLogger();
    // A stops renewing its lease and its clock stands still (a frozen process).
    await using runtimeA = createRuntime({
      store: cutOffFromLeases(store),
      leaseTtlMs: 300,
      now: () => 1_000,
      logger: loggerA,
    });
    await using runtimeB = createRuntime({ store });
    const appA = raceGraph("A", { entered: enteredA.resolve, release: a.promise, returned, calls })
      .compile({ runtime: runtimeA, name: "race" });
    raceGraph("B", { entered: enteredB.resolve, release: Promise.resolve(), returned, calls })
      .compile({ runtime: runtimeB, name: "race" });
    // A starts the run; its effect waits. While A holds the lease, B cannot take the run.
    const doneA = appA.invoke({}, { threadId });
    await enteredA.promise;
    assert.deepEqual((await runtimeB.recover()).recovered, []);
    // Once A's lease has expired, B takes the run over and runs the effect itself.
    await leaseExpired(store, threadId);
    assert.deepEqual((await runtimeB.recover()).recovered, [threadId]);
    const resultB = await runtimeB.wait(threadId);
    await enteredB.promise;
    assert.equal(resultB.status, "completed");
    assert.deepEqual(resultB.state, { value: "B" });
    // A's effect returns now: its record is refused, and A writes nothing more; A's caller
    // follows the run to B's result.
    a.resolve();
    const resultA = await doneA;
    assert.equal(resultA.status, "completed");
    assert.deepEqual(resultA.state, { value: "B" });
    assert.deepEqual(calls, ["A", "B"]);
    assert.deepEqual(returned, ["B:B"]);
    assert.equal(linesA.filter((line) => line.message === "lease lost").length, 1);
    const journal = await store.listEffects(threadId as ThreadId);
    assert.deepEqual(
      journal.map((record) => [record.name, record.result]),
      [["claim", { ok: true, value: "B" }]],
    );
    const events = await store.readEvents(threadId as ThreadId, 1);
    assert.deepEqual(
      events.flatMap(({ event }) => event.type === "step.committed" ? [event.step] : []),
      [1],
    );
  },
);
