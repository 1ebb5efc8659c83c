/**
 * `requestMetrics()`: counts a route's requests and observes their latency,
 * labelled with the route's method and path (its pattern, not the request's
 * path) and the response status.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { ServerEnv } from "../env.ts";
import type { ServerMetrics } from "../metrics.ts";

/** The labels of a route: its method and path pattern. */
export interface RouteLabels {
  /** The route's method. */
  method: string;
  /** The route's path pattern, e.g. `/v1/jobs/:thread_id`. */
  path: string;
}

/**
 * Creates the metrics middleware of one route.
 *
 * @param metrics The server's metrics.
 * @param route The route's method and path.
 * @returns The middleware.
 */
export function requestMetrics(
  metrics: ServerMetrics,
  route: RouteLabels,
): MiddlewareHandler<ServerEnv> {
  return async function requestMetrics(c, next) {
    const started = performance.now();
    await next();
    metrics.observeRequest(route.method, route.path, c.res.status, performance.now() - started);
  };
}
