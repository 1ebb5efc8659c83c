/**
 * Typed channels at run time: a channel's schema is checked on the run's
 * input (before anything is written), on `updateState` (the edit is refused)
 * and on every node update (the step fails with `invalid_argument` naming
 * the node and the channel); what the schema outputs is what the state holds,
 * and replay agrees.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { defineState, END, OrisError, START, type ThreadId } from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import { createRuntime, StateGraph } from "../preset.ts";

const State = defineState({
  request: { schema: z.string().trim(), default: () => "" },
  attempts: { schema: z.int().min(0), default: () => 0 },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

function invalid(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof OrisError, String(error));
    assert.equal(error.code, "invalid_argument");
    assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("a node that writes a wrong type to a typed channel fails its step, naming node and channel", async () => {
  await using runtime = createRuntime();
  let output: unknown = {};
  new StateGraph(State)
    .addNode("prepare", () => ({ log: ["prepared"] }))
    .addNode("count", () => output as never)
    .addEdge(START, "prepare")
    .addEdge("prepare", "count")
    .addEdge("count", END)
    .compile({ runtime, name: "g" });
  output = { attempts: "three" };
  const failed = await runtime.invoke("g", { request: "ship it" }, { threadId: "wrong" });
  assert.equal(failed.status, "failed");
  assert.equal(failed.error?.code, "invalid_argument");
  assert.equal(
    failed.error?.message,
    'Cannot apply the update of node "count": channel "attempts" is not valid: Invalid input: expected number, received string',
  );
  // The step before it stands; the failed step changed nothing.
  assert.deepEqual(failed.state, { request: "ship it", attempts: 0, log: ["prepared"] });
  output = { attempts: 3 };
  const done = await runtime.invoke("g", { request: "  ship it  " }, { threadId: "right" });
  assert.equal(done.status, "completed");
  // What the schema outputs (trimmed) is what the state holds, and replay agrees.
  assert.deepEqual(done.state, { request: "ship it", attempts: 3, log: ["prepared"] });
  assert.equal((await runtime.replay("right")).ok, true);
});

Deno.test("invalid input to a run is refused before anything is written", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store });
  let ran = 0;
  new StateGraph(State)
    .addNode("a", () => {
      ran++;
      return {};
    })
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile({ runtime, name: "g" });
  await assert.rejects(
    runtime.invoke("g", { request: 42 }, { threadId: "t-1" }),
    invalid(/^Cannot apply the update of input: channel "request" is not valid/),
  );
  await assert.rejects(
    runtime.start("g", { attempts: -1 }, { threadId: "t-1" }),
    invalid(/channel "attempts" is not valid: Too small/),
  );
  assert.equal(await runtime.get("t-1"), null);
  assert.deepEqual(await store.readEvents("t-1" as ThreadId, 1), []);
  assert.deepEqual((await store.listRuns({ limit: 10 })).items, []);
  assert.equal(ran, 0);
});

Deno.test("updateState() with a wrong type is refused and changes nothing", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store });
  new StateGraph(State)
    .addNode("a", async (_state, ctx) => ({ log: [String(await ctx.interrupt("go?"))] }))
    .addEdge(START, "a")
    .addEdge("a", END)
    .compile({ runtime, name: "g" });
  assert.equal((await runtime.invoke("g", {}, { threadId: "t-1" })).status, "interrupted");
  const before = await store.readEvents("t-1" as ThreadId, 1);
  await assert.rejects(
    runtime.updateState("t-1", { request: ["not", "a", "string"] }),
    invalid(/^Cannot apply the update of .*: channel "request" is not valid/),
  );
  assert.deepEqual(await store.readEvents("t-1" as ThreadId, 1), before);
  const edited = await runtime.updateState("t-1", { request: " edited " });
  assert.equal(edited.state.request, "edited");
  const done = await runtime.resume("t-1", "yes");
  assert.deepEqual(done.state, { request: "edited", attempts: 0, log: ["yes"] });
});
