/**
 * The API keys of a {@linkcode PostgresStore}: one row per key, its secret
 * hashed.
 *
 * @module
 */

import {
  type ApiKeyRecord,
  checkApiKeyRecord,
  decodeKeyCursor,
  keyPosition,
  type Page,
  pageLimit,
  pageOf,
  type PageOptions,
} from "../../kernel/mod.ts";
import type { PostgresContext } from "./_context.ts";

interface ApiKeyRow {
  key_id: string;
  secret_hash: string;
  role: ApiKeyRecord["role"];
  status: ApiKeyRecord["status"];
  created_at: number;
  updated_at: number;
}

/**
 * Creates or replaces an API key; see {@linkcode PostgresStore.putApiKey}.
 *
 * @param context The store's shared state.
 * @param record The key (its secret hashed).
 * @returns When stored.
 */
export function putApiKey(context: PostgresContext, record: ApiKeyRecord): Promise<void> {
  return context.io(`put API key "${record?.keyId}"`, async () => {
    checkApiKeyRecord(record);
    await context.query(context.statements.putApiKey, columns(record));
  });
}

/**
 * Creates an API key unless its id is taken; see {@linkcode PostgresStore.createApiKey}.
 *
 * @param context The store's shared state.
 * @param record The key (its secret hashed).
 * @returns `true` when it was created.
 */
export function createApiKey(context: PostgresContext, record: ApiKeyRecord): Promise<boolean> {
  return context.io(`create API key "${record?.keyId}"`, async () => {
    checkApiKeyRecord(record);
    const rows = await context.query(context.statements.createApiKey, columns(record));
    return rows.length === 1;
  });
}

/**
 * Lists API keys by key id, paged by it; see {@linkcode PostgresStore.listApiKeys}.
 *
 * @param context The store's shared state.
 * @param options Limit and cursor.
 * @returns One page.
 */
export function listApiKeys(
  context: PostgresContext,
  options: PageOptions = {},
): Promise<Page<ApiKeyRecord>> {
  return context.read("list API keys", async () => {
    const limit = pageLimit(options.limit);
    const after = decodeKeyCursor(options.cursor);
    const s = context.statements;
    const rows = after === null
      ? await context.query<ApiKeyRow>(s.listApiKeys, [limit + 1])
      : await context.query<ApiKeyRow>(s.listApiKeysAfter, [limit + 1, after]);
    return pageOf(rows, limit, (last) => keyPosition(last.keyId), toApiKey);
  });
}

function columns(record: ApiKeyRecord): [string, string, string, string, number, number] {
  return [
    record.keyId,
    record.secretHash,
    record.role,
    record.status,
    record.createdAt,
    record.updatedAt,
  ];
}

/**
 * Gets an API key; see {@linkcode PostgresStore.getApiKey}.
 *
 * @param context The store's shared state.
 * @param keyId The key's id.
 * @returns The key, or `null`.
 */
export function getApiKey(context: PostgresContext, keyId: string): Promise<ApiKeyRecord | null> {
  return context.read(`get API key "${keyId}"`, async () => {
    if (typeof keyId !== "string") return null;
    const [row] = await context.query<ApiKeyRow>(context.statements.getApiKey, [keyId]);
    return row === undefined ? null : toApiKey(row);
  });
}

/**
 * Counts the stored API keys; see {@linkcode PostgresStore.countApiKeys}.
 *
 * @param context The store's shared state.
 * @returns How many there are.
 */
export function countApiKeys(context: PostgresContext): Promise<number> {
  return context.read("count API keys", async () => {
    const [row] = await context.query<{ count: number }>(context.statements.countApiKeys, []);
    return row?.count ?? 0;
  });
}

function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    keyId: row.key_id,
    secretHash: row.secret_hash,
    role: row.role,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
