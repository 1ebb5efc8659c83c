/**
 * The Hono environment of the v1 API: the per-request variables that the
 * middleware set and later middleware and handlers read with `c.get("trace")`
 * (not `c.var.trace`: Hono builds a new object of all variables at each
 * `c.var`), typed once here.
 *
 * @module
 */

import type { Principal } from "./auth.ts";
import type { RequestTrace } from "./trace.ts";

/**
 * The per-request variables, in the order the pipeline sets them (a type
 * alias, not an interface: Hono's `Env` wants a record type).
 */
export type ServerVariables = {
  /** The request id (set by `requestId()` on every request). */
  requestId: string;
  /** The route that matched (set by `matchRoute()`; absent for unmatched requests and 405s). */
  route?: { method: string; path: string };
  /** The request's trace (set by `traceContext()` before any handler runs). */
  trace: RequestTrace;
  /** Who is calling (set by `auth()`; absent when auth is off, on public routes, or before auth ran). */
  principal?: Principal;
  /** The validated query (set by `routeHandler()`). */
  query?: unknown;
  /** The request body as a JSON object, read within the size limit (set by `routeHandler()`). */
  json?: Record<string, unknown>;
  /** The validated body (set by `routeHandler()`; absent for routes without one). */
  body?: unknown;
  /** The success envelope's `data` the route answered (set by `routeHandler()`). */
  data?: unknown;
};

/** The Hono environment of the server: `new Hono<ServerEnv>()`. */
export type ServerEnv = {
  /** The per-request variables. */
  Variables: ServerVariables;
};
