/**
 * The agent against each provider's official client, pointed at a local
 * server that speaks the provider's real wire format (tests/_fake_providers.ts):
 * a full loop with two parallel tool calls, streaming and not, checking what
 * the provider receives (headers, body, tool schema) and what Oris makes of
 * the answer (messages, tokens streamed, usage); retryable and terminal
 * failures; bad tool arguments from the model; and a replay that makes no
 * request.
 */

import assert from "node:assert/strict";
import { z } from "zod";
import { createRuntime, humanMessage, type JsonObject, MemoryStore } from "../mod.ts";
import { type ChatChunk, createAgent, tool } from "../agents/mod.ts";
import {
  fakeInputTokens,
  type FakeProvider,
  modelFor,
  PROVIDER_KINDS,
  type ProviderKind,
  type RecordedRequest,
  startFakeProvider,
} from "./_fake_providers.ts";

const SYSTEM = "You answer weather questions.";
const CITY_SCHEMA = {
  type: "object",
  properties: { city: { type: "string", description: "The city" } },
  required: ["city"],
  additionalProperties: false,
};

function weatherTool(calls: string[]) {
  return tool({
    name: "get_weather",
    description: "The weather in a city",
    schema: z.object({ city: z.string().describe("The city") }),
    run: ({ city }) => {
      calls.push(city);
      return city === "Paris" ? "sunny" : "snowy";
    },
  });
}

const REPLIES = [
  {
    text: "Let me check.",
    tool_calls: [
      { name: "get_weather", args: { city: "Paris" } },
      { name: "get_weather", args: { city: "Oslo" } },
    ],
  },
  { text: "Paris is sunny, Oslo is snowy." },
];

/** The ids the provider gives the two tool calls of the first answer (Ollama gives none). */
function callIds(kind: ProviderKind, ai: { tool_calls?: { id: string }[] }): string[] {
  const ids = ai.tool_calls!.map((call) => call.id);
  if (kind === "openai") assert.deepEqual(ids, ["call_1_0", "call_1_1"]);
  if (kind === "anthropic") assert.deepEqual(ids, ["toolu_1_0", "toolu_1_1"]);
  if (kind === "ollama") {
    assert.equal(new Set(ids).size, 2);
    for (const id of ids) assert.match(id, /^call_[0-9a-f]{24}$/);
  }
  return ids;
}

/** Checks the first request: auth headers, system prompt, the tool's JSON Schema, streaming flags. */
function checkFirstRequest(kind: ProviderKind, request: RecordedRequest, stream: boolean): void {
  const body = request.body as Record<string, unknown>;
  if (kind === "openai") {
    assert.equal(request.path, "/v1/chat/completions");
    assert.equal(request.headers.authorization, "Bearer sk-test");
    assert.equal(body.model, "gpt-test");
    assert.deepEqual(body.messages, [
      { role: "system", content: SYSTEM },
      { role: "user", content: "Weather in Paris and Oslo?" },
    ]);
    assert.deepEqual(body.tools, [{
      type: "function",
      function: {
        name: "get_weather",
        description: "The weather in a city",
        parameters: CITY_SCHEMA,
      },
    }]);
    if (stream) assert.deepEqual(body.stream_options, { include_usage: true });
  } else if (kind === "anthropic") {
    assert.equal(request.path, "/v1/messages");
    // The key, as `x-api-key` or (this client version) as a bearer token.
    assert.ok(
      request.headers["x-api-key"] === "sk-ant-test" ||
        request.headers.authorization === "Bearer sk-ant-test",
    );
    assert.ok(request.headers["anthropic-version"], "the API version header is sent");
    assert.equal(body.model, "claude-test");
    assert.equal(body.system, SYSTEM);
    assert.equal(body.max_tokens, 4096);
    assert.deepEqual(body.messages, [
      { role: "user", content: [{ type: "text", text: "Weather in Paris and Oslo?" }] },
    ]);
    assert.deepEqual(body.tools, [{
      name: "get_weather",
      description: "The weather in a city",
      input_schema: CITY_SCHEMA,
    }]);
  } else {
    assert.equal(request.path, "/api/chat");
    assert.equal(body.model, "llama-test");
    assert.deepEqual(body.messages, [
      { role: "system", content: SYSTEM },
      { role: "user", content: "Weather in Paris and Oslo?" },
    ]);
    assert.deepEqual(body.tools, [{
      type: "function",
      function: {
        name: "get_weather",
        description: "The weather in a city",
        parameters: CITY_SCHEMA,
      },
    }]);
  }
  assert.equal(body.stream === true, stream);
}

/** Checks that the second request carries the model's tool calls and the tools' answers. */
function checkSecondRequest(kind: ProviderKind, request: RecordedRequest, ids: string[]): void {
  const messages = (request.body as { messages: JsonObject[] }).messages;
  if (kind === "openai") {
    assert.deepEqual(messages.slice(2), [
      {
        role: "assistant",
        content: "Let me check.",
        tool_calls: [
          {
            id: ids[0],
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
          {
            id: ids[1],
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: ids[0], content: "sunny" },
      { role: "tool", tool_call_id: ids[1], content: "snowy" },
    ]);
  } else if (kind === "anthropic") {
    assert.deepEqual(messages.slice(1), [
      {
        role: "assistant",
        content: [
          { type: "text", text: "Let me check." },
          { type: "tool_use", id: ids[0], name: "get_weather", input: { city: "Paris" } },
          { type: "tool_use", id: ids[1], name: "get_weather", input: { city: "Oslo" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: ids[0], content: "sunny" },
          { type: "tool_result", tool_use_id: ids[1], content: "snowy" },
        ],
      },
    ]);
  } else {
    assert.deepEqual(messages.slice(2), [
      {
        role: "assistant",
        content: "Let me check.",
        tool_calls: [
          { function: { name: "get_weather", arguments: { city: "Paris" } } },
          { function: { name: "get_weather", arguments: { city: "Oslo" } } },
        ],
      },
      { role: "tool", content: "sunny", tool_name: "get_weather" },
      { role: "tool", content: "snowy", tool_name: "get_weather" },
    ]);
  }
}

for (const kind of PROVIDER_KINDS) {
  for (const streaming of [false, true]) {
    Deno.test(`agent on ${kind} (${streaming ? "streaming" : "not streaming"}): a full loop with parallel tool calls, what the provider receives and the usage`, async () => {
      await using fake = startFakeProvider(kind, REPLIES);
      const calls: string[] = [];
      const agent = createAgent({
        model: modelFor(kind, fake.baseUrl),
        tools: [weatherTool(calls)],
        system: SYSTEM,
        streaming,
      });
      const tokens: ChatChunk[] = [];
      for await (
        const [chunk] of agent.stream(
          { messages: [humanMessage("Weather in Paris and Oslo?")] },
          { threadId: "w-1", streamMode: "messages" },
        )
      ) tokens.push(chunk as ChatChunk);
      const result = await agent.getState("w-1");
      assert.equal(result.status, "completed");
      const [, ai, paris, oslo, final] = result.values.messages;
      assert.equal(ai!.content, "Let me check.");
      const ids = callIds(kind, ai!);
      assert.deepEqual(ai!.tool_calls!.map((call) => call.args), [{ city: "Paris" }, {
        city: "Oslo",
      }]);
      assert.deepEqual([paris!.tool_call_id, paris!.content], [ids[0], "sunny"]);
      assert.deepEqual([oslo!.tool_call_id, oslo!.content], [ids[1], "snowy"]);
      assert.equal(final!.content, "Paris is sunny, Oslo is snowy.");
      assert.equal(result.values.messages.length, 5);
      assert.deepEqual(calls.sort(), ["Oslo", "Paris"]);

      assert.equal(fake.requests.length, 2);
      checkFirstRequest(kind, fake.requests[0]!, streaming);
      checkSecondRequest(kind, fake.requests[1]!, ids);
      const secondInput = kind === "anthropic" ? 4 : 5;
      assert.deepEqual(result.values.usage, {
        [`${kind}/${modelName(kind)}`]: {
          input_tokens: fakeInputTokens(2) + fakeInputTokens(secondInput),
          output_tokens: (3 + 2 * 5) + 6,
          calls: 2,
        },
      });

      if (streaming) {
        const text = tokens.flatMap((chunk) => chunk.type === "text" ? [chunk.text] : []).join("");
        assert.equal(text, "Let me check.Paris is sunny, Oslo is snowy.");
        const args = new Map<number, string>();
        for (const chunk of tokens) {
          if (chunk.type === "tool_call_chunk") {
            args.set(chunk.index, (args.get(chunk.index) ?? "") + chunk.args);
          }
        }
        assert.deepEqual([...args.values()].map((text) => JSON.parse(text)), [
          { city: "Paris" },
          { city: "Oslo" },
        ]);
      } else {
        assert.deepEqual(tokens, []);
      }

      const report = await agent.replay("w-1");
      assert.equal(report.ok, true);
      assert.equal(fake.requests.length, 2, "the replay made no request");
      assert.equal(calls.length, 2, "the replay ran no tool");
      await agent.close();
    });
  }
}

function modelName(kind: ProviderKind): string {
  return { openai: "gpt-test", anthropic: "claude-test", ollama: "llama-test" }[kind];
}

/** A runtime whose sleeps are recorded, not waited. */
function recordingRuntime(sleeps: number[]) {
  return createRuntime({
    store: new MemoryStore(),
    now: () => 1_700_000_000_000,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  });
}

for (const kind of PROVIDER_KINDS) {
  Deno.test(`agent on ${kind}: a 429 is retried after its Retry-After, a 503 retried, a 401 fails the run at once with the provider's message`, async () => {
    await using fake: FakeProvider = startFakeProvider(kind, [{ text: "hello" }]);
    const sleeps: number[] = [];
    await using runtime = recordingRuntime(sleeps);
    createAgent({ model: modelFor(kind, fake.baseUrl), runtime, name: "a", streaming: false });
    fake.failNext(
      { status: 429, message: "Slow down", headers: { "retry-after": "7" } },
      { status: 503, message: "Overloaded" },
    );
    const result = await runtime.invoke("a", { messages: [humanMessage("hi")] }, {
      threadId: "t-1",
    });
    assert.equal(result.status, "completed");
    assert.equal(fake.requests.length, 3);
    assert.equal(sleeps.length, 2);
    assert.ok(sleeps[0]! === 7_000, `waited ${sleeps[0]} ms after the 429`);
    assert.ok(sleeps[1]! < 7_000, "the 503 says nothing: the policy's backoff");

    fake.failNext({ status: 401, message: "Invalid key" });
    const failed = await runtime.invoke("a", { messages: [humanMessage("hi")] }, {
      threadId: "t-2",
    });
    assert.equal(failed.status, "failed");
    assert.equal(failed.error?.code, "terminal");
    assert.match(failed.error!.message, /refused the request \(401\): Invalid key/);
    assert.equal(fake.requests.length, 4, "a refused request is not retried");
  });
}

Deno.test("agent on an unreachable provider: network failures are retried, then fail the run unavailable", async () => {
  const closed = startFakeProvider("openai", []);
  await closed.close();
  const sleeps: number[] = [];
  await using runtime = recordingRuntime(sleeps);
  createAgent({ model: modelFor("openai", closed.baseUrl), runtime, name: "a" });
  const result = await runtime.invoke("a", { messages: [humanMessage("hi")] });
  assert.equal(result.status, "failed");
  assert.equal(result.error?.code, "unavailable");
  assert.match(result.error!.message, /^Cannot reach OpenAI/);
  assert.equal(sleeps.length, 2, "three attempts in all");
});

Deno.test("agent: bad tool arguments from the model become an observation the model sees, and the tool does not run", async () => {
  await using fake = startFakeProvider("openai", [
    {
      tool_calls: [
        { name: "get_weather", args: { city: 42 } },
        { name: "get_weather", args: '{"city": "Par' },
      ],
    },
    { text: "Sorry." },
  ]);
  const calls: string[] = [];
  const agent = createAgent({
    model: modelFor("openai", fake.baseUrl),
    tools: [weatherTool(calls)],
  });
  const result = await agent.invoke({ messages: [humanMessage("Weather?")] });
  assert.equal(result.status, "completed");
  assert.deepEqual(calls, []);
  const sent = (fake.requests[1]!.body as { messages: JsonObject[] }).messages.slice(2);
  assert.deepEqual(sent.map((message) => message.content), [
    'Error: Invalid arguments for tool "get_weather": city: Invalid input: expected string, received number',
    'Error: the arguments of the call to "get_weather" are not valid JSON: {"city": "Par',
  ]);
  assert.equal(result.state.messages.at(-1)!.content, "Sorry.");
  await agent.close();
});
