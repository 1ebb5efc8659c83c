/**
 * The Oris v1 envelopes and the one table that maps error codes to HTTP
 * statuses. Success: HTTP 200 `{ meta: { status: "ok", api_version: "v1" },
 * request_id, data }`. Error: `{ request_id, error: { code, message, details } }`.
 *
 * @module
 */

import type { Context } from "hono";
import { type ErrorCode, OrisError, toOrisError } from "../kernel/mod.ts";

/** The error codes of the v1 API (the original contract's set). */
export type ApiErrorCode =
  | "invalid_argument"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "internal";

/** How each kernel error code appears on the wire: its HTTP status and its v1 code. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, { status: number; code: ApiErrorCode }>> = {
  invalid_argument: { status: 400, code: "invalid_argument" },
  unauthorized: { status: 401, code: "unauthorized" },
  forbidden: { status: 403, code: "forbidden" },
  not_found: { status: 404, code: "not_found" },
  conflict: { status: 409, code: "conflict" },
  nondeterminism: { status: 409, code: "conflict" },
  cancelled: { status: 409, code: "conflict" },
  internal: { status: 500, code: "internal" },
  timeout: { status: 504, code: "internal" },
  unavailable: { status: 503, code: "internal" },
  terminal: { status: 500, code: "internal" },
};

/** The request id of a request (set by the request-id middleware). */
export function requestIdOf(c: Context): string {
  return (c.get("requestId" as never) as string | undefined) ?? "unknown";
}

/**
 * A success response.
 *
 * @param c The Hono context.
 * @param data The payload.
 * @returns The response.
 */
export function ok(c: Context, data: unknown): Response {
  return c.json(
    { meta: { status: "ok", api_version: "v1" }, request_id: requestIdOf(c), data },
    200,
  );
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

/**
 * The error response for anything thrown.
 *
 * @param c The Hono context.
 * @param thrown What was thrown.
 * @returns The response, with the envelope and the mapped status.
 */
export function errorResponse(c: Context, thrown: unknown): Response {
  const error = toOrisError(thrown);
  const mapped = ERROR_STATUS[error.code] ?? ERROR_STATUS.internal;
  const status = error instanceof HttpError ? error.status : mapped.status;
  const details: Record<string, unknown> = { ...error.details };
  if (error.code !== mapped.code) details.reason ??= error.code;
  const message =
    mapped.code === "internal" && error.code === "internal" && !(thrown instanceof OrisError)
      ? "Internal error"
      : error.message;
  if (mapped.code === "internal" && status === 500) {
    console.error(JSON.stringify({
      level: "error",
      msg: "request failed",
      request_id: requestIdOf(c),
      error: error.message,
      stack: thrown instanceof Error ? thrown.stack : undefined,
    }));
  }
  return c.json(
    {
      request_id: requestIdOf(c),
      error: {
        code: mapped.code,
        message,
        details: Object.keys(details).length === 0 ? null : jsonSafe(details),
      },
    },
    status as 400,
  );
}

function jsonSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return null;
  }
}
