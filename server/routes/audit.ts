/**
 * `GET /v1/audit/logs`: the control-plane audit log, newest first.
 *
 * @module
 */

import type { AuditRecord } from "../../kernel/mod.ts";
import type { ApiDeps } from "../api.ts";
import { route, type RouteDef } from "../route.ts";
import { ListAuditQuery } from "../schemas.ts";
import { iso } from "./jobs.ts";

function auditJson(record: AuditRecord): Record<string, unknown> {
  return {
    audit_id: record.auditId,
    actor_type: record.actorType,
    actor_id: record.actorId,
    actor_role: record.actorRole,
    action: record.action,
    resource_type: record.resourceType,
    resource_id: record.resourceId,
    result: record.result,
    request_id: record.requestId,
    details: record.details,
    created_at: iso(record.createdAt),
  };
}

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
      summary: "Audit log of control actions, newest first",
      query: ListAuditQuery,
      async handler(_c, { query }) {
        const page = await deps.store.listAudit({
          limit: query.limit,
          ...(query.request_id === undefined ? {} : { requestId: query.request_id }),
          ...(query.action === undefined ? {} : { action: query.action }),
          ...(query.from_ms === undefined ? {} : { fromMs: query.from_ms }),
          ...(query.to_ms === undefined ? {} : { toMs: query.to_ms }),
        });
        return { logs: page.items.map(auditJson) };
      },
    }),
  ];
}
