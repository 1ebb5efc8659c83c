import assert from "node:assert/strict";
import {
  Command,
  defineState,
  type EffectRecord,
  END,
  type NodeOptions,
  NondeterminismError,
  OrisError,
  START,
  type ThreadId,
} from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import {
  getContext,
  GraphInterrupt,
  interrupt,
  type NodeContext,
  TaskContext,
  type TaskContextOptions,
  type TaskStep,
} from "./context.ts";
import type { Runtime } from "./runtime_api.ts";
import { createRuntime, StateGraph } from "../preset.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
  answer: { default: (): unknown => null },
});

/** Registers a one-node graph named "g" on `runtime`. */
function oneNode(
  runtime: Runtime,
  node: (state: unknown, ctx: NodeContext) => unknown,
  options: NodeOptions = {},
): void {
  new StateGraph(State)
    .addNode("a", node as never, options)
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile({ runtime, name: "g" });
}

interface TaskContextOverrides extends Partial<TaskContextOptions> {
  signal?: AbortSignal;
  recorded?: TaskStep["recorded"];
  mode?: TaskStep["mode"];
  /** Where the step's new live effects go. */
  effects?: EffectRecord[];
}

function taskContext(overrides: TaskContextOverrides = {}): TaskContext {
  const {
    signal = new AbortController().signal,
    recorded = new Map(),
    mode = "live",
    effects = [],
    ...options
  } = overrides;
  const shared: TaskContextOptions = {
    store: new MemoryStore(),
    now: () => 0,
    random: () => 0,
    uuid: () => "00000000-0000-4000-8000-000000000000",
    sleep: () => Promise.resolve(),
    emit: () => {},
    forward: () => {},
    maxJsonDepth: 256,
    ...options,
  };
  const step: TaskStep = {
    threadId: "t-1" as ThreadId,
    step: 1,
    journalStep: 1,
    recorded,
    mode,
    effects,
    signal: new AbortController().signal,
  };
  return new TaskContext(shared, step, { id: "1:a", node: "a" }, 1, signal, []);
}

Deno.test("interrupt() rejects outside a node", async () => {
  await assert.rejects(
    () => interrupt("Approve?"),
    (error: unknown) =>
      error instanceof OrisError && error.code === "invalid_argument" &&
      error.message === "Cannot use the node context outside a node",
  );
});

Deno.test("getContext() throws outside a node", () => {
  assert.throws(
    () => getContext(),
    (error: unknown) => error instanceof OrisError && error.code === "invalid_argument",
  );
});

Deno.test("getContext() returns the running node's context, across awaits", async () => {
  await using runtime = createRuntime();
  const seen: { same: boolean; after: boolean; fields: unknown }[] = [];
  async function helper(): Promise<NodeContext> {
    await Promise.resolve();
    return getContext();
  }
  oneNode(runtime, async (_state, ctx) => {
    const direct = getContext();
    const later = await helper();
    seen.push({
      same: direct === ctx,
      after: later === ctx,
      fields: [ctx.threadId, ctx.step, ctx.node, ctx.taskId, ctx.attempt],
    });
    return {};
  });
  const result = await runtime.invoke("g", {}, { threadId: "ctx-1" });
  assert.equal(result.status, "completed");
  assert.deepEqual(seen, [{ same: true, after: true, fields: ["ctx-1", 1, "a", "1:a", 1] }]);
  assert.throws(() => getContext(), /outside a node/);
});

Deno.test("interrupt() inside a node pauses the run and returns the answer on resume", async () => {
  await using runtime = createRuntime();
  let runs = 0;
  oneNode(runtime, async () => {
    runs++;
    const answer = await interrupt<string>({ question: "Approve?" });
    return { answer };
  });
  const first = await runtime.invoke("g", {}, { threadId: "free-interrupt" });
  assert.equal(first.status, "interrupted");
  assert.deepEqual(first.interrupts.map((i) => [i.node, i.value]), [["a", {
    question: "Approve?",
  }]]);
  const second = await runtime.resume("free-interrupt", "yes");
  assert.equal(second.status, "completed");
  assert.equal(second.state.answer, "yes");
  assert.equal(runs, 2);
});

Deno.test("NodeContext.interrupt() still interrupts when the node swallows the signal", async () => {
  await using runtime = createRuntime();
  oneNode(runtime, async (_state, ctx) => {
    try {
      await ctx.interrupt("ok?");
    } catch (error) {
      assert.ok(error instanceof GraphInterrupt);
    }
    return { log: ["went on"] };
  });
  const result = await runtime.invoke("g", {}, { threadId: "swallowed" });
  assert.equal(result.status, "interrupted");
  assert.deepEqual(result.state.log, []);
});

Deno.test("NodeContext.interrupt() rejects a value that is not JSON", async () => {
  await using runtime = createRuntime();
  oneNode(runtime, (_state, ctx) => ctx.interrupt({ at: () => 1 }));
  const result = await runtime.invoke("g", {}, { threadId: "bad-interrupt" });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "invalid_argument");
  assert.match(result.error!.message, /Cannot store the interrupt value/);
});

Deno.test("NodeContext.effect() fails the run with invalid_argument for a result that is not JSON", async () => {
  for (
    const [i, bad] of [() => 1, { n: 1n }, { n: Number.POSITIVE_INFINITY }, new Map()].entries()
  ) {
    await using runtime = createRuntime();
    let calls = 0;
    oneNode(runtime, async (_state, ctx) => {
      await ctx.effect("fetch", () => {
        calls++;
        return bad;
      });
      return {};
    }, { retry: { maxAttempts: 3, jitter: false } });
    const result = await runtime.invoke("g", {}, { threadId: `not-json-${i}` });
    assert.equal(result.status, "failed");
    assert.equal(result.error?.code, "invalid_argument");
    assert.match(result.error!.message, /Cannot store the result of effect "fetch"/);
    assert.equal(calls, 1, "an invalid_argument failure is not retried");
  }
});

Deno.test("NodeContext.effect() stores undefined as null", async () => {
  await using runtime = createRuntime();
  const seen: unknown[] = [];
  oneNode(runtime, async (_state, ctx) => {
    seen.push(await ctx.effect("nothing", () => undefined));
    return {};
  });
  await runtime.invoke("g", {}, { threadId: "undefined-effect" });
  assert.deepEqual(seen, [null]);
});

Deno.test("NodeContext.effect() runs once: re-execution after a resume gets the journaled result", async () => {
  await using runtime = createRuntime();
  let charges = 0;
  let failures = 0;
  const seen: unknown[] = [];
  oneNode(runtime, async (_state, ctx) => {
    const receipt = await ctx.effect("charge", () => `receipt-${++charges}`);
    let failure: unknown;
    try {
      await ctx.effect("flaky", () => {
        failures++;
        throw new OrisError("unavailable", "payment service down", { details: { retry: true } });
      });
    } catch (error) {
      failure = error;
    }
    seen.push({
      receipt,
      failure: failure instanceof OrisError
        ? [failure.name, failure.code, failure.message, failure.details]
        : failure,
    });
    const answer = await ctx.interrupt("confirm?");
    return { answer };
  });
  const first = await runtime.invoke("g", {}, { threadId: "once" });
  assert.equal(first.status, "interrupted");
  const second = await runtime.resume("once", "confirmed");
  assert.equal(second.status, "completed");
  assert.equal(charges, 1);
  assert.equal(failures, 1);
  const expected = {
    receipt: "receipt-1",
    failure: ["OrisError", "unavailable", "payment service down", { retry: true }],
  };
  assert.deepEqual(seen, [expected, expected]);
  const journal = await runtime.store.listEffects("once" as ThreadId);
  assert.deepEqual(journal.map((record) => [record.name, record.result.ok]), [
    ["charge", true],
    ["flaky", false],
  ]);
});

Deno.test("NodeContext.effect() with another name at the same index on re-execution is a NondeterminismError", async () => {
  await using runtime = createRuntime();
  let executions = 0;
  let thrown: unknown;
  oneNode(runtime, async (_state, ctx) => {
    executions++;
    try {
      await ctx.effect(executions === 1 ? "charge" : "refund", () => "done");
    } catch (error) {
      thrown = error;
      throw error;
    }
    await ctx.interrupt("continue?");
    return {};
  }, { retry: { maxAttempts: 3, jitter: false } });
  const first = await runtime.invoke("g", {}, { threadId: "renamed" });
  assert.equal(first.status, "interrupted");
  const second = await runtime.resume("renamed", true);
  assert.equal(second.status, "failed");
  assert.equal(second.error?.code, "nondeterminism");
  assert.equal(second.error?.node, "a");
  assert.equal(executions, 2, "nondeterminism is not retried");
  assert.ok(thrown instanceof NondeterminismError);
  assert.equal(thrown.step, 1);
  assert.equal(thrown.node, "a");
  assert.equal(thrown.recorded, 'effect "charge" at call 0');
  assert.equal(thrown.replayed, 'effect "refund" at call 0');
});

Deno.test("TaskContext.effect() checks the journal before running anything", async () => {
  let calls = 0;
  const recorded = new Map([["1:a#0", {
    threadId: "t-1" as ThreadId,
    step: 1,
    node: "1:a",
    index: 0,
    name: "charge",
    result: { ok: true as const, value: 42 },
    recordedAt: 0,
  }]]);
  const ctx = taskContext({ recorded });
  assert.equal(await ctx.effect("charge", () => ++calls), 42);
  assert.equal(calls, 0);

  const renamed = taskContext({ recorded });
  await assert.rejects(() => renamed.effect("refund", () => ++calls), NondeterminismError);
  assert.equal(calls, 0);

  const replay = taskContext({ mode: "replay" });
  await assert.rejects(
    () => replay.effect("anything", () => ++calls),
    (error: unknown) =>
      error instanceof NondeterminismError && error.recorded === "no effect at call 0",
  );
  assert.equal(calls, 0);
});

Deno.test("TaskContext.effect() journals when the effect's function began and when it ended", async () => {
  let clock = 100;
  const store = new MemoryStore();
  const seen: EffectRecord[] = [];
  const ctx = taskContext({ store, now: () => clock, effects: seen });
  const value = await ctx.effect("slow", () => {
    clock += 250;
    return "done";
  });
  assert.equal(value, "done");
  await assert.rejects(() =>
    ctx.effect("failing", () => {
      clock += 40;
      throw new Error("no");
    })
  );
  assert.deepEqual(
    seen.map(({ name, startedAt, recordedAt }) => ({ name, startedAt, recordedAt })),
    [
      { name: "slow", startedAt: 100, recordedAt: 350 },
      { name: "failing", startedAt: 350, recordedAt: 390 },
    ],
  );
  const stored = await store.listEffects("t-1" as ThreadId);
  assert.deepEqual(stored.map((record) => record.startedAt), [100, 350]);
});

Deno.test("TaskContext.effect() refuses to start once the signal is aborted", async () => {
  const controller = new AbortController();
  controller.abort(new OrisError("cancelled", "stop"));
  const ctx = taskContext({ signal: controller.signal });
  let calls = 0;
  await assert.rejects(() => ctx.effect("x", () => ++calls), /stop/);
  assert.equal(calls, 0);
});

Deno.test("NodeContext.now(), random() and uuid() are journaled", async () => {
  let clock = 1_000;
  let dice = 0.25;
  let uuids = 0;
  await using runtime = createRuntime({ now: () => clock, random: () => dice });
  const seen: unknown[] = [];
  oneNode(runtime, async (_state, ctx) => {
    seen.push([await ctx.now(), await ctx.random(), await ctx.uuid()]);
    uuids++;
    await ctx.interrupt("next?");
    return {};
  });
  await runtime.invoke("g", {}, { threadId: "journaled" });
  clock = 9_000;
  dice = 0.75;
  const result = await runtime.resume("journaled", null);
  assert.equal(result.status, "completed");
  assert.equal(uuids, 2);
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[1], seen[0]);
  assert.equal((seen[0] as unknown[])[0], 1_000);
  assert.equal((seen[0] as unknown[])[1], 0.25);
  assert.match((seen[0] as string[])[2]!, /^[0-9a-f-]{36}$/);
});

Deno.test("NodeContext.sleep() waits only what is left when the node runs again", async () => {
  let clock = 1_000;
  const sleeps: number[] = [];
  await using runtime = createRuntime({
    now: () => clock,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  oneNode(runtime, async (_state, ctx) => {
    await ctx.sleep(100);
    await ctx.interrupt("go on?");
    return {};
  });
  await runtime.invoke("g", {}, { threadId: "sleepy" });
  clock = 1_060; // the wake-up time (1_100) is journaled: 40 ms are left
  await runtime.resume("sleepy", true);
  assert.deepEqual(sleeps, [100, 40]);
});

Deno.test("NodeContext.sleep() rejects a negative or infinite duration", async () => {
  const ctx = taskContext();
  await assert.rejects(() => ctx.sleep(-1), RangeError);
  await assert.rejects(() => ctx.sleep(Number.POSITIVE_INFINITY), RangeError);
});

Deno.test("Command({ resume }) passed to invoke answers the pending interrupt", async () => {
  await using runtime = createRuntime();
  const app = new StateGraph(State)
    .addNode("ask", async (_state, ctx) => ({ answer: await ctx.interrupt("name?") }))
    .addEdge(START, "ask")
    .addEdge("ask", END)
    .compile({ runtime, name: "ask" });
  const first = await app.invoke({}, { threadId: "cmd" });
  assert.equal(first.status, "interrupted");
  const second = await app.invoke(new Command({ resume: "Ada" }), { threadId: "cmd" });
  assert.equal(second.status, "completed");
  assert.equal(second.state.answer, "Ada");
});
