/**
 * `AnthropicChatModel`: Anthropic's Messages API on the official
 * `@anthropic-ai/sdk` client, loaded when the model is first called.
 *
 * @module
 */

import type Anthropic from "@anthropic-ai/sdk";
import { aiMessage, type Message, type ToolCall } from "../mod.ts";
import {
  assembleCalls,
  type PartialCall,
  providerError,
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

/** Options of {@linkcode AnthropicChatModel}. */
export interface AnthropicChatModelOptions {
  /** The model, e.g. `claude-sonnet-4-5`. */
  model: string;
  /** The API key (default: `ANTHROPIC_API_KEY`; required). */
  apiKey?: string;
  /** The API's base URL (default: Anthropic's). */
  baseUrl?: string;
  /**
   * The most tokens of an answer.
   * @default {4096}
   */
  maxTokens?: number;
  /** The sampling temperature (default: the provider's). */
  temperature?: number;
  /** The `fetch` the client uses (default: the global one), e.g. for a proxy. */
  fetch?: typeof fetch;
}

/**
 * A chat model served by Anthropic's Messages API. System messages become
 * the request's `system`; tool results are sent as `tool_result` blocks. The
 * client's own retries are off: the run's retry policy decides.
 *
 * @example Construction fails at once without a key
 * ```ts
 * import { AnthropicChatModel } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const model = new AnthropicChatModel({ model: "claude-sonnet-4-5", apiKey: "sk-ant-test" });
 * assert.equal(model.provider, "anthropic");
 * Deno.env.delete("ANTHROPIC_API_KEY");
 * assert.throws(() => new AnthropicChatModel({ model: "claude-sonnet-4-5" }), /set ANTHROPIC_API_KEY/);
 * ```
 */
export class AnthropicChatModel implements ChatModel {
  /** Always `anthropic`. */
  readonly provider = "anthropic";
  /** The model. */
  readonly model: string;
  readonly #options: AnthropicChatModelOptions & { apiKey: string };
  #client: Promise<Anthropic> | null = null;

  /**
   * Creates the model; the client is loaded when it is first called.
   *
   * @param options The model, key, base URL, token limit, temperature and fetch.
   * @throws {InvalidArgumentError} naming `ANTHROPIC_API_KEY` when there is no key.
   */
  constructor(options: AnthropicChatModelOptions) {
    this.model = options.model;
    this.#options = {
      ...options,
      apiKey: requireKey(options.apiKey, "ANTHROPIC_API_KEY", "Anthropic"),
    };
  }

  #clientOf(): Promise<Anthropic> {
    this.#client ??= import("@anthropic-ai/sdk").then(({ default: Client }) => {
      const { apiKey, baseUrl, fetch } = this.#options;
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
    const { maxTokens = 4096, temperature } = this.#options;
    const system = messages.filter((message) => message.type === "system")
      .map((message) => message.content).join("\n\n");
    return {
      model: this.model,
      max_tokens: maxTokens,
      messages: toAnthropic(messages),
      ...(system === "" ? {} : { system }),
      ...(tools.length === 0 ? {} : {
        tools: tools.map(({ name, description, parameters }) => ({
          name,
          description,
          input_schema: parameters as Anthropic.Tool["input_schema"],
        })),
      }),
      ...(temperature === undefined ? {} : { temperature }),
    };
  }

  async invoke(messages: readonly Message[], options: ChatCallOptions = {}): Promise<ChatResult> {
    const { signal } = options;
    try {
      const client = await this.#clientOf();
      const answer = await client.messages.create(
        this.#body(messages, options.tools),
        signal === undefined ? {} : { signal },
      );
      let text = "";
      const calls: ToolCall[] = [];
      for (const block of answer.content) {
        if (block.type === "text") text += block.text;
        else if (block.type === "tool_use") {
          calls.push({
            id: block.id,
            name: block.name,
            args: (block.input ?? {}) as ToolCall["args"],
          });
        }
      }
      return {
        message: aiMessage(text, calls.length === 0 ? {} : { tool_calls: calls }),
        usage: {
          input_tokens: inputTokens(answer.usage),
          output_tokens: answer.usage.output_tokens,
        },
        stopReason: stopReasonOf(answer.stop_reason, calls.length > 0),
      };
    } catch (error) {
      throw providerError("Anthropic", error, signal);
    }
  }

  async *stream(
    messages: readonly Message[],
    options: ChatCallOptions = {},
  ): AsyncGenerator<ChatChunk> {
    const { signal } = options;
    let text = "";
    const partial = new Map<number, PartialCall>();
    /** Tool-call index by content block index. */
    const callAt = new Map<number, number>();
    let stop: string | null = null;
    const usage: Usage = { input_tokens: 0, output_tokens: 0 };
    try {
      const client = await this.#clientOf();
      const stream = await client.messages.create(
        { ...this.#body(messages, options.tools), stream: true },
        signal === undefined ? {} : { signal },
      );
      for await (const event of stream) {
        switch (event.type) {
          case "message_start":
            usage.input_tokens = inputTokens(event.message.usage);
            usage.output_tokens = event.message.usage.output_tokens;
            break;
          case "content_block_start":
            if (event.content_block.type === "tool_use") {
              const index = callAt.size;
              callAt.set(event.index, index);
              const { id, name } = event.content_block;
              partial.set(index, { id, name, args: "" });
              yield { type: "tool_call_chunk", index, id, name, args: "" };
            } else if (event.content_block.type === "text" && event.content_block.text !== "") {
              text += event.content_block.text;
              yield { type: "text", text: event.content_block.text };
            }
            break;
          case "content_block_delta":
            if (event.delta.type === "text_delta") {
              text += event.delta.text;
              yield { type: "text", text: event.delta.text };
            } else if (event.delta.type === "input_json_delta") {
              const index = callAt.get(event.index);
              if (index === undefined) break;
              partial.get(index)!.args += event.delta.partial_json;
              yield { type: "tool_call_chunk", index, args: event.delta.partial_json };
            }
            break;
          case "message_delta":
            stop = event.delta.stop_reason ?? stop;
            usage.output_tokens = event.usage.output_tokens ?? usage.output_tokens;
            if (typeof event.usage.input_tokens === "number") {
              usage.input_tokens = inputTokens(event.usage as Anthropic.Usage);
            }
            break;
        }
      }
    } catch (error) {
      throw providerError("Anthropic", error, signal);
    }
    const calls = assembleCalls(partial);
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

/** Input tokens, cached ones included. */
function inputTokens(usage: Partial<Anthropic.Usage>): number {
  return (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) +
    (usage.cache_read_input_tokens ?? 0);
}

type Block = Anthropic.ContentBlockParam;

/**
 * The conversation in the Messages API's terms: system messages left out
 * (they are the request's `system`), tool results as `tool_result` blocks of
 * a user turn, and consecutive turns of one role merged.
 *
 * @param messages The conversation.
 * @returns The request's `messages`.
 */
function toAnthropic(messages: readonly Message[]): Anthropic.MessageParam[] {
  const turns: { role: "user" | "assistant"; content: Block[] }[] = [];
  const add = (role: "user" | "assistant", blocks: Block[]) => {
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  for (const message of messages) {
    switch (message.type) {
      case "system":
        break;
      case "human":
        add("user", [{ type: "text", text: message.content }]);
        break;
      case "tool":
        add("user", [{
          type: "tool_result",
          tool_use_id: message.tool_call_id ?? "",
          content: message.content,
        }]);
        break;
      case "ai": {
        const blocks: Block[] = message.content === ""
          ? []
          : [{ type: "text", text: message.content }];
        for (const call of message.tool_calls ?? []) {
          blocks.push({ type: "tool_use", id: call.id, name: call.name, input: call.args });
        }
        add("assistant", blocks);
        break;
      }
    }
  }
  return turns;
}
