/**
 * `traceContext()`: starts the request's span from its W3C `traceparent`
 * (an invalid one starts a new trace, noted in the log; never a 400) and
 * ends it once the route has answered. The
 * trace is the `trace` variable: handlers pass its context to the runtime,
 * and responses carry its trace block.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { Logger } from "../../kernel/mod.ts";
import type { ServerEnv } from "../env.ts";
import { startRequestTrace } from "../trace.ts";

/**
 * Creates the trace-context middleware of one route.
 *
 * @param name The span's name, e.g. `POST /v1/jobs/run`.
 * @param logger Where an ignored `traceparent` is noted.
 * @returns The middleware.
 */
export function traceContext(name: string, logger: Logger): MiddlewareHandler<ServerEnv> {
  return async function traceContext(c, next) {
    const header = c.req.header("traceparent");
    const trace = startRequestTrace(header, name);
    if (trace.ignored !== null) {
      logger.info("invalid traceparent ignored: a new trace was started", {
        request_id: c.get("requestId"),
        traceparent: header?.slice(0, 256),
        reason: trace.ignored,
        trace_id: trace.traceId,
      });
    }
    c.set("trace", trace);
    try {
      await next();
    } finally {
      trace.span.end();
    }
  };
}
