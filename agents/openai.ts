/**
 * `OpenAIChatModel`: OpenAI's Chat Completions API (or any server that
 * speaks it, through `baseUrl`) on the official `openai` client, loaded when
 * the model is first called.
 *
 * @module
 */

import type OpenAI from "openai";
import { aiMessage, type Message } from "../mod.ts";
import {
  assembleCalls,
  parseArguments,
  type PartialCall,
  providerError,
  readEnv,
  requireKey,
  stopReasonOf,
} from "./_provider.ts";
import type {
  ChatCallOptions,
  ChatChunk,
  ChatModel,
  ChatResult,
  ToolDefinition,
  Usage,
} from "./model.ts";

/** Options of {@linkcode OpenAIChatModel}. */
export interface OpenAIChatModelOptions {
  /** The model, e.g. `gpt-4o-mini`. */
  model: string;
  /** The API key (default: `OPENAI_API_KEY`; required). */
  apiKey?: string;
  /** The API's base URL, for any OpenAI-compatible server (default: `OPENAI_BASE_URL`, else OpenAI's). */
  baseUrl?: string;
  /** The sampling temperature (default: the provider's). */
  temperature?: number;
  /** The `fetch` the client uses (default: the global one), e.g. for a proxy. */
  fetch?: typeof fetch;
}

/**
 * A chat model served by OpenAI's Chat Completions API, or any
 * OpenAI-compatible server through `baseUrl`. The client's own retries are
 * off: the run's retry policy decides (a 429's `Retry-After` is honoured).
 *
 * @example Construction fails at once without a key
 * ```ts
 * import { OpenAIChatModel } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const model = new OpenAIChatModel({ model: "gpt-4o-mini", apiKey: "sk-test" });
 * assert.equal(model.provider, "openai");
 * Deno.env.delete("OPENAI_API_KEY");
 * assert.throws(() => new OpenAIChatModel({ model: "gpt-4o-mini" }), /set OPENAI_API_KEY/);
 * ```
 */
export class OpenAIChatModel implements ChatModel {
  /** Always `openai`. */
  readonly provider = "openai";
  /** The model. */
  readonly model: string;
  readonly #options: OpenAIChatModelOptions & { apiKey: string };
  #client: Promise<OpenAI> | null = null;

  /**
   * Creates the model; the client is loaded when it is first called.
   *
   * @param options The model, key, base URL, temperature and fetch.
   * @throws {InvalidArgumentError} naming `OPENAI_API_KEY` when there is no key.
   */
  constructor(options: OpenAIChatModelOptions) {
    this.model = options.model;
    this.#options = { ...options, apiKey: requireKey(options.apiKey, "OPENAI_API_KEY", "OpenAI") };
  }

  #clientOf(): Promise<OpenAI> {
    this.#client ??= import("openai").then(({ default: Client }) => {
      const { apiKey, baseUrl = readEnv("OPENAI_BASE_URL"), fetch } = this.#options;
      return new Client({
        apiKey,
        maxRetries: 0,
        ...(baseUrl === undefined ? {} : { baseURL: baseUrl }),
        ...(fetch === undefined ? {} : { fetch }),
      });
    });
    return this.#client;
  }

  #body(messages: readonly Message[], tools: readonly ToolDefinition[] = []) {
    const { temperature } = this.#options;
    return {
      model: this.model,
      messages: toOpenAI(messages),
      ...(tools.length === 0 ? {} : {
        tools: tools.map(({ name, description, parameters }) => ({
          type: "function" as const,
          function: { name, description, parameters },
        })),
      }),
      ...(temperature === undefined ? {} : { temperature }),
    };
  }

  async invoke(messages: readonly Message[], options: ChatCallOptions = {}): Promise<ChatResult> {
    const { signal } = options;
    try {
      const client = await this.#clientOf();
      const completion = await client.chat.completions.create(
        this.#body(messages, options.tools),
        signal === undefined ? {} : { signal },
      );
      const choice = completion.choices[0];
      const calls = (choice?.message.tool_calls ?? []).flatMap((call) =>
        call.type === "function"
          ? [{
            id: call.id,
            name: call.function.name,
            args: parseArguments(call.function.arguments),
          }]
          : []
      );
      return {
        message: aiMessage(
          choice?.message.content ?? "",
          calls.length === 0 ? {} : { tool_calls: calls },
        ),
        usage: usageOf(completion.usage),
        stopReason: stopReasonOf(choice?.finish_reason, calls.length > 0),
      };
    } catch (error) {
      throw providerError("OpenAI", error, signal);
    }
  }

  async *stream(
    messages: readonly Message[],
    options: ChatCallOptions = {},
  ): AsyncGenerator<ChatChunk> {
    const { signal } = options;
    let text = "";
    const partial = new Map<number, PartialCall>();
    let finish: string | null = null;
    let usage: Usage = { input_tokens: 0, output_tokens: 0 };
    try {
      const client = await this.#clientOf();
      const stream = await client.chat.completions.create(
        {
          ...this.#body(messages, options.tools),
          stream: true,
          stream_options: { include_usage: true },
        },
        signal === undefined ? {} : { signal },
      );
      for await (const chunk of stream) {
        if (chunk.usage) usage = usageOf(chunk.usage);
        const choice = chunk.choices[0];
        if (choice === undefined) continue;
        if (choice.delta.content) {
          text += choice.delta.content;
          yield { type: "text", text: choice.delta.content };
        }
        for (const delta of choice.delta.tool_calls ?? []) {
          const call = partial.get(delta.index) ?? { id: "", name: "", args: "" };
          partial.set(delta.index, call);
          if (delta.id) call.id = delta.id;
          if (delta.function?.name) call.name += delta.function.name;
          call.args += delta.function?.arguments ?? "";
          yield {
            type: "tool_call_chunk",
            index: delta.index,
            ...(delta.id ? { id: delta.id } : {}),
            ...(delta.function?.name ? { name: delta.function.name } : {}),
            args: delta.function?.arguments ?? "",
          };
        }
        if (choice.finish_reason) finish = choice.finish_reason;
      }
    } catch (error) {
      throw providerError("OpenAI", error, signal);
    }
    const calls = assembleCalls(partial);
    yield {
      type: "result",
      result: {
        message: aiMessage(text, calls.length === 0 ? {} : { tool_calls: calls }),
        usage,
        stopReason: stopReasonOf(finish, calls.length > 0),
      },
    };
  }
}

function usageOf(usage: OpenAI.CompletionUsage | null | undefined): Usage {
  return { input_tokens: usage?.prompt_tokens ?? 0, output_tokens: usage?.completion_tokens ?? 0 };
}

/**
 * The conversation in Chat Completions' terms.
 *
 * @param messages The conversation.
 * @returns The request's `messages`.
 */
function toOpenAI(messages: readonly Message[]): OpenAI.ChatCompletionMessageParam[] {
  return messages.map((message): OpenAI.ChatCompletionMessageParam => {
    switch (message.type) {
      case "system":
        return { role: "system", content: message.content };
      case "human":
        return { role: "user", content: message.content };
      case "tool":
        return { role: "tool", tool_call_id: message.tool_call_id ?? "", content: message.content };
      case "ai": {
        const calls = message.tool_calls ?? [];
        if (calls.length === 0) return { role: "assistant", content: message.content };
        return {
          role: "assistant",
          content: message.content === "" ? null : message.content,
          tool_calls: calls.map((call) => ({
            id: call.id,
            type: "function",
            function: { name: call.name, arguments: JSON.stringify(call.args) },
          })),
        };
      }
    }
  });
}
