/**
 * `OllamaChatModel`: Ollama's `/api/chat` on the official `ollama` client,
 * loaded when the model is first called.
 *
 * @module
 */

import type { ChatRequest, ChatResponse, Message as OllamaMessage, Ollama } from "ollama";
import { aiMessage, type JsonObject, type Message, type ToolCall } from "../mod.ts";
import { newCallId, providerError, readEnv, stopReasonOf } from "./_provider.ts";
import type {
  ChatCallOptions,
  ChatChunk,
  ChatModel,
  ChatResult,
  ToolDefinition,
  Usage,
} from "./model.ts";

/** Options of {@linkcode OllamaChatModel}. */
export interface OllamaChatModelOptions {
  /** The model, e.g. `llama3.2`. */
  model: string;
  /** The server (default: `OLLAMA_HOST`, else `http://127.0.0.1:11434`). */
  host?: string;
  /** The sampling temperature (default: the model's). */
  temperature?: number;
  /** The `fetch` the client uses (default: the global one), e.g. for a proxy. */
  fetch?: typeof fetch;
}

/**
 * A chat model served by Ollama. Ollama gives tool calls no id, so each gets
 * a new one (fixed once the call's result is journaled).
 *
 * @example A local model needs no key
 * ```ts
 * import { OllamaChatModel } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const model = new OllamaChatModel({ model: "llama3.2", host: "http://127.0.0.1:11434" });
 * assert.equal(model.provider, "ollama");
 * ```
 */
export class OllamaChatModel implements ChatModel {
  /** Always `ollama`. */
  readonly provider = "ollama";
  /** The model. */
  readonly model: string;
  readonly #options: OllamaChatModelOptions;
  #module: Promise<typeof import("ollama")> | null = null;

  /**
   * Creates the model; the client is loaded when it is first called.
   *
   * @param options The model, host, temperature and fetch.
   */
  constructor(options: OllamaChatModelOptions) {
    this.model = options.model;
    this.#options = options;
  }

  /**
   * A client for one call: its requests listen to `signal` (the client
   * takes no signal per call), and the headers of a failed response are kept
   * in `failed` (its errors do not carry them), for `Retry-After`.
   */
  async #clientOf(
    signal: AbortSignal | undefined,
    failed: { headers?: Headers },
  ): Promise<Ollama> {
    this.#module ??= import("ollama");
    const { Ollama } = await this.#module;
    const { host = readEnv("OLLAMA_HOST") ?? "http://127.0.0.1:11434" } = this.#options;
    const base = this.#options.fetch ?? fetch;
    return new Ollama({
      host,
      fetch: async (input, init) => {
        const response = await base(input, {
          ...init,
          ...(signal === undefined
            ? {}
            : { signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal }),
        });
        if (!response.ok) failed.headers = response.headers;
        return response;
      },
    });
  }

  #body(messages: readonly Message[], tools: readonly ToolDefinition[] = []): ChatRequest {
    const { temperature } = this.#options;
    return {
      model: this.model,
      messages: toOllama(messages),
      ...(tools.length === 0 ? {} : {
        tools: tools.map(({ name, description, parameters }) => ({
          type: "function",
          function: { name, description, parameters: parameters as never },
        })),
      }),
      ...(temperature === undefined ? {} : { options: { temperature } }),
    };
  }

  async invoke(messages: readonly Message[], options: ChatCallOptions = {}): Promise<ChatResult> {
    const { signal } = options;
    const failed: { headers?: Headers } = {};
    try {
      const client = await this.#clientOf(signal, failed);
      const answer = await client.chat({ ...this.#body(messages, options.tools), stream: false });
      const calls = callsOf(answer.message);
      return {
        message: aiMessage(answer.message.content, calls.length === 0 ? {} : { tool_calls: calls }),
        usage: usageOf(answer),
        stopReason: stopReasonOf(answer.done_reason, calls.length > 0),
      };
    } catch (error) {
      throw providerError("Ollama", error, signal, failed.headers);
    }
  }

  async *stream(
    messages: readonly Message[],
    options: ChatCallOptions = {},
  ): AsyncGenerator<ChatChunk> {
    const { signal } = options;
    let text = "";
    const calls: ToolCall[] = [];
    let usage: Usage = { input_tokens: 0, output_tokens: 0 };
    let stop: string | undefined;
    const failed: { headers?: Headers } = {};
    try {
      const client = await this.#clientOf(signal, failed);
      const stream = await client.chat({ ...this.#body(messages, options.tools), stream: true });
      for await (const part of stream) {
        if (part.message?.content) {
          text += part.message.content;
          yield { type: "text", text: part.message.content };
        }
        for (const call of callsOf(part.message)) {
          const index = calls.length;
          calls.push(call);
          yield {
            type: "tool_call_chunk",
            index,
            id: call.id,
            name: call.name,
            args: JSON.stringify(call.args),
          };
        }
        if (part.done) {
          usage = usageOf(part);
          stop = part.done_reason;
        }
      }
    } catch (error) {
      throw providerError("Ollama", error, signal, failed.headers);
    }
    yield {
      type: "result",
      result: {
        message: aiMessage(text, calls.length === 0 ? {} : { tool_calls: calls }),
        usage,
        stopReason: stopReasonOf(stop, calls.length > 0),
      },
    };
  }
}

function usageOf(answer: Partial<ChatResponse>): Usage {
  return { input_tokens: answer.prompt_eval_count ?? 0, output_tokens: answer.eval_count ?? 0 };
}

function callsOf(message: OllamaMessage | undefined): ToolCall[] {
  return (message?.tool_calls ?? []).map((call) => ({
    id: typeof (call as { id?: unknown }).id === "string"
      ? (call as unknown as { id: string }).id
      : newCallId(),
    name: call.function.name,
    args: (call.function.arguments ?? {}) as JsonObject,
  }));
}

/**
 * The conversation in Ollama's terms.
 *
 * @param messages The conversation.
 * @returns The request's `messages`.
 */
function toOllama(messages: readonly Message[]): OllamaMessage[] {
  return messages.map((message): OllamaMessage => {
    switch (message.type) {
      case "system":
        return { role: "system", content: message.content };
      case "human":
        return { role: "user", content: message.content };
      case "tool":
        return {
          role: "tool",
          content: message.content,
          ...(message.name === undefined ? {} : { tool_name: message.name }),
        };
      case "ai":
        return {
          role: "assistant",
          content: message.content,
          ...(message.tool_calls === undefined || message.tool_calls.length === 0 ? {} : {
            tool_calls: message.tool_calls.map((call) => ({
              function: { name: call.name, arguments: call.args },
            })),
          }),
        };
    }
  });
}
