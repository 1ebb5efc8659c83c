/**
 * Route definitions: each v1 route is declared once, with its method, path,
 * schemas, audit action and handler. The same table registers the Hono
 * routes, answers 405 for known paths with other methods, audits control
 * actions and generates the OpenAPI document.
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import { InvalidArgumentError, isJsonObject } from "../kernel/mod.ts";
import { HttpError } from "./envelope.ts";

/** The parsed input of a route. */
export interface RouteInput<B, Q> {
  /** The validated body (`{}` when the route takes none). */
  body: B;
  /** The validated query. */
  query: Q;
  /** Path parameters. */
  params: Record<string, string>;
}

/** What a control action records in the audit log. */
export interface AuditSpec {
  /** The action, e.g. `job.run`. */
  action: string;
  /** The resource kind, e.g. `thread`. */
  resourceType: string;
  /** The path parameter (or body field) that names the resource. */
  resourceParam?: string;
}

/** One route of the API. */
export interface RouteDef<B = unknown, Q = unknown> {
  /** HTTP method. */
  method: "GET" | "POST";
  /** Hono path, e.g. `/v1/jobs/:thread_id`. */
  path: string;
  /** One line for the OpenAPI document. */
  summary: string;
  /** The body schema (POST). */
  body?: z.ZodType<B>;
  /** The query schema. */
  query?: z.ZodType<Q>;
  /** Whether the route is outside `/v1` auth (health, metrics). */
  public?: boolean;
  /** The audit record of a control action. */
  audit?: AuditSpec;
  /** Handles the request; returns the `data` of the envelope, or a Response. */
  handler(c: Context, input: RouteInput<B, Q>): Promise<unknown>;
}

/**
 * Declares a route (keeps the body and query types tied to the handler).
 *
 * @param route The route.
 * @returns The route.
 */
export function route<B, Q>(route: RouteDef<B, Q>): RouteDef {
  return route as unknown as RouteDef;
}

/** The largest request body accepted (1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads a request's JSON body: at most 1 MiB, valid JSON, an object; an
 * empty body reads as `{}`.
 *
 * @param request The request.
 * @returns The parsed object.
 * @throws {HttpError} 413 for a larger body.
 * @throws {InvalidArgumentError} for malformed JSON or a body that is not an object.
 */
export async function readJsonBody(request: Request): Promise<Record<string, unknown>> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  if (request.body === null) return {};
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidArgumentError("The request body is not valid UTF-8");
  }
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(
      `The request body is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (!isJsonObject(parsed)) {
    throw new InvalidArgumentError(
      `The request body must be a JSON object, got ${
        Array.isArray(parsed) ? "an array" : parsed === null ? "null" : typeof parsed
      }`,
    );
  }
  return parsed;
}

function tooLarge(): HttpError {
  return new HttpError(
    413,
    "invalid_argument",
    `The request body is larger than ${MAX_BODY_BYTES} bytes`,
    {
      max_bytes: MAX_BODY_BYTES,
    },
  );
}

/**
 * Validates a value with a schema, turning zod's issues into one clear
 * `invalid_argument` error.
 *
 * @param schema The schema.
 * @param value The value.
 * @param where `body` or `query`, for the message.
 * @returns The parsed value.
 * @throws {InvalidArgumentError} listing the issues.
 */
export function validate<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.join("."),
    message: issue.message,
  }));
  const first = issues[0]!;
  const field = first.path === "" ? undefined : first.path;
  throw new InvalidArgumentError(
    `Invalid ${where}: ${field === undefined ? "" : `${field}: `}${first.message}`,
    { ...(field === undefined ? {} : { field }), details: { issues } },
  );
}
