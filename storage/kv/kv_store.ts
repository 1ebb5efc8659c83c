/**
 * The Deno KV {@linkcode Store}: the embedded, durable default.
 *
 * Key layout (every key starts with `"oris"`, so a shared KV file stays tidy):
 *
 * | key                                     | value                                       |
 * | --------------------------------------- | ------------------------------------------- |
 * | `ev, threadId, firstSeq`                | one append: its events and the run's head   |
 * | `snap, threadId`                        | the latest stored snapshot                  |
 * | `runs, status, updatedAt, threadId`     | the run's {@linkcode RunSummary} (listing)  |
 * | `cp, threadId, version`                 | one checkpoint (derived, see below)         |
 * | `cpid, threadId, checkpointId`          | one checkpoint, by id (derived)             |
 * | `cpw, threadId`                         | the version the derived keys cover          |
 * | `eff, threadId, step, node, index`      | one journaled effect                        |
 * | `chunk, threadId, nonce, i`             | the chunks of a value over 60 KiB           |
 *
 * An append is one atomic commit guarded by one check: no batch starts at
 * `expectedVersion + 1`. Batches are immutable and gap-free, so when the
 * instance knows (from its head cache) that a batch ends at `expectedVersion`,
 * that check alone proves the run is at that version. Each batch carries the
 * run's head after it (status, updatedAt, stored snapshot), so a cache miss
 * costs one reverse range read and there is no head record to rewrite.
 *
 * Checkpoints are derived data, kept off the write path: each batch carries the
 * checkpoint records of its append, and the checkpoint reads first index the
 * batches committed since the last time (`cpw`). Committed batches never change,
 * so concurrent indexers write the same keys and a crash mid-way loses nothing.
 *
 * A run has one listing key (by status), so an append moves one key, not two;
 * listing all runs merges the seven status ranges. A value over 60 KiB is
 * written as chunks before the commit and becomes visible with it; the loser
 * of a race and a replaced snapshot delete their chunks. (A process killed
 * between writing chunks and committing leaves them unreferenced: invisible,
 * but not reclaimed.)
 *
 * @module
 */

import {
  type AppendResult,
  checkEffectKey,
  type CheckpointId,
  type CheckpointRecord,
  compareRunOrder,
  type CreateRunResult,
  currentSnapshot,
  decodeEvent,
  decodeRunCursor,
  decodeVersionCursor,
  type EffectKey,
  type EffectRecord,
  encodeAppend,
  encodeCreate,
  encodeCursor,
  type EncodedAppend,
  encodeEffect,
  IdempotencyConflictError,
  isValidId,
  type ListRunsOptions,
  type LoadedRun,
  OrisError,
  type Page,
  pageLimit,
  type PageOptions,
  parseThreadId,
  type ReadEventsOptions,
  RUN_STATUSES,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type RunStatus,
  type RunSummary,
  snapshotDue,
  StorageError,
  type Store,
  type StoredEvent,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { checkFromSeq } from "../../kernel/mod.ts";
import {
  type BlobValue,
  type ChunkRef,
  deleteChunks,
  INLINE_MAX,
  MissingChunksError,
  prepareBlob,
  readBlob,
} from "./_blobs.ts";
import { commit, isBusy } from "./_commit.ts";

/** Options of {@linkcode KvStore.open}. */
export interface KvStoreOptions {
  /**
   * The database: a file path, or `":memory:"` for a store that lives as long
   * as the instance.
   * @default {Deno's default KV location}
   */
  path?: string;
  /**
   * Persist a running run's snapshot every this many versions (runs at rest
   * always get one).
   * @default {8}
   */
  snapshotEvery?: number;
}

const ROOT = "oris";
/** Checkpoints indexed per commit (two keys each, under the mutation and key size limits). */
const CHECKPOINTS_PER_COMMIT = 100;
/** Runs whose head this instance remembers. */
const HEAD_CACHE_SIZE = 10_000;
/** Reads retried when a snapshot is replaced (and its chunks deleted) while read. */
const READ_ATTEMPTS = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where the run's stored snapshot is. */
interface SnapshotPointer {
  /** Its version. */
  version: number;
  /** Its chunks, when it is too large to be inline. */
  chunks: ChunkRef | null;
}

/** What an append needs to know of the run: its state after its last batch. */
interface RunHead {
  version: number;
  status: RunStatus;
  updatedAt: number;
  snapshot: SnapshotPointer;
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
interface Batch {
  head: RunHead;
  checkpoints: CheckpointRecord[];
  events: StoredEvent[];
}

function eventsPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "ev", threadId];
}

function snapshotKey(threadId: string): Deno.KvKey {
  return [ROOT, "snap", threadId];
}

function runKey(status: RunStatus, updatedAt: number, threadId: string): Deno.KvKey {
  return [ROOT, "runs", status, updatedAt, threadId];
}

function checkpointsPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "cp", threadId];
}

function checkpointIdKey(threadId: string, checkpointId: string): Deno.KvKey {
  return [ROOT, "cpid", threadId, checkpointId];
}

function checkpointWatermarkKey(threadId: string): Deno.KvKey {
  return [ROOT, "cpw", threadId];
}

function effectsPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "eff", threadId];
}

function effectKey(key: EffectKey): Deno.KvKey {
  return [ROOT, "eff", key.threadId, key.step, key.node, key.index];
}

function chunksPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "chunk", threadId];
}

function batchText(summary: RunSummary, snapshot: SnapshotPointer, append: EncodedAppend): string {
  let events = "";
  for (const event of append.events) events += events === "" ? event.json : `,${event.json}`;
  const checkpoints = append.checkpoints.length === 0
    ? ""
    : `"checkpoints":${JSON.stringify(append.checkpoints)},`;
  return `{"status":${JSON.stringify(summary.status)},"updatedAt":${
    JSON.stringify(summary.updatedAt)
  },"snapshot":${JSON.stringify(snapshot)},${checkpoints}"events":[${events}]}`;
}

function decodeBatch(firstSeq: number, bytes: Uint8Array, withEvents: boolean): Batch {
  const document = JSON.parse(decoder.decode(bytes)) as BatchDocument;
  const head: RunHead = {
    version: firstSeq + document.events.length - 1,
    status: document.status,
    updatedAt: document.updatedAt,
    snapshot: document.snapshot,
  };
  const events = withEvents
    ? document.events.map((raw, i): StoredEvent => ({ seq: firstSeq + i, event: decodeEvent(raw) }))
    : [];
  return { head, checkpoints: document.checkpoints ?? [], events };
}

function encodeValue(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function decodeValue<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}

function sequenceOf(key: Deno.KvKey): number {
  return key[key.length - 1] as number;
}

/**
 * A {@linkcode Store} on Deno KV (`Deno.openKv`): a local SQLite file, or Deno
 * Deploy's KV. Each append is one atomic commit, whatever its size: values over
 * 60 KiB are written beforehand as chunks that only the commit makes visible.
 * Several instances (and processes) may share one database; optimistic
 * concurrency makes exactly one writer win each version.
 *
 * @example Create a run, append to it, read it back
 * ```ts
 * import { KvStore } from "./kv_store.ts";
 * import { fold, type RunCreatedEvent, type ThreadId } from "../../kernel/mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = await KvStore.open({ path: ":memory:" });
 * const created: RunCreatedEvent = {
 *   type: "run.created", v: 1, at: Date.now(), threadId: "t-1" as ThreadId, graph: "hello",
 *   input: {}, payloadHash: "h", state: {}, next: [],
 * };
 * const { run } = await store.createRun(created);
 * const paused = { type: "run.paused", v: 1, at: Date.now(), reason: null } as const;
 * await store.append(run.threadId, run.version, [paused], fold(run, paused));
 * const loaded = await store.load(run.threadId);
 * assert.equal(loaded?.snapshot.status, "paused");
 * ```
 */
export class KvStore implements Store {
  #kv: Deno.Kv;
  #snapshotEvery: number;
  #heads = new Map<string, RunHead>();
  #closed = false;

  // A TypeScript `private` constructor (a `#` one does not exist): open with KvStore.open().
  private constructor(kv: Deno.Kv, snapshotEvery: number) {
    this.#kv = kv;
    this.#snapshotEvery = snapshotEvery;
  }

  /**
   * Opens a store on a Deno KV database.
   *
   * @param options The database path and the snapshot policy.
   * @returns The open store; close it with {@linkcode KvStore.close} or `await using`.
   * @throws {RangeError} when `snapshotEvery` is not a whole number from 1.
   * @throws {StorageError} when the database cannot be opened.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   *
   * await using store = await KvStore.open({ path: ":memory:", snapshotEvery: 16 });
   * await store.ping();
   * ```
   */
  static async open(options: KvStoreOptions = {}): Promise<KvStore> {
    const snapshotEvery = options.snapshotEvery ?? 8;
    if (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 1) {
      throw new RangeError(
        `Cannot open the store: snapshotEvery must be a whole number from 1, got ${snapshotEvery}`,
      );
    }
    try {
      return new KvStore(await Deno.openKv(options.path), snapshotEvery);
    } catch (error) {
      throw new StorageError(
        `Cannot open the store at ${JSON.stringify(options.path ?? "the default location")}: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
  }

  /**
   * Creates a run from its `run.created` event, idempotently.
   *
   * @param event The creating event.
   * @returns Whether it was created, and the run as it is now.
   * @throws {IdempotencyConflictError} when the run exists with another payload.
   * @throws {InvalidArgumentError} when the event is not valid or not JSON.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { RunCreatedEvent, ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const event: RunCreatedEvent = {
   *   type: "run.created", v: 1, at: 1, threadId: "t-1" as ThreadId, graph: "g",
   *   input: {}, payloadHash: "h", state: {}, next: [],
   * };
   * assert.equal((await store.createRun(event)).created, true);
   * assert.equal((await store.createRun(event)).created, false);
   * ```
   */
  createRun(event: RunCreatedEvent): Promise<CreateRunResult> {
    return this.#do("create a run", async () => {
      const encoded = encodeCreate(event);
      const threadId = encoded.threadId;
      if (!this.#heads.has(threadId) && await this.#write(null, encoded) !== null) {
        return { created: true, run: JSON.parse(encoded.snapshotJson!) as RunSnapshot };
      }
      const loaded = await this.#load(threadId);
      if (loaded === null) {
        throw new StorageError(`Cannot create run "${threadId}": it exists but has no snapshot`);
      }
      if (loaded.snapshot.payloadHash !== event.payloadHash) {
        throw new IdempotencyConflictError(threadId);
      }
      return { created: false, run: currentSnapshot(loaded) };
    });
  }

  /**
   * Appends events in one atomic commit if the run is at `expectedVersion`.
   *
   * @param threadId The run.
   * @param expectedVersion The version the run must be at.
   * @param events The events.
   * @param snapshot The run after them.
   * @returns The new version.
   * @throws {VersionConflictError} when the run is at another version (nothing is written).
   * @throws {InvalidArgumentError} when anything is not valid or not JSON (nothing is written).
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import { fold, VersionConflictError, type ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const { run } = await store.createRun({
   *   type: "run.created", v: 1, at: 1, threadId: "t-1" as ThreadId, graph: "g",
   *   input: {}, payloadHash: "h", state: {}, next: [],
   * });
   * const cancel = { type: "run.cancelled", v: 1, at: 2, reason: null } as const;
   * assert.deepEqual(await store.append(run.threadId, 1, [cancel], fold(run, cancel)), { version: 2 });
   * await assert.rejects(
   *   () => store.append(run.threadId, 1, [cancel], fold(run, cancel)),
   *   VersionConflictError,
   * );
   * ```
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
  ): Promise<AppendResult> {
    return this.#do(`append to run "${threadId}"`, async () => {
      parseThreadId(threadId);
      let head = this.#heads.get(threadId) ?? null;
      if (head === null || head.version !== expectedVersion) head = await this.#readHead(threadId);
      const due = snapshotDue(snapshot, head?.snapshot.version ?? null, this.#snapshotEvery);
      const encoded = encodeAppend(threadId, expectedVersion, events, snapshot, due);
      for (let attempt = 0; attempt < 2; attempt++) {
        if (head === null || head.version !== expectedVersion) break;
        if (await this.#write(head, encoded) !== null) return { version: encoded.summary.version };
        head = await this.#readHead(threadId);
      }
      throw new VersionConflictError(threadId, expectedVersion, head?.version ?? null);
    });
  }

  /**
   * Writes an append (or a creation, when `head` is `null`) in one commit.
   * Returns the new head, or `null` when another writer got there first (then
   * nothing of this append remains).
   */
  async #write(head: RunHead | null, encoded: EncodedAppend): Promise<RunHead | null> {
    const threadId = encoded.threadId;
    const summary = encoded.summary;
    const batchKey = [...eventsPrefix(threadId), (head?.version ?? 0) + 1];
    const atomic = this.#kv.atomic().check({ key: batchKey, versionstamp: null });
    let snapshot = head?.snapshot ?? null;
    const written: ChunkRef[] = [];
    try {
      if (encoded.snapshotJson !== null) {
        const value = await this.#blob(threadId, encoder.encode(encoded.snapshotJson), written);
        atomic.set(snapshotKey(threadId), value);
        snapshot = { version: encoded.snapshot.version, chunks: isChunk(value) ? value : null };
      }
      if (snapshot === null) {
        throw new OrisError("internal", "Cannot append: no snapshot is stored");
      }
      const batch = batchText(summary, snapshot, encoded);
      atomic.set(batchKey, await this.#blob(threadId, encoder.encode(batch), written));
      if (
        head !== null && (head.status !== summary.status || head.updatedAt !== summary.updatedAt)
      ) {
        atomic.delete(runKey(head.status, head.updatedAt, threadId));
      }
      atomic.set(runKey(summary.status, summary.updatedAt, threadId), encodeValue(summary));
    } catch (error) {
      await this.#discard(threadId, written);
      throw error;
    }
    // A commit that throws may still have landed: its chunks are kept rather than risked.
    const result = await commit(atomic);
    if (!result.ok) {
      await this.#discard(threadId, written);
      return null;
    }
    const next: RunHead = {
      version: summary.version,
      status: summary.status,
      updatedAt: summary.updatedAt,
      snapshot,
    };
    this.#remember(threadId, next);
    const replaced = head?.snapshot.chunks ?? null;
    if (encoded.snapshotJson !== null && replaced !== null) {
      await deleteChunks(this.#kv, chunksPrefix(threadId), replaced).catch(() => {});
    }
    return next;
  }

  /** The bytes when small; otherwise writes chunks, records them in `written`, returns their ref. */
  async #blob(threadId: string, bytes: Uint8Array, written: ChunkRef[]): Promise<BlobValue> {
    if (bytes.length <= INLINE_MAX) return bytes;
    const { value, ref } = await prepareBlob(this.#kv, chunksPrefix(threadId), bytes);
    if (ref !== null) written.push(ref);
    return value;
  }

  async #discard(threadId: string, written: ChunkRef[]): Promise<void> {
    await Promise.all(
      written.map((ref) => deleteChunks(this.#kv, chunksPrefix(threadId), ref).catch(() => {})),
    );
    written.length = 0;
  }

  /** Reads the run's head from its last batch (and caches it), or `null` for an unknown run. */
  async #readHead(threadId: string): Promise<RunHead | null> {
    const iterator = this.#kv.list<BlobValue>({ prefix: eventsPrefix(threadId) }, {
      reverse: true,
      limit: 1,
    });
    for await (const entry of iterator) {
      const bytes = await readBlob(this.#kv, chunksPrefix(threadId), entry.value);
      const { head } = decodeBatch(sequenceOf(entry.key), bytes, false);
      this.#remember(threadId, head);
      return head;
    }
    return null;
  }

  #remember(threadId: string, head: RunHead): void {
    const known = this.#heads.get(threadId);
    if (known !== undefined && known.version > head.version) return;
    this.#heads.delete(threadId);
    this.#heads.set(threadId, head);
    if (this.#heads.size > HEAD_CACHE_SIZE) {
      this.#heads.delete(this.#heads.keys().next().value!);
    }
  }

  /**
   * Loads the latest stored snapshot of a run and the events after it.
   *
   * @param threadId The run.
   * @returns The snapshot and events, or `null` for an unknown run.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.equal(await store.load("nobody" as ThreadId), null);
   * ```
   */
  load(threadId: ThreadId): Promise<LoadedRun | null> {
    return this.#do(`load run "${threadId}"`, () => this.#load(threadId));
  }

  async #load(threadId: string): Promise<LoadedRun | null> {
    if (!isValidId(threadId)) return null;
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#tryLoad(threadId);
      } catch (error) {
        if (!(error instanceof MissingChunksError) || attempt >= READ_ATTEMPTS) throw error;
      }
    }
  }

  async #tryLoad(threadId: string): Promise<LoadedRun | null> {
    const entry = await this.#kv.get<BlobValue>(snapshotKey(threadId));
    if (entry.value === null) return null;
    const bytes = await readBlob(this.#kv, chunksPrefix(threadId), entry.value);
    const snapshot = JSON.parse(decoder.decode(bytes)) as RunSnapshot;
    const events: StoredEvent[] = [];
    let head: RunHead = {
      version: snapshot.version,
      status: snapshot.status,
      updatedAt: snapshot.updatedAt,
      snapshot: { version: snapshot.version, chunks: isChunk(entry.value) ? entry.value : null },
    };
    const prefix = eventsPrefix(threadId);
    for await (
      const batch of this.#kv.list<BlobValue>({
        prefix,
        start: [...prefix, snapshot.version + 1],
      })
    ) {
      const blob = await readBlob(this.#kv, chunksPrefix(threadId), batch.value);
      const decoded = decodeBatch(sequenceOf(batch.key), blob, true);
      events.push(...decoded.events);
      head = decoded.head;
    }
    this.#remember(threadId, head);
    return { snapshot, events };
  }

  /**
   * Reads a run's events from a seq, ascending.
   *
   * @param threadId The run.
   * @param fromSeq The first seq to read.
   * @param options How many at most.
   * @returns The events (empty for an unknown run).
   * @throws {InvalidArgumentError} when `limit` is out of range or `fromSeq` is not a number.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * await store.createRun({
   *   type: "run.created", v: 1, at: 1, threadId: "t-1" as ThreadId, graph: "g",
   *   input: {}, payloadHash: "h", state: {}, next: [],
   * });
   * const events = await store.readEvents("t-1" as ThreadId, 1, { limit: 10 });
   * assert.deepEqual(events.map((item) => item.event.type), ["run.created"]);
   * ```
   */
  readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options: ReadEventsOptions = {},
  ): Promise<StoredEvent[]> {
    return this.#do(`read the events of run "${threadId}"`, async () => {
      const limit = options.limit === undefined ? Infinity : pageLimit(options.limit);
      const from = checkFromSeq(fromSeq);
      if (!isValidId(threadId) || from === Infinity) return [];
      const prefix = eventsPrefix(threadId);
      let start = 1;
      if (from > 1) {
        // The batch holding `from` is the last one that starts at or before it.
        const containing = this.#kv.list({ prefix, end: [...prefix, from + 1] }, {
          reverse: true,
          limit: 1,
        });
        for await (const entry of containing) start = sequenceOf(entry.key);
      }
      const events: StoredEvent[] = [];
      for await (const entry of this.#kv.list<BlobValue>({ prefix, start: [...prefix, start] })) {
        const blob = await readBlob(this.#kv, chunksPrefix(threadId), entry.value);
        for (const item of decodeBatch(sequenceOf(entry.key), blob, true).events) {
          if (item.seq < from) continue;
          events.push(item);
          if (events.length >= limit) return events;
        }
      }
      return events;
    });
  }

  /**
   * Gets one checkpoint of a run.
   *
   * @param threadId The run.
   * @param checkpointId The checkpoint.
   * @returns The checkpoint, or `null`.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { CheckpointId, ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.equal(await store.getCheckpoint("t-1" as ThreadId, "cp_1" as CheckpointId), null);
   * ```
   */
  getCheckpoint(threadId: ThreadId, checkpointId: CheckpointId): Promise<CheckpointRecord | null> {
    return this.#do(`get a checkpoint of run "${threadId}"`, async () => {
      if (!isValidId(threadId) || typeof checkpointId !== "string") return null;
      const byId = isValidId(checkpointId) ? checkpointIdKey(threadId, checkpointId) : null;
      const [found, watermark] = byId === null
        ? [null, await this.#kv.get<number>(checkpointWatermarkKey(threadId))]
        : await this.#kv.getMany<[Uint8Array, number]>([
          byId,
          checkpointWatermarkKey(threadId),
        ]);
      if (found?.value) return decodeValue<CheckpointRecord>(found.value);
      const indexed = await this.#indexCheckpoints(threadId, watermark.value ?? 0);
      if (byId !== null) {
        if (!indexed) return null;
        const entry = await this.#kv.get<Uint8Array>(byId);
        return entry.value === null ? null : decodeValue<CheckpointRecord>(entry.value);
      }
      // An id that is not a valid key part has no `cpid` key: look through the run's checkpoints.
      const prefix = checkpointsPrefix(threadId);
      for await (const entry of this.#kv.list<Uint8Array>({ prefix })) {
        const record = decodeValue<CheckpointRecord>(entry.value);
        if (record.checkpointId === checkpointId) return record;
      }
      return null;
    });
  }

  /**
   * Indexes the checkpoints of the batches committed after `watermark`.
   * Returns whether there were any.
   */
  async #indexCheckpoints(threadId: string, watermark: number): Promise<boolean> {
    const prefix = eventsPrefix(threadId);
    let pending: CheckpointRecord[] = [];
    let covered = watermark;
    let any = false;
    const flush = async (): Promise<void> => {
      const atomic = this.#kv.atomic();
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
    for await (
      const entry of this.#kv.list<BlobValue>({ prefix, start: [...prefix, watermark + 1] })
    ) {
      const bytes = await readBlob(this.#kv, chunksPrefix(threadId), entry.value);
      const batch = decodeBatch(sequenceOf(entry.key), bytes, false);
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

  /**
   * Lists a run's checkpoints, newest first.
   *
   * @param threadId The run.
   * @param options Limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit or cursor is not valid.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const page = await store.listCheckpoints("t-1" as ThreadId, { limit: 10 });
   * assert.deepEqual(page, { items: [], nextCursor: null });
   * ```
   */
  listCheckpoints(threadId: ThreadId, options: PageOptions = {}): Promise<Page<CheckpointRecord>> {
    return this.#do(`list the checkpoints of run "${threadId}"`, async () => {
      const limit = pageLimit(options.limit);
      const before = decodeVersionCursor(options.cursor);
      const items: CheckpointRecord[] = [];
      if (!isValidId(threadId)) return { items, nextCursor: null };
      const watermark = await this.#kv.get<number>(checkpointWatermarkKey(threadId));
      await this.#indexCheckpoints(threadId, watermark.value ?? 0);
      const prefix = checkpointsPrefix(threadId);
      const selector = before === null ? { prefix } : { prefix, end: [...prefix, before] };
      const entries = this.#kv.list<Uint8Array>(selector, { reverse: true, limit: limit + 1 });
      for await (const entry of entries) items.push(decodeValue<CheckpointRecord>(entry.value));
      const page = items.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page,
        nextCursor: items.length > limit && last !== undefined ? encodeCursor(last.version) : null,
      };
    });
  }

  /**
   * Lists runs, most recently updated first, paging by key: a run not
   * updated while a client pages is listed exactly once.
   *
   * @param options Status filter, limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit or cursor is not valid.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.deepEqual(await store.listRuns({ status: "running" }), { items: [], nextCursor: null });
   * ```
   */
  listRuns(options: ListRunsOptions = {}): Promise<Page<RunSummary>> {
    return this.#do("list runs", async () => {
      const limit = pageLimit(options.limit);
      const after = decodeRunCursor(options.cursor);
      const statuses = options.status === undefined ? RUN_STATUSES : [options.status];
      // One range per status, merged: a run that changes status while they are read can
      // show up in two of them, so keep its newest line.
      const ranges = await Promise.all(statuses.map(async (status) => {
        const prefix = [ROOT, "runs", status];
        const selector = after === null
          ? { prefix }
          : { prefix, end: [...prefix, after.updatedAt, after.threadId] };
        const lines: RunSummary[] = [];
        const entries = this.#kv.list<Uint8Array>(selector, { reverse: true, limit: limit + 1 });
        for await (const entry of entries) lines.push(decodeValue<RunSummary>(entry.value));
        return lines;
      }));
      const newest = new Map<string, RunSummary>();
      for (const line of ranges.flat()) {
        const seen = newest.get(line.threadId);
        if (seen === undefined || seen.version < line.version) newest.set(line.threadId, line);
      }
      const rest = [...newest.values()].sort(compareRunOrder);
      const items = rest.slice(0, limit);
      const last = items.at(-1);
      return {
        items,
        nextCursor: rest.length > limit && last !== undefined
          ? encodeCursor([last.updatedAt, last.threadId])
          : null,
      };
    });
  }

  /**
   * Records an effect unless its key is taken; the first record wins, also
   * across instances and processes.
   *
   * @param record The effect.
   * @returns The stored record.
   * @throws {InvalidArgumentError} when the key is malformed or the result is not JSON.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const key = { threadId: "t-1" as ThreadId, step: 1, node: "agent", index: 0 };
   * const first = { ...key, name: "llm", result: { ok: true, value: "hi" }, recordedAt: 1 } as const;
   * await store.recordEffect(first);
   * const again = await store.recordEffect({ ...first, result: { ok: true, value: "other" } });
   * assert.deepEqual(again, first);
   * ```
   */
  recordEffect(record: EffectRecord): Promise<EffectRecord> {
    return this.#do(`record an effect of run "${record?.threadId}"`, async () => {
      const json = encodeEffect(record);
      const key = effectKey(record);
      const bytes = encoder.encode(json);
      for (let attempt = 1;; attempt++) {
        const written: ChunkRef[] = [];
        const value = await this.#blob(record.threadId, bytes, written);
        const atomic = this.#kv.atomic().check({ key, versionstamp: null }).set(key, value);
        if ((await commit(atomic)).ok) return JSON.parse(json) as EffectRecord;
        await this.#discard(record.threadId, written);
        const stored = await this.#readEffect(record.threadId, key);
        if (stored !== null) return stored;
        if (attempt >= READ_ATTEMPTS) {
          throw new StorageError("Cannot record the effect: its key is taken but cannot be read");
        }
      }
    });
  }

  async #readEffect(threadId: string, key: Deno.KvKey): Promise<EffectRecord | null> {
    const entry = await this.#kv.get<BlobValue>(key);
    return entry.value === null ? null : this.#decodeEffect(threadId, entry.value);
  }

  async #decodeEffect(threadId: string, value: BlobValue): Promise<EffectRecord> {
    const bytes = await readBlob(this.#kv, chunksPrefix(threadId), value);
    return JSON.parse(decoder.decode(bytes)) as EffectRecord;
  }

  /**
   * Gets a recorded effect.
   *
   * @param key Its key.
   * @returns The record, or `null`.
   * @throws {InvalidArgumentError} when the key is malformed.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const key = { threadId: "t-1" as ThreadId, step: 1, node: "agent", index: 0 };
   * assert.equal(await store.getEffect(key), null);
   * ```
   */
  getEffect(key: EffectKey): Promise<EffectRecord | null> {
    return this.#do(`get an effect of run "${key?.threadId}"`, () => {
      checkEffectKey(key);
      return this.#readEffect(key.threadId, effectKey(key));
    });
  }

  /**
   * Lists a run's recorded effects by step, node and index.
   *
   * @param threadId The run.
   * @param step Only this step, if given.
   * @returns The records.
   * @throws {InvalidArgumentError} when the thread id is malformed.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import type { ThreadId } from "../../kernel/mod.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.deepEqual(await store.listEffects("t-1" as ThreadId, 1), []);
   * ```
   */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]> {
    return this.#do(`list the effects of run "${threadId}"`, async () => {
      parseThreadId(threadId);
      if (step !== undefined && !Number.isSafeInteger(step)) return [];
      const prefix = step === undefined
        ? effectsPrefix(threadId)
        : [...effectsPrefix(threadId), step];
      const records: EffectRecord[] = [];
      for await (const entry of this.#kv.list<BlobValue>({ prefix })) {
        records.push(await this.#decodeEffect(threadId, entry.value));
      }
      return records;
    });
  }

  /**
   * Resolves when the database answers.
   *
   * @returns Nothing.
   * @throws {OrisError} code `unavailable` when the store is closed.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * await store.ping();
   * ```
   */
  ping(): Promise<void> {
    return this.#do("ping the store", async () => {
      await this.#kv.get([ROOT, "ping"]);
    });
  }

  /**
   * Closes the database; later calls fail. Idempotent.
   *
   * @returns Nothing.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   *
   * const store = await KvStore.open({ path: ":memory:" });
   * await store.close();
   * await store.close();
   * ```
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#heads.clear();
      this.#kv.close();
    }
    return Promise.resolve();
  }

  /**
   * Closes the store, for `await using`.
   *
   * @returns Nothing.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   *
   * {
   *   await using store = await KvStore.open({ path: ":memory:" });
   *   await store.ping();
   * } // closed here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #do<T>(action: string, body: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new OrisError("unavailable", "Cannot use the store: it is closed");
    try {
      return await body();
    } catch (error) {
      if (error instanceof OrisError) throw error;
      if (this.#closed) {
        throw new OrisError("unavailable", "Cannot use the store: it is closed", { cause: error });
      }
      throw new StorageError(`Cannot ${action}: ${messageOf(error)}`, {
        cause: error,
        retryable: isBusy(error),
      });
    }
  }
}

function isChunk(value: BlobValue): value is ChunkRef {
  return !(value instanceof Uint8Array);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
