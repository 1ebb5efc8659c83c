/**
 * The effect journal in Deno KV: one key per effect under
 * `eff, threadId, step, node, index`, written by a commit that requires the
 * key to be absent, so the first record wins, also across stores and
 * processes. A result over 60 KiB is stored as chunks of the run.
 *
 * @module
 */

import {
  checkEffectKey,
  type EffectKey,
  type EffectRecord,
  encodeEffect,
  parseThreadId,
  StorageError,
  type ThreadId,
} from "../../kernel/mod.ts";
import {
  type BlobValue,
  type ChunkRef,
  decodeValue,
  discardChunks,
  readBlob,
  stageBlob,
} from "./_blobs.ts";
import { commit } from "./_commit.ts";
import { type KvContext, READ_ATTEMPTS } from "./_context.ts";
import { chunksPrefix, effectKey, effectsPrefix } from "./_keys.ts";

const encoder = new TextEncoder();

/**
 * Records an effect unless its key is taken; the first record wins.
 *
 * @param ctx The store.
 * @param record The effect.
 * @returns The stored record.
 * @throws {InvalidArgumentError} when the key is malformed or the result is not JSON.
 */
export async function recordEffect(ctx: KvContext, record: EffectRecord): Promise<EffectRecord> {
  const { kv } = ctx;
  const json = encodeEffect(record);
  const key = effectKey(record);
  const chunks = chunksPrefix(record.threadId);
  const bytes = encoder.encode(json);
  for (let attempt = 1;; attempt++) {
    const written: ChunkRef[] = [];
    const value = await stageBlob(kv, chunks, bytes, written);
    const atomic = kv.atomic().check({ key, versionstamp: null }).set(key, value);
    if ((await commit(atomic)).ok) return JSON.parse(json) as EffectRecord;
    await discardChunks(kv, chunks, written);
    const stored = await readEffect(kv, record.threadId, key);
    if (stored !== null) return stored;
    if (attempt >= READ_ATTEMPTS) {
      throw new StorageError("Cannot record the effect: its key is taken but cannot be read");
    }
  }
}

/**
 * Gets a recorded effect.
 *
 * @param ctx The store.
 * @param key Its key.
 * @returns The record, or `null`.
 * @throws {InvalidArgumentError} when the key is malformed.
 */
export function getEffect(ctx: KvContext, key: EffectKey): Promise<EffectRecord | null> {
  checkEffectKey(key);
  return readEffect(ctx.kv, key.threadId, effectKey(key));
}

/**
 * Lists a run's recorded effects by step, node and index.
 *
 * @param ctx The store.
 * @param threadId The run.
 * @param step Only this step, if given.
 * @returns The records.
 * @throws {InvalidArgumentError} when the thread id is malformed.
 */
export async function listEffects(
  ctx: KvContext,
  threadId: ThreadId,
  step: number | undefined,
): Promise<EffectRecord[]> {
  parseThreadId(threadId);
  if (step !== undefined && !Number.isSafeInteger(step)) return [];
  const prefix = step === undefined ? effectsPrefix(threadId) : [...effectsPrefix(threadId), step];
  const records: EffectRecord[] = [];
  for await (const entry of ctx.kv.list<BlobValue>({ prefix })) {
    records.push(await decodeEffect(ctx.kv, threadId, entry.value));
  }
  return records;
}

async function readEffect(
  kv: Deno.Kv,
  threadId: string,
  key: Deno.KvKey,
): Promise<EffectRecord | null> {
  const entry = await kv.get<BlobValue>(key);
  return entry.value === null ? null : decodeEffect(kv, threadId, entry.value);
}

async function decodeEffect(
  kv: Deno.Kv,
  threadId: string,
  value: BlobValue,
): Promise<EffectRecord> {
  return decodeValue<EffectRecord>(await readBlob(kv, chunksPrefix(threadId), value));
}
