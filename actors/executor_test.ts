import assert from "node:assert/strict";
import {
  Command,
  ConflictError,
  defineState,
  END,
  InvalidArgumentError,
  type NodeOptions,
  NondeterminismError,
  OrisError,
  Send,
  START,
} from "../kernel/mod.ts";
import type { NodeContext } from "./context.ts";
import { isRetryable, toWrite } from "./executor.ts";
import type { RunResult } from "./run_result.ts";
import { createRuntime, StateGraph } from "../preset.ts";

const State = defineState({ count: { default: () => 0 } });

/**
 * Runs a one-node graph on a runtime with a fixed clock, a fixed random
 * number and a sleep that only records how long it was asked to wait.
 */
async function runOne(
  node: (state: unknown, ctx: NodeContext) => unknown,
  options: NodeOptions,
  random = 0.5,
): Promise<{ result: RunResult; sleeps: number[] }> {
  const sleeps: number[] = [];
  await using runtime = createRuntime({
    now: () => 1_000_000,
    random: () => random,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
  new StateGraph(State)
    .addNode("node", node as never, options)
    .addEdge(START, "node")
    .addEdge("node", END)
    .compile({ runtime, name: "one" });
  const result = await runtime.invoke("one", {}, { threadId: "t-1" });
  return { result, sleeps };
}

Deno.test("executeStep() retries a failing node with exponential backoff", async () => {
  const attempts: number[] = [];
  const { result, sleeps } = await runOne((_state, ctx) => {
    attempts.push(ctx.attempt);
    if (ctx.attempt < 3) throw new Error(`fail ${ctx.attempt}`);
    return { count: ctx.attempt };
  }, { retry: { maxAttempts: 3, initialIntervalMs: 100, backoffFactor: 3, jitter: false } });
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state, { count: 3 });
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.deepEqual(sleeps, [100, 300]);
});

Deno.test("executeStep() fails the run with the last error once every attempt failed", async () => {
  const attempts: number[] = [];
  const { result, sleeps } = await runOne((_state, ctx) => {
    attempts.push(ctx.attempt);
    throw new Error(`fail ${ctx.attempt}`);
  }, {
    retry: {
      maxAttempts: 4,
      initialIntervalMs: 100,
      backoffFactor: 10,
      maxIntervalMs: 2_000,
      jitter: false,
    },
  });
  assert.equal(result.status, "failed");
  assert.deepEqual(attempts, [1, 2, 3, 4]);
  assert.deepEqual(sleeps, [100, 1_000, 2_000]);
  assert.deepEqual(result.error, { code: "internal", message: "fail 4", node: "node", step: 1 });
});

Deno.test("executeStep() waits at least the retry_after_ms an error asks for, journaled or not", async () => {
  const { result, sleeps } = await runOne(async (_state, ctx) => {
    if (ctx.attempt === 1) {
      throw new OrisError("unavailable", "rate limited", { details: { retry_after_ms: 7_000 } });
    }
    if (ctx.attempt === 2) {
      // The same error, rethrown from the journal.
      await ctx.effect("call", () => {
        throw new OrisError("unavailable", "rate limited", { details: { retry_after_ms: 50 } });
      });
    }
    return { count: ctx.attempt };
  }, { retry: { maxAttempts: 3, initialIntervalMs: 100, backoffFactor: 2, jitter: false } });
  assert.equal(result.status, "completed");
  // The first wait is the error's 7 s; the second is the policy's 200 ms, longer than 50 ms.
  assert.deepEqual(sleeps, [7_000, 200]);
});

Deno.test("executeStep() spreads retry waits with jitter", async () => {
  const { result, sleeps } = await runOne(
    (_state, ctx) => {
      if (ctx.attempt < 3) throw new Error("again");
      return {};
    },
    { retry: { maxAttempts: 3, initialIntervalMs: 100, backoffFactor: 2, jitter: true } },
    0.5,
  );
  assert.equal(result.status, "completed");
  // Each wait is spread over [wait/2, wait]: random 0.5 gives three quarters of it.
  assert.deepEqual(sleeps, [75, 150]);
});

Deno.test("executeStep() uses the default retry policy for `retry: {}`", async () => {
  const attempts: number[] = [];
  const { result, sleeps } = await runOne(
    (_state, ctx) => {
      attempts.push(ctx.attempt);
      throw new Error("always");
    },
    { retry: {} },
    0,
  );
  assert.equal(result.status, "failed");
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.deepEqual(sleeps, [250, 500]);
});

Deno.test("executeStep() does not retry without a retry policy", async () => {
  const attempts: number[] = [];
  const { result, sleeps } = await runOne((_state, ctx) => {
    attempts.push(ctx.attempt);
    throw new Error("once");
  }, {});
  assert.equal(result.status, "failed");
  assert.deepEqual(attempts, [1]);
  assert.deepEqual(sleeps, []);
});

Deno.test("executeStep() retries only the errors retryOn accepts", async () => {
  const attempts: string[] = [];
  const { result, sleeps } = await runOne((_state, ctx) => {
    const error = ctx.attempt === 1 ? new TypeError("retry me") : new RangeError("stop here");
    attempts.push(error.name);
    throw error;
  }, {
    retry: {
      maxAttempts: 5,
      initialIntervalMs: 10,
      jitter: false,
      retryOn: (error) => error instanceof TypeError,
    },
  });
  assert.equal(result.status, "failed");
  assert.deepEqual(attempts, ["TypeError", "RangeError"]);
  assert.deepEqual(sleeps, [10]);
  assert.equal(result.error?.message, "stop here");
});

Deno.test("executeStep() does not retry OrisErrors that say the request itself is wrong", async () => {
  const errors = [
    () => new InvalidArgumentError("bad input"),
    () => new ConflictError("taken"),
    () => new NondeterminismError({ threadId: "t", step: 1, node: "n", recorded: 1, replayed: 2 }),
    () => new OrisError("cancelled", "stop"),
  ];
  for (const make of errors) {
    let attempts = 0;
    const { result, sleeps } = await runOne(() => {
      attempts++;
      throw make();
    }, { retry: { maxAttempts: 3, jitter: false } });
    assert.equal(result.status, "failed");
    assert.equal(attempts, 1, make().code);
    assert.deepEqual(sleeps, []);
    assert.equal(result.error?.code, make().code);
  }
});

Deno.test("executeStep() retries OrisErrors with a transient code", async () => {
  let attempts = 0;
  const { result } = await runOne(() => {
    if (++attempts < 2) throw new OrisError("unavailable", "try later");
    return { count: attempts };
  }, { retry: { maxAttempts: 2, jitter: false } });
  assert.equal(result.status, "completed");
  assert.equal(attempts, 2);
});

Deno.test("executeStep() fails a node that outlives its timeout and aborts its signal", async () => {
  let signal: AbortSignal | undefined;
  const { result } = await runOne((_state, ctx) => {
    signal = ctx.signal;
    return new Promise(() => {}); // never settles
  }, { timeoutMs: 20 });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "timeout");
  assert.equal(result.error?.node, "node");
  assert.match(result.error!.message, /Node "node" timed out after 20 ms/);
  assert.ok(signal?.aborted);
  assert.ok(signal.reason instanceof OrisError);
  assert.equal(signal.reason.code, "timeout");
});

Deno.test("executeStep() retries a timed-out attempt with a fresh signal", async () => {
  const signals: AbortSignal[] = [];
  const { result, sleeps } = await runOne((_state, ctx) => {
    signals.push(ctx.signal);
    if (ctx.attempt === 1) return new Promise(() => {});
    return { count: ctx.attempt };
  }, { timeoutMs: 20, retry: { maxAttempts: 2, initialIntervalMs: 5, jitter: false } });
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state, { count: 2 });
  assert.equal(signals.length, 2);
  assert.equal(signals[0]!.aborted, true);
  assert.equal(signals[1]!.aborted, false);
  assert.deepEqual(sleeps, [5]);
});

Deno.test("executeStep() journals each attempt's effects separately", async () => {
  const calls: number[] = [];
  const { result } = await runOne(async (_state, ctx) => {
    const n = await ctx.effect("call", () => {
      calls.push(ctx.attempt);
      return ctx.attempt * 10;
    });
    if (ctx.attempt < 2) throw new Error("retry");
    return { count: n };
  }, { retry: { maxAttempts: 2, initialIntervalMs: 1, jitter: false } });
  assert.equal(result.status, "completed");
  assert.deepEqual(calls, [1, 2]);
  assert.deepEqual(result.state, { count: 20 });
});

Deno.test("isRetryable() refuses invalid_argument, conflict, nondeterminism and cancelled", () => {
  assert.equal(isRetryable(new Error("x")), true);
  assert.equal(isRetryable("a string"), true);
  assert.equal(isRetryable(new OrisError("timeout", "slow")), true);
  assert.equal(isRetryable(new OrisError("unavailable", "down")), true);
  assert.equal(isRetryable(new OrisError("internal", "bug")), true);
  for (const code of ["invalid_argument", "conflict", "nondeterminism", "cancelled"] as const) {
    assert.equal(isRetryable(new OrisError(code, "no")), false, code);
  }
});

Deno.test("toWrite() turns a node's result into its task write", () => {
  const task = { id: "1:a", node: "a" };
  assert.deepEqual(toWrite(task, { count: 1 }), { taskId: "1:a", node: "a", update: { count: 1 } });
  assert.deepEqual(toWrite(task, undefined), { taskId: "1:a", node: "a", update: null });
  assert.deepEqual(toWrite(task, null), { taskId: "1:a", node: "a", update: null });
  assert.deepEqual(toWrite(task, new Command({ update: { count: 2 } })), {
    taskId: "1:a",
    node: "a",
    update: { count: 2 },
  });
  assert.deepEqual(toWrite(task, new Command({ goto: ["b", new Send("c", { x: 1 })] })), {
    taskId: "1:a",
    node: "a",
    update: null,
    goto: [{ node: "b" }, { node: "c", arg: { x: 1 } }],
  });
  for (const bad of [1, "s", [1], true, new Map()]) {
    assert.throws(() => toWrite(task, bad), InvalidArgumentError);
  }
  assert.throws(() => toWrite(task, { count: () => 1 }), /Cannot store the update of node "a"/);
  assert.throws(
    () => toWrite(task, new Command({ goto: new Send("b", { when: new Date(0) }) })),
    InvalidArgumentError,
  );
  assert.throws(
    () => toWrite(task, new Command({ resume: 1 })),
    /resume is only for invoke\(\)/,
  );
});
