/**
 * The one table that maps the kernel's error codes to HTTP statuses and the
 * v1 API's error codes. Only the server knows HTTP.
 *
 * @module
 */

import type { ErrorCode } from "../kernel/mod.ts";

/**
 * The error codes of the v1 API: the original contract's set, plus
 * `unavailable` (503: the store cannot be reached for now; the response
 * carries `Retry-After`, retrying later may succeed) and `timeout` (504).
 */
export type ApiErrorCode =
  | "invalid_argument"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unavailable"
  | "timeout"
  | "internal";

/** The `Retry-After` of an `unavailable` response, in seconds. */
export const RETRY_AFTER_SECONDS = 1;

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
  timeout: { status: 504, code: "timeout" },
  unavailable: { status: 503, code: "unavailable" },
  terminal: { status: 500, code: "internal" },
  graph_changed: { status: 409, code: "conflict" },
};
