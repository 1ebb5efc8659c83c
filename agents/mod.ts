/**
 * Agents: chat models (OpenAI, Anthropic, Ollama, and a scripted one for
 * tests), tools (from zod schemas, or from an MCP server), and
 * {@linkcode createAgent}, a tool-calling agent with optional human approval
 * that is a graph like any other: it runs with `invoke`, `stream`, a runtime
 * on any store, and the server.
 *
 * Every model call and every tool call is a journaled effect, so recovery
 * after a crash, a resume and a replay never call a model or a tool again for
 * a call already made. The core (`@oris/runtime`) does not import this
 * module, and a provider's client is loaded only when that provider is used.
 *
 * @example A tool-using agent with a scripted model (no key needed)
 * ```ts
 * import { createAgent, ScriptedModel, tool } from "./mod.ts";
 * import { humanMessage } from "../mod.ts";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const weather = tool({
 *   name: "get_weather",
 *   description: "The weather in a city",
 *   schema: z.object({ city: z.string() }),
 *   run: ({ city }) => `Sunny in ${city}`,
 * });
 * const model = new ScriptedModel({
 *   replies: [
 *     { tool_calls: [{ name: "get_weather", args: { city: "Paris" } }] },
 *     "It is sunny in Paris.",
 *   ],
 * });
 * const agent = createAgent({ model, tools: [weather], system: "Be brief." });
 * const result = await agent.invoke(
 *   { messages: [humanMessage("Weather in Paris?")] },
 *   { threadId: "weather-1" },
 * );
 * assert.equal(result.state.messages.at(-1)?.content, "It is sunny in Paris.");
 * assert.equal((await agent.replay("weather-1")).ok, true);
 * await agent.close();
 * ```
 *
 * @module
 */

export type {
  ChatCallOptions,
  ChatChunk,
  ChatModel,
  ChatResult,
  StopReason,
  ToolDefinition,
  Usage,
} from "./model.ts";
export { ScriptedModel, type ScriptedModelOptions, type ScriptedReply } from "./scripted.ts";
export { OpenAIChatModel, type OpenAIChatModelOptions } from "./openai.ts";
export { AnthropicChatModel, type AnthropicChatModelOptions } from "./anthropic.ts";
export { OllamaChatModel, type OllamaChatModelOptions } from "./ollama.ts";
export {
  type ArgumentsSchema,
  type Tool,
  tool,
  type ToolContext,
  type ToolOptions,
} from "./tool.ts";
export { type McpServerSpec, type McpTools, mcpTools, type McpToolsOptions } from "./mcp.ts";
export type {
  ActionRequest,
  ApprovalDecision,
  ApprovalRequest,
  ApprovalResponse,
} from "./_approval.ts";
export {
  type AgentApproval,
  type AgentOptions,
  AgentState,
  type AgentStateSpec,
  type AgentUsage,
  createAgent,
  type ModelUsage,
} from "./agent.ts";
