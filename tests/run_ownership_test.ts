/**
 * Guarantee: a run executes only in the runtime holding its lease. Several
 * runtimes (different owner ids) over ONE store, in one process, on every
 * store kind: no run executes twice, a runtime whose lease was taken writes
 * nothing more, messages for a run owned elsewhere go through its durable
 * mailbox, `recover()` in two runtimes at once shares the runs, tenant caps
 * and priorities order the starts.
 */

import assert from "node:assert/strict";
import {
  type JsonObject,
  type OrisError,
  planStart,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";
import { internalsOf } from "../actors/runtime.ts";
import type { NodeContext } from "../actors/context.ts";
import type { Runtime, RuntimeSettings } from "../actors/runtime_api.ts";
import { createRuntime } from "../preset.ts";
import { storeTest } from "./_stores.ts";
import { chain, type ChainNode as Node } from "./_chain_graph.ts";
import { collectingLogger, cutOffFromLeases } from "./_helpers.ts";

function runtimeOn(store: Store, ownerId: string, settings: RuntimeSettings = {}): Runtime {
  return createRuntime({
    store,
    ownerId,
    pollIntervalMs: 20,
    logger: collectingLogger().logger,
    ...settings,
  });
}

/** Creates a `queued` run of graph "g" directly in the store (no runtime starts it). */
async function queuedRun(
  store: Store,
  runtime: Runtime,
  threadId: string,
  metadata?: JsonObject,
): Promise<void> {
  const spec = runtime.graph("g").spec;
  const plan = await planStart(spec, spec.schema.initial({}) as JsonObject);
  await store.createRun({
    type: "run.created",
    v: 1,
    at: Date.now(),
    threadId: threadId as ThreadId,
    graph: "g",
    input: {},
    payloadHash: `h-${threadId}`,
    state: plan.state,
    next: plan.next,
    ...(metadata === undefined ? {} : { metadata }),
  });
}

async function committedSteps(store: Store, threadId: string): Promise<number[]> {
  const steps: number[] = [];
  for (const { event } of await store.readEvents(threadId as ThreadId, 1)) {
    if (event.type === "step.committed") steps.push(event.step);
  }
  return steps;
}

/** Polls until `check` holds (the store's state); fails after a generous guard. */
async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const guard = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > guard) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function settled(runtime: Runtime, threadId: string): Promise<string> {
  const run = await runtime.get(threadId);
  return run?.status ?? "missing";
}

storeTest("two runtimes on one store never execute one run twice", async (store) => {
  const executions = new Map<string, number>();
  const node = (name: string): Node => async (_state, ctx) => {
    await ctx.effect(`${name}-effect`, () => {
      const key = `${ctx.threadId}/${name}`;
      executions.set(key, (executions.get(key) ?? 0) + 1);
      return name;
    });
    return { log: [name] };
  };
  const nodes = { a: node("a"), b: node("b"), c: node("c") };
  await using a = runtimeOn(store, "owner-a");
  await using b = runtimeOn(store, "owner-b");
  chain(a, nodes);
  chain(b, nodes);
  const ids = Array.from({ length: 12 }, (_, i) => `run-${i}`);
  // Every run is started through both runtimes at once.
  const results = await Promise.all(
    ids.flatMap((threadId) => [
      a.invoke("g", {}, { threadId }),
      b.invoke("g", {}, { threadId }),
    ]),
  );
  assert.ok(results.every((result) => result.status === "completed"));
  for (const threadId of ids) {
    assert.deepEqual(await committedSteps(store, threadId), [1, 2, 3], threadId);
    for (const name of ["a", "b", "c"]) assert.equal(executions.get(`${threadId}/${name}`), 1);
    assert.equal((await store.listEffects(threadId as ThreadId)).length, 3);
  }
});

storeTest("a runtime whose lease was taken commits nothing more", async (store) => {
  const gate = Promise.withResolvers<void>();
  const entered = Promise.withResolvers<void>();
  const { logger: loggerA, entries: linesA } = collectingLogger();
  // A's clock stands still and it cannot renew: it does not see its lease end.
  await using a = runtimeOn(cutOffFromLeases(store), "owner-a", {
    leaseTtlMs: 300,
    now: () => 1_000,
    logger: loggerA,
  });
  chain(a, {
    b: async () => {
      entered.resolve();
      await gate.promise;
      return { log: ["b-from-a"] };
    },
  });
  await using b = runtimeOn(store, "owner-b");
  chain(b);
  await a.start("g", {}, { threadId: "fenced" });
  await entered.promise;
  await until(async () => {
    const lease = await store.getLease("fenced" as ThreadId);
    return lease !== null && lease.expiresAt <= Date.now();
  }, "A's lease to expire");
  const { recovered } = await b.recover();
  assert.deepEqual(recovered, ["fenced"]);
  assert.equal((await b.wait("fenced")).status, "completed");
  // A's step finishes now: its commit is refused, it logs it once and writes nothing.
  gate.resolve();
  await until(() => linesA.some((line) => line.message === "lease lost"), "A to log it");
  const run = await store.load("fenced" as ThreadId);
  assert.ok(run !== null);
  assert.deepEqual(await committedSteps(store, "fenced"), [1, 2, 3]);
  const final = await b.get("fenced");
  assert.deepEqual(final?.state.log, ["a", "b", "c"]);
  const lost = linesA.filter((line) => line.message === "lease lost");
  assert.equal(lost.length, 1);
  assert.equal(lost[0]!.fields.thread_id, "fenced");
  assert.equal(lost[0]!.fields.owner, "owner-a");
  assert.ok(!linesA.some((line) => line.level === "error"), "no error of its own");
});

storeTest(
  "a cancel sent to a runtime that does not own the run goes through the mailbox",
  async (store) => {
    const entered = Promise.withResolvers<void>();
    await using a = runtimeOn(store, "owner-a");
    await using b = runtimeOn(store, "owner-b");
    chain(a, {
      a: async (_state, ctx) => {
        entered.resolve();
        await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        return { log: ["a"] };
      },
    });
    chain(b);
    await a.start("g", {}, { threadId: "remote-cancel" });
    await entered.promise;
    assert.equal((await store.getLease("remote-cancel" as ThreadId))?.owner, "owner-a");
    const cancelled = await b.cancel("remote-cancel", "from b");
    assert.equal(cancelled.status, "cancelled");
    assert.equal((await a.wait("remote-cancel")).status, "cancelled");
    assert.deepEqual(await committedSteps(store, "remote-cancel"), []);
  },
);

storeTest(
  "a resume sent twice to a runtime that does not own the run is applied once",
  async (store) => {
    await using a = runtimeOn(store, "owner-a");
    await using b = runtimeOn(store, "owner-b");
    const nodes = {
      b: async (_state: unknown, ctx: NodeContext) => {
        await ctx.interrupt("approve?");
        return { log: ["b"] };
      },
    };
    chain(a, nodes);
    chain(b, nodes);
    assert.equal((await a.invoke("g", {}, { threadId: "remote-resume" })).status, "interrupted");
    // A listens: it keeps the run (and its lease) in memory.
    const stop = await internalsOf(a).listen("remote-resume", () => {});
    try {
      assert.equal((await store.getLease("remote-resume" as ThreadId))?.owner, "owner-a");
      const outcomes = await Promise.allSettled([
        b.resume("remote-resume", "yes"),
        b.resume("remote-resume", "yes"),
      ]);
      const seen = JSON.stringify(
        outcomes.map((o) =>
          o.status === "fulfilled" ? o.value.status : `${o.reason?.name}: ${o.reason?.message}`
        ),
      );
      const done = outcomes.filter((o) => o.status === "fulfilled");
      assert.ok(done.length >= 1, seen);
      for (const outcome of done) assert.equal(outcome.value.status, "completed", seen);
      for (const outcome of outcomes) {
        // The refusal one process gives, with its code (the class is not carried by the mailbox).
        if (outcome.status === "rejected") {
          assert.equal((outcome.reason as OrisError).code, "conflict", seen);
        }
      }
    } finally {
      stop();
    }
    const resumed = (await store.readEvents("remote-resume" as ThreadId, 1))
      .filter(({ event }) => event.type === "run.resumed");
    assert.equal(resumed.length, 1);
    assert.equal(await settled(a, "remote-resume"), "completed");
  },
);

storeTest("recover() in two runtimes at once shares the runs", async (store) => {
  const executions = new Map<string, number>();
  const nodes = {
    a: async (_state: unknown, ctx: NodeContext) => {
      await ctx.effect("count", () => {
        executions.set(ctx.threadId, (executions.get(ctx.threadId) ?? 0) + 1);
        return null;
      });
      return { log: ["a"] };
    },
  };
  await using a = runtimeOn(store, "owner-a");
  await using b = runtimeOn(store, "owner-b");
  chain(a, nodes);
  chain(b, nodes);
  const ids = Array.from({ length: 10 }, (_, i) => `queued-${i}`);
  for (const threadId of ids) await queuedRun(store, a, threadId);
  const [fromA, fromB] = await Promise.all([a.recover(), b.recover()]);
  const all = [...fromA.recovered, ...fromB.recovered];
  assert.equal(new Set(all).size, all.length, "no run recovered twice");
  await until(async () => {
    for (const threadId of ids) if (await settled(a, threadId) !== "completed") return false;
    return true;
  }, "every run to complete");
  for (const threadId of ids) {
    assert.deepEqual(await committedSteps(store, threadId), [1, 2, 3]);
    assert.equal(executions.get(threadId), 1);
  }
});

storeTest(
  "a tenant cap of 1 runs one run of the tenant at a time; priorities order starts",
  async (store) => {
    let running = 0;
    let most = 0;
    const order: string[] = [];
    const node: Node = async (_state, ctx) => {
      if (!order.includes(ctx.threadId)) order.push(ctx.threadId);
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return { log: ["x"] };
    };
    const settings = { tenantMaxActiveRuns: 1 };
    await using a = runtimeOn(store, "owner-a", settings);
    await using b = runtimeOn(store, "owner-b", settings);
    chain(a, { a: node, b: node, c: node });
    chain(b, { a: node, b: node, c: node });
    const priorities = [1, 5, 3, 9, 2];
    for (const [i, priority] of priorities.entries()) {
      await queuedRun(store, a, `p${priority}`, { tenant_id: "acme", priority, i });
    }
    await Promise.all([a.recover(), b.recover()]);
    await until(async () => {
      for (const p of priorities) if (await settled(a, `p${p}`) !== "completed") return false;
      return true;
    }, "every run to complete");
    assert.equal(most, 1);
    assert.deepEqual(order, ["p9", "p5", "p3", "p2", "p1"]);
  },
);

storeTest("a runtime follows a run another runtime executes (listen, wait)", async (store) => {
  const gate = Promise.withResolvers<void>();
  const entered = Promise.withResolvers<void>();
  await using a = runtimeOn(store, "owner-a");
  await using b = runtimeOn(store, "owner-b");
  chain(a, {
    b: async () => {
      entered.resolve();
      await gate.promise;
      return { log: ["b"] };
    },
  });
  chain(b);
  await a.start("g", {}, { threadId: "followed" });
  await entered.promise;
  const seen: string[] = [];
  const rested = Promise.withResolvers<void>();
  const stop = await internalsOf(b).listen("followed", (event) => {
    if (event.kind === "committed") seen.push(...event.events.map((e) => e.type));
    if (event.kind === "rest") rested.resolve();
  });
  try {
    const waited = b.wait("followed");
    gate.resolve();
    const result = await waited;
    assert.equal(result.status, "completed");
    assert.deepEqual(result.state.log, ["a", "b", "c"]);
    await rested.promise;
    assert.ok(seen.includes("run.completed"), JSON.stringify(seen));
  } finally {
    stop();
  }
  assert.deepEqual(await committedSteps(store, "followed"), [1, 2, 3]);
});

storeTest(
  'a runtime with execution "none" never executes: its runs wait queued, its messages go through the mailbox',
  async (store) => {
    const nodes = {
      b: async (_state: unknown, ctx: NodeContext) => {
        await ctx.interrupt("approve?");
        return { log: ["b"] };
      },
    };
    await using front = runtimeOn(store, "front", { execution: "none" });
    chain(front, nodes);
    assert.deepEqual(await front.recover(), { recovered: [], failed: [] });
    const started = await front.start("g", {}, { threadId: "none-1" });
    assert.equal(started.status, "queued");
    assert.equal(await store.getLease("none-1" as ThreadId), null);
    // The front's invoke waits for whoever executes it.
    const invoked = front.invoke("g", {}, { threadId: "none-2" });
    await using back = runtimeOn(store, "back");
    chain(back, nodes);
    await back.recover();
    assert.equal((await invoked).status, "interrupted");
    assert.equal((await front.wait("none-1")).status, "interrupted");
    // A resume from the front is posted to the mailbox; the back claims the run and applies it.
    const resumed = await front.resume("none-1", "yes");
    assert.equal(resumed.status, "completed");
    assert.deepEqual(resumed.state.log, ["a", "b", "c"]);
    assert.equal((await front.cancel("none-2", "no")).status, "cancelled");
    assert.deepEqual(await committedSteps(store, "none-1"), [1, 2, 3]);
  },
);
