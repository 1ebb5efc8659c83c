/**
 * Verified replay: `replay()` re-executes a recorded run with every effect
 * served from the journal and finds it equal, on every example graph and on
 * graphs using each feature (map-reduce with `Send`, `Command` goto, parallel
 * fan-out, retries, subgraphs, `ctx.now/random/uuid/sleep` and effects), on
 * memory, Deno KV and PostgreSQL. Replay never writes to the store and never
 * runs an effect. A node that reads `Math.random()` outside `ctx`, a router
 * whose decision changed, and an effect renamed at the same call index are
 * each reported as a `NondeterminismError` naming the step, the node and both
 * values. Replay from a checkpoint compares only the steps after it.
 */

import assert from "node:assert/strict";
import {
  Command,
  defineState,
  END,
  humanMessage,
  type NodeContext,
  NondeterminismError,
  NotFoundError,
  Send,
  START,
  StateGraph,
  type Store,
  type ThreadId,
} from "../mod.ts";
import { approvalGraph } from "../examples/approval.ts";
import { helloGraph } from "../examples/hello.ts";
import { storeTest } from "./_stores.ts";

// ---------------------------------------------------------------------------
// Helpers

/** Everything a store holds about every run: listings, events, checkpoints and effects. */
async function dumpStore(store: Store): Promise<unknown> {
  const runs = [];
  let cursor: string | null = null;
  do {
    const page = await store.listRuns({ limit: 100, cursor });
    runs.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  runs.sort((a, b) => a.threadId < b.threadId ? -1 : 1);
  const dump: Record<string, unknown> = {};
  for (const summary of runs) {
    const id = summary.threadId;
    dump[id] = {
      summary,
      loaded: await store.load(id),
      events: await store.readEvents(id, 1),
      effects: await store.listEffects(id),
      checkpoints: (await store.listCheckpoints(id, { limit: 1000 })).items,
    };
  }
  return dump;
}

/** How many `step.committed` events a run has. */
async function committedSteps(store: Store, threadId: string): Promise<number> {
  const events = await store.readEvents(threadId as ThreadId, 1);
  return events.filter(({ event }) => event.type === "step.committed").length;
}

/** The recorded update of `node` at `step`. */
async function recordedUpdate(
  store: Store,
  threadId: string,
  step: number,
  node: string,
): Promise<unknown> {
  for (const { event } of await store.readEvents(threadId as ThreadId, 1)) {
    if (event.type === "step.committed" && event.step === step) {
      return event.tasks.find((task) => task.node === node)?.update;
    }
  }
  throw new Error(`No step ${step} in run "${threadId}"`);
}

interface Replayable {
  replay(
    threadId: string,
    options?: { checkpointId?: string },
  ): Promise<{ ok: true; threadId: string; steps: number; fromCheckpointId: string | null }>;
}

/**
 * Replays a run and checks that it matches, that every committed step was
 * compared, and that the store is byte-for-byte what it was.
 */
async function assertReplayMatches(
  app: Replayable,
  store: Store,
  threadId: string,
  expectedSteps: number,
): Promise<void> {
  assert.equal(await committedSteps(store, threadId), expectedSteps);
  const before = await dumpStore(store) as Record<string, unknown>;
  assert.ok(threadId in before, `run "${threadId}" is not in the store`);
  const report = await app.replay(threadId);
  assert.deepEqual(report, { ok: true, threadId, steps: expectedSteps, fromCheckpointId: null });
  assert.deepEqual(await dumpStore(store), before, "replay wrote to the store");
}

/** Runs `fn` and returns the `NondeterminismError` it rejects with. */
async function nondeterminism(fn: () => Promise<unknown>): Promise<NondeterminismError> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof NondeterminismError, `expected a NondeterminismError: ${error}`);
    assert.equal(error.code, "nondeterminism");
    return error;
  }
  assert.fail("replay did not detect the difference");
}

const Counter = defineState({
  count: { default: () => 0, reducer: (a: number, b: number) => a + b },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

// ---------------------------------------------------------------------------
// Replay equality on the example graphs

storeTest("replay() of the hello example matches the run and writes nothing", async (store) => {
  const app = helloGraph({ store });
  try {
    const result = await app.invoke({ messages: [humanMessage("hi!")] }, { threadId: "hello-1" });
    assert.equal(result.status, "completed");
    assert.deepEqual(result.state.messages.map((m) => m.content), ["hi!", "hello world"]);
    await assertReplayMatches(app, store, "hello-1", 1);
  } finally {
    await app.close();
  }
});

storeTest(
  "replay() of the approval example matches on the approve path, before and after the resume, without performing the action again",
  async (store) => {
    let performed = 0;
    const app = approvalGraph({
      store,
      perform: (action) => {
        performed++;
        return { performed: action };
      },
    });
    try {
      const first = await app.invoke({ request: "deploy v2" }, { threadId: "approve-1" });
      assert.equal(first.status, "interrupted");
      assert.deepEqual(first.interrupts.map((i) => i.node), ["approve"]);
      // Interrupted: only `prepare` has committed, and it replays.
      await assertReplayMatches(app, store, "approve-1", 1);

      const done = await app.resume("approve-1", true);
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state.log, ["prepared", "approved", "performed"]);
      assert.deepEqual(done.state.result, {
        performed: { kind: "execute", request: "deploy v2" },
      });
      assert.equal(performed, 1);

      await assertReplayMatches(app, store, "approve-1", 3);
      await assertReplayMatches(app, store, "approve-1", 3);
      assert.equal(performed, 1, "replay performed the action again");
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() of the approval example matches on the reject path, through the interrupt and resume",
  async (store) => {
    let performed = 0;
    const app = approvalGraph({
      store,
      perform: () => {
        performed++;
        return "done";
      },
    });
    try {
      const first = await app.invoke({ request: "drop table" }, { threadId: "reject-1" });
      assert.equal(first.status, "interrupted");
      const done = await app.invoke(new Command({ resume: false }), { threadId: "reject-1" });
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state.log, ["prepared", "rejected", "rejection recorded"]);
      assert.deepEqual(done.state.result, { rejected: true });
      assert.equal(done.state.approved, false);
      await assertReplayMatches(app, store, "reject-1", 3);
      assert.equal(performed, 0);
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Replay equality on graphs using each feature

storeTest(
  "replay() of a map-reduce graph (Send per item, journaled effects) matches without running an effect",
  async (store) => {
    const State = defineState({
      subjects: { default: (): string[] => [] },
      jokes: {
        default: (): string[] => [],
        reducer: (a: string[], b: string[]) => [...a, ...b],
      },
      best: { default: () => "" },
    });
    let calls = 0;
    const app = new StateGraph(State)
      .addNode("plan", () => ({ subjects: ["cats", "dogs", "owls"] }))
      .addNode("joke", async (arg: { subject: string }, ctx) => {
        const joke = await ctx.effect("write_joke", () => {
          calls++;
          return `a joke about ${arg.subject}`;
        });
        return { jokes: [joke] };
      })
      .addNode("pick", (state) => ({ best: [...state.jokes].sort()[0] }))
      .addEdge(START, "plan")
      .addConditionalEdges(
        "plan",
        (state) => state.subjects.map((subject) => new Send("joke", { subject })),
        ["joke"],
      )
      .addEdge("joke", "pick")
      .addEdge("pick", END)
      .compile({ store, name: "map-reduce" });
    try {
      const result = await app.invoke({}, { threadId: "mr-1" });
      assert.equal(result.status, "completed");
      assert.deepEqual(result.state.jokes, [
        "a joke about cats",
        "a joke about dogs",
        "a joke about owls",
      ]);
      assert.equal(result.state.best, "a joke about cats");
      assert.equal(calls, 3);
      await assertReplayMatches(app, store, "mr-1", 3);
      assert.equal(calls, 3, "replay ran an effect");
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() of a graph whose node routes with Command goto matches on both branches",
  async (store) => {
    const app = new StateGraph(Counter)
      .addNode(
        "route",
        (state) =>
          new Command({
            update: { log: ["route"] },
            goto: state.count > 0 ? "positive" : "negative",
          }),
        { ends: ["positive", "negative"] },
      )
      .addNode("positive", () => ({ log: ["positive"] }))
      .addNode("negative", () => ({ log: ["negative"] }))
      .addEdge(START, "route")
      .addEdge("positive", END)
      .addEdge("negative", END)
      .compile({ store, name: "goto" });
    try {
      const up = await app.invoke({ count: 1 }, { threadId: "goto-up" });
      assert.deepEqual(up.state.log, ["route", "positive"]);
      const down = await app.invoke({ count: 0 }, { threadId: "goto-down" });
      assert.deepEqual(down.state.log, ["route", "negative"]);
      await assertReplayMatches(app, store, "goto-up", 2);
      await assertReplayMatches(app, store, "goto-down", 2);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() of a parallel fan-out and fan-in matches, with the branches' effects served from the journal",
  async (store) => {
    const calls: Record<string, number> = {};
    const branch = (name: string) => async (_state: unknown, ctx: NodeContext) => {
      const value = await ctx.effect(`fetch_${name}`, () => {
        calls[name] = (calls[name] ?? 0) + 1;
        return `${name}-data`;
      });
      return { count: 1, log: [value] };
    };
    const app = new StateGraph(Counter)
      .addNode("split", () => ({ log: ["split"] }))
      .addNode("left", branch("left"))
      .addNode("middle", branch("middle"))
      .addNode("right", branch("right"))
      .addNode("join", (state) => ({ log: [`join:${state.count}`] }))
      .addEdge(START, "split")
      .addEdge("split", "left")
      .addEdge("split", "middle")
      .addEdge("split", "right")
      .addEdge("left", "join")
      .addEdge("middle", "join")
      .addEdge("right", "join")
      .addEdge("join", END)
      .compile({ store, name: "fan-out" });
    try {
      const result = await app.invoke({}, { threadId: "fan-1" });
      assert.equal(result.status, "completed");
      assert.deepEqual(result.state.log, [
        "split",
        "left-data",
        "middle-data",
        "right-data",
        "join:3",
      ]);
      assert.deepEqual(result.trace.filter((t) => t.type === "step_end").map((t) => t.nodes), [
        ["split"],
        ["left", "middle", "right"],
        ["join"],
      ]);
      await assertReplayMatches(app, store, "fan-1", 3);
      assert.deepEqual(calls, { left: 1, middle: 1, right: 1 });
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() of a node that failed twice and succeeded on its third attempt matches, with the failures served from the journal",
  async (store) => {
    let calls = 0;
    const app = new StateGraph(Counter)
      .addNode("flaky", async (_state, ctx) => {
        const value = await ctx.effect("call_api", () => {
          calls++;
          if (calls < 3) throw new Error(`the API is down (call ${calls})`);
          return calls;
        });
        return { count: value, log: [`attempt ${ctx.attempt}`] };
      }, { retry: { maxAttempts: 3, initialIntervalMs: 0, jitter: false } })
      .addNode("after", () => ({ log: ["after"] }))
      .addEdge(START, "flaky")
      .addEdge("flaky", "after")
      .addEdge("after", END)
      .compile({ store, name: "retry" });
    try {
      const result = await app.invoke({}, { threadId: "retry-1" });
      assert.equal(result.status, "completed");
      assert.deepEqual(result.state, { count: 3, log: ["attempt 3", "after"] });
      assert.equal(calls, 3);
      const failed = (await store.listEffects("retry-1" as ThreadId))
        .filter((record) => record.name === "call_api" && !record.result.ok);
      assert.equal(failed.length, 2);
      await assertReplayMatches(app, store, "retry-1", 2);
      assert.equal(calls, 3, "replay called the API");
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() of a graph with a subgraph node matches, and writes neither the parent nor the child run",
  async (store) => {
    let childCalls = 0;
    const child = new StateGraph(Counter)
      .addNode("research", async (state, ctx) => {
        const found = await ctx.effect("search", () => {
          childCalls++;
          return `found ${state.count}`;
        });
        return { count: 10, log: [found] };
      })
      .addNode("summarize", () => ({ log: ["summary"] }))
      .addEdge(START, "research")
      .addEdge("research", "summarize")
      .addEdge("summarize", END)
      .compile({ name: "child" });
    const app = new StateGraph(Counter)
      .addNode("prepare", () => ({ count: 1, log: ["prepare"] }))
      .addNode("sub", child)
      .addNode("finish", (state) => ({ log: [`finish:${state.count}`] }))
      .addEdge(START, "prepare")
      .addEdge("prepare", "sub")
      .addEdge("sub", "finish")
      .addEdge("finish", END)
      .compile({ store, name: "parent" });
    try {
      const result = await app.invoke({}, { threadId: "parent-1" });
      assert.equal(result.status, "completed");
      assert.deepEqual(result.state, {
        count: 11,
        log: ["prepare", "found 1", "summary", "finish:11"],
      });
      assert.equal(childCalls, 1);
      // The child run is stored beside the parent.
      const ids = (await store.listRuns({ limit: 100 })).items.map((run) => run.threadId).sort();
      assert.equal(ids.length, 2);
      await assertReplayMatches(app, store, "parent-1", 3);
      assert.equal(childCalls, 1, "replay ran the child's effect");
    } finally {
      await app.close();
      await child.close();
    }
  },
);

storeTest(
  "replay() of a parent run whose subgraph was interrupted and resumed matches, without running the child's effect again",
  async (store) => {
    let booked = 0;
    const child = new StateGraph(Counter)
      .addNode("book", async (_state, ctx) => {
        const ref = await ctx.effect("book_flight", () => {
          booked++;
          return `booking-${booked}`;
        });
        const answer = await ctx.interrupt({ confirm: ref });
        return { count: 1, log: [`${ref}:${answer}`] };
      })
      .addEdge(START, "book")
      .addEdge("book", END)
      .compile({ name: "booking" });
    const app = new StateGraph(Counter)
      .addNode("plan", () => ({ log: ["plan"] }))
      .addNode("booking", child)
      .addNode("done", (state) => ({ log: [`done:${state.count}`] }))
      .addEdge(START, "plan")
      .addEdge("plan", "booking")
      .addEdge("booking", "done")
      .addEdge("done", END)
      .compile({ store, name: "trip" });
    try {
      const first = await app.invoke({}, { threadId: "trip-1" });
      assert.equal(first.status, "interrupted");
      assert.deepEqual(first.interrupts.map((i) => [i.node, i.value]), [
        ["booking", { confirm: "booking-1" }],
      ]);
      await assertReplayMatches(app, store, "trip-1", 1);
      const done = await app.resume("trip-1", "yes");
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state.log, ["plan", "booking-1:yes", "done:1"]);
      await assertReplayMatches(app, store, "trip-1", 3);
      assert.equal(booked, 1);
    } finally {
      await app.close();
      await child.close();
    }
  },
);

storeTest(
  "replay() of a parent run re-executes its subgraph's nodes and catches a nondeterministic node inside it",
  async (store) => {
    const State = defineState({
      roll: { default: () => 0 },
      log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
    });
    let stable = true;
    const child = new StateGraph(State)
      .addNode("warmup", () => ({ log: ["warmup"] }))
      .addNode("dice", () => ({ roll: stable ? 4 : Math.random(), log: ["rolled"] }))
      .addEdge(START, "warmup")
      .addEdge("warmup", "dice")
      .addEdge("dice", END)
      .compile({ name: "dice-child" });
    const app = new StateGraph(State)
      .addNode("before", () => ({ log: ["before"] }))
      .addNode("game", child)
      .addEdge(START, "before")
      .addEdge("before", "game")
      .addEdge("game", END)
      .compile({ store, name: "dice-parent" });
    try {
      const result = await app.invoke({}, { threadId: "game-1" });
      assert.deepEqual(result.state, { roll: 4, log: ["before", "warmup", "rolled"] });
      await assertReplayMatches(app, store, "game-1", 2);

      stable = false;
      const before = await dumpStore(store);
      const error = await nondeterminism(() => app.replay("game-1"));
      assert.equal(error.threadId, "game-1.2:game", "the child run is named");
      assert.equal(error.step, 2);
      assert.equal(error.node, "dice");
      assert.deepEqual(error.recorded, { roll: 4, log: ["rolled"] });
      assert.notEqual((error.replayed as { roll: number }).roll, 4);
      assert.deepEqual(await dumpStore(store), before, "replay wrote to the store");
    } finally {
      await app.close();
      await child.close();
    }
  },
);

storeTest(
  "replay() of a node using ctx.now, ctx.random, ctx.uuid, ctx.sleep and ctx.effect reproduces the journaled values",
  async (store) => {
    const State = defineState({
      seen: { default: (): Record<string, unknown> => ({}) },
      log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
    });
    let charged = 0;
    const app = new StateGraph(State)
      .addNode("sample", async (_state, ctx) => {
        const now = await ctx.now();
        const random = await ctx.random();
        const uuid = await ctx.uuid();
        await ctx.sleep(0);
        const receipt = await ctx.effect("charge", () => {
          charged++;
          return { receipt: `r-${Math.random()}` };
        });
        return { seen: { now, random, uuid, receipt }, log: ["sampled"] };
      })
      .addNode("use", async (state, ctx) => {
        const later = await ctx.now();
        return { log: [`later>=now:${later >= (state.seen.now as number)}`] };
      })
      .addEdge(START, "sample")
      .addEdge("sample", "use")
      .addEdge("use", END)
      .compile({ store, name: "ctx-effects" });
    try {
      const result = await app.invoke({}, { threadId: "ctx-1" });
      assert.equal(result.status, "completed");
      assert.equal(typeof result.state.seen.now, "number");
      assert.match(String(result.state.seen.uuid), /^[0-9a-f-]{36}$/);
      assert.deepEqual(result.state.log, ["sampled", "later>=now:true"]);
      assert.equal(charged, 1);
      const names = (await store.listEffects("ctx-1" as ThreadId)).map((r) => r.name);
      assert.deepEqual(names, [
        "oris.now",
        "oris.random",
        "oris.uuid",
        "oris.sleep",
        "charge",
        "oris.now",
      ]);
      await assertReplayMatches(app, store, "ctx-1", 2);
      assert.equal(charged, 1, "replay charged again");
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Replay from a checkpoint

storeTest(
  "replay() from a checkpoint re-executes and compares only the steps after it",
  async (store) => {
    // `drift` changes what `n1` and `n2` return after the run: a full replay
    // sees the difference, a replay from checkpoint 2 does not.
    let drift = "";
    const app = new StateGraph(Counter)
      .addNode("n1", () => ({ count: 1, log: [`n1${drift}`] }))
      .addNode("n2", () => ({ count: 1, log: [`n2${drift}`] }))
      .addNode("n3", (state) => ({ count: 1, log: [`n3:${state.count}`] }))
      .addNode("n4", (state) => ({ count: 1, log: [`n4:${state.count}`] }))
      .addNode("n5", (state) => ({ count: 1, log: [`n5:${state.count}`] }))
      .addEdge(START, "n1")
      .addEdge("n1", "n2")
      .addEdge("n2", "n3")
      .addEdge("n3", "n4")
      .addEdge("n4", "n5")
      .addEdge("n5", END)
      .compile({ store, name: "linear" });
    try {
      const result = await app.invoke({}, { threadId: "cp-1" });
      assert.deepEqual(result.state.log, ["n1", "n2", "n3:2", "n4:3", "n5:4"]);
      const history = await app.getStateHistory("cp-1");
      const at = (step: number) => history.find((entry) => entry.step === step)!.checkpointId!;

      drift = " (changed)";
      const before = await dumpStore(store);
      const fromTwo = await app.replay("cp-1", { checkpointId: at(2) });
      assert.deepEqual(fromTwo, {
        ok: true,
        threadId: "cp-1",
        steps: 3,
        fromCheckpointId: at(2),
      });
      const fromLast = await app.replay("cp-1", { checkpointId: at(5) });
      assert.equal(fromLast.steps, 0);
      const fromOne = await nondeterminism(() => app.replay("cp-1", { checkpointId: at(1) }));
      assert.equal(fromOne.step, 2);
      assert.equal(fromOne.node, "n2");
      const full = await nondeterminism(() => app.replay("cp-1"));
      assert.equal(full.step, 1);
      assert.equal(full.node, "n1");
      assert.deepEqual(full.recorded, { count: 1, log: ["n1"] });
      assert.deepEqual(full.replayed, { count: 1, log: ["n1 (changed)"] });
      assert.deepEqual(await dumpStore(store), before, "replay wrote to the store");

      await assert.rejects(
        () => app.replay("cp-1", { checkpointId: "cp_00000000000000000000000000" }),
        NotFoundError,
      );
      await assert.rejects(() => app.replay("no-such-run"), NotFoundError);
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Nondeterminism is caught

storeTest(
  "replay() catches a node that reads Math.random() outside ctx, naming the step, the node and both values",
  async (store) => {
    const State = defineState({
      roll: { default: () => 0 },
      log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
    });
    const app = new StateGraph(State)
      .addNode("setup", () => ({ log: ["setup"] }))
      .addNode("dice", () => ({ roll: Math.random(), log: ["rolled"] }))
      .addNode("report", (state) => ({ log: [`rolled ${state.roll > -1}`] }))
      .addEdge(START, "setup")
      .addEdge("setup", "dice")
      .addEdge("dice", "report")
      .addEdge("report", END)
      .compile({ store, name: "dice" });
    try {
      const result = await app.invoke({}, { threadId: "dice-1" });
      assert.equal(result.status, "completed");
      const recorded = await recordedUpdate(store, "dice-1", 2, "dice");
      const before = await dumpStore(store);
      const error = await nondeterminism(() => app.replay("dice-1"));
      assert.equal(error.threadId, "dice-1");
      assert.equal(error.step, 2);
      assert.equal(error.node, "dice");
      assert.deepEqual(error.recorded, recorded);
      assert.deepEqual(error.recorded, { roll: result.state.roll, log: ["rolled"] });
      const replayed = error.replayed as { roll: number; log: string[] };
      assert.equal(typeof replayed.roll, "number");
      assert.notEqual(replayed.roll, result.state.roll);
      assert.deepEqual(replayed.log, ["rolled"]);
      assert.match(error.message, /step 2 in node "dice"/);
      assert.deepEqual(await dumpStore(store), before, "replay wrote to the store");
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() catches a router whose decision changed, naming the step, the node and both routes",
  async (store) => {
    let preferLeft = true;
    const app = new StateGraph(Counter)
      .addNode("start", () => ({ count: 1, log: ["start"] }))
      .addNode("decide", () => ({ log: ["decide"] }))
      .addNode("left", () => ({ log: ["left"] }))
      .addNode("right", () => ({ log: ["right"] }))
      .addEdge(START, "start")
      .addEdge("start", "decide")
      .addConditionalEdges("decide", () => preferLeft ? "left" : "right", ["left", "right"])
      .addEdge("left", END)
      .addEdge("right", END)
      .compile({ store, name: "router" });
    try {
      const result = await app.invoke({}, { threadId: "route-1" });
      assert.deepEqual(result.state.log, ["start", "decide", "left"]);
      await assertReplayMatches(app, store, "route-1", 3);

      preferLeft = false;
      const before = await dumpStore(store);
      const error = await nondeterminism(() => app.replay("route-1"));
      assert.equal(error.step, 2);
      assert.equal(error.node, "decide");
      const recorded = error.recorded as { next: { node: string }[] };
      const replayed = error.replayed as { next: { node: string }[] };
      assert.deepEqual(recorded.next.map((task) => task.node), ["left"]);
      assert.deepEqual(replayed.next.map((task) => task.node), ["right"]);
      assert.deepEqual(await dumpStore(store), before, "replay wrote to the store");
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() catches an effect renamed at the same call index, without running it",
  async (store) => {
    let effectName = "send_email";
    let sent = 0;
    const app = new StateGraph(Counter)
      .addNode("first", () => ({ log: ["first"] }))
      .addNode("notify", async (_state, ctx) => {
        const id = await ctx.effect(effectName, () => {
          sent++;
          return `message-${sent}`;
        });
        return { log: [id] };
      })
      .addEdge(START, "first")
      .addEdge("first", "notify")
      .addEdge("notify", END)
      .compile({ store, name: "renamed" });
    try {
      const result = await app.invoke({}, { threadId: "rename-1" });
      assert.deepEqual(result.state.log, ["first", "message-1"]);
      await assertReplayMatches(app, store, "rename-1", 2);

      effectName = "send_sms";
      const before = await dumpStore(store);
      const error = await nondeterminism(() => app.replay("rename-1"));
      assert.equal(error.step, 2);
      assert.equal(error.node, "notify");
      assert.match(String(error.recorded), /"send_email" at call 0/);
      assert.match(String(error.replayed), /"send_sms" at call 0/);
      assert.equal(sent, 1, "replay ran the renamed effect");
      assert.deepEqual(await dumpStore(store), before, "replay wrote to the store");
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "replay() catches a node that calls an effect the recorded run did not, without running it",
  async (store) => {
    let extra = false;
    let calls = 0;
    const app = new StateGraph(Counter)
      .addNode("work", async (_state, ctx) => {
        if (extra) {
          await ctx.effect("extra_call", () => {
            calls++;
            return null;
          });
        }
        return { log: ["work"] };
      })
      .addEdge(START, "work")
      .addEdge("work", END)
      .compile({ store, name: "extra" });
    try {
      await app.invoke({}, { threadId: "extra-1" });
      extra = true;
      const error = await nondeterminism(() => app.replay("extra-1"));
      assert.equal(error.step, 1);
      assert.equal(error.node, "work");
      assert.match(String(error.recorded), /no effect at call 0/);
      assert.match(String(error.replayed), /"extra_call" at call 0/);
      assert.equal(calls, 0);
    } finally {
      await app.close();
    }
  },
);
