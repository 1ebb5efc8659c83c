/**
 * The API keys of a {@linkcode PostgresStore}: one row per key, its secret
 * hashed.
 *
 * @module
 */

import { type ApiKeyRecord, encodeJson } from "../../kernel/mod.ts";
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
    encodeJson(record, "API key");
    await context.query(context.statements.putApiKey, [
      record.keyId,
      record.secretHash,
      record.role,
      record.status,
      record.createdAt,
      record.updatedAt,
    ]);
  });
}

/**
 * Gets an API key; see {@linkcode PostgresStore.getApiKey}.
 *
 * @param context The store's shared state.
 * @param keyId The key's id.
 * @returns The key, or `null`.
 */
export function getApiKey(context: PostgresContext, keyId: string): Promise<ApiKeyRecord | null> {
  return context.io(`get API key "${keyId}"`, async () => {
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
  return context.io("count API keys", async () => {
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
