/**
 * `ScriptedModel`: a chat model that answers from a script, for tests and
 * for examples that need no key.
 *
 * @module
 */

import { aiMessage, InvalidArgumentError, type JsonObject, type Message } from "../mod.ts";
import type { ChatCallOptions, ChatChunk, ChatModel, ChatResult, Usage } from "./model.ts";

/** One scripted answer: a text, and/or tool calls (ids default to `call_<turn>_<n>`). */
export type ScriptedReply =
  | string
  | {
    /** The answer's text. */
    content?: string;
    /** The tools to call. */
    tool_calls?: { name: string; args?: JsonObject; id?: string }[];
  };

/** Options of {@linkcode ScriptedModel}. */
export interface ScriptedModelOptions {
  /**
   * The answers, by turn: the n-th answer is given when the conversation
   * holds n - 1 `ai` messages (so a recovered or resumed run gets the same
   * answer as the first time); or a function of the conversation.
   */
  replies: readonly ScriptedReply[] | ((messages: readonly Message[]) => ScriptedReply);
  /**
   * The model's name.
   * @default {"scripted"}
   */
  model?: string;
}

/**
 * A deterministic chat model: its answer depends only on the conversation
 * (the number of `ai` messages in it, or a function of it), never on how
 * often it was called, so it behaves the same in every process. Usage counts
 * words. `calls` counts the calls this instance answered, for tests.
 *
 * @example An agent turn with a tool call, then the answer
 * ```ts
 * import { ScriptedModel } from "./mod.ts";
 * import { humanMessage } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const model = new ScriptedModel({
 *   replies: [{ tool_calls: [{ name: "add", args: { a: 2, b: 3 } }] }, "2 + 3 = 5"],
 * });
 * const first = await model.invoke([humanMessage("What is 2 + 3?")]);
 * assert.deepEqual(first.message.tool_calls, [{ id: "call_1_0", name: "add", args: { a: 2, b: 3 } }]);
 * assert.equal(first.stopReason, "tool_calls");
 * const second = await model.invoke([humanMessage("What is 2 + 3?"), first.message]);
 * assert.equal(second.message.content, "2 + 3 = 5");
 * ```
 */
export class ScriptedModel implements ChatModel {
  /** Always `scripted`. */
  readonly provider = "scripted";
  /** The model's name. */
  readonly model: string;
  /** How many calls this instance answered. */
  calls = 0;
  readonly #replies: ScriptedModelOptions["replies"];

  /**
   * Creates the model.
   *
   * @param options The script and the model's name.
   */
  constructor(options: ScriptedModelOptions) {
    if (typeof options.replies !== "function" && !Array.isArray(options.replies)) {
      throw new InvalidArgumentError("Cannot create a ScriptedModel: replies must be a list", {
        field: "replies",
      });
    }
    this.#replies = options.replies;
    this.model = options.model ?? "scripted";
  }

  invoke(messages: readonly Message[], options: ChatCallOptions = {}): Promise<ChatResult> {
    try {
      options.signal?.throwIfAborted();
      this.calls++;
      return Promise.resolve(this.#answer(messages));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async *stream(
    messages: readonly Message[],
    options: ChatCallOptions = {},
  ): AsyncGenerator<ChatChunk> {
    const result = await this.invoke(messages, options);
    const words = result.message.content.match(/\s*\S+/g) ?? [];
    for (const text of words) yield { type: "text", text };
    for (const [index, call] of (result.message.tool_calls ?? []).entries()) {
      yield {
        type: "tool_call_chunk",
        index,
        id: call.id,
        name: call.name,
        args: JSON.stringify(call.args),
      };
    }
    yield { type: "result", result };
  }

  #answer(messages: readonly Message[]): ChatResult {
    const turn = messages.filter((message) => message.type === "ai").length + 1;
    const replies = this.#replies;
    const reply = typeof replies === "function" ? replies(messages) : replies[turn - 1];
    if (reply === undefined) {
      throw new InvalidArgumentError(
        `ScriptedModel has no reply for turn ${turn}: its script has ${
          (replies as readonly ScriptedReply[]).length
        }`,
      );
    }
    const { content = "", tool_calls = [] } = typeof reply === "string"
      ? { content: reply }
      : reply;
    const calls = tool_calls.map((call, n) => ({
      id: call.id ?? `call_${turn}_${n}`,
      name: call.name,
      args: call.args ?? {},
    }));
    const message = aiMessage(content, calls.length === 0 ? {} : { tool_calls: calls });
    const usage: Usage = {
      input_tokens: messages.reduce((sum, m) => sum + wordCount(m.content), 0),
      output_tokens: wordCount(content),
    };
    return { message, usage, stopReason: calls.length === 0 ? "stop" : "tool_calls" };
  }
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter((word) => word !== "").length;
}
