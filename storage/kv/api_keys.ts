/**
 * API keys in Deno KV: one record per key under `key, keyId`, and their count
 * under `keyn` (a `Deno.KvU64` kept in the same commit as each new key), so
 * that counting is one read.
 *
 * @module
 */

import {
  type ApiKeyRecord,
  checkApiKeyRecord,
  decodeKeyCursor,
  encodeJson,
  keyPosition,
  type Page,
  pageLimit,
  pageOf,
  type PageOptions,
  StorageError,
} from "../../kernel/mod.ts";
import { decodeValue } from "./_blobs.ts";
import { commit } from "./_commit.ts";
import { type KvContext, READ_ATTEMPTS } from "./_context.ts";
import { API_KEY_COUNT_KEY, apiKeyKey, apiKeysPrefix } from "./_keys.ts";

const encoder = new TextEncoder();

/**
 * Creates or replaces an API key (keeping the count of keys in the same commit).
 *
 * @param ctx The store.
 * @param record The key (its secret hashed).
 * @throws {InvalidArgumentError} when it is not a valid record.
 */
export async function putApiKey(ctx: KvContext, record: ApiKeyRecord): Promise<void> {
  const { kv } = ctx;
  checkApiKeyRecord(record);
  const json = encodeJson(record, "API key");
  const key = apiKeyKey(record.keyId);
  const value = encoder.encode(json);
  for (let attempt = 1;; attempt++) {
    const entry = await kv.get(key);
    const atomic = kv.atomic().check(entry).set(key, value);
    if (entry.value === null) atomic.sum(API_KEY_COUNT_KEY, 1n);
    if ((await commit(atomic)).ok) return;
    if (attempt >= READ_ATTEMPTS) {
      throw new StorageError("Cannot store the API key: it keeps changing", { retryable: true });
    }
  }
}

/**
 * Creates an API key unless one with its id exists (then nothing is written),
 * counting it in the same commit.
 *
 * @param ctx The store.
 * @param record The key (its secret hashed).
 * @returns `true` when it was created.
 * @throws {InvalidArgumentError} when it is not a valid record.
 */
export async function createApiKey(ctx: KvContext, record: ApiKeyRecord): Promise<boolean> {
  checkApiKeyRecord(record);
  const value = encoder.encode(encodeJson(record, "API key"));
  const key = apiKeyKey(record.keyId);
  const result = await commit(
    ctx.kv.atomic().check({ key, versionstamp: null }).set(key, value).sum(API_KEY_COUNT_KEY, 1n),
  );
  return result.ok;
}

/**
 * Lists API keys by key id, paging by it.
 *
 * @param ctx The store.
 * @param options Limit and cursor.
 * @returns One page.
 * @throws {InvalidArgumentError} when the limit or cursor is not valid.
 */
export async function listApiKeys(
  ctx: KvContext,
  options: PageOptions,
): Promise<Page<ApiKeyRecord>> {
  const limit = pageLimit(options.limit);
  const after = decodeKeyCursor(options.cursor);
  const prefix = apiKeysPrefix();
  // Key ids are valid ids (at most 128 characters), so each is its own key part, in id order.
  const selector = after === null ? { prefix } : { prefix, start: [...prefix, after, 0] };
  const records: ApiKeyRecord[] = [];
  for await (const entry of ctx.kv.list<Uint8Array>(selector, { limit: limit + 1 })) {
    records.push(decodeValue<ApiKeyRecord>(entry.value));
  }
  return pageOf(records, limit, (last) => keyPosition(last.keyId));
}

/**
 * Gets an API key.
 *
 * @param ctx The store.
 * @param keyId The key's id.
 * @returns The key, or `null`.
 */
export async function getApiKey(ctx: KvContext, keyId: string): Promise<ApiKeyRecord | null> {
  if (typeof keyId !== "string" || keyId.length === 0) return null;
  const entry = await ctx.kv.get<Uint8Array>(apiKeyKey(keyId));
  if (entry.value === null) return null;
  const record = decodeValue<ApiKeyRecord>(entry.value);
  return record.keyId === keyId ? record : null;
}

/**
 * Counts the stored API keys (one read).
 *
 * @param ctx The store.
 * @returns How many there are.
 */
export async function countApiKeys(ctx: KvContext): Promise<number> {
  const entry = await ctx.kv.get<Deno.KvU64>(API_KEY_COUNT_KEY);
  return entry.value === null ? 0 : Number(entry.value.value);
}
