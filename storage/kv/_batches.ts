/**
 * The stored form of an append: a batch under `ev, threadId, firstSeq`, one
 * JSON document holding its events, the checkpoints they make, and the run's
 * head after it (status, updatedAt, where the stored snapshot is). Batches
 * are immutable and gap-free, so the last one tells a run's version.
 *
 * @module
 */

import {
  type CheckpointRecord,
  decodeEvent,
  type EncodedAppend,
  type RunStatus,
  type RunSummary,
  type StoredEvent,
  type StoredSnapshotInfo,
} from "../../kernel/mod.ts";
import { type BlobValue, type ChunkRef, decodeValue, readBlob } from "./_blobs.ts";
import { chunksPrefix } from "./_keys.ts";

/** Where the run's stored snapshot is. */
export interface SnapshotPointer {
  /** Its version. */
  version: number;
  /** Its chunks, when it is too large to be inline. */
  chunks: ChunkRef | null;
}

/** What an append needs to know of the run: its state after its last batch. */
export interface RunHead {
  /** The run's version. */
  version: number;
  /** Its status. */
  status: RunStatus;
  /** When it last changed (ms): with the status, where its listing line is. */
  updatedAt: number;
  /** Its stored snapshot. */
  snapshot: SnapshotPointer;
  /**
   * The sizes of the stored snapshot and of the events after it, for the
   * snapshot policy: known when this instance wrote or loaded them, `null`
   * when the head was read from a batch (then the next append writes a
   * snapshot). Not stored.
   */
  stored: StoredSnapshotInfo | null;
}

/** A batch as stored (JSON text): the run's head after it, its checkpoints, its events. */
interface BatchDocument {
  status: RunStatus;
  updatedAt: number;
  snapshot: SnapshotPointer;
  checkpoints?: CheckpointRecord[];
  events: unknown[];
}

/** A decoded batch. */
export interface Batch {
  /** The run's head after it. */
  head: RunHead;
  /** The checkpoints its events made. */
  checkpoints: CheckpointRecord[];
  /** Its events (empty unless asked for). */
  events: StoredEvent[];
  /** The size of its stored JSON text, in bytes. */
  size: number;
}

/**
 * The JSON text of a batch.
 *
 * @param summary The run's listing line after the append.
 * @param snapshot Where the run's stored snapshot is after it.
 * @param append The append.
 * @returns The text.
 */
export function batchText(
  summary: RunSummary,
  snapshot: SnapshotPointer,
  append: EncodedAppend,
): string {
  let events = "";
  for (const event of append.events) events += events === "" ? event.json : `,${event.json}`;
  const checkpoints = append.checkpoints.length === 0
    ? ""
    : `"checkpoints":${JSON.stringify(append.checkpoints)},`;
  return `{"status":${JSON.stringify(summary.status)},"updatedAt":${
    JSON.stringify(summary.updatedAt)
  },"snapshot":${JSON.stringify(snapshot)},${checkpoints}"events":[${events}]}`;
}

/**
 * Reads a stored batch.
 *
 * @param kv The database.
 * @param threadId The run.
 * @param entry The batch's entry.
 * @param withEvents Whether to decode its events too.
 * @returns The batch.
 * @throws {MissingChunksError} when its chunks are missing.
 */
export async function readBatch(
  kv: Deno.Kv,
  threadId: string,
  entry: Deno.KvEntry<BlobValue>,
  withEvents: boolean,
): Promise<Batch> {
  const bytes = await readBlob(kv, chunksPrefix(threadId), entry.value);
  const firstSeq = sequenceOf(entry.key);
  const document = decodeValue<BatchDocument>(bytes);
  const head: RunHead = {
    version: firstSeq + document.events.length - 1,
    status: document.status,
    updatedAt: document.updatedAt,
    snapshot: document.snapshot,
    stored: null,
  };
  const events = withEvents
    ? document.events.map((raw, i): StoredEvent => ({ seq: firstSeq + i, event: decodeEvent(raw) }))
    : [];
  return { head, checkpoints: document.checkpoints ?? [], events, size: bytes.length };
}

/**
 * The first seq of a batch, from its key.
 *
 * @param key The batch's key.
 * @returns The seq.
 */
export function sequenceOf(key: Deno.KvKey): number {
  return key[key.length - 1] as number;
}
