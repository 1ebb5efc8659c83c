/**
 * Guarantee: a caller waiting on a run whose lease its runtime lost is not
 * told of a lease it never held (a 409): it follows the run through the store
 * until the run comes to rest wherever it executes, and gets the run's
 * result, as if one runtime had executed it. The runtime that lost the lease
 * still writes nothing more (fencing). Two runtimes over one store, on every
 * store kind; the first is cut off from its leases (a frozen or partitioned
 * process), so the second takes its run over.
 */

import assert from "node:assert/strict";
import type { LogFields, Store, ThreadId } from "../kernel/mod.ts";
import { internalsOf } from "../actors/runtime.ts";
import type { Runtime, RuntimeSettings } from "../actors/runtime_api.ts";
import { createRuntime } from "../preset.ts";
import { storeTest } from "./_stores.ts";
import { chain, type ChainNode as Node } from "./_chain_graph.ts";
import { collectingLogger, cutOffFromLeases, leaseExpired, readLog } from "./_helpers.ts";

/** A runtime over `store` whose `lease lost` line resolves `lost`. */
function runtimeOn(
  store: Store,
  ownerId: string,
  settings: RuntimeSettings & { now?: () => number } = {},
): { runtime: Runtime; lost: Promise<LogFields>; errors: () => string[] } {
  const lost = Promise.withResolvers<LogFields>();
  const { logger, entries } = collectingLogger();
  const runtime = createRuntime({
    store,
    ownerId,
    pollIntervalMs: 20,
    logger: {
      ...logger,
      warn(message, fields = {}) {
        if (message === "lease lost") lost.resolve(fields);
        logger.warn(message, fields);
      },
    },
    ...settings,
  });
  const errors = () => entries.filter((e) => e.level === "error").map((e) => e.message);
  return { runtime, lost: lost.promise, errors };
}

/** A node that says it started, then waits for its gate. */
function gated(entered: () => void, gate: Promise<void>, log: string): Node {
  return async () => {
    entered();
    await gate;
    return { log: [log] };
  };
}

async function types(store: Store, threadId: string): Promise<string[]> {
  return (await readLog(store, threadId)).map(({ event }) => event.type);
}

/** Two runtimes, A having lost the lease of a run B has claimed since; disposing closes both. */
interface LostInA extends AsyncDisposable {
  a: ReturnType<typeof runtimeOn>;
  runtimeA: Runtime;
  runtimeB: Runtime;
}

/**
 * Runtime A runs `threadId` of "g" until it is interrupted at b (which asks
 * for an answer); a listener keeps the run's actor, and its lease, in A's
 * memory; A's lease then runs out unrenewed (A loses it, its actor stops),
 * and B's claim loop runs.
 */
async function interruptedThenLostInA(store: Store, threadId: string): Promise<LostInA> {
  let clock = Date.now();
  const a = runtimeOn(cutOffFromLeases(store), "owner-a", { leaseTtlMs: 300, now: () => clock });
  const runtimeB = runtimeOn(store, "owner-b").runtime;
  const ask: Node = async (_state, ctx) => {
    const answer = await ctx.interrupt("approve?");
    return { log: [`b:${answer}`] };
  };
  chain(a.runtime, { b: ask });
  chain(runtimeB, { b: ask });
  let stopListening = () => {};
  const dispose = async () => {
    stopListening();
    await runtimeB.close();
    await a.runtime.close();
  };
  try {
    assert.equal((await a.runtime.invoke("g", {}, { threadId })).status, "interrupted");
    stopListening = await internalsOf(a.runtime).listen(threadId, () => {});
    clock += 60_000;
    await a.lost;
    await runtimeB.recover();
  } catch (error) {
    await dispose();
    throw error;
  }
  return { a, runtimeA: a.runtime, runtimeB, [Symbol.asyncDispose]: dispose };
}

storeTest(
  "a caller whose runtime lost the run's lease mid-step gets the result of the runtime that " +
    "took the run over, not a conflict",
  async (store) => {
    const threadId = "followed";
    const [enteredA, gateA] = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
    const [enteredB, gateB] = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
    // A cannot renew and its clock stands still: it learns of the loss from its next write.
    const a = runtimeOn(cutOffFromLeases(store), "owner-a", { leaseTtlMs: 300, now: () => 1_000 });
    await using runtimeA = a.runtime;
    chain(runtimeA, { b: gated(enteredA.resolve, gateA.promise, "b-from-a") });
    await using runtimeB = runtimeOn(store, "owner-b").runtime;
    chain(runtimeB, { b: gated(enteredB.resolve, gateB.promise, "b") });
    const caller = runtimeA.invoke("g", {}, { threadId });
    caller.catch(() => {}); // awaited below
    await enteredA.promise;
    await leaseExpired(store, threadId);
    assert.deepEqual((await runtimeB.recover()).recovered, [threadId]);
    await enteredB.promise;
    // A's step ends while B executes the run: A's commit is refused, and its caller follows B.
    gateA.resolve();
    const lost = await a.lost;
    assert.equal(lost.thread_id, threadId);
    assert.equal((await runtimeA.get(threadId))?.status, "running");
    gateB.resolve();
    const result = await caller;
    assert.equal(result.status, "completed");
    assert.deepEqual(result.state, { log: ["a", "b", "c"] });
    // The trace is the run's, each step once: A's first step, then B's commits.
    const ends = result.trace.flatMap((entry) => entry.type === "step_end" ? [entry.step] : []);
    assert.deepEqual(ends, [1, 2, 3]);
    assert.deepEqual(result.trace.at(-1), { type: "end", status: "completed" });
    assert.equal(result.trace.filter((entry) => entry.type === "end").length, 1);
    assert.deepEqual(result, { ...(await runtimeB.wait(threadId)), trace: result.trace });
    // Fencing is unchanged: A wrote nothing after losing the lease.
    const log = await types(store, threadId);
    assert.equal(log.filter((type) => type === "step.committed").length, 3);
    assert.equal(log.at(-1), "run.completed");
    assert.deepEqual(a.errors(), []);
  },
);

storeTest(
  "a resume its runtime can no longer apply (the run's lease was lost) goes to the run's new " +
    "owner, and the caller gets the run's result",
  async (store) => {
    const threadId = "resumed";
    await using lost = await interruptedThenLostInA(store, threadId);
    const result = await lost.runtimeA.resume(threadId, "yes");
    assert.equal(result.status, "completed");
    assert.deepEqual(result.state, { log: ["a", "b:yes", "c"] });
    const ends = result.trace.flatMap((entry) => entry.type === "step_end" ? [entry.step] : []);
    assert.deepEqual(ends, [2, 3]);
    assert.deepEqual(result.trace.at(-1), { type: "end", status: "completed" });
    assert.equal((await store.getLease(threadId as ThreadId))?.owner ?? "owner-b", "owner-b");
    const log = await types(store, threadId);
    assert.equal(log.filter((type) => type === "run.resumed").length, 1);
    assert.equal(log.at(-1), "run.completed");
  },
);

storeTest(
  "a cancel or a state update its runtime can no longer apply (the run's lease was lost) goes to " +
    "the run's new owner, applied once, not a conflict",
  async (store) => {
    const threadId = "cancelled-elsewhere";
    await using lost = await interruptedThenLostInA(store, threadId);
    const updated = await lost.runtimeA.updateState(threadId, { log: ["note"] });
    assert.deepEqual(updated.state, { log: ["a", "note"] });
    const cancelled = await lost.runtimeA.cancel(threadId, "no longer needed");
    assert.equal(cancelled.status, "cancelled");
    const log = await types(store, threadId);
    assert.equal(log.filter((type) => type === "run.cancelled").length, 1);
    assert.equal(log.filter((type) => type === "state.updated").length, 1);
    assert.equal(log.at(-1), "run.cancelled");
    assert.deepEqual(lost.a.errors(), []);
  },
);
