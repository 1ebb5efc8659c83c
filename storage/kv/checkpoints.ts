/**
 * A run's checkpoints in Deno KV. They are derived data, kept off the write
 * path: each batch carries the checkpoint records of its append, and the
 * checkpoint reads first index the batches committed since the last time
 * (under `cp` by version and `cpid` by id, up to the watermark `cpw`).
 * Committed batches never change, so concurrent indexers write the same keys
 * and a crash mid-way loses nothing.
 *
 * @module
 */

import {
  type CheckpointId,
  type CheckpointRecord,
  decodeVersionCursor,
  isValidId,
  type Page,
  pageLimit,
  pageOf,
  type PageOptions,
  type ThreadId,
  versionPosition,
} from "../../kernel/mod.ts";
import { readBatch } from "./_batches.ts";
import { type BlobValue, decodeValue, encodeValue } from "./_blobs.ts";
import { commit } from "./_commit.ts";
import type { KvContext } from "./_context.ts";
import {
  checkpointIdKey,
  checkpointsPrefix,
  checkpointWatermarkKey,
  eventsPrefix,
} from "./_keys.ts";

/** Checkpoints indexed per commit (two keys each, under the mutation and key size limits). */
const CHECKPOINTS_PER_COMMIT = 100;

/**
 * Gets one checkpoint of a run.
 *
 * @param ctx The store.
 * @param threadId The run.
 * @param checkpointId The checkpoint.
 * @returns The checkpoint, or `null`.
 */
export async function getCheckpoint(
  ctx: KvContext,
  threadId: ThreadId,
  checkpointId: CheckpointId,
): Promise<CheckpointRecord | null> {
  const { kv } = ctx;
  if (!isValidId(threadId) || typeof checkpointId !== "string") return null;
  const byId = isValidId(checkpointId) ? checkpointIdKey(threadId, checkpointId) : null;
  const [found, watermark] = byId === null
    ? [null, await kv.get<number>(checkpointWatermarkKey(threadId))]
    : await kv.getMany<[Uint8Array, number]>([byId, checkpointWatermarkKey(threadId)]);
  if (found?.value) return decodeValue<CheckpointRecord>(found.value);
  const indexed = await indexCheckpoints(kv, threadId, watermark.value ?? 0);
  if (byId !== null) {
    if (!indexed) return null;
    const entry = await kv.get<Uint8Array>(byId);
    return entry.value === null ? null : decodeValue<CheckpointRecord>(entry.value);
  }
  // An id that is not a valid key part has no `cpid` key: look through the run's checkpoints.
  const prefix = checkpointsPrefix(threadId);
  for await (const entry of kv.list<Uint8Array>({ prefix })) {
    const record = decodeValue<CheckpointRecord>(entry.value);
    if (record.checkpointId === checkpointId) return record;
  }
  return null;
}

/**
 * Lists a run's checkpoints, newest first.
 *
 * @param ctx The store.
 * @param threadId The run.
 * @param options Limit and cursor.
 * @returns One page.
 * @throws {InvalidArgumentError} when the limit or cursor is not valid.
 */
export async function listCheckpoints(
  ctx: KvContext,
  threadId: ThreadId,
  options: PageOptions,
): Promise<Page<CheckpointRecord>> {
  const { kv } = ctx;
  const limit = pageLimit(options.limit);
  const before = decodeVersionCursor(options.cursor);
  const items: CheckpointRecord[] = [];
  if (!isValidId(threadId)) return { items, nextCursor: null };
  const watermark = await kv.get<number>(checkpointWatermarkKey(threadId));
  await indexCheckpoints(kv, threadId, watermark.value ?? 0);
  const prefix = checkpointsPrefix(threadId);
  const selector = before === null ? { prefix } : { prefix, end: [...prefix, before] };
  const entries = kv.list<Uint8Array>(selector, { reverse: true, limit: limit + 1 });
  for await (const entry of entries) items.push(decodeValue<CheckpointRecord>(entry.value));
  return pageOf(items, limit, (last) => versionPosition(last.version));
}

/**
 * Indexes the checkpoints of the batches committed after `watermark`.
 * Returns whether there were any.
 */
async function indexCheckpoints(
  kv: Deno.Kv,
  threadId: string,
  watermark: number,
): Promise<boolean> {
  const prefix = eventsPrefix(threadId);
  let pending: CheckpointRecord[] = [];
  let covered = watermark;
  let any = false;
  const flush = async (): Promise<void> => {
    const atomic = kv.atomic();
    for (const record of pending) {
      const value = encodeValue(record);
      atomic.set([...checkpointsPrefix(threadId), record.version], value);
      if (isValidId(record.checkpointId)) {
        atomic.set(checkpointIdKey(threadId, record.checkpointId), value);
      }
    }
    atomic.set(checkpointWatermarkKey(threadId), covered);
    await commit(atomic);
    pending = [];
  };
  for await (const entry of kv.list<BlobValue>({ prefix, start: [...prefix, watermark + 1] })) {
    const batch = await readBatch(kv, threadId, entry, false);
    for (const record of batch.checkpoints) {
      pending.push(record);
      any = true;
      if (pending.length >= CHECKPOINTS_PER_COMMIT) await flush();
    }
    covered = batch.head.version;
  }
  if (covered > watermark) await flush();
  return any;
}
