/**
 * The Oris v1 envelopes and the one table that maps error codes to HTTP
 * statuses. Success: HTTP 200 `{ meta: { status: "ok", api_version: "v1" },
 * request_id, data }`. Error: `{ request_id, error: { code, message, details } }`.
 *
 * @module
 */

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { type ErrorCode, OrisError, toOrisError } from "../kernel/mod.ts";
import { ERROR_STATUS, RETRY_AFTER_SECONDS } from "./error_codes.ts";
import type { ServerEnv } from "./env.ts";
import type { ErrorEnvelope as ErrorEnvelopeSchema, SuccessEnvelopeSchema } from "./responses.ts";

/** The body of an error response. */
type ErrorEnvelope = z.infer<typeof ErrorEnvelopeSchema>;

/** The body of a success response around `T`. */
type SuccessEnvelope<T> = Omit<z.infer<SuccessEnvelopeSchema<z.ZodType<T>>>, "data"> & { data: T };

/**
 * The request id of a request (set by the request-id middleware).
 *
 * @param c The Hono context.
 * @returns The id, or `unknown` before the middleware ran.
 */
export function requestIdOf(c: Context<ServerEnv>): string {
  return c.get("requestId") ?? "unknown";
}

/**
 * A success response.
 *
 * @param c The Hono context.
 * @param data The payload.
 * @returns The response.
 */
export function ok<T>(c: Context<ServerEnv>, data: T): Response {
  const body: SuccessEnvelope<T> = {
    meta: { status: "ok", api_version: "v1" },
    request_id: requestIdOf(c),
    data,
  };
  return c.json(body, 200);
}

/** An error with an explicit HTTP status (413, 405) but a v1 code. */
export class HttpError extends OrisError {
  /** The error class name. */
  override name = "HttpError";
  /** The HTTP status. */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @param status The HTTP status.
   * @param code The kernel code (mapped to a v1 code).
   * @param message For people.
   * @param details Facts.
   */
  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, { details });
    this.status = status;
  }
}

/** Anything thrown, as the v1 API answers it. */
export interface ApiError {
  /** The HTTP status. */
  status: number;
  /** The `error` block of the envelope. */
  body: ErrorEnvelope["error"];
  /** The error as an {@linkcode OrisError}. */
  error: OrisError;
  /** Whether it is an unexpected failure of the server (a 500 to log). */
  unexpected: boolean;
}

/**
 * Maps anything thrown to its status and the `error` block of the envelope.
 *
 * @param thrown What was thrown.
 * @returns The status, the block, and whether it is a failure to log.
 */
export function toApiError(thrown: unknown): ApiError {
  const error = toOrisError(thrown);
  const mapped = ERROR_STATUS[error.code] ?? ERROR_STATUS.internal;
  const status = error instanceof HttpError ? error.status : mapped.status;
  const details: Record<string, unknown> = { ...error.details };
  if (error.code !== mapped.code) details.reason ??= error.code;
  const message =
    mapped.code === "internal" && error.code === "internal" && !(thrown instanceof OrisError)
      ? "Internal error"
      : error.message;
  return {
    status,
    body: {
      code: mapped.code,
      message,
      details: Object.keys(details).length === 0
        ? null
        : jsonSafe(details) as ErrorEnvelope["error"]["details"],
    },
    error,
    unexpected: mapped.code === "internal" && status === 500,
  };
}

/**
 * The error response for anything thrown (the error handler also logs
 * unexpected failures; see `error_handler.ts`). An `unavailable` error (503)
 * carries `Retry-After`, so that clients know to retry.
 *
 * @param c The Hono context.
 * @param thrown What was thrown.
 * @param mapped Its mapping, when the caller has it already.
 * @returns The response, with the envelope and the mapped status.
 */
export function errorResponse(
  c: Context<ServerEnv>,
  thrown: unknown,
  mapped: ApiError = toApiError(thrown),
): Response {
  const { status, body: error } = mapped;
  const body: ErrorEnvelope = { request_id: requestIdOf(c), error };
  if (error.code === "unavailable") c.header("retry-after", String(RETRY_AFTER_SECONDS));
  return c.json(body, status as ContentfulStatusCode);
}

function jsonSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return null;
  }
}
