/**
 * `auth()`: authentication (401) and role-based access control (403) of a
 * `/v1` route, when the server has credentials. The principal is the
 * `principal` variable, set before RBAC can refuse, so that a 403 is audited
 * with the caller's identity.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { ControlStore } from "../../kernel/mod.ts";
import { type AuthConfig, requirePrincipal, requireRole } from "../auth.ts";
import type { ServerEnv } from "../env.ts";

/** What {@linkcode auth} checks requests against. */
export interface AuthOptions {
  /** The configured credentials. */
  config: AuthConfig;
  /** Where keyed API keys are stored. */
  store: ControlStore;
}

/**
 * Creates the auth middleware of one route.
 *
 * @param options The credentials and the key store.
 * @param method The route's method (what RBAC checks: a `HEAD` is its `GET`).
 * @returns The middleware.
 */
export function auth(options: AuthOptions, method: string): MiddlewareHandler<ServerEnv> {
  return async function auth(c, next) {
    const principal = await requirePrincipal(c.req.raw.headers, options.config, options.store);
    c.set("principal", principal);
    requireRole(principal, method, c.req.path);
    await next();
  };
}
