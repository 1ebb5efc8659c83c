/**
 * The agent through the HTTP API, on each store: the default server's
 * `agent` graph answers a question with its tool and shows its token usage
 * in the job detail; a model's tokens reach the job's event stream as
 * `messages` events; an approval is answered through the API, where a
 * decision list that does not fit is a 400 that changes nothing.
 */

import assert from "node:assert/strict";
import { createRuntime, humanMessage, type Message, type Store } from "../mod.ts";
import {
  type ChatCallOptions,
  type ChatChunk,
  type ChatModel,
  type ChatResult,
  createAgent,
  ScriptedModel,
  tool,
} from "../agents/mod.ts";
import { createServer, type OrisServer } from "../server/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { z } from "zod";
import { deferred } from "./_helpers.ts";
import { storeTest } from "./_stores.ts";

/** Parses a `text/event-stream` body into its events. */
function parseSse(text: string): { id?: string; event?: string; data: string }[] {
  return text.split(/\n\n/).filter((block) => block.trim() !== "").map((block) => {
    const event: { id?: string; event?: string; data: string } = { data: "" };
    for (const line of block.split("\n")) {
      const [field, ...rest] = line.split(":");
      const value = rest.join(":").replace(/^ /, "");
      if (field === "data") event.data += value;
      else if (field === "id") event.id = value;
      else if (field === "event") event.event = value;
    }
    return event;
  });
}

async function post(server: OrisServer, path: string, body: unknown) {
  const response = await server.app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return bodyOf(response);
}

async function get(server: OrisServer, path: string) {
  return bodyOf(await server.app.request(path));
}

/** The status and body of a response: a success's `data`, or the error envelope. */
async function bodyOf(response: Response) {
  const json = await response.json();
  return { status: response.status, body: response.ok ? json.data : json };
}

storeTest(
  "server: the default agent answers with its tool and the job detail shows its usage",
  async (store) => {
    await using runtime = createRuntime({ store });
    registerExamples(runtime);
    const server = await createServer({ runtime });
    try {
      const run = await post(server, "/v1/jobs/run", {
        thread_id: "agent-1",
        graph: "agent",
        input: "What is the weather in Oslo?",
      });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.equal(run.body.status, "completed");
      const detail = await get(server, "/v1/jobs/agent-1/detail");
      assert.equal(detail.status, 200);
      const messages = detail.body.values.messages as Message[];
      assert.deepEqual(messages.map((message) => message.type), ["human", "ai", "tool", "ai"]);
      assert.equal(messages[2]!.content, "snowy, -3 °C");
      assert.equal(messages[3]!.content, "The weather in Oslo: snowy, -3 °C.");
      const usage = detail.body.values.usage["scripted/scripted"];
      assert.equal(usage.calls, 2);
      assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0);
    } finally {
      await server.close();
    }
  },
);

/** A scripted model whose answers wait until the test opens the gate. */
class GatedModel implements ChatModel {
  readonly provider = "gated";
  readonly model = "m";
  readonly gate = deferred();
  readonly #inner: ScriptedModel;
  constructor(replies: ConstructorParameters<typeof ScriptedModel>[0]["replies"]) {
    this.#inner = new ScriptedModel({ replies });
  }
  async invoke(messages: readonly Message[], options?: ChatCallOptions): Promise<ChatResult> {
    await this.gate.promise;
    return await this.#inner.invoke(messages, options);
  }
  async *stream(
    messages: readonly Message[],
    options?: ChatCallOptions,
  ): AsyncGenerator<ChatChunk> {
    await this.gate.promise;
    yield* this.#inner.stream(messages, options);
  }
}

function addTool() {
  return tool({
    name: "add",
    description: "Adds two numbers",
    schema: z.object({ a: z.number(), b: z.number() }),
    run: ({ a, b }) => a + b,
  });
}

async function serve(store: Store, agent: (runtime: ReturnType<typeof createRuntime>) => void) {
  const runtime = createRuntime({ store });
  agent(runtime);
  const server = await createServer({ runtime });
  return {
    server,
    async [Symbol.asyncDispose]() {
      await server.close();
      await runtime.close();
    },
  };
}

storeTest(
  "server: an agent's tokens reach the job's event stream as messages events",
  async (store) => {
    const model = new GatedModel([
      { content: "Adding.", tool_calls: [{ name: "add", args: { a: 2, b: 3 } }] },
      "It is 5",
    ]);
    await using h = await serve(store, (runtime) => {
      createAgent({ model, tools: [addTool()], runtime, name: "adder" });
    });
    const started = await post(h.server, "/v1/jobs/run?wait=false", {
      thread_id: "sse-1",
      graph: "adder",
      input: { messages: [humanMessage("2 + 3?")] },
    });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const response = await h.server.app.request("/v1/jobs/sse-1/stream");
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    // The first stored event proves the stream listens: then the model may answer.
    while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
    model.gate.resolve();
    for (let part = await reader.read(); !part.done; part = await reader.read()) text += part.value;
    const events = parseSse(text);
    const messages = events.filter((event) => event.event === "messages");
    assert.ok(messages.every((event) => event.id === undefined), "token events have no id");
    const chunks = messages.map((event) => JSON.parse(event.data) as [ChatChunk, { node: string }]);
    assert.ok(chunks.every(([, meta]) => meta.node === "model"));
    assert.deepEqual(
      chunks.map(([chunk]) => chunk.type === "text" ? chunk.text : `<${chunk.type}>`),
      ["Adding.", "<tool_call_chunk>", "It", " is", " 5"],
    );
    assert.equal(events.at(-1)!.event, "end");
    assert.equal(JSON.parse(events.at(-1)!.data).status, "completed");
    const stored = events.filter((event) => event.id !== undefined).map((event) => event.event);
    assert.equal(stored.at(-1), "run.completed");
  },
);

storeTest(
  "server: an agent's approval is answered through the API; a bad decision list is a 400 that changes nothing",
  async (store) => {
    const calls: number[] = [];
    const add = tool({
      name: "add",
      description: "Adds two numbers",
      schema: z.object({ a: z.number(), b: z.number() }),
      run: ({ a, b }) => {
        calls.push(a + b);
        return a + b;
      },
    });
    const model = new ScriptedModel({
      replies: [{ tool_calls: [{ name: "add", args: { a: 2, b: 3 } }] }, "done"],
    });
    await using h = await serve(store, (runtime) => {
      createAgent({ model, tools: [add], approval: { tools: ["add"] }, runtime, name: "careful" });
    });
    const run = await post(h.server, "/v1/jobs/run", {
      thread_id: "ok-1",
      graph: "careful",
      input: "2 + 3?",
    });
    assert.equal(run.body.status, "interrupted");
    assert.deepEqual(run.body.interrupts, [
      { action_requests: [{ name: "add", args: { a: 2, b: 3 }, id: "call_1_0" }] },
    ]);
    const before = await get(h.server, "/v1/jobs/ok-1");
    const bad = await post(h.server, "/v1/jobs/ok-1/resume", { value: { decisions: [] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, "invalid_argument");
    assert.match(
      bad.body.error.message,
      /1 action request\(s\) wait for a decision, 0 decision\(s\) given/,
    );
    const after = await get(h.server, "/v1/jobs/ok-1");
    assert.deepEqual(after.body, before.body, "nothing changed");
    const resumed = await post(h.server, "/v1/jobs/ok-1/resume", {
      value: { decisions: [{ type: "edit", args: { a: 4, b: 4 } }] },
    });
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    assert.equal(resumed.body.status, "completed");
    assert.deepEqual(calls, [8]);
  },
);
