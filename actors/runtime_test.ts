import assert from "node:assert/strict";
import {
  ConflictError,
  currentSnapshot,
  defineState,
  END,
  IdempotencyConflictError,
  InvalidArgumentError,
  type LoadedRun,
  NotFoundError,
  OrisError,
  START,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import type { NodeContext } from "./context.ts";
import type { Durability } from "./committer.ts";
import type { Runtime } from "./runtime_api.ts";
import { createRuntime, StateGraph } from "../preset.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
  answer: { default: (): unknown => null },
});

type Node = (state: unknown, ctx: NodeContext) => unknown;

/** Registers graph "g": START -> a -> b -> c -> END, each node logging its name unless replaced. */
function chain(runtime: Runtime, nodes: Partial<Record<"a" | "b" | "c", Node>> = {}): void {
  const graph = new StateGraph(State);
  for (const name of ["a", "b", "c"] as const) {
    graph.addNode(name, (nodes[name] ?? (() => ({ log: [name] }))) as never);
  }
  graph.addEdge(START, "a").addEdge("a", "b").addEdge("b", "c").addEdge("c", END)
    .compile({ runtime, name: "g" });
}

/** A MemoryStore that counts `load` calls. */
class CountingStore extends MemoryStore {
  loads = 0;
  override load(threadId: ThreadId): Promise<LoadedRun | null> {
    this.loads++;
    return super.load(threadId);
  }
}

async function eventTypes(store: Store, threadId: string): Promise<string[]> {
  return (await store.readEvents(threadId as ThreadId, 1)).map(({ event }) => event.type);
}

async function committedSteps(store: Store, threadId: string): Promise<number[]> {
  const steps: number[] = [];
  for (const { event } of await store.readEvents(threadId as ThreadId, 1)) {
    if (event.type === "step.committed") steps.push(event.step);
  }
  return steps;
}

Deno.test("createRuntime() passivates a run at rest and reloads it from the store", async () => {
  await using store = new CountingStore();
  await using runtime = createRuntime({ store });
  chain(runtime, { b: async (_state, ctx) => ({ answer: await ctx.interrupt("approve?") }) });

  const first = await runtime.invoke("g", {}, { threadId: "passive" });
  assert.equal(first.status, "interrupted");
  assert.equal(runtime.activeRuns(), 0);

  const loads = store.loads;
  const second = await runtime.resume("passive", "yes");
  assert.equal(second.status, "completed");
  assert.ok(store.loads > loads, "the resume loaded the passivated run from the store");
  assert.deepEqual(second.state, { log: ["a", "c"], answer: "yes" });
  assert.equal(runtime.activeRuns(), 0);

  const run = await runtime.get("passive");
  assert.equal(run?.status, "completed");
  assert.equal(await runtime.get("unknown"), null);
});

Deno.test("createRuntime() maxConcurrentRuns 1 never lets two runs execute a step at once", async () => {
  await using runtime = createRuntime({ maxConcurrentRuns: 1 });
  let executing = 0;
  let most = 0;
  const body: Node = async (_state, ctx) => {
    most = Math.max(most, ++executing);
    // Yield to the event loop several times while "executing".
    await ctx.effect("one", () => ctx.node);
    await ctx.effect("two", () => ctx.step);
    executing--;
    return { log: [ctx.node] };
  };
  chain(runtime, { a: body, b: body, c: body });
  const results = await Promise.all(
    ["r1", "r2", "r3"].map((threadId) => runtime.invoke("g", {}, { threadId })),
  );
  assert.deepEqual(results.map((r) => r.status), ["completed", "completed", "completed"]);
  assert.deepEqual(results.map((r) => r.state.log), [["a", "b", "c"], ["a", "b", "c"], [
    "a",
    "b",
    "c",
  ]]);
  assert.equal(most, 1);
});

Deno.test("createRuntime() maxConcurrentRuns 2 lets two runs execute at once", async () => {
  await using runtime = createRuntime({ maxConcurrentRuns: 2 });
  const entered = new Map(["r1", "r2"].map((id) => [id, Promise.withResolvers<void>()]));
  // Each run's first node waits until the other run's first node has started.
  chain(runtime, {
    a: async (_state, ctx) => {
      entered.get(ctx.threadId)!.resolve();
      await entered.get(ctx.threadId === "r1" ? "r2" : "r1")!.promise;
      return { log: ["a"] };
    },
  });
  const results = await Promise.all(
    ["r1", "r2"].map((threadId) => runtime.invoke("g", {}, { threadId })),
  );
  assert.deepEqual(results.map((r) => r.status), ["completed", "completed"]);
});

Deno.test("Runtime.recover() resumes a run left running by another runtime", async () => {
  await using store = new MemoryStore();
  let aCalls = 0;

  // Runtime A "crashes": its node blocks forever, it can no longer renew its
  // leases (as if its process froze), and it is never closed.
  const blocked = Promise.withResolvers<void>();
  const runtimeA = createRuntime({ store: cutOff(store), leaseTtlMs: 300 });
  chain(runtimeA, {
    b: () => {
      blocked.resolve();
      return new Promise(() => {});
    },
    a: () => {
      aCalls++;
      return { log: ["a"] };
    },
  });
  const started = await runtimeA.start("g", {}, { threadId: "crashed" });
  assert.equal(started.status, "running");
  await blocked.promise;

  await using runtimeB = createRuntime({ store });
  chain(runtimeB, {
    a: () => {
      aCalls++;
      return { log: ["a"] };
    },
  });
  await leaseExpired(store, "crashed");
  const { recovered } = await runtimeB.recover();
  assert.ok(recovered.includes("crashed" as ThreadId));
  const result = await runtimeB.wait("crashed");
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state.log, ["a", "b", "c"]);
  assert.equal(aCalls, 1, "step 1 was committed by runtime A and is not run again");
  assert.deepEqual(await committedSteps(store, "crashed"), [1, 2, 3]);
});

Deno.test("Runtime.recover() leaves runs at rest alone", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store });
  chain(runtime, { b: (_state, ctx) => ctx.interrupt("wait") });
  assert.equal((await runtime.invoke("g", {}, { threadId: "interrupted" })).status, "interrupted");
  await using other = createRuntime({ store });
  chain(other);
  assert.deepEqual(await other.recover(), { recovered: [], failed: [] });
});

Deno.test("createRuntime() durability sync commits each step before the next starts", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store, durability: "sync" });
  const seen: [number, number[], number][] = [];
  const node: Node = async (_state, ctx) => {
    const loaded = await store.load(ctx.threadId);
    seen.push([ctx.step, await committedSteps(store, ctx.threadId), currentSnapshot(loaded!).step]);
    return { log: [ctx.node] };
  };
  chain(runtime, { a: node, b: node, c: node });
  const result = await runtime.invoke("g", {}, { threadId: "sync" });
  assert.equal(result.status, "completed");
  assert.deepEqual(seen, [[1, [], 0], [2, [1], 1], [3, [1, 2], 2]]);
});

Deno.test("createRuntime() durability async has committed everything when the run comes to rest", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store, durability: "async" });
  chain(runtime);
  const result = await runtime.invoke("g", {}, { threadId: "async" });
  assert.equal(result.status, "completed");
  assert.deepEqual(await eventTypes(store, "async"), [
    "run.created",
    "run.started",
    "step.committed",
    "step.committed",
    "step.committed",
    "run.completed",
  ]);
  assert.deepEqual(await committedSteps(store, "async"), [1, 2, 3]);
  const stored = currentSnapshot((await store.load("async" as ThreadId))!);
  assert.equal(stored.status, "completed");
  assert.deepEqual(stored.state, result.state);
  assert.equal(stored.checkpointId, result.checkpointId);
});

Deno.test("createRuntime() durability exit commits no step until the run comes to rest", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store, durability: "exit" });
  const seen: string[][] = [];
  const journaled: number[] = [];
  const node: Node = async (_state, ctx) => {
    await ctx.effect("call", () => ctx.step);
    journaled.push((await store.listEffects(ctx.threadId)).length);
    seen.push(await eventTypes(store, ctx.threadId));
    return { log: [ctx.node] };
  };
  chain(runtime, { a: node, b: node, c: node });
  const result = await runtime.invoke("g", {}, { threadId: "exit" });
  assert.equal(result.status, "completed");
  // Only the start is committed (when the start message resolves); no step is.
  const started = ["run.created", "run.started"];
  assert.deepEqual(seen, [started, started, started]);
  // Effects are journaled as they complete, whatever the mode.
  assert.deepEqual(journaled, [1, 2, 3]);
  assert.deepEqual(await eventTypes(store, "exit"), [
    "run.created",
    "run.started",
    "effect.recorded",
    "step.committed",
    "effect.recorded",
    "step.committed",
    "effect.recorded",
    "step.committed",
    "run.completed",
  ]);
  assert.equal(currentSnapshot((await store.load("exit" as ThreadId))!).status, "completed");
});

Deno.test("createRuntime() durability exit commits at an interrupt", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store });
  chain(runtime, { b: (_state, ctx) => ctx.interrupt("approve?") });
  const result = await runtime.invoke("g", {}, { threadId: "exit-interrupt", durability: "exit" });
  assert.equal(result.status, "interrupted");
  assert.deepEqual(await eventTypes(store, "exit-interrupt"), [
    "run.created",
    "run.started",
    "step.committed",
    "interrupt.raised",
  ]);
});

Deno.test("Runtime.close() lets the step in flight commit, then stops", async () => {
  await using store = new MemoryStore();
  const calls: string[] = [];
  const entered = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const runtime = createRuntime({ store });
  chain(runtime, {
    a: async () => {
      calls.push("a");
      entered.resolve();
      await gate.promise;
      return { log: ["a"] };
    },
    b: () => {
      calls.push("b");
      return { log: ["b"] };
    },
  });
  await runtime.start("g", {}, { threadId: "closing" });
  await entered.promise;
  const closing = runtime.close();
  gate.resolve();
  await closing;

  assert.deepEqual(calls, ["a"]);
  assert.deepEqual(await committedSteps(store, "closing"), [1]);
  assert.equal(currentSnapshot((await store.load("closing" as ThreadId))!).status, "running");
  await assert.rejects(
    () => runtime.invoke("g", {}, { threadId: "after-close" }),
    (error: unknown) => error instanceof OrisError && error.code === "unavailable",
  );
  await runtime.close(); // a second close is a no-op

  await using next = createRuntime({ store });
  chain(next, {
    a: () => {
      calls.push("a again");
      return { log: ["a"] };
    },
    b: () => {
      calls.push("b");
      return { log: ["b"] };
    },
  });
  assert.deepEqual((await next.recover()).recovered, ["closing"]);
  const result = await next.wait("closing");
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state.log, ["a", "b", "c"]);
  assert.deepEqual(calls, ["a", "b"]);
});

Deno.test("Runtime.invoke() of an unknown graph is a NotFoundError", async () => {
  await using runtime = createRuntime();
  chain(runtime);
  await assert.rejects(
    () => runtime.invoke("nope", {}),
    (error: unknown) =>
      error instanceof NotFoundError && error.code === "not_found" &&
      /graph/.test(error.message) && /nope/.test(error.message),
  );
  assert.throws(() => runtime.graph("nope"), NotFoundError);
  assert.deepEqual(runtime.graphNames(), ["g"]);
});

Deno.test("Runtime.resume() of an unknown run is a NotFoundError", async () => {
  await using runtime = createRuntime();
  chain(runtime);
  await assert.rejects(() => runtime.resume("ghost", 1), NotFoundError);
});

Deno.test("Runtime.invoke() with the same thread and input returns the same run without re-running it", async () => {
  await using runtime = createRuntime();
  let calls = 0;
  chain(runtime, {
    a: () => {
      calls++;
      return { log: ["a"] };
    },
  });
  const first = await runtime.invoke("g", { log: ["in"] }, { threadId: "idem" });
  const second = await runtime.invoke("g", { log: ["in"] }, { threadId: "idem" });
  assert.equal(calls, 1);
  assert.equal(second.status, "completed");
  assert.equal(second.checkpointId, first.checkpointId);
  assert.deepEqual(second.state, first.state);
  assert.deepEqual(second.trace, [{ type: "end", status: "completed" }]);
});

Deno.test("Runtime.invoke() called twice at once with the same thread and input runs once", async () => {
  await using runtime = createRuntime();
  let calls = 0;
  chain(runtime, {
    a: () => {
      calls++;
      return { log: ["a"] };
    },
  });
  const [first, second] = await Promise.all([
    runtime.invoke("g", {}, { threadId: "twice" }),
    runtime.invoke("g", {}, { threadId: "twice" }),
  ]);
  assert.equal(calls, 1);
  assert.equal(first.status, "completed");
  assert.equal(second.status, "completed");
  assert.equal(second.checkpointId, first.checkpointId);
});

Deno.test("Runtime.invoke() with the same thread and another input is an IdempotencyConflictError", async () => {
  await using runtime = createRuntime();
  const entered = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  chain(runtime, {
    a: async () => {
      entered.resolve();
      await gate.promise;
      return { log: ["a"] };
    },
  });
  const isConflict = (error: unknown) =>
    error instanceof IdempotencyConflictError && error instanceof ConflictError &&
    error.code === "conflict" && error.threadId === "idem";

  // While the run is active.
  const running = runtime.invoke("g", { log: ["one"] }, { threadId: "idem" });
  await entered.promise;
  await assert.rejects(
    () => runtime.invoke("g", { log: ["two"] }, { threadId: "idem" }),
    isConflict,
  );
  gate.resolve();
  assert.equal((await running).status, "completed");

  // And once it is passivated.
  assert.equal(runtime.activeRuns(), 0);
  await assert.rejects(
    () => runtime.invoke("g", { log: ["two"] }, { threadId: "idem" }),
    isConflict,
  );
  await assert.rejects(() => runtime.invoke("g", null, { threadId: "idem" }), isConflict);
  const run = await runtime.get("idem");
  assert.deepEqual(run?.state, { log: ["one", "a", "b", "c"], answer: null });
});

Deno.test("RunResult.trace lists step starts and ends, interrupts, resumes and the end in order", async () => {
  await using runtime = createRuntime();
  chain(runtime, {
    b: async (_state, ctx) => ({ answer: await ctx.interrupt({ q: "approve?" }) }),
  });
  const first = await runtime.invoke("g", {}, { threadId: "traced" });
  assert.equal(first.status, "interrupted");
  const interruptId = first.interrupts[0]!.id;
  const cp1 = (first.trace[1] as { checkpointId: string }).checkpointId;
  assert.match(cp1, /^cp_/);
  assert.equal(first.checkpointId, cp1);
  assert.deepEqual(first.trace, [
    { type: "step_start", step: 1, nodes: ["a"] },
    { type: "step_end", step: 1, nodes: ["a"], checkpointId: cp1 },
    { type: "step_start", step: 2, nodes: ["b"] },
    { type: "interrupt", step: 2, interruptId, node: "b", value: { q: "approve?" } },
    { type: "end", status: "interrupted" },
  ]);

  const second = await runtime.resume("traced", "ok");
  assert.equal(second.status, "completed");
  const [cp2, cp3] = second.trace.flatMap((event) =>
    event.type === "step_end" ? [event.checkpointId] : []
  );
  assert.equal(second.checkpointId, cp3);
  assert.deepEqual(second.trace, [
    { type: "resume", interruptIds: [interruptId] },
    { type: "step_start", step: 2, nodes: ["b"] },
    { type: "step_end", step: 2, nodes: ["b"], checkpointId: cp2 },
    { type: "step_start", step: 3, nodes: ["c"] },
    { type: "step_end", step: 3, nodes: ["c"], checkpointId: cp3 },
    { type: "end", status: "completed" },
  ]);
});

Deno.test("Runtime.cancel() fires the node's signal at once and ends the run cancelled", async () => {
  await using runtime = createRuntime();
  const entered = Promise.withResolvers<AbortSignal>();
  chain(runtime, {
    a: (_state, ctx) => {
      entered.resolve(ctx.signal);
      return new Promise((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
      );
    },
  });
  await runtime.start("g", {}, { threadId: "cancel-me" });
  const signal = await entered.promise;
  const cancelled = await runtime.cancel("cancel-me", "no longer needed");
  assert.equal(cancelled.status, "cancelled");
  assert.ok(signal.aborted);
  assert.ok(signal.reason instanceof OrisError);
  assert.equal(signal.reason.code, "cancelled");
  assert.equal((await runtime.wait("cancel-me")).status, "cancelled");
  await assert.rejects(() => runtime.resume("cancel-me", 1), ConflictError);
  assert.equal((await runtime.get("cancel-me"))?.status, "cancelled");
});

Deno.test("Runtime.pause() stops a run between two steps and resume() continues it", async () => {
  await using runtime = createRuntime();
  const entered = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  chain(runtime, {
    a: async () => {
      entered.resolve();
      await gate.promise;
      return { log: ["a"] };
    },
  });
  await runtime.start("g", {}, { threadId: "pause-me" });
  await entered.promise;
  const pausing = runtime.pause("pause-me", "maintenance");
  gate.resolve();
  const paused = await pausing;
  assert.equal(paused.status, "paused");
  assert.equal(paused.step, 1, "the step in flight committed");
  assert.deepEqual(paused.state.log, ["a"]);
  const result = await runtime.resume("pause-me");
  assert.equal(result.status, "completed");
  assert.deepEqual(result.state.log, ["a", "b", "c"]);
});

Deno.test("Runtime.resume() of a run without a pending interrupt is a ConflictError", async () => {
  await using runtime = createRuntime();
  chain(runtime);
  await runtime.invoke("g", {}, { threadId: "done" });
  await assert.rejects(() => runtime.resume("done", "late"), ConflictError);
  assert.equal((await runtime.get("done"))?.status, "completed");
});

Deno.test("a node's validateResume refuses a bad answer before anything is written; a good one resumes", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store });
  const checked: unknown[] = [];
  new StateGraph(State)
    .addNode("ask", async (_state, ctx) => ({ answer: await ctx.interrupt({ pick: [1, 2] }) }), {
      validateResume(answer, question) {
        checked.push([answer, question]);
        if (typeof answer !== "number") throw new InvalidArgumentError("Pick a number");
        if (answer === 3) throw new Error("3 is not offered");
      },
    })
    .addEdge(START, "ask")
    .addEdge("ask", END)
    .compile({ runtime, name: "ask" });
  const first = await runtime.invoke("ask", {}, { threadId: "ask-1" });
  assert.equal(first.status, "interrupted");
  const before = await eventTypes(store, "ask-1");
  await assert.rejects(() => runtime.resume("ask-1", "two"), {
    name: "InvalidArgumentError",
    message: "Pick a number",
  });
  // A validator's plain Error is an invalid_argument too, naming the interrupt.
  await assert.rejects(() => runtime.resumeById("ask-1", { [first.interrupts[0]!.id]: 3 }), {
    code: "invalid_argument",
    message: new RegExp(`interrupt "${first.interrupts[0]!.id}": 3 is not offered`),
  });
  assert.deepEqual(await eventTypes(store, "ask-1"), before, "nothing was written");
  assert.equal((await runtime.get("ask-1"))?.status, "interrupted");
  const done = await runtime.resume("ask-1", 2);
  assert.equal(done.status, "completed");
  assert.equal(done.state.answer, 2);
  assert.deepEqual(checked, [["two", { pick: [1, 2] }], [3, { pick: [1, 2] }], [2, {
    pick: [1, 2],
  }]]);
});

Deno.test("createRuntime() durability given to invoke overrides the runtime's", async () => {
  for (const durability of ["sync", "async", "exit"] as Durability[]) {
    await using store = new MemoryStore();
    await using runtime = createRuntime({ store });
    const seen: string[][] = [];
    chain(runtime, {
      b: async (_state, ctx) => {
        seen.push(await eventTypes(store, ctx.threadId));
        return { log: ["b"] };
      },
    });
    const result = await runtime.invoke("g", {}, { threadId: "t", durability });
    assert.equal(result.status, "completed");
    if (durability === "exit") assert.deepEqual(seen, [["run.created", "run.started"]]);
    if (durability === "sync") {
      assert.deepEqual(seen, [["run.created", "run.started", "step.committed"]]);
    }
    assert.deepEqual(await committedSteps(store, "t"), [1, 2, 3]);
  }
});

/** The store as a runtime cut off from it for lease renewals sees it (a frozen or partitioned process). */
function cutOff(store: MemoryStore): MemoryStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === "renewLeases") return () => Promise.reject(new Error("cut off"));
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** Resolves once no live runtime holds the run's lease (the store's state, polled). */
async function leaseExpired(store: MemoryStore, threadId: string): Promise<void> {
  for (;;) {
    const lease = await store.getLease(threadId as ThreadId);
    if (lease === null || lease.expiresAt <= Date.now()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
