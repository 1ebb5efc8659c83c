/**
 * A tool-using agent: it answers weather questions with a `get_weather`
 * tool. It runs with a scripted model (no key needed) by default, and with a
 * real provider when one is configured: `OPENAI_API_KEY` (and
 * `OPENAI_BASE_URL`), `ANTHROPIC_API_KEY`, or `OLLAMA_HOST`, in that order;
 * `ORIS_AGENT_MODEL` names the model.
 *
 * Run: `deno run -A examples/agent.ts "Weather in Oslo?"`
 *
 * @module
 */

import { type CompiledGraph, type CompileOptions, humanMessage, type Message } from "../mod.ts";
import {
  type AgentStateSpec,
  AnthropicChatModel,
  type ChatModel,
  createAgent,
  OllamaChatModel,
  OpenAIChatModel,
  ScriptedModel,
  type ScriptedReply,
  tool,
} from "../agents/mod.ts";
import { z } from "zod";

const REPORTS: Record<string, string> = {
  paris: "sunny, 21 °C",
  oslo: "snowy, -3 °C",
  tokyo: "rainy, 14 °C",
};

/** The example's tool: a (made-up) weather report for a city. */
export const getWeather = tool({
  name: "get_weather",
  description: "The current weather in a city",
  schema: z.object({ city: z.string().describe("The city, e.g. Paris") }),
  run: ({ city }) => REPORTS[city.toLowerCase()] ?? `no report for ${city}`,
});

/** The city a question names (the last capitalised word), for the scripted model. */
function cityOf(text: string): string {
  return text.match(/[A-Z][a-z]+/g)?.filter((word) => word !== "Weather" && word !== "What")
    .at(-1) ?? "Paris";
}

/**
 * The scripted model's part: ask for the weather of the city the question
 * names, then report the tool's answer.
 *
 * @param messages The conversation.
 * @returns The next answer.
 */
export function scriptedWeather(messages: readonly Message[]): ScriptedReply {
  const last = messages.at(-1);
  if (last?.type === "tool") {
    const call = messages.findLast((message) => message.type === "ai")?.tool_calls?.[0];
    return `The weather in ${call?.args.city ?? "the city"}: ${last.content}.`;
  }
  return { tool_calls: [{ name: "get_weather", args: { city: cityOf(last?.content ?? "") } }] };
}

/** The settings that choose the example's model (environment variables of the same names). */
export interface AgentModelSettings {
  /** Runs on OpenAI. */
  OPENAI_API_KEY?: string | undefined;
  /** With `OPENAI_API_KEY`: an OpenAI-compatible server. */
  OPENAI_BASE_URL?: string | undefined;
  /** Runs on Anthropic (when no OpenAI key is set). */
  ANTHROPIC_API_KEY?: string | undefined;
  /** Runs on Ollama (when neither key is set). */
  OLLAMA_HOST?: string | undefined;
  /** The model at that provider. */
  ORIS_AGENT_MODEL?: string | undefined;
}

/**
 * The model the example uses: a provider when its key (or host) is set,
 * otherwise the scripted one.
 *
 * @param env The settings (the environment, or the server's parsed configuration).
 * @returns The model.
 */
export function agentModelFromEnv(env: AgentModelSettings): ChatModel {
  const model = env.ORIS_AGENT_MODEL;
  if (env.OPENAI_API_KEY) {
    return new OpenAIChatModel({
      model: model ?? "gpt-4o-mini",
      apiKey: env.OPENAI_API_KEY,
      ...(env.OPENAI_BASE_URL ? { baseUrl: env.OPENAI_BASE_URL } : {}),
    });
  }
  if (env.ANTHROPIC_API_KEY) {
    return new AnthropicChatModel({
      model: model ?? "claude-haiku-4-5",
      apiKey: env.ANTHROPIC_API_KEY,
    });
  }
  if (env.OLLAMA_HOST) {
    return new OllamaChatModel({ model: model ?? "llama3.2", host: env.OLLAMA_HOST });
  }
  return new ScriptedModel({ replies: scriptedWeather });
}

/** Options of {@linkcode agentGraph}. */
export interface AgentExampleOptions extends CompileOptions {
  /**
   * The model.
   * @default {the scripted one}
   */
  model?: ChatModel;
}

/**
 * Builds and compiles the weather agent.
 *
 * @param options The model, and where to compile it (name default `agent`).
 * @returns The compiled graph.
 */
export function agentGraph(options: AgentExampleOptions = {}): CompiledGraph<AgentStateSpec> {
  const { model = new ScriptedModel({ replies: scriptedWeather }), ...compile } = options;
  return createAgent({
    model,
    tools: [getWeather],
    system: "You answer questions about the weather. Use get_weather; be brief.",
    ...compile,
  });
}

if (import.meta.main) {
  const app = agentGraph({ model: agentModelFromEnv(Deno.env.toObject()) });
  const question = Deno.args[0] ?? "What is the weather in Paris?";
  const result = await app.invoke({ messages: [humanMessage(question)] });
  for (const message of result.state.messages) {
    const calls = message.tool_calls?.map((call) => `${call.name}(${JSON.stringify(call.args)})`);
    console.log(`${message.type}: ${message.content}${calls ? ` ${calls.join(", ")}` : ""}`);
  }
  console.log("usage:", result.state.usage);
  await app.close();
}
