/**
 * What the provider models share: reading their environment variables,
 * classifying their errors for the runtime's retry policy, parsing tool-call
 * arguments, and assembling tool calls from stream deltas.
 *
 * @module
 */

import {
  InvalidArgumentError,
  type JsonObject,
  OrisError,
  TerminalError,
  type ToolCall,
} from "../mod.ts";
import type { StopReason } from "./model.ts";

/**
 * An environment variable, or `undefined` when it is unset or cannot be
 * read (no `--allow-env`).
 *
 * @param name The variable.
 * @returns Its value, if set and not empty.
 */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * A required key: the option, else the environment variable.
 *
 * @param given The option.
 * @param variable The environment variable.
 * @param provider The provider's name, for the message.
 * @returns The key.
 * @throws {InvalidArgumentError} naming the variable when neither is set.
 */
export function requireKey(given: string | undefined, variable: string, provider: string): string {
  const key = given ?? readEnv(variable);
  if (key === undefined || key === "") {
    throw new InvalidArgumentError(
      `Cannot create the ${provider} chat model: set ${variable} or pass apiKey`,
      { field: "apiKey", details: { variable } },
    );
  }
  return key;
}

/** The key tool-call arguments are kept under when the model's JSON does not parse. */
export const INVALID_ARGUMENTS = "__invalid_json__";

/**
 * Parses the JSON text of a tool call's arguments. Text that is not a JSON
 * object is kept under {@linkcode INVALID_ARGUMENTS}, so the call becomes an
 * error the model sees rather than a crash.
 *
 * @param text The arguments' JSON text (empty means none).
 * @returns The arguments.
 */
export function parseArguments(text: string): JsonObject {
  if (text.trim() === "") return {};
  try {
    const value = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // Kept as text below.
  }
  return { [INVALID_ARGUMENTS]: text };
}

/** A tool call being assembled from stream deltas. */
export interface PartialCall {
  id: string;
  name: string;
  args: string;
}

/**
 * The tool calls assembled from stream deltas, in index order.
 *
 * @param partial The calls by index.
 * @param newId Makes an id for a call the provider gave none.
 * @returns The calls.
 */
export function assembleCalls(
  partial: ReadonlyMap<number, PartialCall>,
  newId: () => string = newCallId,
): ToolCall[] {
  return [...partial.entries()].sort(([a], [b]) => a - b).map(([, call]) => ({
    id: call.id || newId(),
    name: call.name,
    args: parseArguments(call.args),
  }));
}

/**
 * A tool-call id for a provider that gives none (Ollama). A model call's
 * result is journaled, so the id never changes once made.
 *
 * @returns A new id.
 */
export function newCallId(): string {
  return `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

/**
 * Why a model stopped, from the provider's word for it.
 *
 * @param reason The provider's stop reason.
 * @param hasCalls Whether the answer calls tools.
 * @returns The stop reason.
 */
export function stopReasonOf(reason: string | null | undefined, hasCalls: boolean): StopReason {
  if (hasCalls) return "tool_calls";
  switch (reason) {
    case "stop":
    case "end_turn":
    case "stop_sequence":
    case null:
    case undefined:
      return "stop";
    case "tool_calls":
    case "tool_use":
    case "function_call":
      return "tool_calls";
    case "length":
    case "max_tokens":
      return "length";
    default:
      return "other";
  }
}

const NETWORK_ERRORS = new Set([
  "APIConnectionError",
  "APIConnectionTimeoutError",
  "TypeError",
  "ConnectionRefused",
  "ConnectionReset",
  "ConnectionAborted",
  "TimedOut",
]);

/**
 * How long a response asks to wait before a retry, from `retry-after-ms`
 * or `retry-after` (seconds, or an HTTP date).
 *
 * @param headers The response's headers.
 * @param now The time now (ms).
 * @returns The wait in ms, or `undefined`.
 */
export function retryAfterMs(headers: unknown, now: number = Date.now()): number | undefined {
  if (!(headers instanceof Headers)) return undefined;
  const ms = Number(headers.get("retry-after-ms") ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  const seconds = Number(value);
  if (value.trim() !== "" && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Classifies a provider call's failure for the runtime's retry policy: a
 * rate limit (429), a timeout, a conflict, a server error (5xx) or a network
 * failure is retryable (`OrisError` code `unavailable`, with
 * `details.retry_after_ms` when the provider said when); any other status
 * (400, 401, 403, 404, ...) is a `TerminalError` with the provider's
 * message. A cancelled call rethrows the signal's reason.
 *
 * @param provider The provider's display name (e.g. `OpenAI`).
 * @param error What the client threw.
 * @param signal The call's signal.
 * @param headers The failed response's headers, for a client whose errors do not carry them.
 * @returns The error to throw.
 */
export function providerError(
  provider: string,
  error: unknown,
  signal?: AbortSignal,
  headers?: Headers,
): unknown {
  if (signal?.aborted) return signal.reason ?? error;
  if (error instanceof OrisError || !(error instanceof Error)) return error;
  const fields = error as Error & {
    status?: unknown;
    status_code?: unknown;
    headers?: unknown;
    error?: { message?: unknown; error?: { message?: unknown } };
  };
  const status = typeof fields.status === "number"
    ? fields.status
    : typeof fields.status_code === "number"
    ? fields.status_code
    : undefined;
  const said = fields.error?.message ?? fields.error?.error?.message;
  const message = typeof said === "string" && said !== "" ? said : error.message;
  const id = provider.toLowerCase();
  if (status === undefined) {
    if (!NETWORK_ERRORS.has(error.name) && !NETWORK_ERRORS.has(error.constructor.name)) {
      return error;
    }
    return new OrisError("unavailable", `Cannot reach ${provider}: ${message}`, {
      cause: error,
      details: { provider: id },
    });
  }
  if (status === 408 || status === 409 || status === 429 || status >= 500) {
    const wait = retryAfterMs(fields.headers ?? headers);
    return new OrisError(
      "unavailable",
      `${provider} answered ${status}, try again later: ${message}`,
      {
        cause: error,
        details: { provider: id, status, ...(wait === undefined ? {} : { retry_after_ms: wait }) },
      },
    );
  }
  return new TerminalError(`${provider} refused the request (${status}): ${message}`, {
    cause: error,
    details: { provider: id, status },
  });
}
