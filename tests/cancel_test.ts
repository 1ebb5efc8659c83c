/**
 * Cancel and pause.
 *
 * - `cancel()` reaches a node that waits on a long effect: the effect's
 *   signal aborts with the cancellation (code `cancelled`, and the reason),
 *   the run ends `cancelled`, `invoke` resolves with that status, a later
 *   resume is a conflict, and a later `invoke` with the same thread id and
 *   input returns the cancelled run and runs nothing;
 * - a run at rest (interrupted) can be cancelled; a completed or cancelled
 *   run cannot (`ConflictError`, nothing written);
 * - `pause()` stops a running run between two steps; nothing executes until
 *   `resume()`, which finishes it.
 *
 * No assertion is on time: the long effect never settles except through the
 * abort, so reaching the end of a test proves the abort was delivered. The
 * measured delivery latency is printed for the record.
 */

import assert from "node:assert/strict";
import { Command, defineState, END, interrupt, OrisError, START, StateGraph } from "../mod.ts";
import { currentSnapshot, parseThreadId } from "../kernel/mod.ts";
import { assertConflict, deferred, readLog } from "./_helpers.ts";
import { storeTest } from "./_stores.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

// ---------------------------------------------------------------------------
// Cancel reaches a node waiting on a long effect

storeTest(
  "cancel: a node waiting on a long effect sees the abort and the run ends cancelled",
  async (store, kind) => {
    const waiting = deferred();
    const ran: string[] = [];
    const seen: { effectAborted: boolean; ctxAborted: boolean; reason: unknown }[] = [];
    let cancelledAt = 0;
    let latencyMs = -1;
    const app = new StateGraph(State)
      .addNode("prepare", () => {
        ran.push("prepare");
        return { log: ["prepared"] };
      })
      .addNode("call", async (_state, ctx) => {
        ran.push("call");
        await ctx.effect("long_llm_call", (signal) =>
          new Promise<never>((_resolve, reject) => {
            // Never settles by itself: only the abort ends it.
            signal.addEventListener("abort", () => {
              latencyMs = performance.now() - cancelledAt;
              seen.push({
                effectAborted: signal.aborted,
                ctxAborted: ctx.signal.aborted,
                reason: signal.reason,
              });
              reject(signal.reason);
            }, { once: true });
            waiting.resolve();
          }));
        ran.push("call finished");
        return { log: ["called"] };
      })
      .addNode("after", () => {
        ran.push("after");
        return { log: ["after"] };
      })
      .addEdge(START, "prepare")
      .addEdge("prepare", "call")
      .addEdge("call", "after")
      .addEdge("after", END)
      .compile({ store, name: "long" });
    try {
      const running = app.invoke({}, { threadId: "cancel-long" });
      await waiting.promise;
      cancelledAt = performance.now();
      const snapshot = await app.cancel("cancel-long", "the user gave up");
      console.log(`cancel reached the node's effect after ${latencyMs.toFixed(3)} ms (${kind})`);
      assert.equal(snapshot.status, "cancelled");

      const result = await running;
      assert.equal(result.status, "cancelled");
      assert.deepEqual(result.interrupts, []);
      assert.deepEqual(result.state.log, ["prepared"], "the cancelled step wrote nothing");
      assert.deepEqual(result.trace.at(-1), { type: "end", status: "cancelled" });

      assert.equal(seen.length, 1, "the abort reached the effect once");
      const [{ effectAborted, ctxAborted, reason }] = seen as [typeof seen[number]];
      assert.equal(effectAborted, true);
      assert.equal(ctxAborted, true, "ctx.signal is aborted too");
      assert.ok(reason instanceof OrisError, `the reason is an OrisError: ${String(reason)}`);
      assert.equal(reason.code, "cancelled");
      assert.match(reason.message, /the user gave up/);
      assert.equal(reason.details.reason, "the user gave up");
      assert.deepEqual(ran, ["prepare", "call"], "the node stopped; no later node ran");

      const log = await readLog(store, "cancel-long");
      const last = log.at(-1)!.event;
      assert.equal(last.type, "run.cancelled");
      assert.equal(last.type === "run.cancelled" && last.reason, "the user gave up");
      assert.deepEqual(
        log.filter(({ event }) => event.type === "step.committed").length,
        1,
        "only the step before the cancel was committed",
      );
      assert.deepEqual(
        await store.listEffects(parseThreadId("cancel-long")),
        [],
        "an effect aborted by a cancel is not journaled",
      );

      // Later: resume is a conflict, and asking for the same run returns it as it is.
      await assertConflict(() => app.resume("cancel-long", "go on"), /cancelled, not interrupted/);
      await assertConflict(() => app.resume("cancel-long"), /cancelled, not interrupted/);
      await assertConflict(
        () => app.invoke(new Command({ resume: true }), { threadId: "cancel-long" }),
        /cancelled, not interrupted/,
      );
      const again = await app.invoke({}, { threadId: "cancel-long" });
      assert.equal(again.status, "cancelled");
      assert.deepEqual(again.state.log, ["prepared"]);
      assert.deepEqual(ran, ["prepare", "call"], "the same invoke runs nothing");
      assert.deepEqual(await readLog(store, "cancel-long"), log, "nothing more was written");
    } finally {
      await app.close();
    }
  },
);

storeTest("cancel: a node in a long ctx.sleep() stops at once", async (store) => {
  const sleeping = deferred();
  const ran: string[] = [];
  let cancelledAt = 0;
  const app = new StateGraph(State)
    .addNode("nap", async (_state, ctx) => {
      ran.push("nap");
      ctx.signal.addEventListener("abort", () => {
        console.log(
          `cancel reached ctx.signal after ${(performance.now() - cancelledAt).toFixed(3)} ms`,
        );
      }, { once: true });
      const napping = ctx.sleep(24 * 60 * 60 * 1000); // a day: only the abort ends it
      sleeping.resolve();
      try {
        await napping;
      } catch (error) {
        ran.push(`woke: ${error instanceof OrisError ? error.code : String(error)}`);
        throw error;
      }
      ran.push("slept");
      return { log: ["slept"] };
    })
    .addEdge(START, "nap")
    .addEdge("nap", END)
    .compile({ store, name: "nap" });
  try {
    const running = app.invoke({}, { threadId: "cancel-sleep" });
    await sleeping.promise;
    cancelledAt = performance.now();
    await app.cancel("cancel-sleep", "wake up");
    const result = await running;
    assert.equal(result.status, "cancelled");
    assert.deepEqual(ran, ["nap", "woke: cancelled"]);
    assert.deepEqual(result.state.log, []);
    await assertConflict(() => app.resume("cancel-sleep"), /cancelled, not interrupted/);
  } finally {
    await app.close();
  }
});

// ---------------------------------------------------------------------------
// Cancel at rest, cancel after the end

storeTest("cancel: an interrupted run is cancelled at rest", async (store) => {
  let approved = 0;
  const app = new StateGraph(State)
    .addNode("ask", async () => {
      const answer = await interrupt<boolean>("Approve?");
      return { log: [answer ? "yes" : "no"] };
    })
    .addNode("act", () => {
      approved++;
      return { log: ["acted"] };
    })
    .addEdge(START, "ask")
    .addEdge("ask", "act")
    .addEdge("act", END)
    .compile({ store, name: "at-rest" });
  try {
    const first = await app.invoke({}, { threadId: "cancel-rest" });
    assert.equal(first.status, "interrupted");
    const pending = first.interrupts[0]!;

    const snapshot = await app.cancel("cancel-rest", "no longer needed");
    assert.equal(snapshot.status, "cancelled");
    const state = await app.getState("cancel-rest");
    assert.equal(state.status, "cancelled");
    assert.deepEqual(state.interrupts, []);
    const stored = await store.load(parseThreadId("cancel-rest"));
    assert.ok(stored !== null);
    assert.equal(currentSnapshot(stored).status, "cancelled");

    const log = await readLog(store, "cancel-rest");
    await assertConflict(
      () => app.resumeById("cancel-rest", { [pending.id]: true }),
      /cancelled, not interrupted/,
    );
    await assertConflict(() => app.resume("cancel-rest", true), /cancelled, not interrupted/);
    assert.deepEqual(await readLog(store, "cancel-rest"), log);
    assert.equal(approved, 0);
  } finally {
    await app.close();
  }
});

storeTest("cancel: a completed run cannot be cancelled", async (store) => {
  const app = new StateGraph(State)
    .addNode("only", () => ({ log: ["done"] }))
    .addEdge(START, "only")
    .addEdge("only", END)
    .compile({ store, name: "done" });
  try {
    const done = await app.invoke({}, { threadId: "cancel-done" });
    assert.equal(done.status, "completed");
    const log = await readLog(store, "cancel-done");

    await assertConflict(() => app.cancel("cancel-done", "too late"), /is completed/);
    assert.deepEqual(await readLog(store, "cancel-done"), log, "nothing was written");
    assert.equal((await app.getState("cancel-done")).status, "completed");

    // The same holds for a run that is already cancelled.
    const other = new StateGraph(State)
      .addNode("ask", async () => ({ log: [await interrupt<string>("?")] }))
      .addEdge(START, "ask")
      .addEdge("ask", END)
      .compile({ store, name: "twice" });
    try {
      await other.invoke({}, { threadId: "cancel-twice" });
      await other.cancel("cancel-twice", "first");
      const cancelled = await readLog(store, "cancel-twice");
      await assertConflict(() => other.cancel("cancel-twice", "second"), /is cancelled/);
      assert.deepEqual(await readLog(store, "cancel-twice"), cancelled);
    } finally {
      await other.close();
    }
  } finally {
    await app.close();
  }
});

// ---------------------------------------------------------------------------
// Pause between steps

storeTest("pause: a running run stops between two steps until it is resumed", async (store) => {
  const entered = deferred();
  const gate = deferred();
  const ran: string[] = [];
  const app = new StateGraph(State)
    .addNode("one", async () => {
      ran.push("one");
      entered.resolve();
      await gate.promise;
      return { log: ["one"] };
    })
    .addNode("two", () => {
      ran.push("two");
      return { log: ["two"] };
    })
    .addNode("three", () => {
      ran.push("three");
      return { log: ["three"] };
    })
    .addEdge(START, "one")
    .addEdge("one", "two")
    .addEdge("two", "three")
    .addEdge("three", END)
    .compile({ store, name: "pausable" });
  try {
    const running = app.invoke({}, { threadId: "pause-1" });
    await entered.promise;
    const pausing = app.pause("pause-1", "operator");
    // The pause reaches the run's mailbox through promise jobs only (the
    // actor is in memory), so one macrotask turn later it is queued behind
    // the step in progress, which cannot finish before the gate opens.
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(ran, ["one"]);
    gate.resolve();

    const paused = await pausing;
    assert.equal(paused.status, "paused");
    const result = await running;
    assert.equal(result.status, "paused");
    assert.deepEqual(result.state.log, ["one"], "the step in progress was committed");
    assert.deepEqual(ran, ["one"], "no further step executed");
    const state = await app.getState("pause-1");
    assert.equal(state.status, "paused");
    assert.deepEqual(state.next, ["two"]);
    const log = await readLog(store, "pause-1");
    const last = log.at(-1)!.event;
    assert.equal(last.type, "run.paused");
    assert.equal(last.type === "run.paused" && last.reason, "operator");

    // A paused run takes no answer.
    await assertConflict(() => app.resume("pause-1", "value"), /paused, not interrupted/);
    assert.deepEqual(await readLog(store, "pause-1"), log);
    assert.deepEqual(ran, ["one"]);

    const done = await app.resume("pause-1");
    assert.equal(done.status, "completed");
    assert.deepEqual(done.state.log, ["one", "two", "three"]);
    assert.deepEqual(ran, ["one", "two", "three"]);
  } finally {
    await app.close();
  }
});
