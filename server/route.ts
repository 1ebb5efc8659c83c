/**
 * Route definitions: each v1 route is declared once, with its method, path,
 * request schemas, response schema, audit action and handler. The same table
 * registers the Hono routes (each with its middleware, see `app.ts`),
 * answers 405 for known paths with other methods, audits control actions and
 * generates the OpenAPI document.
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import type { ServerEnv } from "./env.ts";

/** The parsed input of a route. */
export interface RouteInput<B, Q> {
  /** The validated body (`{}` when the route takes none). */
  body: B;
  /** The validated query. */
  query: Q;
  /** Path parameters. */
  params: Record<string, string>;
}

/**
 * Every audit action of the API, in one place: the route table's audit specs
 * name one each, and `GET /v1/audit/logs?action=` accepts exactly these.
 */
export const AUDIT_ACTIONS = [
  "job.run",
  "job.resume",
  "job.replay",
  "job.cancel",
  "job.fork",
  "job.state",
  "job.pause",
  "interrupt.resume",
  "interrupt.reject",
  "key.create",
  "key.revoke",
  "worker.poll",
  "worker.heartbeat",
  "worker.extend_lease",
  "worker.report_step",
  "worker.ack",
  "worker.release",
  "worker.record_effect",
  "worker.answer_mail",
  "dlq.replay",
] as const;

/** An audit action of the API (see {@linkcode AUDIT_ACTIONS}). */
export type AuditAction = typeof AUDIT_ACTIONS[number];

/** What a control action records in the audit log. */
export interface AuditSpec {
  /** The action, e.g. `job.run`. */
  action: AuditAction;
  /** The resource kind, e.g. `thread`. */
  resourceType: string;
  /** The path parameter (or body field) that names the resource. */
  resourceParam?: string;
  /**
   * Whether a successful answer's `data` says that nothing was done (a
   * worker's poll that took no run): such an answer is not recorded, so that
   * idle polling does not fill the log. A refusal or an error always is.
   */
  idle?: (data: unknown) => boolean;
}

/** One route of the API. */
export interface RouteDef<B = unknown, Q = unknown, R = unknown> {
  /** HTTP method. */
  method: "GET" | "POST" | "DELETE";
  /** Hono path, e.g. `/v1/jobs/:thread_id`. */
  path: string;
  /** One line for the OpenAPI document. */
  summary: string;
  /** The body schema (POST). */
  body?: z.ZodType<B>;
  /** The query schema. */
  query?: z.ZodType<Q>;
  /**
   * The schema of the success response's `data`, or, for a route with a
   * {@linkcode RouteDef.mediaType}, of its whole body.
   */
  response: z.ZodType<R>;
  /** Set when the route answers with its own body of this media type, outside the envelope. */
  mediaType?: string;
  /** Whether the route is outside `/v1` auth (health, metrics). */
  public?: boolean;
  /** The audit record of a control action. */
  audit?: AuditSpec;
  /** Handles the request; returns the `data` of the envelope, or a Response. */
  handler(c: Context<ServerEnv>, input: RouteInput<B, Q>): Promise<R | Response>;
}

/**
 * Declares a route (keeps the body, query and response types tied to the handler).
 *
 * @param route The route.
 * @returns The route.
 */
export function route<B, Q, R>(route: RouteDef<B, Q, R>): RouteDef {
  return route as unknown as RouteDef;
}
