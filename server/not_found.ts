/**
 * `notFound()`: what the API answers when no route matched the method and
 * path. A known path with another method is a 405 listing exactly the
 * allowed methods (in `allow` too), after authentication and RBAC on a `/v1`
 * path (401 before 403 before 405, so the route table is not revealed to
 * strangers); any other path is a 404, after authentication on a `/v1`
 * path (401 before 404). Both in the v1 error envelope.
 *
 * @module
 */

import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { requirePrincipal, requireRole } from "./auth.ts";
import { errorResponse, HttpError } from "./envelope.ts";
import type { ServerEnv } from "./env.ts";
import type { AuthOptions } from "./middleware/auth.ts";
import type { RouteMatcher } from "./route_match.ts";

function underV1(path: string): boolean {
  return path === "/v1" || path.startsWith("/v1/");
}

/**
 * Creates the not-found handler over the route table.
 *
 * @param matcher The route table's matcher.
 * @param auth The credentials, or `null` when auth is off.
 * @param onError The app's error handler, for what authentication throws.
 * @returns The handler for `app.notFound`.
 */
export function notFound(
  matcher: RouteMatcher,
  auth: AuthOptions | null,
  onError: ErrorHandler<ServerEnv>,
): NotFoundHandler<ServerEnv> {
  /** Authenticates (and, for a known path, authorises) the caller; a refusal is the answer. */
  async function refused(c: Context<ServerEnv>, known: boolean): Promise<Response | null> {
    try {
      const principal = await requirePrincipal(c.req.raw.headers, auth!.config, auth!.store);
      c.set("principal", principal);
      if (known) requireRole(principal, c.req.method, c.req.path);
      return null;
    } catch (error) {
      return await onError(error as Error, c);
    }
  }

  return async function notFound(c) {
    const matched = matcher.matching(c.req.path);
    const allowed = [...new Set(matched.map((def) => def.method))];
    if (allowed.length === 0) {
      if (auth !== null && underV1(c.req.path)) {
        const refusal = await refused(c, false);
        if (refusal !== null) return refusal;
      }
      return errorResponse(
        c,
        new HttpError(404, "not_found", `No route for ${c.req.method} ${c.req.path}`),
      );
    }
    if (auth !== null && matched.some((def) => !def.public)) {
      const refusal = await refused(c, true);
      if (refusal !== null) return refusal;
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
