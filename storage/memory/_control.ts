/**
 * The audit log and API keys of a `MemoryStore`, kept as JSON text like the
 * rest of it (no aliasing between what was written and what is read). The
 * store wraps each call with its open/closed check.
 *
 * @module
 */

import {
  type ApiKeyRecord,
  type AuditRecord,
  checkApiKeyRecord,
  checkListAuditOptions,
  compareAuditOrder,
  decodeKeyCursor,
  decodeTimeIdCursor,
  encodeJson,
  keyPosition,
  type ListAuditOptions,
  type Page,
  pageLimit,
  pageOf,
  type PageOptions,
  timeIdPosition,
} from "../../kernel/mod.ts";

/** Audit entries in memory. */
export class MemoryAuditLog {
  #entries: string[] = [];

  /** Appends an entry. */
  append(record: AuditRecord): void {
    this.#entries.push(encodeJson(record, "audit record"));
  }

  /** Entries newest first, filtered, after the cursor. */
  list(options: ListAuditOptions): Page<AuditRecord> {
    const limit = pageLimit(options.limit);
    checkListAuditOptions(options);
    const after = decodeTimeIdCursor(options.cursor, "audit");
    const rest = this.#entries
      .map((json) => JSON.parse(json) as AuditRecord)
      .filter((record) => options.requestId === undefined || record.requestId === options.requestId)
      .filter((record) => options.action === undefined || record.action === options.action)
      .filter((record) => options.fromMs === undefined || record.createdAt >= options.fromMs)
      .filter((record) => options.toMs === undefined || record.createdAt <= options.toMs)
      .filter((record) =>
        after === null ||
        compareAuditOrder(record, { createdAt: after.time, auditId: after.id }) > 0
      )
      .sort(compareAuditOrder);
    return pageOf(rest, limit, (last) => timeIdPosition("audit", last.createdAt, last.auditId));
  }
}

/** API keys in memory, by id. */
export class MemoryApiKeys {
  #keys = new Map<string, string>();

  /** Creates or replaces a key. */
  put(record: ApiKeyRecord): void {
    checkApiKeyRecord(record);
    this.#keys.set(record.keyId, encodeJson(record, "API key"));
  }

  /** Creates a key unless its id is taken; whether it did. */
  create(record: ApiKeyRecord): boolean {
    checkApiKeyRecord(record);
    if (this.#keys.has(record.keyId)) return false;
    this.#keys.set(record.keyId, encodeJson(record, "API key"));
    return true;
  }

  /** A key, or `null`. */
  get(keyId: string): ApiKeyRecord | null {
    const stored = this.#keys.get(keyId);
    return stored === undefined ? null : JSON.parse(stored) as ApiKeyRecord;
  }

  /** Keys by id, after the cursor. */
  list(options: PageOptions): Page<ApiKeyRecord> {
    const limit = pageLimit(options.limit);
    const after = decodeKeyCursor(options.cursor);
    const rest = [...this.#keys.keys()]
      .filter((keyId) => after === null || keyId > after)
      .sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
      .slice(0, limit + 1);
    return pageOf(rest, limit, (last) => keyPosition(last.keyId), (keyId) => this.get(keyId)!);
  }

  /** How many keys there are. */
  count(): number {
    return this.#keys.size;
  }
}
