import assert from "node:assert/strict";
import { z } from "zod";
import {
  createRuntime,
  humanMessage,
  MemoryStore,
  type Message,
  OrisError,
  type ThreadId,
} from "../mod.ts";
import {
  type ChatChunk,
  type ChatModel,
  type ChatResult,
  createAgent,
  ScriptedModel,
  tool,
} from "./mod.ts";

/** A tool that counts its runs. */
function counted<T>(name: string, run: (args: { x: number }) => T, fatal = false) {
  const calls: number[] = [];
  const made = tool({
    name,
    description: `The ${name} tool`,
    schema: z.object({ x: z.number() }),
    run: (args) => {
      calls.push(args.x);
      return run(args);
    },
    fatal,
  });
  return { tool: made, calls };
}

function contents(messages: readonly Message[]): string[] {
  return messages.map((message) => `${message.type}:${message.content}`);
}

Deno.test("createAgent() runs the loop: model, tools, model, and records usage per model", async () => {
  const double = counted("double", ({ x }) => ({ doubled: x * 2 }));
  const model = new ScriptedModel({
    replies: [{ content: "Let me see.", tool_calls: [{ name: "double", args: { x: 21 } }] }, "42"],
  });
  const agent = createAgent({ model, tools: [double.tool], system: "Be brief." });
  const result = await agent.invoke({ messages: [humanMessage("Double 21")] }, { threadId: "a-1" });
  assert.equal(result.status, "completed");
  assert.deepEqual(contents(result.state.messages), [
    "human:Double 21",
    "ai:Let me see.",
    'tool:{"doubled":42}',
    "ai:42",
  ]);
  const answer = result.state.messages[2]!;
  assert.equal(answer.tool_call_id, "call_1_0");
  assert.equal(answer.name, "double");
  assert.deepEqual(double.calls, [21]);
  assert.equal(model.calls, 2);
  // The system prompt is sent, not stored; usage counts the words of both calls.
  assert.deepEqual(result.state.usage, {
    "scripted/scripted": {
      input_tokens: (2 + 2) + (2 + 2 + 3 + 1),
      output_tokens: 3 + 1,
      calls: 2,
    },
  });
  await agent.close();
});

Deno.test("createAgent() runs parallel tool calls in parallel, each answered in call order", async () => {
  let started = 0;
  let release!: () => void;
  const both = new Promise<void>((resolve) => (release = resolve));
  const wait = tool({
    name: "wait",
    description: "Waits until both calls have started",
    schema: z.object({ x: z.number() }),
    run: async ({ x }) => {
      if (++started === 2) release();
      await both;
      return `done ${x}`;
    },
  });
  const model = new ScriptedModel({
    replies: [
      { tool_calls: [{ name: "wait", args: { x: 1 } }, { name: "wait", args: { x: 2 } }] },
      "both done",
    ],
  });
  const agent = createAgent({ model, tools: [wait] });
  const result = await agent.invoke({ messages: [humanMessage("go")] });
  assert.equal(result.status, "completed");
  assert.deepEqual(contents(result.state.messages).slice(2, 4), ["tool:done 1", "tool:done 2"]);
  await agent.close();
});

Deno.test("createAgent() shows the model bad arguments, unknown tools and tool errors; a fatal tool fails the run", async () => {
  const double = counted("double", ({ x }) => x * 2);
  const broken = counted("broken", () => {
    throw new Error("disk full");
  });
  const model = new ScriptedModel({
    replies: [
      {
        tool_calls: [
          { name: "double", args: { x: "ten" } },
          { name: "nope", args: {} },
          { name: "broken", args: { x: 1 } },
        ],
      },
      "sorry",
    ],
  });
  const agent = createAgent({ model, tools: [double.tool, broken.tool] });
  const result = await agent.invoke({ messages: [humanMessage("go")] });
  assert.equal(result.status, "completed");
  assert.deepEqual(contents(result.state.messages).slice(2, 5), [
    'tool:Error: Invalid arguments for tool "double": x: Invalid input: expected number, received string',
    'tool:Error: there is no tool "nope" (tools: "double", "broken")',
    "tool:Error: disk full",
  ]);
  assert.deepEqual(double.calls, [], "a call with bad arguments does not run");
  await agent.close();

  const fatal = counted("fatal", () => {
    throw new Error("the ledger is gone");
  }, true);
  const failing = createAgent({
    model: new ScriptedModel({ replies: [{ tool_calls: [{ name: "fatal", args: { x: 1 } }] }] }),
    tools: [fatal.tool],
  });
  const failed = await failing.invoke({ messages: [humanMessage("go")] });
  assert.equal(failed.status, "failed");
  assert.equal(failed.error?.message, "the ledger is gone");
  assert.equal(failed.error?.node, "tools");
  await failing.close();
});

Deno.test("createAgent() maxIterations ends the run failed with a clear message", async () => {
  const double = counted("double", ({ x }) => x * 2);
  const model = new ScriptedModel({
    replies: () => ({ tool_calls: [{ name: "double", args: { x: 1 } }] }),
  });
  const agent = createAgent({ model, tools: [double.tool], maxIterations: 3 });
  const result = await agent.invoke({ messages: [humanMessage("loop")] });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "terminal");
  assert.equal(
    result.error?.message,
    "The agent stopped after 3 model calls without a final answer: maxIterations is 3",
  );
  assert.equal(model.calls, 3);
  assert.deepEqual(double.calls, [1, 1, 1]);
  assert.equal(result.state.messages.length, 7, "the conversation so far is kept");
  await agent.close();
});

function approvalAgent(store: MemoryStore) {
  const transfer = counted("transfer_money", ({ x }) => `sent ${x}`);
  const balance = counted("get_balance", () => "100");
  const model = new ScriptedModel({
    replies: [
      {
        tool_calls: [
          { name: "get_balance", args: { x: 0 } },
          { name: "transfer_money", args: { x: 50 } },
          { name: "transfer_money", args: { x: 70 } },
        ],
      },
      "done",
    ],
  });
  const agent = createAgent({
    model,
    tools: [transfer.tool, balance.tool],
    approval: { tools: ["transfer_money"] },
    store,
  });
  return { agent, model, transfer, balance };
}

Deno.test("createAgent() approval: one interrupt with the pending calls; approve, edit and reject in order", async () => {
  await using store = new MemoryStore();
  const { agent, model, transfer, balance } = approvalAgent(store);
  const first = await agent.invoke({ messages: [humanMessage("pay")] }, { threadId: "pay-1" });
  assert.equal(first.status, "interrupted");
  assert.equal(first.interrupts.length, 1);
  assert.deepEqual(first.interrupts[0]!.value, {
    action_requests: [
      { name: "transfer_money", args: { x: 50 }, id: "call_1_1" },
      { name: "transfer_money", args: { x: 70 }, id: "call_1_2" },
    ],
  });
  assert.deepEqual(balance.calls, [], "nothing runs before the decision");

  const before = (await store.readEvents("pay-1" as ThreadId, 1)).length;
  for (
    const bad of [
      { decisions: [{ type: "approve" }] },
      { decisions: [{ type: "approve" }, { type: "maybe" }] },
      { decisions: [{ type: "approve" }, { type: "edit" }] },
      [{ type: "approve" }, { type: "approve" }],
    ]
  ) {
    await assert.rejects(() => agent.resume("pay-1", bad), {
      code: "invalid_argument",
      message: /Cannot resume the approval/,
    });
  }
  assert.equal((await store.readEvents("pay-1" as ThreadId, 1)).length, before, "nothing written");

  const done = await agent.resume("pay-1", {
    decisions: [{ type: "edit", args: { x: 5 } }, { type: "reject", message: "Too much" }],
  });
  assert.equal(done.status, "completed");
  assert.deepEqual(transfer.calls, [5]);
  assert.deepEqual(balance.calls, [0], "a call that needs no approval runs once");
  const [, ai, rejected, ...rest] = done.state.messages;
  assert.deepEqual(ai!.tool_calls!.map((call) => call.args), [{ x: 0 }, { x: 5 }, { x: 70 }]);
  assert.deepEqual(contents([rejected!, ...rest]), [
    "tool:Too much",
    "tool:100",
    "tool:sent 5",
    "ai:done",
  ]);
  assert.equal(rejected!.tool_call_id, "call_1_2");
  assert.equal(model.calls, 2, "the resume does not ask the model again for its first answer");
  await agent.close();
});

Deno.test("createAgent() approval: approve runs the calls as asked; reject of all goes back to the model", async () => {
  await using store = new MemoryStore();
  const { agent, transfer } = approvalAgent(store);
  await agent.invoke({ messages: [humanMessage("pay")] }, { threadId: "ok" });
  const approved = await agent.resume("ok", {
    decisions: [{ type: "approve" }, { type: "approve" }],
  });
  assert.equal(approved.status, "completed");
  assert.deepEqual(transfer.calls, [50, 70]);

  await agent.invoke({ messages: [humanMessage("pay")] }, { threadId: "no" });
  const rejected = await agent.resume("no", {
    decisions: [{ type: "reject" }, { type: "reject" }],
  });
  assert.equal(rejected.status, "completed");
  assert.deepEqual(transfer.calls, [50, 70], "no transfer after the rejections");
  assert.deepEqual(contents(rejected.state.messages).slice(2, 4), [
    'tool:The user rejected the call to "transfer_money"',
    'tool:The user rejected the call to "transfer_money"',
  ]);
  await agent.close();
});

Deno.test("createAgent() replay of a run calls neither the model nor a tool", async () => {
  await using store = new MemoryStore();
  const { agent, model, transfer, balance } = approvalAgent(store);
  await agent.invoke({ messages: [humanMessage("pay")] }, { threadId: "r-1" });
  await agent.resume("r-1", { decisions: [{ type: "approve" }, { type: "edit", args: { x: 1 } }] });
  const counts = [model.calls, transfer.calls.length, balance.calls.length];
  const report = await agent.replay("r-1");
  assert.equal(report.ok, true);
  assert.deepEqual([model.calls, transfer.calls.length, balance.calls.length], counts);
  await agent.close();
});

Deno.test("createAgent() a tool's own steps are journaled and its idempotency key is stable", async () => {
  await using store = new MemoryStore();
  const seen: string[] = [];
  let charges = 0;
  const charge = tool({
    name: "charge",
    description: "Charges a card",
    schema: z.object({ cents: z.number() }),
    run: async ({ cents }, ctx) => {
      seen.push(ctx.idempotencyKey);
      const receipt = await ctx.effect("charge_card", () => `receipt-${++charges}`);
      return `${receipt} for ${cents}`;
    },
  });
  const model = new ScriptedModel({
    replies: [{ tool_calls: [{ name: "charge", args: { cents: 500 } }] }, "charged"],
  });
  const agent = createAgent({ model, tools: [charge], store });
  const result = await agent.invoke({ messages: [humanMessage("charge")] }, { threadId: "c-1" });
  assert.equal(result.state.messages[2]!.content, "receipt-1 for 500");
  assert.deepEqual(seen, ["c-1:2:2:tools#0"]);
  const effects = (await store.listEffects("c-1" as ThreadId)).map((record) => record.name);
  // The tool call is effect 0 of its task; the tool's own step, made inside it, is effect 1.
  assert.deepEqual(effects, ["model", "tool:charge", "charge_card", "model"]);
  await agent.close();
});

Deno.test("createAgent() streams the model's tokens in messages mode, or none with streaming off", async () => {
  const model = new ScriptedModel({ replies: ["Hello there, world"] });
  const agent = createAgent({ model });
  const chunks: unknown[] = [];
  for await (
    const chunk of agent.stream({ messages: [humanMessage("hi")] }, { streamMode: "messages" })
  ) chunks.push(chunk);
  assert.deepEqual(chunks.map((chunk) => (chunk as [ChatChunk, unknown])[0]), [
    { type: "text", text: "Hello" },
    { type: "text", text: " there," },
    { type: "text", text: " world" },
  ]);
  assert.deepEqual((chunks[0] as [unknown, { node: string }])[1].node, "model");
  await agent.close();

  const quiet = createAgent({ model, streaming: false });
  const none: unknown[] = [];
  for await (
    const chunk of quiet.stream({ messages: [humanMessage("hi")] }, { streamMode: "messages" })
  ) none.push(chunk);
  assert.deepEqual(none, []);
  await quiet.close();
});

/** A model that fails as told, then answers. */
class FlakyModel implements ChatModel {
  readonly provider = "flaky";
  readonly model = "m";
  calls = 0;
  constructor(readonly failures: Error[]) {}
  invoke(): Promise<ChatResult> {
    this.calls++;
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    return Promise.resolve({
      message: { type: "ai", content: "ok" },
      usage: { input_tokens: 1, output_tokens: 1 },
      stopReason: "stop",
    });
  }
  async *stream(): AsyncGenerator<ChatChunk> {
    yield { type: "result", result: await this.invoke() };
  }
}

Deno.test("createAgent() retries a retryable model failure after its retry_after_ms, never a terminal one", async () => {
  const sleeps: number[] = [];
  await using runtime = createRuntime({
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    // The clock stands still: the wait is the wake-up time journaled less the time then, which a
    // clock moving while the wake-up is journaled would shorten by a millisecond or so.
    now: () => 1_000_000,
  });
  const flaky = new FlakyModel([
    new OrisError("unavailable", "rate limited", { details: { retry_after_ms: 3_000 } }),
  ]);
  createAgent({ model: flaky, runtime, name: "flaky" });
  const result = await runtime.invoke("flaky", { messages: [humanMessage("hi")] });
  assert.equal(result.status, "completed");
  assert.equal(flaky.calls, 2);
  assert.deepEqual(sleeps, [3_000]);

  const refused = new FlakyModel([new OrisError("terminal", "invalid api key")]);
  createAgent({ model: refused, runtime, name: "refused" });
  const failed = await runtime.invoke("refused", { messages: [humanMessage("hi")] });
  assert.equal(failed.status, "failed");
  assert.equal(failed.error?.message, "invalid api key");
  assert.equal(refused.calls, 1);
});

Deno.test("createAgent() refuses a missing model, duplicate tools and approval of an unknown tool", () => {
  const model = new ScriptedModel({ replies: ["hi"] });
  const one = counted("one", () => 1).tool;
  assert.throws(() => createAgent({ model: {} as ChatModel }), /model must be a ChatModel/);
  assert.throws(() => createAgent({ model, tools: [one, one] }), /two tools are named "one"/);
  assert.throws(
    () => createAgent({ model, tools: [one], approval: { tools: ["two"] } }),
    /approval names tool "two", which is not one of its tools/,
  );
  assert.throws(() => createAgent({ model, maxIterations: 0 }), /maxIterations must be/);
});
