/**
 * `mcpTools`: the tools of a Model Context Protocol server, through the
 * official `@modelcontextprotocol/sdk` client (loaded when used), as tools
 * an agent calls like any other.
 *
 * @module
 */

import { InvalidArgumentError, type JsonObject } from "../mod.ts";
import { checkToolName, type Tool } from "./tool.ts";

/** Where the MCP server is: a command to start (stdio), or a URL (streamable HTTP). */
export type McpServerSpec =
  | {
    /** The command that starts the server, which speaks MCP on its stdin and stdout. */
    command: string;
    /** Its arguments. */
    args?: readonly string[];
    /** Its environment (default: the SDK's safe subset of this process's). */
    env?: Record<string, string>;
    /** Its working directory. */
    cwd?: string;
  }
  | {
    /** The server's streamable HTTP endpoint. */
    url: string | URL;
    /** Headers sent with every request (e.g. `Authorization`). */
    headers?: Record<string, string>;
  };

/** Options of {@linkcode mcpTools}. */
export interface McpToolsOptions {
  /** Prepended to each tool's name (e.g. `github_`), to tell servers apart. */
  prefix?: string;
  /** Only these tools (by the server's names). */
  only?: readonly string[];
  /**
   * Fail the run when a call fails, instead of showing the model the error.
   * @default {false}
   */
  fatal?: boolean;
}

/** The tools of an MCP server, and the connection they use: close it when done. */
export interface McpTools extends AsyncDisposable {
  /** The tools. */
  readonly tools: Tool[];
  /** Closes the connection (and stops a stdio server). */
  close(): Promise<void>;
}

/**
 * Connects to an MCP server and returns its tools, each calling the server's
 * `tools/call`. Their JSON Schemas are the server's `inputSchema`s, and the
 * server checks the arguments: a call it refuses, or that reports an error,
 * becomes an observation the model sees (unless `fatal`). Each call is
 * journaled like any tool call of an agent, so a recovered or replayed run
 * does not call the server again for a call already made.
 *
 * @param server A command to start (stdio), or a URL (streamable HTTP).
 * @param options A name prefix, a subset of the tools, and whether failures are fatal.
 * @returns The tools and the connection's `close`.
 * @throws {InvalidArgumentError} for a spec with neither `command` nor `url`.
 *
 * @example Tools of a local MCP server started over stdio
 * ```ts ignore
 * import { createAgent, mcpTools, OpenAIChatModel } from "./mod.ts";
 *
 * await using fs = await mcpTools({ command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "."] });
 * const agent = createAgent({ model: new OpenAIChatModel({ model: "gpt-4o-mini" }), tools: fs.tools });
 * ```
 */
export async function mcpTools(
  server: McpServerSpec,
  options: McpToolsOptions = {},
): Promise<McpTools> {
  const [{ Client }, transport] = await Promise.all([
    import("@modelcontextprotocol/sdk/client/index.js"),
    transportFor(server),
  ]);
  const client = new Client({ name: "oris", version: "0.1.0" });
  await client.connect(transport);
  const close = () => client.close();
  try {
    const listed: { name: string; description?: string; inputSchema: JsonObject }[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      listed.push(...(page.tools as typeof listed));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const { prefix = "", only, fatal = false } = options;
    const tools = listed
      .filter((tool) => only === undefined || only.includes(tool.name))
      .map((remote): Tool => {
        const name = `${prefix}${remote.name}`;
        checkToolName(name);
        return {
          name,
          description: remote.description ?? "",
          parameters: { type: "object", ...remote.inputSchema },
          fatal,
          parse: (args: JsonObject) => args,
          async run(args: unknown, ctx): Promise<unknown> {
            const result = await client.callTool(
              { name: remote.name, arguments: args as JsonObject },
              undefined,
              { signal: ctx.signal },
            );
            const text = contentOf(result as CallResult);
            if (result.isError === true) {
              throw new Error(text || `MCP tool "${remote.name}" failed`);
            }
            return text;
          },
        };
      });
    return { tools, close, [Symbol.asyncDispose]: close };
  } catch (error) {
    await close();
    throw error;
  }
}

interface CallResult {
  content?: { type: string; text?: string }[];
  structuredContent?: unknown;
}

/** A call's result as the model sees it: its text parts, else its structured content, as JSON. */
function contentOf(result: CallResult): string {
  const parts = result.content ?? [];
  if (parts.length === 0 && result.structuredContent !== undefined) {
    return JSON.stringify(result.structuredContent);
  }
  return parts.map((part) => part.type === "text" ? part.text ?? "" : JSON.stringify(part))
    .join("\n");
}

async function transportFor(server: McpServerSpec) {
  if ("command" in server && typeof server.command === "string") {
    const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    return new StdioClientTransport({
      command: server.command,
      args: [...(server.args ?? [])],
      ...(server.env === undefined ? {} : { env: server.env }),
      ...(server.cwd === undefined ? {} : { cwd: server.cwd }),
    });
  }
  if ("url" in server && server.url !== undefined) {
    const { StreamableHTTPClientTransport } = await import(
      "@modelcontextprotocol/sdk/client/streamableHttp.js"
    );
    return new StreamableHTTPClientTransport(
      new URL(server.url),
      server.headers === undefined ? {} : { requestInit: { headers: server.headers } },
    );
  }
  throw new InvalidArgumentError("Cannot connect to an MCP server: give a command or a url", {
    field: "server",
  });
}
