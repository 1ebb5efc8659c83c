/**
 * Values at the highest JSON nesting limit a runtime may be given
 * (`maxJsonDepth: 1000`) are safe on every store: a run whose input, effect
 * result, interrupt value and resume value nest that deep is run, stored,
 * reloaded by a new runtime and verified by replay, with no stack overflow
 * in hashing, deltas, encoding or the drivers.
 */
import assert from "node:assert/strict";
import { createRuntime, defineState, END, type Runtime, START, StateGraph } from "../mod.ts";
import { storeTest } from "./_stores.ts";

const State = defineState({
  value: { default: (): unknown => null },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** A value `depth` levels deep, alternating objects and arrays. */
function nested(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { d: value } : [value];
  return value;
}

function register(runtime: Runtime): void {
  new StateGraph(State)
    .addNode("a", async (state, ctx) => {
      const echoed = await ctx.effect("echo", () => state.value);
      const answer = await ctx.interrupt(echoed);
      return { value: answer, log: ["a"] };
    })
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile({ runtime, name: "deep" });
}

storeTest(
  "maxJsonDepth 1000: values at the highest limit are run, stored, reloaded and replayed",
  async (store) => {
    {
      await using runtime = createRuntime({ store, maxJsonDepth: 1000 });
      register(runtime);
      // The input object is a level; its channel's value nests 999 more.
      const first = await runtime.invoke("deep", { value: nested(999) }, { threadId: "deep-1" });
      assert.equal(first.status, "interrupted");
      assert.equal(JSON.stringify(first.interrupts[0]!.value), JSON.stringify(nested(999)));
      await assert.rejects(runtime.resume("deep-1", nested(1001)), /more than 1000 levels deep/);
      const done = await runtime.resume("deep-1", nested(999));
      assert.equal(done.status, "completed");
    }
    await using reopened = createRuntime({ store, maxJsonDepth: 1000 });
    register(reopened);
    const state = await reopened.getState("deep-1");
    assert.equal(JSON.stringify(state.values.value), JSON.stringify(nested(999)));
    assert.deepEqual(state.values.log, ["a"]);
    assert.equal((await reopened.replay("deep-1")).ok, true);
  },
);
