/**
 * `audit()`: records a control action in the audit log once the route has
 * answered, success or error (except a success its route calls idle, see
 * `AuditSpec.idle`): who called (the principal `auth()` set, or anonymous),
 * the action and its resource, the result, the request id, the method, path
 * and status. The resource is the route's path parameter or the validated
 * body's field of that name. The entry goes through the server's
 * {@linkcode AuditQueue}, and the response waits for its write, which joins
 * the store's next group commit (at most one group commit on the request's
 * path; an answered request's entry is durable): a store that is
 * unavailable gets it later (the response does not wait for it), and a write
 * that fails for good is logged and counted, not returned: the action
 * itself has happened.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { type IdGenerator, isValidId } from "../../kernel/mod.ts";
import type { AuditQueue } from "../audit_queue.ts";
import type { Principal } from "../auth.ts";
import type { ServerEnv } from "../env.ts";
import type { AuditSpec } from "../route.ts";

/** Where {@linkcode audit} writes. */
export interface AuditOptions {
  /** Writes the entries (or keeps them while the store is unavailable). */
  queue: AuditQueue;
  /** Generates audit ids. */
  ids: IdGenerator;
  /** The clock (ms). */
  now(): number;
}

/** The principal of a request that did not authenticate (auth off, or refused before auth). */
const ANONYMOUS: Principal = { actorType: "anonymous", actorId: null, role: null };

/**
 * Creates the audit middleware of one control route.
 *
 * @param options The queue, ids and clock.
 * @param route The route's method and audit spec.
 * @returns The middleware.
 */
export function audit(
  options: AuditOptions,
  route: { method: string; audit: AuditSpec },
): MiddlewareHandler<ServerEnv> {
  const { action, resourceType, resourceParam = "", idle } = route.audit;
  return async function audit(c, next) {
    await next();
    const status = c.res.status;
    if (idle !== undefined && status < 300 && idle(c.get("data"))) return;
    const principal = c.get("principal") ?? ANONYMOUS;
    const params = c.req.param() as Record<string, string>;
    const body = c.get("body") as Record<string, unknown> | undefined;
    const named = params[resourceParam] ?? body?.[resourceParam];
    // In the store's next group commit, before the response goes (see `AuditQueue`).
    await options.queue.record({
      auditId: `au_${options.ids.ulid()}`,
      actorType: principal.actorType,
      actorId: principal.actorId,
      actorRole: principal.role,
      action,
      resourceType,
      resourceId: isValidId(named) ? named : null,
      result: status < 300 ? "success" : "error",
      requestId: c.get("requestId"),
      details: { method: route.method, path: c.req.path, status_code: status },
      createdAt: options.now(),
    });
  };
}
