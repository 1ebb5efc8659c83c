/**
 * Test helper: local HTTP servers that speak the chat providers' real wire
 * formats, built from their public API references, so the official clients
 * can be pointed at them:
 *
 * - OpenAI Chat Completions (`POST /v1/chat/completions`): a JSON
 *   `chat.completion`, or with `stream: true` server-sent
 *   `chat.completion.chunk`s (text deltas, tool-call deltas split across
 *   chunks, a usage chunk with `stream_options.include_usage`) and
 *   `data: [DONE]`; errors as `{ error: { message, type, code } }`;
 * - Anthropic Messages (`POST /v1/messages`): a JSON `message` with `text`
 *   and `tool_use` blocks, or with `stream: true` the named SSE events
 *   `message_start`, `content_block_start`, `ping`, `content_block_delta`
 *   (`text_delta`, `input_json_delta`), `content_block_stop`,
 *   `message_delta`, `message_stop`; errors as
 *   `{ type: "error", error: { type, message } }`;
 * - Ollama (`POST /api/chat`): a JSON answer with `done: true`, or with
 *   `stream: true` NDJSON lines ending with the `done` one; errors as
 *   `{ error }`.
 *
 * Each server answers from a script by turn (the number of assistant
 * messages in the request, so a retried or recovered request gets the same
 * answer), records every request (path, headers, body) and counts them;
 * `failNext` makes the next requests fail with a status.
 *
 * @module
 */

import type { JsonObject } from "../mod.ts";
import {
  AnthropicChatModel,
  type ChatModel,
  OllamaChatModel,
  OpenAIChatModel,
} from "../agents/mod.ts";

/** A provider the fake servers speak. */
export type ProviderKind = "openai" | "anthropic" | "ollama";

/** Every provider kind. */
export const PROVIDER_KINDS: readonly ProviderKind[] = ["openai", "anthropic", "ollama"];

/** One scripted answer. */
export interface FakeReply {
  /** The text. */
  text?: string;
  /** Tool calls. */
  tool_calls?: { name: string; args: JsonObject | string }[];
}

/** A request as the fake server received it. */
export interface RecordedRequest {
  /** The path. */
  path: string;
  /** The headers, lower-case names. */
  headers: Record<string, string>;
  /** The JSON body. */
  body: JsonObject;
}

/** A failure to answer with. */
export interface FakeFailure {
  /** The HTTP status. */
  status: number;
  /** The provider's message. */
  message: string;
  /** Extra response headers (e.g. `retry-after`). */
  headers?: Record<string, string>;
}

/** A running fake provider. */
export interface FakeProvider extends AsyncDisposable {
  /** Which provider it speaks. */
  readonly kind: ProviderKind;
  /** The base URL to give the client. */
  readonly baseUrl: string;
  /** Every request, in order. */
  readonly requests: RecordedRequest[];
  /** Makes the next requests fail, in order. */
  failNext(...failures: FakeFailure[]): void;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Input tokens the fake servers report: 10 per message. */
export function fakeInputTokens(messages: number): number {
  return 10 * messages;
}

/** Output tokens the fake servers report: 1 per word, 5 per tool call. */
export function fakeOutputTokens(reply: FakeReply): number {
  return words(reply.text ?? "").length + 5 * (reply.tool_calls?.length ?? 0);
}

function words(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

function argsText(args: JsonObject | string): string {
  return typeof args === "string" ? args : JSON.stringify(args);
}

/** Splits a string in two halves (tool-call arguments arrive in pieces). */
function halves(text: string): string[] {
  const middle = Math.floor(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)].filter((part) => part !== "");
}

interface Answer {
  reply: FakeReply;
  turn: number;
  messages: number;
  model: string;
}

type Renderer = (answer: Answer, stream: boolean) => Response;

const SSE = { "content-type": "text/event-stream", "cache-control": "no-cache" };

function sse(events: ({ event?: string; data: unknown } | string)[]): Response {
  const text = events.map((item) =>
    typeof item === "string"
      ? `data: ${item}\n\n`
      : `${item.event === undefined ? "" : `event: ${item.event}\n`}data: ${
        JSON.stringify(item.data)
      }\n\n`
  ).join("");
  return new Response(text, { headers: SSE });
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers });
}

const openai: Renderer = ({ reply, turn, messages, model }, stream) => {
  const calls = (reply.tool_calls ?? []).map((call, i) => ({
    id: `call_${turn}_${i}`,
    type: "function" as const,
    function: { name: call.name, arguments: argsText(call.args) },
  }));
  const finish = calls.length > 0 ? "tool_calls" : "stop";
  const usage = {
    prompt_tokens: fakeInputTokens(messages),
    completion_tokens: fakeOutputTokens(reply),
    total_tokens: fakeInputTokens(messages) + fakeOutputTokens(reply),
  };
  const head = { id: `chatcmpl-${turn}`, created: 1_700_000_000, model };
  if (!stream) {
    return json({
      ...head,
      object: "chat.completion",
      choices: [{
        index: 0,
        message: {
          role: "assistant",
          content: reply.text ?? null,
          refusal: null,
          ...(calls.length === 0 ? {} : { tool_calls: calls }),
        },
        logprobs: null,
        finish_reason: finish,
      }],
      usage,
    });
  }
  const chunk = (delta: unknown, finishReason: string | null = null) => ({
    data: {
      ...head,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    },
  });
  const events: ({ data: unknown } | string)[] = [chunk({ role: "assistant", content: "" })];
  for (const piece of words(reply.text ?? "")) events.push(chunk({ content: piece }));
  calls.forEach((call, index) => {
    events.push(chunk({
      tool_calls: [{
        index,
        id: call.id,
        type: "function",
        function: { name: call.function.name, arguments: "" },
      }],
    }));
    for (const piece of halves(call.function.arguments)) {
      events.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  events.push(chunk({}, finish));
  events.push({ data: { ...head, object: "chat.completion.chunk", choices: [], usage } });
  events.push("[DONE]");
  return sse(events);
};

const anthropic: Renderer = ({ reply, turn, messages, model }, stream) => {
  const blocks: JsonObject[] = [];
  if (reply.text !== undefined) blocks.push({ type: "text", text: reply.text });
  (reply.tool_calls ?? []).forEach((call, i) => {
    blocks.push({
      type: "tool_use",
      id: `toolu_${turn}_${i}`,
      name: call.name,
      input: typeof call.args === "string" ? JSON.parse(call.args) : call.args,
    });
  });
  const stop = (reply.tool_calls ?? []).length > 0 ? "tool_use" : "end_turn";
  const input = fakeInputTokens(messages);
  const output = fakeOutputTokens(reply);
  const head = { id: `msg_${turn}`, type: "message", role: "assistant", model };
  if (!stream) {
    return json({
      ...head,
      content: blocks,
      stop_reason: stop,
      stop_sequence: null,
      usage: { input_tokens: input, output_tokens: output },
    });
  }
  const events: { event: string; data: unknown }[] = [];
  const emit = (event: string, data: JsonObject) =>
    events.push({ event, data: { type: event, ...data } });
  emit("message_start", {
    message: {
      ...head,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: input, output_tokens: 1 },
    },
  });
  emit("ping", {});
  blocks.forEach((block, index) => {
    if (block.type === "text") {
      emit("content_block_start", { index, content_block: { type: "text", text: "" } });
      for (const piece of words(block.text as string)) {
        emit("content_block_delta", { index, delta: { type: "text_delta", text: piece } });
      }
    } else {
      emit("content_block_start", {
        index,
        content_block: { type: "tool_use", id: block.id!, name: block.name!, input: {} },
      });
      for (const piece of halves(JSON.stringify(block.input))) {
        emit("content_block_delta", {
          index,
          delta: { type: "input_json_delta", partial_json: piece },
        });
      }
    }
    emit("content_block_stop", { index });
  });
  emit("message_delta", {
    delta: { stop_reason: stop, stop_sequence: null },
    usage: { output_tokens: output },
  });
  emit("message_stop", {});
  return sse(events);
};

const ollama: Renderer = ({ reply, messages, model }, stream) => {
  const calls = (reply.tool_calls ?? []).map((call) => ({
    function: {
      name: call.name,
      arguments: typeof call.args === "string" ? JSON.parse(call.args) : call.args,
    },
  }));
  const done = {
    model,
    created_at: "2026-01-01T00:00:00.000Z",
    done: true,
    done_reason: "stop",
    total_duration: 1_000_000,
    load_duration: 1_000,
    prompt_eval_count: fakeInputTokens(messages),
    prompt_eval_duration: 1_000,
    eval_count: fakeOutputTokens(reply),
    eval_duration: 1_000,
  };
  if (!stream) {
    return json({
      ...done,
      message: {
        role: "assistant",
        content: reply.text ?? "",
        ...(calls.length === 0 ? {} : { tool_calls: calls }),
      },
    });
  }
  const lines: unknown[] = [];
  const part = (message: JsonObject) =>
    lines.push({ model, created_at: "2026-01-01T00:00:00.000Z", message, done: false });
  for (const piece of words(reply.text ?? "")) part({ role: "assistant", content: piece });
  if (calls.length > 0) part({ role: "assistant", content: "", tool_calls: calls });
  lines.push({ ...done, message: { role: "assistant", content: "" } });
  return new Response(lines.map((line) => `${JSON.stringify(line)}\n`).join(""), {
    headers: { "content-type": "application/x-ndjson" },
  });
};

function errorBody(kind: ProviderKind, failure: FakeFailure): unknown {
  switch (kind) {
    case "openai":
      return { error: { message: failure.message, type: "fake_error", param: null, code: null } };
    case "anthropic":
      return { type: "error", error: { type: "fake_error", message: failure.message } };
    case "ollama":
      return { error: failure.message };
  }
}

const PATHS: Record<ProviderKind, string> = {
  openai: "/v1/chat/completions",
  anthropic: "/v1/messages",
  ollama: "/api/chat",
};

/**
 * Starts a fake provider on a free local port.
 *
 * @param kind The provider it speaks.
 * @param replies The answers by turn.
 * @returns The running server.
 */
export function startFakeProvider(kind: ProviderKind, replies: readonly FakeReply[]): FakeProvider {
  const requests: RecordedRequest[] = [];
  const failures: FakeFailure[] = [];
  const render = { openai, anthropic, ollama }[kind];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    const body = await request.json().catch(() => null) as JsonObject | null;
    requests.push({
      path,
      headers: Object.fromEntries(request.headers),
      body: body ?? {},
    });
    if (request.method !== "POST" || path !== PATHS[kind] || body === null) {
      return json(
        errorBody(kind, { status: 404, message: `No route ${request.method} ${path}` }),
        404,
      );
    }
    const failure = failures.shift();
    if (failure !== undefined) {
      return json(errorBody(kind, failure), failure.status, failure.headers ?? {});
    }
    const messages = (body.messages ?? []) as { role: string }[];
    const turn = messages.filter((message) => message.role === "assistant").length + 1;
    const reply = replies[turn - 1];
    if (reply === undefined) {
      return json(
        errorBody(kind, { status: 400, message: `No scripted reply for turn ${turn}` }),
        400,
      );
    }
    const system = kind === "anthropic" && body.system !== undefined ? 1 : 0;
    return render(
      { reply, turn, messages: messages.length + system, model: String(body.model) },
      body.stream === true,
    );
  });
  const { port } = server.addr as Deno.NetAddr;
  const origin = `http://127.0.0.1:${port}`;
  const close = async () => {
    await server.shutdown();
  };
  return {
    kind,
    baseUrl: kind === "openai" ? `${origin}/v1` : origin,
    requests,
    failNext: (...more) => void failures.push(...more),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A chat model of `kind` pointed at a fake (or any) server.
 *
 * @param kind The provider.
 * @param baseUrl The server.
 * @param fetch The `fetch` its client uses.
 * @returns The model.
 */
export function modelFor(
  kind: ProviderKind,
  baseUrl: string,
  fetch?: typeof globalThis.fetch,
): ChatModel {
  const extra = fetch === undefined ? {} : { fetch };
  switch (kind) {
    case "openai":
      return new OpenAIChatModel({ model: "gpt-test", apiKey: "sk-test", baseUrl, ...extra });
    case "anthropic":
      return new AnthropicChatModel({
        model: "claude-test",
        apiKey: "sk-ant-test",
        baseUrl,
        ...extra,
      });
    case "ollama":
      return new OllamaChatModel({ model: "llama-test", host: baseUrl, ...extra });
  }
}
