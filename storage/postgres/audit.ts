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
import type { Parameter, PostgresContext, PreparedAudit } from "./_context.ts";
import { GroupCommitter, type Settled } from "../_group_commit.ts";

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

/** Audit entries one batch holds at most. */
const MAX_BATCH_ITEMS = 500;
/** The bytes of JSON one batch carries at most. */
const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * The group committer of a store's audit entries: entries written while a
 * batch is in flight go together in the next one (one statement), so under
 * load an entry waits for at most one commit besides its own.
 *
 * @param context The store's shared state.
 * @returns The committer.
 */
export function auditCommitter(context: PostgresContext): GroupCommitter<PreparedAudit, void> {
  return new GroupCommitter<PreparedAudit, void>({
    execute: (items) => writeAudits(context, items),
    key: (item) => item.record.auditId,
    size: (item) => item.details.length + 256,
    maxInFlight: 2,
    minSplit: 32,
    maxItems: MAX_BATCH_ITEMS,
    maxBytes: MAX_BATCH_BYTES,
  });
}

/**
 * Appends an audit entry, once; see {@linkcode PostgresStore.appendAudit}.
 * It goes through the store's group committer of audit entries.
 *
 * @param context The store's shared state.
 * @param record The entry.
 * @returns When stored.
 */
export function appendAudit(context: PostgresContext, record: AuditRecord): Promise<void> {
  return context.io("append an audit entry", async () => {
    encodeJson(record, "audit record");
    const details = encodeJson(record.details, "audit details");
    await context.audits.submit({ record, details });
  });
}

/** Writes a batch of entries in one statement; when it fails, each entry alone. */
async function writeAudits(
  context: PostgresContext,
  items: PreparedAudit[],
): Promise<Settled<void>[]> {
  if (items.length === 1) {
    await context.query(context.statements.appendAudit, auditRow(items[0]!));
    return [{ ok: true, value: undefined }];
  }
  const columns: Parameter[][] = Array.from({ length: 11 }, () => []);
  for (const item of items) {
    auditRow(item).forEach((value, i) => (columns[i] as Parameter[]).push(value));
  }
  try {
    await context.query(context.statements.appendAudits, columns as Parameter[]);
    return items.map(() => ({ ok: true, value: undefined }));
  } catch {
    // Nothing of the batch was written: let each entry succeed or fail alone.
    return await Promise.all(items.map(async (item): Promise<Settled<void>> => {
      try {
        await context.query(context.statements.appendAudit, auditRow(item));
        return { ok: true, value: undefined };
      } catch (error) {
        return { ok: false, error };
      }
    }));
  }
}

/** The columns of an entry, in the statements' order. */
function auditRow({ record, details }: PreparedAudit): (string | number | null)[] {
  return [
    record.auditId,
    record.actorType,
    record.actorId,
    record.actorRole,
    record.action,
    record.resourceType,
    record.resourceId,
    record.result,
    record.requestId,
    details,
    record.createdAt,
  ];
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
  return context.read("list audit entries", async () => {
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
