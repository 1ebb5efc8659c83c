/**
 * Idempotency keys in Deno KV: one record per key under `idem, key`, claimed
 * by a commit that requires the key to be absent, so the first claim wins,
 * also across stores and processes sharing the database. A record over
 * 60 KiB (a large response) is stored as chunks.
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
import {
  type BlobValue,
  decodeValue,
  discardChunks,
  isChunkRef,
  prepareBlob,
  readBlob,
} from "./_blobs.ts";
import { commit } from "./_commit.ts";
import { type KvContext, READ_ATTEMPTS, retryReads } from "./_context.ts";
import { CHUNKS, idempotencyKey } from "./_keys.ts";

const encoder = new TextEncoder();

/**
 * Claims an idempotency key: the first claim wins.
 *
 * @param ctx The store.
 * @param record The claim.
 * @returns Whether this call claimed it, and the stored record.
 * @throws {InvalidArgumentError} when the key or record is malformed.
 */
export async function claimIdempotency(
  ctx: KvContext,
  record: IdempotencyRecord,
): Promise<{ claimed: boolean; record: IdempotencyRecord }> {
  const { kv } = ctx;
  checkIdempotencyRecord(record);
  const json = encodeJson(record, "idempotency record");
  const key = idempotencyKey(record.key);
  for (let attempt = 1;; attempt++) {
    const { value, ref } = await prepareBlob(kv, CHUNKS.idempotency, encoder.encode(json));
    const atomic = kv.atomic().check({ key, versionstamp: null }).set(key, value);
    if ((await commit(atomic)).ok) {
      return { claimed: true, record: JSON.parse(json) as IdempotencyRecord };
    }
    if (ref !== null) await discardChunks(kv, CHUNKS.idempotency, [ref]);
    const stored = await readIdempotency(kv, record.key);
    if (stored !== null) return { claimed: false, record: stored.record };
    // Released meanwhile: claim again.
    if (attempt >= READ_ATTEMPTS) {
      throw new StorageError("Cannot claim the idempotency key: it keeps changing");
    }
  }
}

/**
 * Stores the response of a claimed idempotency key.
 *
 * @param ctx The store.
 * @param key The key.
 * @param response The response to replay.
 * @throws {NotFoundError} when the key is not claimed.
 * @throws {InvalidArgumentError} when the key is malformed or the response is not JSON.
 */
export async function completeIdempotency(
  ctx: KvContext,
  key: string,
  response: Json,
): Promise<void> {
  const { kv } = ctx;
  checkIdempotencyKey(key);
  for (let attempt = 1;; attempt++) {
    const stored = await readIdempotency(kv, key);
    if (stored === null) throw new NotFoundError("idempotency key", key);
    const json = encodeJson({ ...stored.record, response }, "idempotency response");
    const { value, ref } = await prepareBlob(kv, CHUNKS.idempotency, encoder.encode(json));
    const atomic = kv.atomic().check(stored.entry).set(stored.entry.key, value);
    if ((await commit(atomic)).ok) {
      if (isChunkRef(stored.entry.value)) {
        await discardChunks(kv, CHUNKS.idempotency, [stored.entry.value]);
      }
      return;
    }
    if (ref !== null) await discardChunks(kv, CHUNKS.idempotency, [ref]);
    if (attempt >= READ_ATTEMPTS) {
      throw new StorageError("Cannot complete the idempotency key: it keeps changing", {
        retryable: true,
      });
    }
  }
}

/**
 * Releases a claimed idempotency key (nothing happens for an unknown key).
 *
 * @param ctx The store.
 * @param key The key.
 * @throws {InvalidArgumentError} when the key is malformed.
 */
export async function releaseIdempotency(ctx: KvContext, key: string): Promise<void> {
  const { kv } = ctx;
  checkIdempotencyKey(key);
  for (let attempt = 1;; attempt++) {
    const entry = await kv.get<BlobValue>(idempotencyKey(key));
    if (entry.value === null) return;
    const atomic = kv.atomic().check(entry).delete(entry.key);
    if ((await commit(atomic)).ok) {
      if (isChunkRef(entry.value)) await discardChunks(kv, CHUNKS.idempotency, [entry.value]);
      return;
    }
    if (attempt >= READ_ATTEMPTS) {
      throw new StorageError("Cannot release the idempotency key: it keeps changing", {
        retryable: true,
      });
    }
  }
}

/** The stored record of an idempotency key (read again if its chunks were replaced). */
function readIdempotency(
  kv: Deno.Kv,
  key: string,
): Promise<{ record: IdempotencyRecord; entry: Deno.KvEntry<BlobValue> } | null> {
  return retryReads(async () => {
    const entry = await kv.get<BlobValue>(idempotencyKey(key));
    if (entry.value === null) return null;
    const bytes = await readBlob(kv, CHUNKS.idempotency, entry.value);
    const record = decodeValue<IdempotencyRecord>(bytes);
    if (record.key !== key) return null;
    return { record, entry: entry as Deno.KvEntry<BlobValue> };
  });
}
