/**
 * `routeHandler()`: the last step of every route's middleware chain (see
 * `app.ts`): the route's input checked, its handler called, its data in the
 * success envelope.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import { ok } from "./envelope.ts";
import type { ServerEnv } from "./env.ts";
import { readJsonBody } from "./middleware/json_body.ts";
import { checkParams, queryValidator, validate } from "./middleware/validate.ts";
import type { RouteDef } from "./route.ts";

/** How {@linkcode routeHandler} checks a route's input. */
export interface RouteInputChecks {
  /** The query schema of a route that declares none (it takes no parameters). */
  noQuery: z.ZodType;
  /** The largest body accepted, in bytes. */
  maxBytes: number;
  /** The deepest JSON nesting accepted. */
  maxDepth: number;
}

/**
 * The last handler of a route: checks its input in the order the API has
 * always checked it (path parameters, query, then the body: read within its
 * limits, then validated), calls the route's handler and wraps its data in
 * the success envelope. One step of the middleware chain, not four: the
 * checks need no `next` of their own (an error thrown here becomes the error
 * envelope the outer middleware see, as from any step).
 *
 * @param def The route.
 * @param checks The default query schema and the body's limits.
 * @returns The Hono handler (the last of the route's chain: it never calls `next`).
 */
export function routeHandler(
  def: RouteDef,
  checks: RouteInputChecks,
): MiddlewareHandler<ServerEnv> {
  const hasParams = def.path.includes("/:");
  const query = queryValidator(def.query ?? checks.noQuery);
  const { body: bodySchema } = def;
  return async function routeHandler(c) {
    const params = (hasParams ? c.req.param() : {}) as Record<string, string>;
    if (hasParams) checkParams(params);
    c.set("query", query(c.req.url, () => c.req.query()));
    let body: unknown = {};
    if (bodySchema !== undefined) {
      const json = await readJsonBody(c.req.raw, checks.maxBytes, checks.maxDepth);
      c.set("json", json);
      body = validate(bodySchema, json, "body");
      c.set("body", body);
    }
    const data = await def.handler(c, { body, query: c.get("query"), params });
    if (data instanceof Response) return data;
    c.set("data", data);
    return ok(c, data);
  };
}
