/**
 * MCP tools: an agent calls the tools of an MCP server (the official SDK's
 * `McpServer`, started by the test) over stdio and over streamable HTTP; the
 * server receives each call once, a replay calls it no more, and a call the
 * server refuses or reports failed is an observation the model sees.
 */

import assert from "node:assert/strict";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { humanMessage, MemoryStore } from "../mod.ts";
import { createAgent, type McpTools, mcpTools, ScriptedModel } from "../agents/mod.ts";
import { mcpServer } from "./fixtures/mcp_server.ts";

const FIXTURE = new URL("./fixtures/mcp_server.ts", import.meta.url).pathname;

async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((line) => line !== "");
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** Runs an agent that calls `add` (prefixed), `fail`, and `add` with bad arguments. */
async function runAgent(mcp: McpTools, log: string, prefix: string): Promise<void> {
  assert.deepEqual(mcp.tools.map((tool) => tool.name), [`${prefix}add`, `${prefix}fail`]);
  const add = mcp.tools[0]!;
  assert.equal(add.description, "Adds two numbers");
  assert.deepEqual((add.parameters as { required: string[] }).required, ["a", "b"]);
  const model = new ScriptedModel({
    replies: [
      {
        tool_calls: [
          { name: `${prefix}add`, args: { a: 2, b: 3 } },
          { name: `${prefix}fail`, args: {} },
          { name: `${prefix}add`, args: { a: "two" } },
        ],
      },
      "2 + 3 = 5",
    ],
  });
  await using store = new MemoryStore();
  const agent = createAgent({ model, tools: mcp.tools, store });
  const result = await agent.invoke({ messages: [humanMessage("2 + 3?")] }, { threadId: "m-1" });
  assert.equal(result.status, "completed");
  const [, , sum, failed, refused, final] = result.state.messages;
  assert.equal(sum!.content, "5");
  assert.equal(failed!.content, "Error: The ledger is closed");
  assert.match(refused!.content, /^Error: .*(Invalid|expected number)/s);
  assert.equal(final!.content, "2 + 3 = 5");
  assert.deepEqual(await lines(log), ["2+3"], "the server got the call once");
  assert.equal((await agent.replay("m-1")).ok, true);
  assert.deepEqual(await lines(log), ["2+3"], "the replay did not call the server");
  await agent.close();
}

Deno.test("mcpTools() over stdio: an agent calls a local MCP server's tools, each once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-mcp-" });
  const log = `${dir}/calls.log`;
  try {
    await using mcp = await mcpTools({
      command: Deno.execPath(),
      args: ["run", "-A", FIXTURE],
      env: {
        MCP_CALL_LOG: log,
        PATH: Deno.env.get("PATH") ?? "",
        HOME: Deno.env.get("HOME") ?? "",
      },
    });
    await runAgent(mcp, log, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mcpTools() over streamable HTTP: an agent calls the tools, with a name prefix", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-mcp-" });
  const log = `${dir}/calls.log`;
  // Stateless: a server and a transport per request. No standalone SSE stream (GET is a 405, as
  // the spec allows): a stream the client opened late would keep the server from shutting down.
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    if (request.method === "GET") {
      await request.body?.cancel();
      return new Response(null, { status: 405, headers: { allow: "POST, DELETE" } });
    }
    const transport = new WebStandardStreamableHTTPServerTransport({ enableJsonResponse: true });
    await mcpServer(log).connect(transport);
    return await transport.handleRequest(request);
  });
  try {
    const { port } = http.addr as Deno.NetAddr;
    await using mcp = await mcpTools({ url: `http://127.0.0.1:${port}/mcp` }, { prefix: "calc_" });
    await runAgent(mcp, log, "calc_");
  } finally {
    await http.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mcpTools() refuses a spec with neither a command nor a url", async () => {
  await assert.rejects(() => mcpTools({} as never), /give a command or a url/);
});
