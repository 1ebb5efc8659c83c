/**
 * `refuseCancelled`: a cancelled thread is refused by the creation itself,
 * from the run the store answers with (or the actor here), with no read of
 * its own; a creation that fails still refuses a cancelled thread first.
 */
import assert from "node:assert/strict";
import { ConflictError, defineState, END, type RunSnapshot, START } from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import { createRuntime, StateGraph } from "../preset.ts";
import { interrupt } from "./context.ts";
import { internalsOf } from "./runtime.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** A memory store that counts the runs loaded through its public `load`. */
class CountingStore extends MemoryStore {
  loads = 0;
  override load(...args: Parameters<MemoryStore["load"]>): ReturnType<MemoryStore["load"]> {
    this.loads++;
    return super.load(...args);
  }
}

/** `g` asks before it ends (its runs wait at rest); `other` does not. */
function register(runtime: ReturnType<typeof createRuntime>) {
  for (const name of ["g", "other"]) {
    new StateGraph(State)
      .addNode("a", async (state) => {
        if (name === "g" && state.log.length === 0) await interrupt("go on?");
        return { log: ["a"] };
      })
      .addEdge(START, "a")
      .addEdge("a", END)
      .compile({ runtime, name });
  }
}

async function refused(call: Promise<unknown>, threadId: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof ConflictError);
    assert.equal(error.code, "conflict");
    assert.equal(error.message, `thread '${threadId}' is cancelled`);
    assert.deepEqual(error.details, { thread_id: threadId });
    return true;
  });
}

Deno.test("refuseCancelled refuses a cancelled thread from the creation's answer, without a read", async () => {
  const store = new CountingStore();
  const first = createRuntime({ store });
  register(first);
  assert.equal((await first.invoke("g", {}, { threadId: "c-1" })).status, "interrupted");
  await first.cancel("c-1", "stop");
  // The actor is here: refused from it.
  await refused(
    internalsOf(first).invoke("g", {}, { threadId: "c-1", refuseCancelled: true }),
    "c-1",
  );
  await first.close();

  // A new runtime: the run is only in the store.
  await using runtime = createRuntime({ store });
  register(runtime);
  const log = await store.readEvents("c-1" as never, 1);
  store.loads = 0;
  const internals = internalsOf(runtime);
  await refused(internals.invoke("g", {}, { threadId: "c-1", refuseCancelled: true }), "c-1");
  await refused(internals.start("g", {}, { threadId: "c-1", refuseCancelled: true }), "c-1");
  assert.equal(store.loads, 0, "the store's answer to the creation said it is cancelled");
  // Another payload (another graph, another input): still the cancelled thread first.
  await refused(internals.invoke("other", {}, { threadId: "c-1", refuseCancelled: true }), "c-1");
  await refused(
    internals.invoke("g", { log: ["x"] }, { threadId: "c-1", refuseCancelled: true }),
    "c-1",
  );
  assert.deepEqual(await store.readEvents("c-1" as never, 1), log, "nothing was written");
  assert.equal(runtime.activeRuns(), 0, "no actor was made for it");

  // Without the option, the run is answered as it is (the public API's behaviour).
  const result = await runtime.invoke("g", {}, { threadId: "c-1" });
  assert.equal(result.status, "cancelled");
  // A run that is not cancelled runs as before.
  const fresh = await internals.invoke("other", {}, { threadId: "c-2", refuseCancelled: true });
  assert.equal(fresh.status, "completed");
  const again: RunSnapshot | null = await runtime.get("c-2");
  assert.equal(again?.status, "completed");
  const repeat = await internals.invoke("other", {}, { threadId: "c-2", refuseCancelled: true });
  assert.equal(repeat.status, "completed");
});
