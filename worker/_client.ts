/**
 * The worker's HTTP client of the server's `/v1/workers/*` endpoints: the
 * credentials, the v1 envelope unwrapped, error envelopes back into the
 * kernel's errors (`LeaseLostError` and `VersionConflictError` by their
 * details, the others as `OrisError`s with the server's code), and retries
 * with backoff and jitter while the server cannot be reached or answers 503
 * (restarting, or its database is), for requests that are safe to repeat.
 *
 * @module
 */

import { type ErrorCode, LeaseLostError, OrisError, VersionConflictError } from "../kernel/mod.ts";

/** How a worker authenticates to the server. */
export interface WorkerCredentials {
  /** An API key's id (with `apiKey`): a key created with role `worker`. */
  apiKeyId?: string;
  /** The API key's secret. */
  apiKey?: string;
  /** A bearer token. */
  bearerToken?: string;
}

/** What the client needs. @internal */
export interface ClientOptions {
  /** The server's base URL. */
  server: string;
  /** The credentials. */
  credentials: WorkerCredentials;
  /** Waits `ms` (tests pass a faster one). */
  sleep(ms: number): Promise<void>;
  /** Random numbers in [0, 1), for jitter. */
  random(): number;
  /** Told of a retry (the first of a series) and of the server answering again. */
  onRetry(error: unknown, attempt: number): void;
  /** Aborts retries (the worker is stopping). */
  signal: AbortSignal;
  /** The fetch to use. */
  fetch: typeof fetch;
}

/** How long a request may be retried, and how. @internal */
export interface RetryPolicy {
  /** Retry transient failures at all. */
  retry: boolean;
  /** Give up after this many ms of retries (default: never, until the worker stops). */
  withinMs?: number;
  /** Sent as the `traceparent` header: the request joins that trace (a run's). */
  traceparent?: string;
}

const CODES: ReadonlySet<string> = new Set([
  "invalid_argument",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "unavailable",
  "timeout",
  "internal",
]);

/** The first delay of a retry series, and the largest (ms). */
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;

/**
 * `base · 2^attempt` capped at `max`, with full jitter in its upper half.
 *
 * @internal Shared by the client and the poll loop.
 */
export function backoff(attempt: number, base: number, max: number, random: () => number): number {
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 20));
  return Math.round(raw / 2 + random() * raw / 2);
}

/** An error worth retrying: the network, or the server said so (503). */
export function transient(error: unknown): boolean {
  if (error instanceof OrisError) return error.code === "unavailable";
  return error instanceof TypeError; // fetch: connection refused, reset, DNS.
}

/** The client; see the module doc. @internal */
export class WorkerClient {
  #options: ClientOptions;
  #headers: Record<string, string>;

  constructor(options: ClientOptions) {
    this.#options = options;
    const { apiKeyId, apiKey, bearerToken } = options.credentials;
    this.#headers = { "content-type": "application/json" };
    if (bearerToken) this.#headers.authorization = `Bearer ${bearerToken}`;
    if (apiKey) this.#headers["x-api-key"] = apiKey;
    if (apiKeyId) this.#headers["x-api-key-id"] = apiKeyId;
  }

  /**
   * Sends a request and returns the envelope's `data`, retrying transient
   * failures as the policy allows.
   */
  async request<T>(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    policy: RetryPolicy,
  ): Promise<T> {
    const started = Date.now();
    for (let attempt = 0;; attempt++) {
      try {
        const data = await this.#once<T>(method, path, body, policy.traceparent);
        if (attempt > 0) this.#options.onRetry(null, 0);
        return data;
      } catch (error) {
        const within = policy.withinMs ?? Infinity;
        if (
          !policy.retry || !transient(error) || this.#options.signal.aborted ||
          Date.now() - started >= within
        ) {
          throw error;
        }
        if (attempt === 0) this.#options.onRetry(error, 1);
        const delay = backoff(attempt, FIRST_DELAY_MS, MAX_DELAY_MS, this.#options.random);
        await this.#options.sleep(Math.min(delay, Math.max(0, within - (Date.now() - started))));
      }
    }
  }

  async #once<T>(
    method: string,
    path: string,
    body: unknown,
    traceparent: string | undefined,
  ): Promise<T> {
    const response = await this.#options.fetch(`${this.#options.server}${path}`, {
      method,
      headers: traceparent === undefined ? this.#headers : { ...this.#headers, traceparent },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: {
      data?: unknown;
      error?: { code?: string; message?: string; details?: Record<string, unknown> };
    } | null = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (response.ok && parsed !== null && parsed.data !== undefined) return parsed.data as T;
    throw errorOf(response.status, parsed?.error, text);
  }
}

/** An error envelope as the kernel's error. */
function errorOf(
  status: number,
  error: { code?: string; message?: string; details?: Record<string, unknown> } | undefined,
  text: string,
): Error {
  const details = error?.details ?? {};
  const message = error?.message ?? (text.slice(0, 200) || `HTTP ${status}`);
  const code = error?.code !== undefined && CODES.has(error.code)
    ? error.code as ErrorCode
    : status === 503 || status === 502 || status === 504
    ? "unavailable"
    : "internal";
  if (code === "conflict") {
    const thread = typeof details.thread_id === "string" ? details.thread_id : "";
    if (typeof details.expected_version === "number") {
      return new VersionConflictError(
        thread,
        details.expected_version,
        typeof details.actual_version === "number" ? details.actual_version : null,
      );
    }
    if ("current_token" in details || "expected_worker_id" in details || "reason" in details) {
      // A lease the worker holds no more (another holds it, it expired, the token is stale).
      return new LeaseLostError(
        thread,
        typeof details.token === "number" ? details.token : 0,
        typeof details.current_token === "number" ? details.current_token : null,
      );
    }
  }
  return new OrisError(code, message, { details: details as never });
}
