/**
 * The chat model interface every provider implements: messages in (the
 * package's `Message`s), an AI message with its tool calls out, with token
 * usage and why the model stopped; whole (`invoke`) or as token chunks
 * (`stream`).
 *
 * @module
 */

import type { JsonObject, Message } from "../mod.ts";

/** A tool as a model sees it: its name, what it does, and the JSON Schema of its arguments. */
export interface ToolDefinition {
  /** The name the model calls it by. */
  name: string;
  /** What it does, for the model. */
  description: string;
  /** The JSON Schema of its arguments (an object schema). */
  parameters: JsonObject;
}

/** Tokens a model call used, as the provider reports them (0 when it does not). */
export interface Usage {
  /** Tokens of the prompt. */
  input_tokens: number;
  /** Tokens of the answer. */
  output_tokens: number;
}

/**
 * Why a model stopped: it answered (`stop`), it asked for tools
 * (`tool_calls`), it ran out of tokens (`length`), or something else the
 * provider said (`other`).
 */
export type StopReason = "stop" | "tool_calls" | "length" | "other";

/** A model's complete answer. */
export interface ChatResult {
  /** The `ai` message, with its `tool_calls` if it asked for tools. */
  message: Message;
  /** The tokens it used. */
  usage: Usage;
  /** Why it stopped. */
  stopReason: StopReason;
}

/**
 * What `ChatModel.stream` yields: text tokens and pieces of tool calls as
 * they arrive, then exactly one `result` with the complete answer (tool-call
 * pieces assembled into calls with parsed arguments).
 */
export type ChatChunk =
  | {
    /** A piece of the answer's text. */
    type: "text";
    /** The text. */
    text: string;
  }
  | {
    /** A piece of a tool call. */
    type: "tool_call_chunk";
    /** Which call of the answer (from 0). */
    index: number;
    /** The call's id, on its first piece. */
    id?: string;
    /** The tool's name, on its first piece. */
    name?: string;
    /** A piece of the arguments' JSON text. */
    args: string;
  }
  | {
    /** The complete answer; the last chunk. */
    type: "result";
    /** The answer. */
    result: ChatResult;
  };

/** Options of one model call. */
export interface ChatCallOptions {
  /** The tools the model may call. */
  tools?: readonly ToolDefinition[];
  /** Aborts the call. */
  signal?: AbortSignal;
}

/**
 * A chat model. Implementations: `OpenAIChatModel`, `AnthropicChatModel`,
 * `OllamaChatModel`, and `ScriptedModel` for tests and examples without a
 * key.
 *
 * Errors are classified for the runtime's retry policy: a retryable failure
 * (429, 5xx, network) is an `OrisError` with code `unavailable` (with
 * `details.retry_after_ms` when the provider said when to try again); a
 * request the provider refuses (400, 401, 403, ...) is a `TerminalError`
 * carrying the provider's message.
 */
export interface ChatModel {
  /** Who serves it: `openai`, `anthropic`, `ollama`, `scripted`, ... */
  readonly provider: string;
  /** The model's name at the provider. */
  readonly model: string;
  /**
   * Asks the model for its complete answer.
   *
   * @param messages The conversation (system, human, ai and tool messages).
   * @param options The tools it may call, and an abort signal.
   * @returns The answer.
   */
  invoke(messages: readonly Message[], options?: ChatCallOptions): Promise<ChatResult>;
  /**
   * Asks the model and yields its answer as it is produced, ending with the
   * complete `result`.
   *
   * @param messages The conversation.
   * @param options The tools it may call, and an abort signal.
   * @returns The chunks.
   */
  stream(messages: readonly Message[], options?: ChatCallOptions): AsyncIterable<ChatChunk>;
}
