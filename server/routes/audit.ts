/**
 * `GET /v1/audit/logs`: the control-plane audit log, newest first.
 *
 * @module
 */

import type { ApiDeps } from "../api.ts";
import { auditView } from "../response_builders.ts";
import { AuditLogList } from "../responses.ts";
import { route, type RouteDef } from "../route.ts";
import { ListAuditQuery } from "../schemas.ts";

/**
 * The audit routes.
 *
 * @param deps The store.
 * @returns The routes.
 */
export function auditRoutes(deps: ApiDeps): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/v1/audit/logs",
      summary: "Audit log of control actions, newest first (paged by cursor)",
      query: ListAuditQuery,
      response: AuditLogList,
      async handler(_c, { query }) {
        const page = await deps.store.listAudit({
          limit: query.limit,
          ...(query.request_id === undefined ? {} : { requestId: query.request_id }),
          ...(query.action === undefined ? {} : { action: query.action }),
          ...(query.from_ms === undefined ? {} : { fromMs: query.from_ms }),
          ...(query.to_ms === undefined ? {} : { toMs: query.to_ms }),
          cursor: query.cursor ?? null,
        });
        return { logs: page.items.map(auditView), next_cursor: page.nextCursor };
      },
    }),
  ];
}
