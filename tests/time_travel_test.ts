/**
 * Time travel on memory, Deno KV and PostgreSQL: `getStateHistory()` of a
 * 20-step run lists the input and every checkpoint, newest first, each
 * linked to its parent and holding that step's state; `getState()` is the
 * newest entry; `fork()` from any checkpoint (with or without an edited
 * state, with or without a chosen thread id) starts a new run that completes
 * and leaves the original run untouched; `updateState()` edits an
 * interrupted run (without `asNode` the interrupt stays pending, with it the
 * run is `paused` and continues from that node's edges), and a finished run
 * cannot be edited.
 */

import assert from "node:assert/strict";
import {
  ConflictError,
  defineState,
  END,
  interrupt,
  InvalidArgumentError,
  NotFoundError,
  START,
  StateGraph,
  type Store,
  type ThreadId,
} from "../mod.ts";
import { storeTest } from "./_stores.ts";

const STEPS = 20;

const Steps = defineState({
  count: { default: () => 0, reducer: (a: number, b: number) => a + b },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** A graph that runs `inc` once per step until `count` reaches 20. */
function countingGraph(store: Store) {
  return new StateGraph(Steps)
    .addNode("inc", (state) => ({ count: 1, log: [`s${state.count + 1}`] }))
    .addEdge(START, "inc")
    .addConditionalEdges("inc", (state) => state.count >= STEPS ? END : "inc", ["inc", END])
    .compile({ store, name: "counting" });
}

/** The state after `step` steps of the counting graph. */
function stateAt(step: number): { count: number; log: string[] } {
  return { count: step, log: Array.from({ length: step }, (_, i) => `s${i + 1}`) };
}

/** A run's events, for "left untouched" checks. */
async function eventsOf(store: Store, threadId: string): Promise<unknown> {
  return {
    events: await store.readEvents(threadId as ThreadId, 1),
    effects: await store.listEffects(threadId as ThreadId),
  };
}

// ---------------------------------------------------------------------------
// History

storeTest(
  "getStateHistory() of a 20-step run lists the input and 20 checkpoints newest first, each linked to its parent",
  async (store) => {
    const app = countingGraph(store);
    try {
      const result = await app.invoke({}, { threadId: "tt-history" });
      assert.equal(result.status, "completed");
      assert.deepEqual(result.state, stateAt(STEPS));

      const history = await app.getStateHistory("tt-history");
      assert.equal(history.length, STEPS + 1);
      history.forEach((entry, index) => {
        const step = STEPS - index;
        assert.equal(entry.threadId, "tt-history");
        assert.equal(entry.step, step, `entry ${index}`);
        assert.deepEqual(entry.values, stateAt(step), `state at step ${step}`);
        assert.deepEqual(entry.next, step === STEPS ? [] : ["inc"], `next at step ${step}`);
        const older = history[index + 1];
        if (older === undefined) {
          // The oldest entry is the input state, before any checkpoint.
          assert.equal(entry.checkpointId, null);
          assert.equal(entry.parentCheckpointId, null);
          assert.deepEqual(entry.source, { kind: "input" });
        } else {
          assert.match(entry.checkpointId ?? "", /^cp_/);
          assert.equal(entry.parentCheckpointId, older.checkpointId, `parent of step ${step}`);
          assert.deepEqual(entry.source, { kind: "step", nodes: ["inc"] });
        }
      });
      const ids = history.map((entry) => entry.checkpointId);
      assert.equal(new Set(ids).size, ids.length, "checkpoint ids are unique");
      assert.equal(history[0]!.status, "completed");
      assert.equal(history[0]!.checkpointId, result.checkpointId);

      // Each checkpoint is stored, at the version of its step.
      for (const entry of history.slice(0, -1)) {
        const stored = await store.getCheckpoint(
          "tt-history" as ThreadId,
          entry.checkpointId as never,
        );
        assert.ok(stored !== null, `checkpoint of step ${entry.step} is stored`);
      }

      assert.deepEqual(await app.getState("tt-history"), history[0]);
      assert.deepEqual(await app.getStateHistory("tt-history", { limit: 3 }), history.slice(0, 3));
      await assert.rejects(() => app.getStateHistory("tt-unknown"), NotFoundError);
      await assert.rejects(() => app.getState("tt-unknown"), NotFoundError);
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Fork

storeTest(
  "fork() from the 10th checkpoint runs a new run to the same end and leaves the original untouched",
  async (store) => {
    const app = countingGraph(store);
    try {
      await app.invoke({}, { threadId: "tt-source" });
      const history = await app.getStateHistory("tt-source");
      const tenth = history.find((entry) => entry.step === 10)!;
      assert.deepEqual(tenth.values, stateAt(10));
      const before = await eventsOf(store, "tt-source");

      const forked = await app.fork("tt-source", { checkpointId: tenth.checkpointId! });
      assert.notEqual(forked.threadId, "tt-source");
      assert.ok(forked.threadId.startsWith("tt-source-fork-"), forked.threadId);
      assert.equal(forked.status, "completed");
      assert.deepEqual(forked.state, stateAt(STEPS));

      // The fork starts from the checkpoint's state and runs the 10 remaining steps.
      const forkHistory = await app.getStateHistory(forked.threadId);
      assert.equal(forkHistory.length, 11);
      assert.deepEqual(forkHistory.at(-1)!.values, stateAt(10));
      assert.deepEqual(forkHistory.at(-1)!.source, { kind: "input" });
      assert.deepEqual(forkHistory.map((entry) => entry.values), [
        ...Array.from({ length: 11 }, (_, i) => stateAt(STEPS - i)),
      ]);
      assert.deepEqual(await app.replay(forked.threadId), {
        ok: true,
        threadId: forked.threadId,
        steps: 10,
        fromCheckpointId: null,
      });

      // The original run is unchanged.
      assert.deepEqual(await eventsOf(store, "tt-source"), before);
      assert.deepEqual((await app.getState("tt-source")).values, stateAt(STEPS));
      assert.deepEqual(await app.getStateHistory("tt-source"), history);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "fork() with an update starts from the checkpoint's state with the update merged through the reducers",
  async (store) => {
    const app = countingGraph(store);
    try {
      await app.invoke({}, { threadId: "tt-edit" });
      const history = await app.getStateHistory("tt-edit");
      const tenth = history.find((entry) => entry.step === 10)!;
      const before = await eventsOf(store, "tt-edit");

      const forked = await app.fork("tt-edit", {
        checkpointId: tenth.checkpointId!,
        update: { count: 5, log: ["edited"] },
      });
      assert.equal(forked.status, "completed");
      // 10 + 5 = 15, then inc runs until 20: s16..s20.
      assert.deepEqual(forked.state, {
        count: STEPS,
        log: [...stateAt(10).log, "edited", "s16", "s17", "s18", "s19", "s20"],
      });
      const forkHistory = await app.getStateHistory(forked.threadId);
      assert.equal(forkHistory.length, 6);
      assert.deepEqual(forkHistory.at(-1)!.values, {
        count: 15,
        log: [...stateAt(10).log, "edited"],
      });

      assert.deepEqual(await eventsOf(store, "tt-edit"), before);
      assert.deepEqual((await app.getState("tt-edit")).values, stateAt(STEPS));
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "fork() with newThreadId creates the run under that id",
  async (store) => {
    const app = countingGraph(store);
    try {
      await app.invoke({}, { threadId: "tt-named" });
      const history = await app.getStateHistory("tt-named");
      const fifth = history.find((entry) => entry.step === 5)!;
      const forked = await app.fork("tt-named", {
        checkpointId: fifth.checkpointId!,
        newThreadId: "tt-branch",
      });
      assert.equal(forked.threadId, "tt-branch");
      assert.equal(forked.status, "completed");
      assert.deepEqual(forked.state, stateAt(STEPS));
      const state = await app.getState("tt-branch");
      assert.equal(state.threadId, "tt-branch");
      assert.deepEqual(state.values, stateAt(STEPS));
      assert.equal((await app.getStateHistory("tt-branch")).length, 16);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "fork() of an unknown checkpoint or run is a NotFoundError and creates nothing",
  async (store) => {
    const app = countingGraph(store);
    try {
      await app.invoke({}, { threadId: "tt-missing" });
      const unknown = "cp_00000000000000000000000000";
      await assert.rejects(
        () => app.fork("tt-missing", { checkpointId: unknown, newThreadId: "tt-nothing" }),
        NotFoundError,
      );
      await assert.rejects(
        () => app.fork("tt-no-such-run", { checkpointId: unknown, newThreadId: "tt-nothing" }),
        NotFoundError,
      );
      // A checkpoint of another run is unknown here too.
      await app.invoke({}, { threadId: "tt-other" });
      const other = (await app.getStateHistory("tt-other"))[3]!.checkpointId!;
      await assert.rejects(
        () => app.fork("tt-missing", { checkpointId: other, newThreadId: "tt-nothing" }),
        NotFoundError,
      );
      await assert.rejects(() => app.getState("tt-nothing"), NotFoundError);
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// updateState

const Review = defineState({
  text: { default: () => "" },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** write -> review (notifies a reviewer, then waits for an answer) -> publish. */
function reviewGraph(store: Store, counter: { notified: number }) {
  return new StateGraph(Review)
    .addNode("write", () => ({ text: "draft", log: ["write"] }))
    .addNode("review", async (state, ctx) => {
      await ctx.effect("notify_reviewer", () => ++counter.notified);
      const answer = await interrupt<string>({ review: state.text });
      return { log: [`review:${answer}`] };
    })
    .addNode("publish", (state) => ({ log: [`publish:${state.text}`] }))
    .addEdge(START, "write")
    .addEdge("write", "review")
    .addEdge("review", "publish")
    .addEdge("publish", END)
    .compile({ store, name: "review" });
}

storeTest(
  "updateState() without asNode edits an interrupted run, which stays interrupted and resumes with the edit, without repeating the node's effects",
  async (store) => {
    const counter = { notified: 0 };
    const app = reviewGraph(store, counter);
    try {
      const first = await app.invoke({}, { threadId: "tt-upd" });
      assert.equal(first.status, "interrupted");
      const pending = first.interrupts;
      assert.equal(counter.notified, 1);

      const edited = await app.updateState("tt-upd", { text: "edited draft" });
      assert.equal(edited.status, "interrupted");
      assert.deepEqual(edited.values, { text: "edited draft", log: ["write"] });
      assert.deepEqual(edited.next, ["review"]);
      assert.deepEqual(edited.interrupts, pending);
      assert.deepEqual(edited.source, { kind: "update", asNode: null });
      assert.deepEqual(await app.getState("tt-upd"), edited);
      const history = await app.getStateHistory("tt-upd");
      assert.equal(history[0]!.checkpointId, edited.checkpointId);
      assert.equal(edited.parentCheckpointId, history[1]!.checkpointId);

      const done = await app.resume("tt-upd", "ok");
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state, {
        text: "edited draft",
        log: ["write", "review:ok", "publish:edited draft"],
      });
      assert.equal(counter.notified, 1, "the reviewer was notified again");
      assert.equal((await app.replay("tt-upd")).ok, true);
      assert.equal(counter.notified, 1);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "updateState() with asNode on an interrupted run pauses it, and resume() continues from that node's edges",
  async (store) => {
    const counter = { notified: 0 };
    const app = reviewGraph(store, counter);
    try {
      const first = await app.invoke({}, { threadId: "tt-as" });
      assert.equal(first.status, "interrupted");

      const edited = await app.updateState("tt-as", { log: ["review:manual"] }, {
        asNode: "review",
      });
      assert.equal(edited.status, "paused");
      assert.deepEqual(edited.values, { text: "draft", log: ["write", "review:manual"] });
      assert.deepEqual(edited.next, ["publish"]);
      assert.deepEqual(edited.interrupts, []);
      assert.deepEqual(edited.source, { kind: "update", asNode: "review" });

      const done = await app.resume("tt-as");
      assert.equal(done.status, "completed");
      assert.deepEqual(done.state, {
        text: "draft",
        log: ["write", "review:manual", "publish:draft"],
      });
      // `review` did not run again.
      assert.equal(counter.notified, 1);
      assert.equal((await app.replay("tt-as")).ok, true);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "updateState() of a completed run is a ConflictError and changes nothing; an unknown asNode is an InvalidArgumentError",
  async (store) => {
    const app = countingGraph(store);
    try {
      await app.invoke({}, { threadId: "tt-done" });
      const before = await eventsOf(store, "tt-done");
      await assert.rejects(() => app.updateState("tt-done", { count: 1 }), ConflictError);
      await assert.rejects(
        () => app.updateState("tt-done", { count: 1 }, { asNode: "inc" }),
        ConflictError,
      );
      await assert.rejects(
        () => app.updateState("tt-done", { count: 1 }, { asNode: "nope" }),
        InvalidArgumentError,
      );
      assert.deepEqual(await eventsOf(store, "tt-done"), before);
      assert.deepEqual((await app.getState("tt-done")).values, stateAt(STEPS));
    } finally {
      await app.close();
    }
  },
);
