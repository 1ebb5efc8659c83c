/**
 * The audit log of a {@linkcode PostgresStore}: entries appended once (a
 * retried write of a stored id is a no-op), listed newest first.
 *
 * @module
 */

import {
  type AuditRecord,
  checkListAuditOptions,
  decodeTimeIdCursor,
  encodeJson,
  type JsonObject,
  type ListAuditOptions,
  type Page,
  pageLimit,
  pageOf,
  timeIdPosition,
} from "../../kernel/mod.ts";
import type { Parameter, PostgresContext } from "./_context.ts";

interface AuditRow {
  audit_id: string;
  actor_type: AuditRecord["actorType"];
  actor_id: string | null;
  actor_role: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  result: AuditRecord["result"];
  request_id: string;
  details: string;
  created_at: number;
}

/**
 * Appends an audit entry, once; see {@linkcode PostgresStore.appendAudit}.
 *
 * @param context The store's shared state.
 * @param record The entry.
 * @returns When stored.
 */
export function appendAudit(context: PostgresContext, record: AuditRecord): Promise<void> {
  return context.io("append an audit entry", async () => {
    encodeJson(record, "audit record");
    await context.query(context.statements.appendAudit, [
      record.auditId,
      record.actorType,
      record.actorId,
      record.actorRole,
      record.action,
      record.resourceType,
      record.resourceId,
      record.result,
      record.requestId,
      encodeJson(record.details, "audit details"),
      record.createdAt,
    ]);
  });
}

/**
 * Lists audit entries, newest first (then by id, descending), paged by key;
 * see {@linkcode PostgresStore.listAudit}.
 *
 * @param context The store's shared state.
 * @param options Request, action and time filters, limit and cursor.
 * @returns One page.
 */
export function listAudit(
  context: PostgresContext,
  options: ListAuditOptions = {},
): Promise<Page<AuditRecord>> {
  return context.io("list audit entries", async () => {
    const limit = pageLimit(options.limit);
    checkListAuditOptions(options);
    const after = decodeTimeIdCursor(options.cursor, "audit");
    const parameters: Parameter[] = [limit + 1];
    if (options.requestId !== undefined) parameters.push(options.requestId);
    if (options.action !== undefined) parameters.push(options.action);
    if (options.fromMs !== undefined) parameters.push(options.fromMs);
    if (options.toMs !== undefined) parameters.push(options.toMs);
    if (after !== null) parameters.push(after.time, after.id);
    const text = context.statements.listAudit({
      requestId: options.requestId !== undefined,
      action: options.action !== undefined,
      from: options.fromMs !== undefined,
      to: options.toMs !== undefined,
      after: after !== null,
    });
    const rows = await context.query<AuditRow>(text, parameters);
    return pageOf(
      rows,
      limit,
      (last) => timeIdPosition("audit", last.createdAt, last.auditId),
      toAudit,
    );
  });
}

function toAudit(row: AuditRow): AuditRecord {
  return {
    auditId: row.audit_id,
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorRole: row.actor_role,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    result: row.result,
    requestId: row.request_id,
    details: JSON.parse(row.details) as JsonObject,
    createdAt: row.created_at,
  };
}
