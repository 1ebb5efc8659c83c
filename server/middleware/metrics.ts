/**
 * `requestMetrics()`: counts every request and observes its latency,
 * labelled with the method and path of the route that matched (its pattern,
 * not the request's path) and the response status. A request no route
 * matched (a 404, a 405) counts under the fixed route `unmatched` (and a
 * method outside HTTP's usual ones as `OTHER`), so labels cannot explode.
 *
 * With the access log on, it also logs one line per request through the
 * server's logger: request id, method, path, route, status, duration,
 * actor and client address.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { Logger } from "../../kernel/mod.ts";
import { clientAddress } from "../address.ts";
import type { ServerEnv } from "../env.ts";
import type { ServerMetrics } from "../metrics.ts";

/** The route label of requests that matched no route. */
export const UNMATCHED_ROUTE = "unmatched";

const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "TRACE",
  "CONNECT",
]);

/** Options of {@linkcode requestMetrics}. */
export interface RequestMetricsOptions {
  /** Where the access log goes. */
  logger: Logger;
  /** Whether to log one line per request. */
  accessLog: boolean;
}

/**
 * Creates the metrics (and access log) middleware of the app.
 *
 * @param metrics The server's metrics.
 * @param options The logger and whether the access log is on.
 * @returns The middleware.
 */
export function requestMetrics(
  metrics: ServerMetrics,
  options: RequestMetricsOptions,
): MiddlewareHandler<ServerEnv> {
  return async function requestMetrics(c, next) {
    const started = performance.now();
    await next();
    const ms = performance.now() - started;
    const route = c.get("route");
    const method = route?.method ?? (METHODS.has(c.req.method) ? c.req.method : "OTHER");
    const path = route?.path ?? UNMATCHED_ROUTE;
    const status = c.res.status;
    metrics.observeRequest(method, path, status, ms);
    if (!options.accessLog) return;
    const principal = c.get("principal");
    options.logger.info("request", {
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      route: path,
      status,
      duration_ms: Math.round(ms * 1000) / 1000,
      actor_type: principal?.actorType ?? "anonymous",
      actor_id: principal?.actorId ?? null,
      client: clientAddress(c),
    });
  };
}
