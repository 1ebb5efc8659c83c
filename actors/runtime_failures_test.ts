/**
 * What the runtime reports instead of swallowing: listener failures, runs it
 * cannot recover, commits that fail on close; and how runs fail on purpose:
 * deadlines (code `timeout`) and `TerminalError` (no retries).
 */
import assert from "node:assert/strict";
import { deferred, recordingLogger } from "./_fixtures_test.ts";
import {
  currentSnapshot,
  defineState,
  END,
  type RunEvent,
  type RunSnapshot,
  START,
  StorageError,
  TerminalError,
  type ThreadId,
} from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import { createRuntime, StateGraph } from "../preset.ts";
import { internalsOf } from "./runtime.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** A node that logs `name`, once it said it started (`entered`) and its `gate` opened. */
function gatedNode(name: string): {
  entered: ReturnType<typeof deferred>;
  gate: ReturnType<typeof deferred>;
  node: () => Promise<{ log: string[] }>;
} {
  const entered = deferred();
  const gate = deferred();
  const node = async () => {
    entered.resolve();
    await gate.promise;
    return { log: [name] };
  };
  return { entered, gate, node };
}

Deno.test("createRuntime() logs a listener's failure with the thread id, and the run goes on", async () => {
  const logger = recordingLogger();
  await using runtime = createRuntime({ logger });
  const gate = deferred();
  const app = new StateGraph(State)
    .addNode("a", async () => {
      await gate.promise;
      return { log: ["a"] };
    })
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile({ runtime, name: "g" });
  const started = await runtime.start("g", {}, { threadId: "listened" });
  assert.equal(started.status, "running");
  const stop = await internalsOf(runtime).listen("listened", () => {
    throw new Error("listener broke");
  });
  gate.resolve();
  const done = await app.runtime.wait("listened");
  stop();
  assert.equal(done.status, "completed");
  const warning = logger.entries.find((entry) => entry.message === "A run listener failed");
  assert.equal(warning?.level, "warn");
  assert.equal(warning?.fields.thread_id, "listened");
  assert.match(String(warning?.fields.error), /listener broke/);
});

Deno.test("Runtime.recover() reports a run whose graph is not registered and leaves it untouched", async () => {
  await using store = new MemoryStore();
  {
    await using first = createRuntime({ store });
    const gate = deferred();
    new StateGraph(State)
      .addNode("a", async () => {
        await gate.promise;
        return {};
      })
      .addNode("b", () => ({}))
      .addEdge(START, "a")
      .addEdge("a", "b")
      .addEdge("b", END)
      .compile({ runtime: first, name: "old" });
    await first.start("old", {}, { threadId: "orphan" });
    // The process stops with the run running: its first step commits, no other starts.
    const closing = first.close();
    gate.resolve();
    await closing;
  }
  const logger = recordingLogger();
  await using next = createRuntime({ store, logger });
  const before = await store.readEvents("orphan" as ThreadId, 1);
  assert.equal((await next.get("orphan"))?.status, "running");
  const report = await next.recover();
  assert.deepEqual(report.recovered, []);
  assert.equal(report.failed.length, 1);
  assert.equal(report.failed[0]?.threadId, "orphan");
  assert.equal(report.failed[0]?.graph, "old");
  assert.equal(report.failed[0]?.code, "not_found");
  assert.match(report.failed[0]!.message, /Graph "old" is not registered/);
  assert.deepEqual(await store.readEvents("orphan" as ThreadId, 1), before);
  const warning = logger.entries.find((entry) => entry.fields.thread_id === "orphan");
  assert.equal(warning?.level, "warn");
});

for (const status of ["failed", "cancelled"] as const) {
  Deno.test(`a deadline ends a run ${status} with code timeout`, async () => {
    await using runtime = createRuntime();
    let reason: unknown = null;
    new StateGraph(State)
      .addNode("slow", (_state, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            reason = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
        }))
      .addEdge(START, "slow")
      .addEdge("slow", END)
      .compile({ runtime, name: "slow" });
    const result = await runtime.invoke("slow", {}, {
      threadId: `deadline-${status}`,
      deadline: { ms: 5, status },
    });
    assert.equal(result.status, status);
    if (status === "failed") assert.equal(result.error?.code, "timeout");
    // The timer may fire before the node starts; when it ran, it saw why it stopped
    // (run_actor_test.ts checks the reason deterministically).
    if (reason !== null) assert.equal((reason as { code?: string }).code, "timeout");
  });
}

Deno.test("a TerminalError fails the run at once, whatever the node's retry policy", async () => {
  await using runtime = createRuntime();
  let attempts = 0;
  new StateGraph(State)
    .addNode("pay", () => {
      attempts++;
      throw new TerminalError("Card declined", { details: { order: 42 } });
    }, { retry: { maxAttempts: 5, initialIntervalMs: 1, retryOn: () => true } })
    .addEdge(START, "pay")
    .addEdge("pay", END)
    .compile({ runtime, name: "pay" });
  const result = await runtime.invoke("pay", {}, { threadId: "declined" });
  assert.equal(attempts, 1);
  assert.equal(result.status, "failed");
  assert.deepEqual(result.error, {
    code: "terminal",
    message: "Card declined",
    node: "pay",
    step: 1,
  });
});

/** A MemoryStore whose appends fail once `failing` is set. */
class FailingStore extends MemoryStore {
  failing = false;
  override append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
  ): Promise<{ version: number }> {
    if (this.failing) return Promise.reject(new StorageError("disk full"));
    return super.append(threadId, expectedVersion, events, snapshot);
  }
}

Deno.test("Runtime.close() logs the commits it cannot make, with the thread id", async () => {
  await using store = new FailingStore();
  const logger = recordingLogger();
  const runtime = createRuntime({ store, logger, durability: "exit" });
  const { entered, gate, node } = gatedNode("a");
  new StateGraph(State)
    .addNode("a", node)
    .addNode("b", () => ({ log: ["b"] }))
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", END)
    .compile({ runtime, name: "g" });
  await runtime.start("g", {}, { threadId: "unflushed" });
  await entered.promise;
  const closing = runtime.close();
  store.failing = true;
  gate.resolve();
  await closing;
  const error = logger.entries.find((entry) => entry.level === "error");
  assert.equal(error?.fields.thread_id, "unflushed");
  assert.match(String(error?.fields.error), /disk full/);
});

/** A MemoryStore that remembers how runs' logs were read. */
class CountingStore extends MemoryStore {
  reads: { fromSeq: number; limit: number | undefined }[] = [];
  override readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options?: { limit?: number },
  ): ReturnType<MemoryStore["readEvents"]> {
    this.reads.push({ fromSeq, limit: options?.limit });
    return super.readEvents(threadId, fromSeq, options);
  }
}

Deno.test("Runtime.getState() reads the latest checkpoint by key, not the whole log", async () => {
  await using store = new CountingStore();
  await using runtime = createRuntime({ store });
  let graph = new StateGraph(State);
  for (let i = 0; i < 20; i++) graph = graph.addNode(`n${i}`, () => ({ log: [`n${i}`] }));
  graph = graph.addEdge(START, "n0");
  for (let i = 1; i < 20; i++) graph = graph.addEdge(`n${i - 1}`, `n${i}`);
  graph.addEdge("n19", END).compile({ runtime, name: "long" });
  await runtime.invoke("long", {}, { threadId: "long-1" });
  store.reads = [];
  const state = await runtime.getState("long-1");
  assert.equal(state.step, 20);
  assert.deepEqual(state.source, { kind: "step", nodes: ["n19"] });
  assert.ok(state.parentCheckpointId !== null);
  assert.deepEqual(store.reads.map((read) => read.limit), [1]);
  const history = await runtime.getStateHistory("long-1");
  assert.equal(history[0]?.checkpointId, state.checkpointId);
  assert.equal(history[0]?.parentCheckpointId, state.parentCheckpointId);
});

/** A MemoryStore that cannot journal retry wake-ups. */
class NoBackoffJournal extends MemoryStore {
  override recordEffect(
    record: Parameters<MemoryStore["recordEffect"]>[0],
  ): ReturnType<MemoryStore["recordEffect"]> {
    if (record.name === "oris.retry_backoff") return Promise.reject(new StorageError("disk full"));
    return super.recordEffect(record);
  }
}

Deno.test("a retry whose wake-up cannot be journaled fails the step and is reported, not skipped", async () => {
  await using store = new NoBackoffJournal();
  const logger = recordingLogger();
  await using runtime = createRuntime({ store, logger });
  let attempts = 0;
  new StateGraph(State)
    .addNode("flaky", () => {
      attempts++;
      throw new Error("try again");
    }, { retry: { maxAttempts: 3, initialIntervalMs: 1 } })
    .addEdge(START, "flaky")
    .addEdge("flaky", END)
    .compile({ runtime, name: "flaky" });
  await assert.rejects(() => runtime.invoke("flaky", {}, { threadId: "no-journal" }), /disk full/);
  assert.equal(attempts, 1, "no attempt ran without its journaled wait");
  const error = logger.entries.find((entry) => entry.level === "error");
  assert.equal(error?.fields.thread_id, "no-journal");
  // The store keeps the run as it was committed: running, at its first step.
  assert.equal(currentSnapshot((await store.load("no-journal" as ThreadId))!).status, "running");
});

Deno.test("Runtime.getState() of a run whose steps have not landed yet (exit durability) answers from the actor", async () => {
  await using store = new CountingStore();
  await using runtime = createRuntime({ store, durability: "exit" });
  const { entered, gate, node } = gatedNode("b");
  new StateGraph(State)
    .addNode("a", () => ({ log: ["a"] }))
    .addNode("b", node)
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", END)
    .compile({ runtime, name: "exit" });
  await runtime.start("exit", {}, { threadId: "ahead" });
  await entered.promise;
  const state = await runtime.getState("ahead");
  assert.equal(state.step, 1);
  assert.deepEqual(state.values, { log: ["a"] });
  assert.deepEqual(state.next, ["b"]);
  assert.equal(await store.getCheckpoint("ahead" as ThreadId, state.checkpointId as never), null);
  gate.resolve();
  assert.equal((await runtime.wait("ahead")).status, "completed");
  const landed = await runtime.getState("ahead");
  assert.deepEqual(landed.source, { kind: "step", nodes: ["b"] });
});

/** A MemoryStore that is unavailable (an outage) for effects and claims while `down`. */
class JournalOutage extends MemoryStore {
  down = true;
  #outage(): Promise<never> {
    return Promise.reject(new StorageError("the database is unreachable", { retryable: true }));
  }
  override recordEffect(
    ...args: Parameters<MemoryStore["recordEffect"]>
  ): ReturnType<MemoryStore["recordEffect"]> {
    return this.down ? this.#outage() : super.recordEffect(...args);
  }
  override claimRuns(
    ...args: Parameters<MemoryStore["claimRuns"]>
  ): ReturnType<MemoryStore["claimRuns"]> {
    return this.down ? this.#outage() : super.claimRuns(...args);
  }
}

Deno.test("a store outage under a task's effect journal is not the node's failure: nothing is committed, the run continues from its last commit", async () => {
  await using store = new JournalOutage();
  const logger = recordingLogger();
  await using runtime = createRuntime({ store, logger });
  let calls = 0;
  new StateGraph(State)
    .addNode("charge", async (_state, ctx) => {
      const receipt = await ctx.effect("charge", () => `receipt-${++calls}`);
      return { log: [receipt] };
    })
    .addEdge(START, "charge")
    .addEdge("charge", END)
    .compile({ runtime, name: "outage" });
  const completed = deferred();
  internalsOf(runtime).observe((threadId, event) => {
    if (threadId === "outage-1" && event.kind === "rest" && event.run.status === "completed") {
      completed.resolve();
    }
  });
  await assert.rejects(
    () => runtime.invoke("outage", {}, { threadId: "outage-1" }),
    (error: unknown) => error instanceof StorageError && error.code === "unavailable",
  );
  // Nothing of the step was committed: the run is still running at its first step, not failed.
  assert.equal(currentSnapshot((await store.load("outage-1" as ThreadId))!).status, "running");
  const types = (await store.readEvents("outage-1" as ThreadId, 1)).map((e) => e.event.type);
  assert.ok(!types.includes("step.committed") && !types.includes("run.failed"), String(types));
  // Once the store answers, the run is taken up again by itself (nobody calls it) and completes;
  // the effect whose result could not be journaled ran again (at least once), and the journal keeps
  // the one result that landed.
  store.down = false;
  await completed.promise;
  assert.deepEqual((await runtime.get("outage-1"))?.state, { log: ["receipt-2"] });
  assert.equal((await store.listEffects("outage-1" as ThreadId)).length, 1);
  assert.ok(
    logger.entries.some((entry) =>
      entry.level === "error" && entry.fields.thread_id === "outage-1"
    ),
  );
});

Deno.test("Runtime.wait() takes up a run waiting to execute that nobody executes, and answers when it ends", async () => {
  await using store = new MemoryStore();
  const graph = new StateGraph(State)
    .addNode("a", () => ({ log: ["a"] }))
    .addEdge(START, "a")
    .addEdge("a", END);
  // A runtime that executes nothing leaves the run queued.
  await using queuing = createRuntime({ store, execution: "none" });
  graph.compile({ runtime: queuing, name: "g" });
  assert.equal((await queuing.start("g", {}, { threadId: "waited" })).status, "queued");
  // Another runtime, whose claim loop never started, is asked to wait for it.
  await using runtime = createRuntime({ store });
  graph.compile({ runtime, name: "g" });
  const result = await runtime.wait("waited");
  assert.equal(result.status, "completed");
  assert.deepEqual((await runtime.get("waited"))?.state, { log: ["a"] });
});

Deno.test("a caller whose run's lease expired while the store is unavailable gets unavailable, not the lease's conflict", async () => {
  await using memory = new MemoryStore();
  let down = false;
  // Every call fails as an unreachable database does while `down`.
  const store = new Proxy(memory, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        down
          ? Promise.reject(new StorageError("The store is down", { retryable: true }))
          : value.apply(target, args);
    },
  });
  let clock = 1_000;
  const logger = recordingLogger();
  await using runtime = createRuntime({ store, now: () => clock, leaseTtlMs: 300, logger });
  const { entered, gate, node } = gatedNode("a");
  new StateGraph(State)
    .addNode("a", node)
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile({ runtime, name: "g" });
  const caller = runtime.invoke("g", {}, { threadId: "expired" });
  await entered.promise;
  // The database goes away; the lease's time passes unrenewed: the runtime loses it at its next round.
  down = true;
  clock += 10_000;
  await assert.rejects(
    caller,
    (error: unknown) => error instanceof StorageError && error.code === "unavailable",
  );
  assert.ok(logger.entries.some((entry) => entry.message === "lease lost"));
  // The actor's own writes still meet the lost lease: its step, finished now, writes nothing.
  gate.resolve();
  down = false;
  await runtime.close();
  const types = (await memory.readEvents("expired" as ThreadId, 1)).map((e) => e.event.type);
  assert.ok(!types.includes("step.committed"), String(types));
});
