/**
 * An agent killed with SIGKILL between a tool call and the next model call,
 * then recovered by a new process, on Deno KV and on PostgreSQL, with each
 * provider's real client against its fake server: every provider request
 * and every tool call happens exactly once (the fake server counts the
 * requests, the tool appends to a file), the run completes as an
 * uninterrupted one would, and a replay of it makes no request.
 *
 * The child (tests/fixtures/agent_crash.ts) halts just before it would send
 * its second model request and waits to be killed, so the kill lands exactly
 * there: the tool calls are journaled and their step committed, the next
 * model call not made. A second kind of kill lands inside the tools step,
 * after one of two parallel tool calls was journaled and before the other
 * did anything: recovery runs only the other.
 */

import assert from "node:assert/strict";
import { z } from "zod";
import { createRuntime, type Store, type ThreadId } from "../mod.ts";
import { createAgent, tool } from "../agents/mod.ts";
import { currentSnapshot } from "../kernel/mod.ts";
import {
  type FakeProvider,
  modelFor,
  PROVIDER_KINDS,
  type ProviderKind,
  startFakeProvider,
} from "./_fake_providers.ts";
import { freshLocation, openStoreAt, skipStoreKind, type StoreKind } from "./_stores.ts";
import type { AgentCrashConfig } from "./fixtures/agent_crash.ts";

const FIXTURE = new URL("./fixtures/agent_crash.ts", import.meta.url).pathname;
/**
 * A bound on one child process, so that a hang fails the test instead of
 * stalling it (not a timing: generous, as a loaded machine slows a child's start).
 */
const CHILD_LIMIT_MS = 180_000;

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

interface Child {
  lines: string[];
  killed: boolean;
  code: number;
  stderr: string;
}

/** Runs the fixture; kills it with SIGKILL as soon as it announces its halt. */
async function runChild(config: AgentCrashConfig): Promise<Child> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, JSON.stringify(config)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, CHILD_LIMIT_MS);
  const lines: string[] = [];
  let killed = false;
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      if (!killed && line.startsWith("halt ")) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
  }
  const status = await child.status;
  clearTimeout(watchdog);
  await child.stdin.close().catch(() => {});
  assert.ok(!hung, `The child hung: ${JSON.stringify(lines)} ${await stderr}`);
  return { lines, killed, code: status.code, stderr: await stderr };
}

async function toolLines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((line) => line !== "");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

async function effectNames(store: Store, threadId: string): Promise<string[]> {
  return (await store.listEffects(threadId as ThreadId)).map((record) => record.name).sort();
}

async function killAndRecover(
  kind: Exclude<StoreKind, "memory">,
  provider: ProviderKind,
  halt: AgentCrashConfig["halt"],
) {
  await using fake: FakeProvider = startFakeProvider(provider, REPLIES);
  const { location, cleanup } = await freshLocation(kind);
  const dir = await Deno.makeTempDir({ prefix: "oris-agent-crash-" });
  const toolLog = `${dir}/tool.log`;
  const threadId = `crash-${provider}`;
  const config: AgentCrashConfig = {
    store: location,
    provider,
    baseUrl: fake.baseUrl,
    toolLog,
    threadId,
    mode: "start",
    halt,
  };
  try {
    const first = await runChild(config);
    assert.ok(first.killed, `not killed: ${JSON.stringify(first.lines)} ${first.stderr}`);
    assert.deepEqual(first.lines, [halt === "request" ? "halt request 2" : "halt tool Oslo"]);
    assert.equal(fake.requests.length, 1, "one model request before the kill");
    {
      await using store = await openStoreAt(location);
      const loaded = await store.load(threadId as ThreadId);
      const run = currentSnapshot(loaded!);
      assert.equal(run.status, "running");
      if (halt === "request") {
        assert.equal(run.step, 2, "the model step and the tools step are committed");
        assert.deepEqual((await toolLines(toolLog)).sort(), ["Oslo", "Paris"]);
        assert.deepEqual(await effectNames(store, threadId), [
          "model",
          "tool:get_weather",
          "tool:get_weather",
        ]);
      } else {
        assert.equal(run.step, 1, "the tools step is not committed");
        assert.deepEqual(await toolLines(toolLog), ["Paris"]);
        assert.deepEqual(await effectNames(store, threadId), ["model", "tool:get_weather"]);
      }
    }

    const second = await runChild({ ...config, mode: "recover" });
    assert.equal(second.code, 0, second.stderr);
    const line = second.lines.find((item) => item.startsWith("result "));
    assert.ok(line !== undefined, `no result: ${JSON.stringify(second.lines)} ${second.stderr}`);
    const result = JSON.parse(line.slice("result ".length));
    assert.equal(result.status, "completed");
    assert.deepEqual(
      result.state.messages.map((message: { type: string; content: string }) =>
        `${message.type}:${message.content}`
      ),
      [
        "human:Weather in Paris and Oslo?",
        "ai:Let me check.",
        "tool:sunny",
        "tool:snowy",
        "ai:Paris is sunny, Oslo is snowy.",
      ],
    );
    const usage = Object.values(result.state.usage) as { calls: number }[];
    assert.deepEqual(usage.map((item) => item.calls), [2]);
    assert.equal(fake.requests.length, 2, "every model request made exactly once");
    assert.deepEqual((await toolLines(toolLog)).sort(), ["Oslo", "Paris"], "each tool call once");

    // A replay of the recovered run makes no request and runs no tool.
    await using store = await openStoreAt(location);
    await using runtime = createRuntime({ store });
    const agent = createAgent({
      model: modelFor(provider, fake.baseUrl),
      tools: [tool({
        name: "get_weather",
        description: "The weather in a city",
        schema: z.object({ city: z.string() }),
        run: () => {
          throw new Error("The replay ran a tool");
        },
      })],
      runtime,
      name: "agent",
    });
    assert.equal((await agent.replay(threadId)).ok, true);
    assert.equal(fake.requests.length, 2, "the replay made no request");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await cleanup();
  }
}

for (const kind of ["kv", "postgres"] as const) {
  for (const provider of PROVIDER_KINDS) {
    Deno.test({
      name:
        `agent on ${provider}, SIGKILL between a tool call and the next model call, recovered on ${kind}: each request and tool call once`,
      ignore: skipStoreKind(kind),
      fn: () => killAndRecover(kind, provider, "request"),
    });
  }
  Deno.test({
    name:
      `agent, SIGKILL during a parallel tool call after its sibling was journaled, recovered on ${kind}: the sibling is not called again`,
    ignore: skipStoreKind(kind),
    fn: () => killAndRecover(kind, "openai", "tool"),
  });
}
