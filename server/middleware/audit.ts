/**
 * `audit()`: records a control action in the audit log once the route has
 * answered, success or error: who called (the principal `auth()` set, or
 * anonymous), the action and its resource, the result, the request id, the
 * method, path and status. The resource is the route's path parameter or the
 * validated body's field of that name. A failed write is logged, not
 * returned: the action itself has happened.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { type ControlStore, type IdGenerator, isValidId, type Logger } from "../../kernel/mod.ts";
import type { Principal } from "../auth.ts";
import type { ServerEnv } from "../env.ts";
import type { AuditSpec } from "../route.ts";

/** Where {@linkcode audit} writes. */
export interface AuditOptions {
  /** The store of audit records. */
  store: ControlStore;
  /** Generates audit ids. */
  ids: IdGenerator;
  /** The clock (ms). */
  now(): number;
  /** Where a failed write is logged. */
  logger: Logger;
}

/** The principal of a request that did not authenticate (auth off, or refused before auth). */
const ANONYMOUS: Principal = { actorType: "anonymous", actorId: null, role: null };

/**
 * Creates the audit middleware of one control route.
 *
 * @param options The store, ids, clock and logger.
 * @param route The route's method and audit spec.
 * @returns The middleware.
 */
export function audit(
  options: AuditOptions,
  route: { method: string; audit: AuditSpec },
): MiddlewareHandler<ServerEnv> {
  const { action, resourceType, resourceParam = "" } = route.audit;
  return async function audit(c, next) {
    await next();
    const principal = c.var.principal ?? ANONYMOUS;
    const params = c.req.param() as Record<string, string>;
    const body = c.var.body as Record<string, unknown> | undefined;
    const named = params[resourceParam] ?? body?.[resourceParam];
    const status = c.res.status;
    try {
      await options.store.appendAudit({
        auditId: `au_${options.ids.ulid()}`,
        actorType: principal.actorType,
        actorId: principal.actorId,
        actorRole: principal.role,
        action,
        resourceType,
        resourceId: isValidId(named) ? named : null,
        result: status < 300 ? "success" : "error",
        requestId: c.var.requestId,
        details: { method: route.method, path: c.req.path, status_code: status },
        createdAt: options.now(),
      });
    } catch (error) {
      options.logger.error("audit failed", { request_id: c.var.requestId, action, error });
    }
  };
}
