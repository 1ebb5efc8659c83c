/**
 * `traceContext()`: starts the request's span from its W3C `traceparent`
 * (a malformed one is a 400) and ends it once the route has answered. The
 * trace is the `trace` variable: handlers pass its context to the runtime,
 * and responses carry its trace block.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { ServerEnv } from "../env.ts";
import { startRequestTrace } from "../trace.ts";

/**
 * Creates the trace-context middleware of one route.
 *
 * @param name The span's name, e.g. `POST /v1/jobs/run`.
 * @returns The middleware.
 */
export function traceContext(name: string): MiddlewareHandler<ServerEnv> {
  return async function traceContext(c, next) {
    const trace = startRequestTrace(c.req.header("traceparent"), name);
    c.set("trace", trace);
    try {
      await next();
    } finally {
      trace.span.end();
    }
  };
}
