/**
 * The audit log in Deno KV: each entry is written under its time
 * (`aud, createdAt, auditId`), its action (`auda`) and its request id
 * (`audr`) in one commit, so that each of these listings is one key range.
 * Entries are group-committed with appends and other entries.
 *
 * @module
 */

import {
  type AuditRecord,
  checkListAuditOptions,
  decodeTimeIdCursor,
  encodeJson,
  InvalidArgumentError,
  type ListAuditOptions,
  type Page,
  pageLimit,
  pageOf,
  timeIdPosition,
} from "../../kernel/mod.ts";
import { type BlobValue, decodeValue, discardChunks, prepareBlob, readBlob } from "./_blobs.ts";
import { type KvContext, retryReads } from "./_context.ts";
import { auditActionPrefix, auditPrefix, auditRequestPrefix, CHUNKS, keyPart } from "./_keys.ts";

const encoder = new TextEncoder();

/**
 * Appends an audit entry.
 *
 * @param ctx The store.
 * @param record The entry.
 * @throws {InvalidArgumentError} when it is not JSON or lacks its id, time, action or request id.
 */
export async function appendAudit(ctx: KvContext, record: AuditRecord): Promise<void> {
  const { kv } = ctx;
  const json = encodeJson(record, "audit record");
  for (const field of ["auditId", "action", "requestId"] as const) {
    if (typeof record[field] !== "string" || record[field].length === 0) {
      throw new InvalidArgumentError(`audit ${field} must be a non-empty string`, { field });
    }
  }
  if (!Number.isFinite(record.createdAt)) {
    throw new InvalidArgumentError("audit createdAt must be a number", { field: "createdAt" });
  }
  const { value, ref } = await prepareBlob(kv, CHUNKS.audit, encoder.encode(json));
  const id = keyPart(record.auditId);
  const mutations: Deno.KvMutation[] = [
    { type: "set", key: [...auditPrefix(), record.createdAt, id], value },
    { type: "set", key: [...auditActionPrefix(record.action), record.createdAt, id], value },
    { type: "set", key: [...auditRequestPrefix(record.requestId), record.createdAt, id], value },
  ];
  try {
    // Group-committed with appends and other entries (a NUL never starts a run's id).
    await ctx.group.submit({ key: `\0audit:${record.auditId}`, checks: [], mutations });
  } catch (error) {
    if (ref !== null) await discardChunks(kv, CHUNKS.audit, [ref]);
    throw error;
  }
}

/**
 * Lists audit entries, newest first. A request id or action filter reads
 * that filter's key range; the time window bounds the range.
 *
 * @param ctx The store.
 * @param options Filters, limit and cursor.
 * @returns One page.
 * @throws {InvalidArgumentError} when the limit, cursor or time window is not valid.
 */
export function listAudit(ctx: KvContext, options: ListAuditOptions): Promise<Page<AuditRecord>> {
  const { kv } = ctx;
  const limit = pageLimit(options.limit);
  checkListAuditOptions(options);
  const after = decodeTimeIdCursor(options.cursor, "audit");
  const { requestId, action, fromMs, toMs } = options;
  const empty: Page<AuditRecord> = { items: [], nextCursor: null };
  const prefix = requestId !== undefined
    ? auditRequestPrefix(requestId)
    : action !== undefined
    ? auditActionPrefix(action)
    : auditPrefix();
  // The range: from `fromMs`, to before the cursor or through `toMs`.
  const upperTime = after !== null && (toMs === undefined || after.time <= toMs)
    ? after.time
    : toMs;
  const upper = after !== null && upperTime === after.time
    ? [...prefix, after.time, keyPart(after.id)]
    : toMs !== undefined
    ? [...prefix, toMs, true]
    : null;
  const lower = fromMs !== undefined ? [...prefix, fromMs] : null;
  if (fromMs !== undefined && upperTime !== undefined && fromMs > upperTime) {
    return Promise.resolve(empty);
  }
  const selector = lower !== null && upper !== null
    ? { start: lower, end: upper }
    : lower !== null
    ? { prefix, start: lower }
    : upper !== null
    ? { prefix, end: upper }
    : { prefix };
  return retryReads(async () => {
    const found: AuditRecord[] = [];
    const exact = requestId === undefined && action === undefined;
    const entries = kv.list<BlobValue>(selector, {
      reverse: true,
      ...(exact ? { limit: limit + 1 } : { batchSize: Math.min(limit + 1, 500) }),
    });
    for await (const entry of entries) {
      const record = decodeValue<AuditRecord>(await readBlob(kv, CHUNKS.audit, entry.value));
      if (requestId !== undefined && record.requestId !== requestId) continue;
      if (action !== undefined && record.action !== action) continue;
      found.push(record);
      if (found.length > limit) break;
    }
    return pageOf(found, limit, (last) => timeIdPosition("audit", last.createdAt, last.auditId));
  });
}
