/**
 * The JSON nesting limit of the runtime (`maxJsonDepth`, default 256): every
 * value it accepts (run input, node updates and `Send` arguments, effect
 * results, interrupt and resume values, state edits, fork updates) is
 * checked before any recursive work; a deeper value is an `invalid_argument`
 * error naming the limit, and a refused call writes nothing.
 */
import assert from "node:assert/strict";
import {
  Command,
  defineState,
  END,
  OrisError,
  Send,
  START,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";
import type { NodeContext } from "./context.ts";
import type { Runtime } from "./runtime_api.ts";
import { createRuntime, StateGraph } from "../preset.ts";
import { MemoryStore } from "../mod.ts";

const State = defineState({
  value: { default: (): unknown => null },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** A value `depth` levels deep: `{ d: { d: ... "leaf" } }`. */
function nested(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = { d: value };
  return value;
}

/** Registers graph "g": START -> a -> END. */
function oneNode(runtime: Runtime, node: (state: unknown, ctx: NodeContext) => unknown): void {
  new StateGraph(State).addNode("a", node as never).addEdge(START, "a").addEdge("a", END)
    .compile({ runtime, name: "g" });
}

function tooDeep(limit: number): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof OrisError, String(error));
    assert.equal(error.code, "invalid_argument");
    assert.match(error.message, new RegExp(`nested more than ${limit} levels deep`));
    assert.deepEqual(error.details, { max_depth: limit });
    return true;
  };
}

async function events(store: Store, threadId: string): Promise<unknown[]> {
  return await store.readEvents(threadId as ThreadId, 1);
}

Deno.test("maxJsonDepth: a node update nested past 256 levels fails its step, naming the limit", async () => {
  await using runtime = createRuntime();
  let depth = 0;
  oneNode(runtime, () => ({ value: nested(depth) }));
  // The update object is a level: its channel's value may nest 255 more.
  depth = 255;
  assert.equal((await runtime.invoke("g", {}, { threadId: "at-limit" })).status, "completed");
  depth = 256;
  const failed = await runtime.invoke("g", {}, { threadId: "past-limit" });
  assert.equal(failed.status, "failed");
  assert.equal(failed.error?.code, "invalid_argument");
  assert.match(failed.error!.message, /the update of node "a".*more than 256 levels deep/);
  assert.deepEqual(failed.state, { value: null, log: [] });
  // Far deeper (recursive code overflows the stack near 2,500): the same error.
  depth = 100_000;
  const far = await runtime.invoke("g", {}, { threadId: "far" });
  assert.equal(far.error?.code, "invalid_argument");
  assert.match(far.error!.message, /more than 256 levels deep/);
});

Deno.test("maxJsonDepth: Command updates, Send arguments and routers' Sends are held to it", async () => {
  await using runtime = createRuntime({ maxJsonDepth: 8 });
  let output: () => unknown = () => null;
  new StateGraph(State)
    .addNode("a", (() => output()) as never, { ends: ["b"] })
    .addNode("b", () => ({ log: ["b"] }))
    .addEdge(START, "a")
    .addEdge("b", END)
    .compile({ runtime, name: "cmd" });
  output = () => new Command({ update: { value: nested(8) }, goto: "b" });
  const update = await runtime.invoke("cmd", {}, { threadId: "cmd-update" });
  assert.match(update.error!.message, /the update of node "a".*more than 8 levels deep/);
  output = () => new Command({ goto: new Send("b", nested(9)) });
  const send = await runtime.invoke("cmd", {}, { threadId: "cmd-send" });
  assert.match(send.error!.message, /Send\("b"\).*more than 8 levels deep/);
  output = () => new Command({ goto: new Send("b", nested(8)) });
  assert.equal((await runtime.invoke("cmd", {}, { threadId: "cmd-ok" })).status, "completed");

  let arg: unknown = null;
  new StateGraph(State)
    .addNode("a", () => ({ log: ["a"] }))
    .addNode("b", () => ({ log: ["b"] }))
    .addEdge(START, "a")
    .addConditionalEdges("a", () => new Send("b", arg), ["b"])
    .addEdge("b", END)
    .compile({ runtime, name: "router" });
  arg = nested(9);
  const routed = await runtime.invoke("router", {}, { threadId: "router-deep" });
  assert.equal(routed.status, "failed");
  assert.match(routed.error!.message, /the router of "a".*more than 8 levels deep/);
  arg = nested(8);
  assert.equal((await runtime.invoke("router", {}, { threadId: "router-ok" })).status, "completed");
});

Deno.test("maxJsonDepth: an effect result nested too deep fails the node, naming the limit", async () => {
  await using runtime = createRuntime();
  let depth = 257;
  let calls = 0;
  oneNode(runtime, async (_state, ctx) => {
    const result = await ctx.effect("fetch", () => {
      calls++;
      return nested(depth);
    });
    return { log: [typeof result] };
  });
  const failed = await runtime.invoke("g", {}, { threadId: "effect-deep" });
  assert.equal(failed.status, "failed");
  assert.equal(failed.error?.code, "invalid_argument");
  assert.match(failed.error!.message, /the result of effect "fetch".*more than 256 levels deep/);
  depth = 256;
  const ok = await runtime.invoke("g", {}, { threadId: "effect-ok" });
  assert.deepEqual(ok.state.log, ["object"]);
  assert.equal(calls, 2);
});

Deno.test("maxJsonDepth: an interrupt value nested too deep fails the node; one at the limit is raised", async () => {
  await using runtime = createRuntime({ maxJsonDepth: 16 });
  let depth = 17;
  oneNode(runtime, async (_state, ctx) => ({ value: await ctx.interrupt(nested(depth)) }));
  const failed = await runtime.invoke("g", {}, { threadId: "interrupt-deep" });
  assert.equal(failed.status, "failed");
  assert.match(failed.error!.message, /the interrupt value.*more than 16 levels deep/);
  assert.deepEqual(failed.interrupts, []);
  depth = 16;
  const raised = await runtime.invoke("g", {}, { threadId: "interrupt-ok" });
  assert.equal(raised.status, "interrupted");
  assert.equal(raised.interrupts.length, 1);
});

Deno.test("maxJsonDepth: input, resume values, state edits and fork updates past it are refused and write nothing", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store, maxJsonDepth: 32 });
  oneNode(runtime, async (_state, ctx) => ({ value: await ctx.interrupt("approve?") }));

  await assert.rejects(runtime.invoke("g", { value: nested(32) }, { threadId: "in" }), tooDeep(32));
  await assert.rejects(runtime.start("g", nested(100_000), { threadId: "in" }), tooDeep(32));
  assert.equal(await runtime.get("in"), null);
  assert.deepEqual((await store.listRuns({ limit: 10 })).items, []);

  const first = await runtime.invoke("g", { value: nested(31) }, { threadId: "t" });
  assert.equal(first.status, "interrupted");
  const before = await events(store, "t");
  await assert.rejects(runtime.resume("t", nested(33)), tooDeep(32));
  await assert.rejects(
    runtime.resumeById("t", { [first.interrupts[0]!.id]: nested(33) }),
    tooDeep(32),
  );
  await assert.rejects(runtime.updateState("t", { value: nested(32) }), tooDeep(32));
  assert.deepEqual(await events(store, "t"), before);
  assert.equal((await runtime.get("t"))?.status, "interrupted");

  // The answer becomes the node's update `{ value: answer }`, one level deeper.
  const resumed = await runtime.resume("t", nested(31));
  assert.equal(resumed.status, "completed");
  await assert.rejects(
    runtime.fork("t", { checkpointId: resumed.checkpointId!, update: { value: nested(32) } }),
    tooDeep(32),
  );
  assert.equal((await store.listRuns({ limit: 10 })).items.length, 1);
});

Deno.test("createRuntime() takes maxJsonDepth from 1 to 1000, and shows it", async () => {
  for (const maxJsonDepth of [0, -1, 1001, 2.5, Number.NaN]) {
    assert.throws(() => createRuntime({ maxJsonDepth }), {
      name: "InvalidArgumentError",
      message: `maxJsonDepth must be a whole number from 1 to 1000, got ${maxJsonDepth}`,
    });
  }
  await using runtime = createRuntime();
  assert.equal(runtime.maxJsonDepth, 256);
  await using small = createRuntime({ maxJsonDepth: 1 });
  assert.equal(small.maxJsonDepth, 1);
});
