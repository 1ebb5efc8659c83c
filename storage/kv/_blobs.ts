/**
 * Values of any size in Deno KV, whose values are at most 64 KiB and whose
 * atomic commits are at most 800 KiB. A small value is stored inline as bytes;
 * a large one is written before the commit that references it, as chunks
 * under a fresh nonce (nothing references them until that commit lands, so
 * they are invisible), and the commit stores a {@linkcode ChunkRef} instead.
 * Chunks that nothing references (a commit that did not land, a replaced
 * value) are discarded.
 *
 * @module
 */

import { commit } from "./_commit.ts";

/** The largest value stored inline, in bytes (Deno KV allows 65536). */
export const INLINE_MAX = 60 * 1024;
/** The size of one chunk, in bytes. */
export const CHUNK_SIZE = 60 * 1024;
/** Chunks written per commit: 12 x 60 KiB stays under the 800 KiB commit limit. */
const CHUNKS_PER_COMMIT = 12;
/** Chunk keys deleted per commit (well under the 1000-mutation and 80 KiB key limits). */
const DELETES_PER_COMMIT = 200;

/** Where the chunks of a large value are, and how to check them. */
export interface ChunkRef {
  /** The unique part of the chunks' keys. */
  nonce: string;
  /** How many chunks. */
  count: number;
  /** The value's size in bytes. */
  size: number;
}

/** A value as stored under its key: the bytes, or where its chunks are. */
export type BlobValue = Uint8Array | ChunkRef;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The chunks of a value are gone: a newer value replaced it while it was read. */
export class MissingChunksError extends Error {
  override name = "MissingChunksError";
}

/**
 * Whether a stored value is a chunk reference.
 *
 * @param value A value read from Deno KV.
 * @returns `true` for a {@linkcode ChunkRef}.
 */
export function isChunkRef(value: unknown): value is ChunkRef {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array) &&
    typeof (value as ChunkRef).nonce === "string";
}

/**
 * Makes a value storable in one mutation: returns the bytes when they are
 * small, otherwise writes them as chunks under `[...prefix, nonce, i]` and
 * returns the reference to store instead.
 *
 * @param kv The database.
 * @param prefix The key prefix of chunks (per run).
 * @param bytes The value.
 * @param inlineMax The largest value kept inline (default {@linkcode INLINE_MAX}; 0: always chunks).
 * @returns What to store, and the chunks written (`null` when inline).
 */
export async function prepareBlob(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  bytes: Uint8Array,
  inlineMax: number = INLINE_MAX,
): Promise<{ value: BlobValue; ref: ChunkRef | null }> {
  if (bytes.length <= inlineMax) return { value: bytes, ref: null };
  const ref: ChunkRef = {
    nonce: crypto.randomUUID(),
    count: Math.max(1, Math.ceil(bytes.length / CHUNK_SIZE)),
    size: bytes.length,
  };
  const commits: Promise<Deno.KvCommitResult | Deno.KvCommitError>[] = [];
  for (let first = 0; first < ref.count; first += CHUNKS_PER_COMMIT) {
    const atomic = kv.atomic();
    for (let i = first; i < Math.min(ref.count, first + CHUNKS_PER_COMMIT); i++) {
      atomic.set([...prefix, ref.nonce, i], bytes.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE));
    }
    commits.push(commit(atomic));
  }
  const results = await Promise.allSettled(commits);
  const failed = results.find((result) => result.status === "rejected" || !result.value.ok);
  if (failed !== undefined) {
    await deleteChunks(kv, prefix, ref).catch(() => {});
    throw failed.status === "rejected"
      ? failed.reason
      : new Error("Cannot write chunks: commit failed");
  }
  return { value: ref, ref };
}

/**
 * Reads a stored value back into bytes.
 *
 * @param kv The database.
 * @param prefix The key prefix of chunks.
 * @param value What was stored.
 * @returns The bytes.
 * @throws {MissingChunksError} when chunks are missing (the value was replaced and cleaned up).
 */
export async function readBlob(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  value: BlobValue,
): Promise<Uint8Array> {
  if (value instanceof Uint8Array) return value;
  const bytes = new Uint8Array(value.size);
  let offset = 0;
  let index = 0;
  for await (const entry of kv.list<Uint8Array>({ prefix: [...prefix, value.nonce] })) {
    if (entry.key.at(-1) !== index || !(entry.value instanceof Uint8Array)) break;
    if (offset + entry.value.length > value.size) break;
    bytes.set(entry.value, offset);
    offset += entry.value.length;
    index++;
  }
  if (index !== value.count || offset !== value.size) {
    throw new MissingChunksError(`Cannot read value ${value.nonce}: chunks are missing`);
  }
  return bytes;
}

/**
 * Deletes the chunks of a value.
 *
 * @param kv The database.
 * @param prefix The key prefix of chunks.
 * @param ref The chunks.
 */
export async function deleteChunks(kv: Deno.Kv, prefix: Deno.KvKey, ref: ChunkRef): Promise<void> {
  const commits: Promise<unknown>[] = [];
  for (let first = 0; first < ref.count; first += DELETES_PER_COMMIT) {
    const atomic = kv.atomic();
    for (let i = first; i < Math.min(ref.count, first + DELETES_PER_COMMIT); i++) {
      atomic.delete([...prefix, ref.nonce, i]);
    }
    commits.push(commit(atomic));
  }
  await Promise.all(commits);
}

/**
 * Deletes chunks that nothing references, ignoring failures (unreferenced
 * chunks are invisible).
 *
 * @param kv The database.
 * @param prefix The key prefix of chunks.
 * @param refs The chunks.
 */
export async function discardChunks(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  refs: readonly ChunkRef[],
): Promise<void> {
  await Promise.all(refs.map((ref) => deleteChunks(kv, prefix, ref).catch(() => {})));
}

/**
 * {@linkcode prepareBlob}, recording the chunks it writes in `written`, so
 * that they can be discarded when the commit that would reference them does
 * not land.
 *
 * @param kv The database.
 * @param prefix The key prefix of chunks.
 * @param bytes The value.
 * @param written Where the chunks written are recorded.
 * @returns What to store.
 */
export async function stageBlob(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  bytes: Uint8Array,
  written: ChunkRef[],
): Promise<BlobValue> {
  const { value, ref } = await prepareBlob(kv, prefix, bytes);
  if (ref !== null) written.push(ref);
  return value;
}

/**
 * A value as JSON bytes (for values stored inline only).
 *
 * @param value A JSON value.
 * @returns Its JSON text, UTF-8.
 */
export function encodeValue(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * Reads JSON bytes back.
 *
 * @param bytes JSON text, UTF-8.
 * @returns The value.
 */
export function decodeValue<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}
