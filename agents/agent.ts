/**
 * `createAgent`: a tool-calling agent as a compiled graph. A `model` node
 * asks the model (a journaled effect); when it asks for tools, a conditional
 * edge sends each call to the `tools` node (one task per call, so parallel
 * calls run in parallel, each with its own journal), whose results go back
 * to the model; with `approval`, calls of the named tools first wait for a
 * person in the `approval` node.
 *
 * @module
 */

import {
  Command,
  type CompiledGraph,
  type CompileOptions,
  defineState,
  END,
  GraphInterrupt,
  InvalidArgumentError,
  type Message,
  messagesReducer,
  type MessagesStateSpec,
  type NodeContext,
  OrisError,
  type RetryPolicy,
  Send,
  START,
  StateGraph,
  type StateOf,
  type StateSchema,
  systemMessage,
  TerminalError,
  type ToolCall,
  toolMessage,
} from "../mod.ts";
import { type ApprovalDecision, type ApprovalRequest, parseDecisions } from "./_approval.ts";
import { INVALID_ARGUMENTS } from "./_provider.ts";
import type { ChatModel, ChatResult, Usage } from "./model.ts";
import type { Tool, ToolContext } from "./tool.ts";

/** Token usage of one model in a run: the sums of its calls, and how many calls. */
export interface ModelUsage extends Usage {
  /** How many calls. */
  calls: number;
}

/** Token usage per model (`<provider>/<model>`), accumulated over a run. */
export type AgentUsage = { [model: string]: ModelUsage };

/** The channels of an agent's state: the conversation, and token usage per model. */
export type AgentStateSpec = MessagesStateSpec & {
  usage: {
    default(): AgentUsage;
    reducer(current: AgentUsage, update: AgentUsage): AgentUsage;
  };
};

/**
 * Adds usage to usage, model by model.
 *
 * @param current The usage so far.
 * @param update The usage to add.
 * @returns The sums (`current` is not modified).
 */
function addUsage(current: AgentUsage, update: AgentUsage): AgentUsage {
  const sum: AgentUsage = { ...current };
  for (const [model, usage] of Object.entries(update ?? {})) {
    const before = sum[model] ?? { input_tokens: 0, output_tokens: 0, calls: 0 };
    sum[model] = {
      input_tokens: before.input_tokens + usage.input_tokens,
      output_tokens: before.output_tokens + usage.output_tokens,
      calls: before.calls + usage.calls,
    };
  }
  return sum;
}

/**
 * An agent's state: `messages` (reduced as in `MessagesState`) and `usage`,
 * the tokens each model used in the run (shown with the run's state, e.g. in
 * the server's job detail).
 *
 * @example
 * ```ts
 * import { AgentState } from "./mod.ts";
 * import { humanMessage } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const state = AgentState.initial({ messages: [humanMessage("hi", { id: "h1" })] });
 * assert.deepEqual(state.usage, {});
 * ```
 */
export const AgentState: StateSchema<AgentStateSpec> = defineState<AgentStateSpec>({
  messages: { default: () => [], reducer: messagesReducer },
  usage: { default: () => ({}), reducer: addUsage },
});

/** Which tool calls wait for a person before they run. */
export interface AgentApproval {
  /** The tools whose calls need approval. */
  tools: readonly string[];
}

/** Options of {@linkcode createAgent}: the model, tools and limits, and where to compile it. */
export interface AgentOptions extends CompileOptions {
  /** The chat model. */
  model: ChatModel;
  /** The tools it may call. */
  tools?: readonly Tool[];
  /** The system prompt, sent before the conversation (not stored in it). */
  system?: string;
  /**
   * The most model calls of a run; a run that needs more fails with code
   * `terminal` and a message saying so.
   * @default {25}
   */
  maxIterations?: number;
  /** Calls of these tools wait for a person: one interrupt with every pending call. */
  approval?: AgentApproval;
  /**
   * Call the model in streaming mode, passing its tokens to `messages`
   * stream consumers (`stream(..., { streamMode: "messages" })`, the
   * server's event stream).
   * @default {true}
   */
  streaming?: boolean;
  /**
   * How failed model calls are retried (a 429's `Retry-After` is honoured;
   * refused requests are never retried).
   * @default {{ maxAttempts: 3 }}
   */
  retry?: Partial<RetryPolicy>;
}

type AgentStateValue = StateOf<AgentStateSpec>;

/** The outcome of a tool call, as journaled. */
interface ToolOutcome {
  content: string;
  error?: true;
}

/**
 * Creates a tool-calling agent: a graph over {@linkcode AgentState} with a
 * `model` node and a `tools` node joined by a conditional edge (and an
 * `approval` node with `approval`), compiled like any graph, so it runs with
 * `invoke`, `stream`, `createRuntime` and the server.
 *
 * Every model call and every tool call is a journaled effect: recovery after
 * a crash, a resume, a takeover and a replay never call the model or a tool
 * again for a call already made. A crash during a tool call, before its
 * result is journaled, runs that call again (at least once): tools that must
 * not repeat should pass `ctx.idempotencyKey` to the service they call.
 *
 * A tool's error, an unknown tool and bad arguments become observations the
 * model sees; a `fatal` tool's error fails the run.
 *
 * With `approval: { tools }`, a model answer that calls any of those tools
 * raises one interrupt `{ action_requests: [{ name, args, id }] }`; resume it
 * with `{ decisions: [...] }`, one per request in order: `{ type: "approve" }`,
 * `{ type: "edit", args }` or `{ type: "reject", message? }` (the model is
 * told). Calls of other tools run without asking. A decision list that does
 * not fit is an `invalid_argument` and changes nothing.
 *
 * @param options The model, tools, system prompt, limits, approval, and compile options (name default `agent`).
 * @returns The compiled graph.
 * @throws {InvalidArgumentError} for a missing model, tools with the same name, or approval of an unknown tool.
 *
 * @example An agent with a tool, and a scripted model (no key needed)
 * ```ts
 * import { createAgent, ScriptedModel, tool } from "./mod.ts";
 * import { humanMessage } from "../mod.ts";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const add = tool({
 *   name: "add",
 *   description: "Adds two numbers",
 *   schema: z.object({ a: z.number(), b: z.number() }),
 *   run: ({ a, b }) => a + b,
 * });
 * const model = new ScriptedModel({
 *   replies: [{ tool_calls: [{ name: "add", args: { a: 2, b: 3 } }] }, "2 + 3 = 5"],
 * });
 * const agent = createAgent({ model, tools: [add] });
 * const result = await agent.invoke({ messages: [humanMessage("What is 2 + 3?")] });
 * assert.equal(result.state.messages.at(-1)?.content, "2 + 3 = 5");
 * assert.equal(result.state.messages[2]?.content, "5");
 * assert.equal(result.state.usage["scripted/scripted"]?.calls, 2);
 * await agent.close();
 * ```
 */
export function createAgent(options: AgentOptions): CompiledGraph<AgentStateSpec> {
  const {
    model,
    tools = [],
    system,
    maxIterations = 25,
    approval,
    streaming = true,
    retry = { maxAttempts: 3 },
    ...compile
  } = options;
  checkOptions(options);
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  const definitions = tools.map(({ name, description, parameters }) => ({
    name,
    description,
    parameters,
  }));
  const needsApproval = new Set(approval?.tools ?? []);
  const usageKey = `${model.provider}/${model.model}`;

  async function callModel(state: AgentStateValue, ctx: NodeContext) {
    const calls = Object.values(state.usage).reduce((sum, usage) => sum + usage.calls, 0);
    if (calls >= maxIterations) {
      throw new TerminalError(
        `The agent stopped after ${calls} model calls without a final answer: maxIterations is ${maxIterations}`,
        { details: { max_iterations: maxIterations } },
      );
    }
    const conversation = system === undefined
      ? state.messages
      : [systemMessage(system), ...state.messages];
    const result = await ctx.effect("model", async (signal): Promise<ChatResult> => {
      const call = { tools: definitions, signal };
      if (!streaming) return await model.invoke(conversation, call);
      let final: ChatResult | null = null;
      for await (const chunk of model.stream(conversation, call)) {
        if (chunk.type === "result") final = chunk.result;
        else ctx.emitMessage(chunk);
      }
      if (final === null) {
        throw new OrisError(
          "internal",
          `The ${model.provider} model's stream ended without an answer`,
        );
      }
      return final;
    });
    return {
      messages: [result.message],
      usage: { [usageKey]: { ...result.usage, calls: 1 } },
    };
  }

  function route(state: AgentStateValue) {
    const calls = pendingCalls(state.messages);
    if (calls.length === 0) return END;
    if (calls.some((call) => needsApproval.has(call.name))) return "approval";
    return calls.map((call) => new Send("tools", { call }));
  }

  async function approve(state: AgentStateValue, ctx: NodeContext) {
    const last = state.messages.at(-1)!;
    const calls = pendingCalls(state.messages);
    const pending = calls.filter((call) => needsApproval.has(call.name));
    const request: ApprovalRequest = {
      action_requests: pending.map(({ name, args, id }) => ({ name, args, id })),
    };
    const decisions = parseDecisions(await ctx.interrupt(request), request);
    const decided = new Map<string, ApprovalDecision>(
      pending.map((call, index) => [call.id, decisions[index]!]),
    );
    const run: ToolCall[] = [];
    const rejections: Message[] = [];
    let edited = false;
    const final = calls.map((call) => {
      const decision = decided.get(call.id) ?? { type: "approve" };
      if (decision.type === "reject") {
        const content = decision.message ?? `The user rejected the call to "${call.name}"`;
        rejections.push(toolMessage(content, call.id, { name: call.name }));
        return call;
      }
      const next = decision.type === "edit" ? { ...call, args: decision.args } : call;
      edited ||= decision.type === "edit";
      run.push(next);
      return next;
    });
    return new Command({
      update: { messages: [...(edited ? [{ ...last, tool_calls: final }] : []), ...rejections] },
      goto: run.length === 0 ? "model" : run.map((call) => new Send("tools", { call })),
    });
  }

  async function callTool(input: { call: ToolCall }, ctx: NodeContext) {
    const { call } = input;
    const answer = (outcome: ToolOutcome) => ({
      messages: [toolMessage(outcome.content, call.id, { name: call.name })],
    });
    const found = byName.get(call.name);
    if (found === undefined) {
      const known = [...byName.keys()].map((name) => `"${name}"`).join(", ") || "none";
      return answer({ content: `Error: there is no tool "${call.name}" (tools: ${known})` });
    }
    if (Object.hasOwn(call.args, INVALID_ARGUMENTS)) {
      return answer({
        content: `Error: the arguments of the call to "${call.name}" are not valid JSON: ${
          call.args[INVALID_ARGUMENTS]
        }`,
        error: true,
      });
    }
    let args: unknown;
    try {
      args = found.parse(call.args);
    } catch (error) {
      return answer({ content: `Error: ${messageOf(error)}`, error: true });
    }
    const toolCtx: ToolContext = {
      signal: ctx.signal,
      threadId: ctx.threadId,
      callId: call.id,
      idempotencyKey: `${ctx.threadId}:${ctx.step}:${ctx.taskId}`,
      effect: (name, fn) => ctx.effect(name, fn),
    };
    const outcome = await ctx.effect(`tool:${call.name}`, async (signal): Promise<ToolOutcome> => {
      try {
        return { content: contentOf(await found.run(args, toolCtx)) };
      } catch (error) {
        if (found.fatal || signal.aborted || error instanceof GraphInterrupt) throw error;
        return { content: `Error: ${messageOf(error)}`, error: true };
      }
    });
    return answer(outcome);
  }

  const graph = new StateGraph(AgentState)
    .addNode("model", callModel, { retry })
    .addNode("tools", callTool as never)
    .addEdge(START, "model")
    .addEdge("tools", "model");
  if (needsApproval.size > 0) {
    graph.addNode("approval", approve, {
      ends: ["tools", "model"],
      validateResume: (answer, question) => void parseDecisions(answer, question),
    });
  }
  graph.addConditionalEdges(
    "model",
    route,
    needsApproval.size > 0 ? ["tools", "approval", END] : ["tools", END],
  );
  return graph.compile({ name: "agent", ...compile });
}

/** The tool calls of the last message, if it is the model's. */
function pendingCalls(messages: readonly Message[]): ToolCall[] {
  const last = messages.at(-1);
  return last?.type === "ai" ? last.tool_calls ?? [] : [];
}

function checkOptions(options: AgentOptions): void {
  const { model, tools = [], approval, maxIterations } = options;
  if (
    typeof model !== "object" || model === null || typeof model.invoke !== "function" ||
    typeof model.stream !== "function"
  ) {
    throw new InvalidArgumentError("Cannot create an agent: model must be a ChatModel", {
      field: "model",
    });
  }
  const names = new Set<string>();
  for (const tool of tools) {
    if (names.has(tool.name)) {
      throw new InvalidArgumentError(
        `Cannot create an agent: two tools are named "${tool.name}"`,
        { field: "tools" },
      );
    }
    names.add(tool.name);
  }
  for (const name of approval?.tools ?? []) {
    if (!names.has(name)) {
      throw new InvalidArgumentError(
        `Cannot create an agent: approval names tool "${name}", which is not one of its tools`,
        { field: "approval.tools" },
      );
    }
  }
  if (maxIterations !== undefined && (!Number.isInteger(maxIterations) || maxIterations < 1)) {
    throw new InvalidArgumentError(
      `Cannot create an agent: maxIterations must be a positive integer, got ${maxIterations}`,
      { field: "maxIterations" },
    );
  }
}

function contentOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
