/**
 * The idempotency keys of a {@linkcode PostgresStore}: a key is claimed
 * atomically by its first request, which later stores its response for
 * retries to replay, or releases it.
 *
 * @module
 */

import {
  checkIdempotencyKey,
  checkIdempotencyRecord,
  encodeJson,
  type IdempotencyRecord,
  type Json,
  NotFoundError,
  StorageError,
} from "../../kernel/mod.ts";
import type { PostgresContext } from "./_context.ts";

/** How often a claim of an idempotency key is tried while the key is claimed and released meanwhile. */
const CLAIM_ATTEMPTS = 5;

interface IdempotencyRow {
  key: string;
  operation: string;
  thread_id: string;
  payload_hash: string;
  response: string | null;
  created_at: number;
}

/**
 * Claims an idempotency key atomically; see {@linkcode PostgresStore.claimIdempotency}.
 *
 * @param context The store's shared state.
 * @param record The claim.
 * @returns Whether this call claimed the key, and the stored record.
 */
export function claimIdempotency(
  context: PostgresContext,
  record: IdempotencyRecord,
): Promise<{ claimed: boolean; record: IdempotencyRecord }> {
  return context.io("claim an idempotency key", async () => {
    checkIdempotencyRecord(record);
    encodeJson(record, "idempotency record");
    const response = record.response === null
      ? null
      : encodeJson(record.response, "idempotency response");
    const s = context.statements;
    for (let attempt = 1;; attempt++) {
      const [row] = await context.query<IdempotencyRow & { claimed: boolean }>(
        s.claimIdempotency,
        [
          record.key,
          record.operation,
          record.threadId,
          record.payloadHash,
          response,
          record.createdAt,
        ],
      );
      if (row !== undefined) return { claimed: row.claimed, record: toIdempotency(row) };
      // A racing claim committed after this statement's snapshot: read it now.
      const [stored] = await context.query<IdempotencyRow>(s.getIdempotency, [record.key]);
      if (stored !== undefined) return { claimed: false, record: toIdempotency(stored) };
      // ... and was released already: claim again.
      if (attempt >= CLAIM_ATTEMPTS) {
        throw new StorageError(
          "Cannot claim an idempotency key: it was claimed and released repeatedly meanwhile",
          { retryable: true },
        );
      }
    }
  });
}

/**
 * Stores the response of a claimed key; see {@linkcode PostgresStore.completeIdempotency}.
 *
 * @param context The store's shared state.
 * @param key The key.
 * @param response The response.
 * @returns When stored.
 */
export function completeIdempotency(
  context: PostgresContext,
  key: string,
  response: Json,
): Promise<void> {
  return context.io("complete an idempotency key", async () => {
    checkIdempotencyKey(key);
    const json = encodeJson(response, "idempotency response");
    const rows = await context.query(context.statements.completeIdempotency, [key, json]);
    if (rows.length === 0) throw new NotFoundError("idempotency key", key);
  });
}

/**
 * Releases a claim; see {@linkcode PostgresStore.releaseIdempotency}.
 *
 * @param context The store's shared state.
 * @param key The key.
 * @returns When released.
 */
export function releaseIdempotency(context: PostgresContext, key: string): Promise<void> {
  return context.io("release an idempotency key", async () => {
    checkIdempotencyKey(key);
    await context.query(context.statements.releaseIdempotency, [key]);
  });
}

function toIdempotency(row: IdempotencyRow): IdempotencyRecord {
  return {
    key: row.key,
    operation: row.operation,
    threadId: row.thread_id,
    payloadHash: row.payload_hash,
    response: row.response === null ? null : JSON.parse(row.response) as Json,
    createdAt: row.created_at,
  };
}
