/**
 * `notFound()`: what the API answers when no route matched the method and
 * path. A known path with another method is a 405 listing the allowed
 * methods (in `allow` too), after authentication and RBAC on a `/v1` path
 * (401 before 403 before 405, so the route table is not revealed to
 * strangers); any other path is a 404. Both in the v1 error envelope.
 *
 * @module
 */

import type { ErrorHandler, NotFoundHandler } from "hono";
import { requirePrincipal, requireRole } from "./auth.ts";
import { errorResponse, HttpError } from "./envelope.ts";
import type { ServerEnv } from "./env.ts";
import type { AuthOptions } from "./middleware/auth.ts";
import type { RouteDef } from "./route.ts";

function pathPattern(path: string): RegExp {
  return new RegExp(
    `^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z_]+/g, "[^/]+")}$`,
  );
}

/**
 * Creates the not-found handler over the route table.
 *
 * @param routes The route table.
 * @param auth The credentials, or `null` when auth is off.
 * @param onError The app's error handler, for what authentication throws.
 * @returns The handler for `app.notFound`.
 */
export function notFound(
  routes: readonly RouteDef[],
  auth: AuthOptions | null,
  onError: ErrorHandler<ServerEnv>,
): NotFoundHandler<ServerEnv> {
  const patterns = routes.map((def) => ({ def, pattern: pathPattern(def.path) }));
  return async function notFound(c) {
    const matched = patterns.filter((item) => item.pattern.test(c.req.path)).map((item) =>
      item.def
    );
    const allowed = [...new Set(matched.map((def) => def.method))];
    if (allowed.length === 0) {
      return errorResponse(
        c,
        new HttpError(404, "not_found", `No route for ${c.req.method} ${c.req.path}`),
      );
    }
    if (auth !== null && matched.some((def) => !def.public)) {
      try {
        const principal = await requirePrincipal(c.req.raw.headers, auth.config, auth.store);
        requireRole(principal, c.req.method, c.req.path);
      } catch (error) {
        return await onError(error as Error, c);
      }
    }
    const response = errorResponse(
      c,
      new HttpError(
        405,
        "invalid_argument",
        `Method ${c.req.method} is not allowed on ${c.req.path}`,
        { allowed },
      ),
    );
    response.headers.set("allow", allowed.join(", "));
    return response;
  };
}
