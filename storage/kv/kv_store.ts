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
 * | `int, interruptId`                      | one interrupt of the index                  |
 * | `ints, status, createdAt, interruptId`  | a copy of it, listed by status              |
 * | `intt, threadId, createdAt, interruptId`| `true`: it is listed by run                 |
 * | `intp, threadId`                        | ids of the run's possibly pending interrupts|
 * | `idem, key`                             | one idempotency record                      |
 * | `aud, createdAt, auditId`               | one audit entry                             |
 * | `auda, action, createdAt, auditId`      | the same entry, listed by action            |
 * | `audr, requestId, createdAt, auditId`   | the same entry, listed by request           |
 * | `key, keyId`                            | one API key                                 |
 * | `keyn`                                  | how many API keys there are (`Deno.KvU64`)  |
 * | `cchunk, kind, nonce, i`                | chunks of large control values              |
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
 * Group commit: a local commit waits for the disk whatever its size, so the
 * appends (and creations, and audit entries) of different runs that arrive
 * while a commit is in flight go out together as one atomic operation once it
 * lands; with nothing in flight, an append goes at once, alone. A batch whose
 * checks fail wrote nothing, and its appends are then committed one by one, so
 * each lands or conflicts on its own. Appends that change the interrupt index
 * are always committed alone (see `_group_commit.ts`).
 *
 * A run has one listing key (by status), so an append moves one key, not two;
 * listing all runs merges the seven status ranges. A value over 60 KiB is
 * written as chunks before the commit and becomes visible with it; the loser
 * of a race and a replaced snapshot delete their chunks. (A process killed
 * between writing chunks and committing leaves them unreferenced: invisible,
 * but not reclaimed.)
 *
 * The interrupt index is kept in the commit of the append whose events change
 * it, so it never disagrees with the log. An append that raises, answers or
 * closes interrupts first reads the rows it changes; closing a run reads the
 * ids under `intp, threadId` (every pending interrupt of the run is listed
 * there) and turns each of those rows that is still pending into cancelled
 * (or rejected). Those reads are current when the commit lands: a run's rows
 * change only in appends to the run, and the commit's check that no batch
 * follows the expected version fails if any other append got in between (the
 * commit checks the `intp` key too). Appends without interrupt changes read
 * nothing more and write nothing more. Strings too long for a key (over 512
 * bytes) are keyed by their SHA-256.
 *
 * @module
 */

import {
  type ApiKeyRecord,
  type AppendResult,
  type AuditRecord,
  checkEffectKey,
  checkIdempotencyKey,
  checkIdempotencyRecord,
  type CheckpointId,
  type CheckpointRecord,
  compareInterruptOrder,
  compareRunOrder,
  type ControlStore,
  type CreateRunResult,
  currentSnapshot,
  decodeEvent,
  decodeRunCursor,
  decodeTimeIdCursor,
  decodeVersionCursor,
  DEFAULT_SNAPSHOT_EVERY,
  type EffectKey,
  type EffectRecord,
  encodeAppend,
  encodeCreate,
  type EncodedAppend,
  encodeEffect,
  encodeJson,
  IdempotencyConflictError,
  type IdempotencyRecord,
  INTERRUPT_STATUSES,
  type InterruptRow,
  type InterruptStatus,
  InvalidArgumentError,
  isValidId,
  type Json,
  type ListAuditOptions,
  type ListInterruptsOptions,
  type ListRunsOptions,
  type LoadedRun,
  NotFoundError,
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
  storedSnapshotAfter,
  type StoredSnapshotInfo,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { pageOf } from "../../kernel/mod.ts";
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
import { KvGroupCommitter } from "./_group_commit.ts";
import {
  addInterruptChanges,
  API_KEY_COUNT_KEY,
  apiKeyKey,
  auditActionPrefix,
  auditPrefix,
  auditRequestPrefix,
  CHUNKS,
  decodeInterrupt,
  discardChunks,
  getInterrupts,
  idempotencyKey,
  type InterruptCommit,
  interruptKey,
  interruptStatusPrefix,
  interruptThreadPrefix,
  keyPart,
  keySize,
  type StoredInterrupt,
} from "./_control.ts";

/** Options of {@linkcode KvStore.open}. */
export interface KvStoreOptions {
  /**
   * The database: a file path, or `":memory:"` for a store that lives as long
   * as the instance.
   * @default {Deno's default KV location}
   */
  path?: string;
  /**
   * The snapshot policy's cap: persist a running run's snapshot at least
   * every this many versions (1: at every append). Between, a snapshot is
   * persisted once the events after the last one outweigh it; runs at rest,
   * and runs this instance has not written or loaded since it opened, always
   * get one. See `snapshotDue`.
   * @default {64}
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
    stored: null,
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
export class KvStore implements Store, ControlStore {
  #kv: Deno.Kv;
  #snapshotEvery: number;
  #heads = new Map<string, RunHead>();
  #group: KvGroupCommitter;
  #closed = false;

  // A TypeScript `private` constructor (a `#` one does not exist): open with KvStore.open().
  private constructor(kv: Deno.Kv, snapshotEvery: number) {
    this.#kv = kv;
    this.#snapshotEvery = snapshotEvery;
    this.#group = new KvGroupCommitter(kv);
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
    const snapshotEvery = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
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
      const stored = head?.version === expectedVersion ? head.stored : null;
      const encoded = encodeAppend(
        threadId,
        expectedVersion,
        events,
        snapshot,
        (bytes) => snapshotDue(snapshot, stored, bytes, this.#snapshotEvery),
      );
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
    const checks: Deno.AtomicCheck[] = [{ key: batchKey, versionstamp: null }];
    const mutations: Deno.KvMutation[] = [];
    let atomic: Deno.AtomicOperation | null = null;
    let snapshot = head?.snapshot ?? null;
    const written: ChunkRef[] = [];
    let index: InterruptCommit | null = null;
    try {
      let snapshotValue: BlobValue | null = null;
      if (encoded.snapshotJson !== null) {
        snapshotValue = await this.#blob(threadId, encoder.encode(encoded.snapshotJson), written);
        mutations.push({ type: "set", key: snapshotKey(threadId), value: snapshotValue });
        snapshot = {
          version: encoded.snapshot.version,
          chunks: isChunk(snapshotValue) ? snapshotValue : null,
        };
      }
      if (snapshot === null) {
        throw new OrisError("internal", "Cannot append: no snapshot is stored");
      }
      const batch = batchText(summary, snapshot, encoded);
      const batchValue = await this.#blob(threadId, encoder.encode(batch), written);
      mutations.push({ type: "set", key: batchKey, value: batchValue });
      const moved = head !== null &&
        (head.status !== summary.status || head.updatedAt !== summary.updatedAt);
      if (moved) {
        mutations.push({ type: "delete", key: runKey(head.status, head.updatedAt, threadId) });
      }
      const line = encodeValue(summary);
      mutations.push({
        type: "set",
        key: runKey(summary.status, summary.updatedAt, threadId),
        value: line,
      });
      if (encoded.interruptChanges.length > 0) {
        // The interrupt index goes into the same commit, within what the rest leaves of its limits.
        const keys = [batchKey, runKey(summary.status, summary.updatedAt, threadId)];
        if (moved) keys.push(runKey(head.status, head.updatedAt, threadId));
        if (snapshotValue !== null) keys.push(snapshotKey(threadId));
        const keyBytes = keys.reduce((n, key) => n + keySize(key), 0);
        // It stays in this append's own commit, out of group commits.
        atomic = this.#kv.atomic().check(...checks).mutate(...mutations);
        index = await addInterruptChanges(this.#kv, atomic, threadId, encoded.interruptChanges, {
          mutations: keys.length,
          keyBytes,
          bytes: keyBytes + blobBytes(batchValue) + line.length +
            (snapshotValue === null ? 0 : blobBytes(snapshotValue)),
        });
      }
    } catch (error) {
      await this.#discard(threadId, written);
      throw error;
    }
    // A commit that throws may still have landed: its chunks are kept rather than risked.
    const ok = atomic === null
      ? await this.#group.submit({ key: threadId, checks, mutations })
      : (await commit(atomic)).ok;
    if (!ok) {
      await this.#discard(threadId, written);
      if (index !== null) await discardChunks(this.#kv, index.written);
      return null;
    }
    if (index !== null && index.replaced.length > 0) {
      await discardChunks(this.#kv, index.replaced);
    }
    const next: RunHead = {
      version: summary.version,
      status: summary.status,
      updatedAt: summary.updatedAt,
      snapshot,
      stored: storedSnapshotAfter(head?.stored ?? null, encoded),
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
    if (known?.version === head.version && head.stored === null) {
      // Batches are immutable: what is known of the run at this version still holds.
      head = { ...head, stored: known.stored };
    }
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
    const text = decoder.decode(bytes);
    const snapshot = JSON.parse(text) as RunSnapshot;
    const events: StoredEvent[] = [];
    let head: RunHead = {
      version: snapshot.version,
      status: snapshot.status,
      updatedAt: snapshot.updatedAt,
      snapshot: { version: snapshot.version, chunks: isChunk(entry.value) ? entry.value : null },
      stored: null,
    };
    // The batches' sizes stand for their events' (a little more: a snapshot comes a little early).
    let tailBytes = 0;
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
      tailBytes += blob.length;
    }
    // (A snapshot written meanwhile, after the one read, leaves the sizes unknown.)
    head.stored = head.snapshot.version === snapshot.version
      ? { version: snapshot.version, bytes: text.length, tailBytes }
      : null;
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
      return pageOf(items, limit, (last) => last.version);
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
      return pageOf(rest, limit, (last) => [last.updatedAt, last.threadId]);
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
   * Claims an idempotency key: the first claim wins, also across instances
   * and processes sharing the database (one atomic commit that requires the
   * key to be absent).
   *
   * @param record The claim.
   * @returns Whether this call claimed it, and the stored record.
   * @throws {InvalidArgumentError} when the key or record is malformed.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const record = { key: "order-42", operation: "job.run", threadId: "t-1", payloadHash: "h", response: null, createdAt: 1 };
   * assert.equal((await store.claimIdempotency(record)).claimed, true);
   * assert.equal((await store.claimIdempotency({ ...record, payloadHash: "x" })).record.payloadHash, "h");
   * ```
   */
  claimIdempotency(
    record: IdempotencyRecord,
  ): Promise<{ claimed: boolean; record: IdempotencyRecord }> {
    return this.#do("claim an idempotency key", async () => {
      checkIdempotencyRecord(record);
      const json = encodeJson(record, "idempotency record");
      const key = idempotencyKey(record.key);
      for (let attempt = 1;; attempt++) {
        const { value, ref } = await prepareBlob(
          this.#kv,
          CHUNKS.idempotency,
          encoder.encode(json),
        );
        const atomic = this.#kv.atomic().check({ key, versionstamp: null }).set(key, value);
        if ((await commit(atomic)).ok) {
          return { claimed: true, record: JSON.parse(json) as IdempotencyRecord };
        }
        if (ref !== null) await deleteChunks(this.#kv, CHUNKS.idempotency, ref).catch(() => {});
        const stored = await this.#readIdempotency(record.key);
        if (stored !== null) return { claimed: false, record: stored.record };
        // Released meanwhile: claim again.
        if (attempt >= READ_ATTEMPTS) {
          throw new StorageError("Cannot claim the idempotency key: it keeps changing");
        }
      }
    });
  }

  /** The stored record of an idempotency key (read again if its chunks were replaced). */
  async #readIdempotency(
    key: string,
  ): Promise<{ record: IdempotencyRecord; entry: Deno.KvEntry<BlobValue> } | null> {
    for (let attempt = 1;; attempt++) {
      const entry = await this.#kv.get<BlobValue>(idempotencyKey(key));
      if (entry.value === null) return null;
      try {
        const bytes = await readBlob(this.#kv, CHUNKS.idempotency, entry.value);
        const record = JSON.parse(decoder.decode(bytes)) as IdempotencyRecord;
        if (record.key !== key) return null;
        return { record, entry: entry as Deno.KvEntry<BlobValue> };
      } catch (error) {
        if (!(error instanceof MissingChunksError) || attempt >= READ_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Stores the response of a claimed idempotency key.
   *
   * @param key The key.
   * @param response The response to replay.
   * @throws {NotFoundError} when the key is not claimed.
   * @throws {InvalidArgumentError} when the key is malformed or the response is not JSON.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const record = { key: "order-42", operation: "job.run", threadId: "t-1", payloadHash: "h", response: null, createdAt: 1 };
   * await store.claimIdempotency(record);
   * await store.completeIdempotency("order-42", { status: "completed" });
   * assert.deepEqual((await store.claimIdempotency(record)).record.response, { status: "completed" });
   * ```
   */
  completeIdempotency(key: string, response: Json): Promise<void> {
    return this.#do("complete an idempotency key", async () => {
      checkIdempotencyKey(key);
      for (let attempt = 1;; attempt++) {
        const stored = await this.#readIdempotency(key);
        if (stored === null) throw new NotFoundError("idempotency key", key);
        const json = encodeJson({ ...stored.record, response }, "idempotency response");
        const { value, ref } = await prepareBlob(
          this.#kv,
          CHUNKS.idempotency,
          encoder.encode(json),
        );
        const atomic = this.#kv.atomic().check(stored.entry).set(stored.entry.key, value);
        if ((await commit(atomic)).ok) {
          if (isChunk(stored.entry.value)) {
            await deleteChunks(this.#kv, CHUNKS.idempotency, stored.entry.value).catch(() => {});
          }
          return;
        }
        if (ref !== null) await deleteChunks(this.#kv, CHUNKS.idempotency, ref).catch(() => {});
        if (attempt >= READ_ATTEMPTS) {
          throw new StorageError("Cannot complete the idempotency key: it keeps changing", {
            retryable: true,
          });
        }
      }
    });
  }

  /**
   * Releases a claimed idempotency key (nothing happens for an unknown key).
   *
   * @param key The key.
   * @throws {InvalidArgumentError} when the key is malformed.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * const record = { key: "order-42", operation: "job.run", threadId: "t-1", payloadHash: "h", response: null, createdAt: 1 };
   * await store.claimIdempotency(record);
   * await store.releaseIdempotency("order-42");
   * assert.equal((await store.claimIdempotency(record)).claimed, true);
   * ```
   */
  releaseIdempotency(key: string): Promise<void> {
    return this.#do("release an idempotency key", async () => {
      checkIdempotencyKey(key);
      for (let attempt = 1;; attempt++) {
        const entry = await this.#kv.get<BlobValue>(idempotencyKey(key));
        if (entry.value === null) return;
        const atomic = this.#kv.atomic().check(entry).delete(entry.key);
        if ((await commit(atomic)).ok) {
          if (isChunk(entry.value)) {
            await deleteChunks(this.#kv, CHUNKS.idempotency, entry.value).catch(() => {});
          }
          return;
        }
        if (attempt >= READ_ATTEMPTS) {
          throw new StorageError("Cannot release the idempotency key: it keeps changing", {
            retryable: true,
          });
        }
      }
    });
  }

  /**
   * Gets an interrupt of the index.
   *
   * @param interruptId The interrupt.
   * @returns The row, or `null`.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.equal(await store.getInterrupt("in_1"), null);
   * ```
   */
  getInterrupt(interruptId: string): Promise<InterruptRow | null> {
    return this.#do("get an interrupt", () => {
      if (typeof interruptId !== "string") return Promise.resolve(null);
      return this.#reading(async () => {
        const entry = await this.#kv.get<StoredInterrupt>(interruptKey(interruptId));
        if (entry.value === null || entry.value.interruptId !== interruptId) return null;
        return decodeInterrupt(this.#kv, entry.value);
      });
    });
  }

  /**
   * Lists interrupts, newest first (by creation time, then id). A status
   * filter reads one key range; a run filter reads the run's range.
   *
   * @param options Status and run filters, limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit or cursor is not valid.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.deepEqual(await store.listInterrupts({ status: "pending" }), { items: [], nextCursor: null });
   * ```
   */
  listInterrupts(options: ListInterruptsOptions = {}): Promise<Page<InterruptRow>> {
    return this.#do("list interrupts", () => {
      const limit = pageLimit(options.limit);
      const after = decodeTimeIdCursor(options.cursor);
      const { status, threadId } = options;
      if (status !== undefined && !INTERRUPT_STATUSES.includes(status)) {
        return Promise.resolve({ items: [], nextCursor: null });
      }
      return this.#reading(async () => {
        let rows: InterruptRow[];
        if (threadId !== undefined) {
          rows = isValidId(threadId)
            ? await this.#threadInterrupts(threadId, status, after, limit + 1)
            : [];
        } else {
          const statuses = status === undefined ? INTERRUPT_STATUSES : [status];
          const ranges = await Promise.all(
            statuses.map((one) => this.#statusInterrupts(one, after, limit + 1)),
          );
          // A row that changes status while the ranges are read can show up in two: keep its latest.
          const latest = new Map<string, StoredInterrupt>();
          for (const row of ranges.flat()) {
            const seen = latest.get(row.interruptId);
            if (seen === undefined || isLater(row, seen)) latest.set(row.interruptId, row);
          }
          const page = [...latest.values()].sort(compareInterruptOrder).slice(0, limit + 1);
          rows = await Promise.all(page.map((row) => decodeInterrupt(this.#kv, row)));
        }
        return pageOf(rows, limit, (last) => [last.createdAt, last.interruptId]);
      });
    });
  }

  /** Up to `count` rows of one status after a position, newest first. */
  async #statusInterrupts(
    status: InterruptStatus,
    after: { time: number; id: string } | null,
    count: number,
  ): Promise<StoredInterrupt[]> {
    const prefix = interruptStatusPrefix(status);
    const selector = after === null
      ? { prefix }
      : { prefix, end: [...prefix, after.time, keyPart(after.id)] };
    const stored: StoredInterrupt[] = [];
    const entries = this.#kv.list<StoredInterrupt>(selector, { reverse: true, limit: count });
    for await (const entry of entries) stored.push(entry.value);
    return stored;
  }

  /** Up to `count` rows of one run (of one status) after a position, newest first. */
  async #threadInterrupts(
    threadId: string,
    status: InterruptStatus | undefined,
    after: { time: number; id: string } | null,
    count: number,
  ): Promise<InterruptRow[]> {
    const prefix = interruptThreadPrefix(threadId);
    const selector = after === null
      ? { prefix }
      : { prefix, end: [...prefix, after.time, keyPart(after.id)] };
    const found: InterruptRow[] = [];
    let keys: Deno.KvKey[] = [];
    const take = async (): Promise<void> => {
      const ids = keys.map((key) => key[4] as string);
      const entries = await getInterrupts(this.#kv, ids);
      const rows = await Promise.all(entries.map((entry, i) => {
        const row = entry.value;
        // Skip a key whose row moved on meanwhile (its new key lists it).
        if (
          row === null || keyPart(row.interruptId) !== ids[i] || row.threadId !== threadId ||
          row.createdAt !== keys[i]![3] || (status !== undefined && row.status !== status)
        ) {
          return null;
        }
        return decodeInterrupt(this.#kv, row);
      }));
      for (const row of rows) if (row !== null && found.length < count) found.push(row);
      keys = [];
    };
    const batch = status === undefined ? count : Math.max(count, 50);
    for await (const entry of this.#kv.list(selector, { reverse: true, batchSize: batch })) {
      keys.push(entry.key);
      if (keys.length >= batch) {
        await take();
        if (found.length >= count) return found;
      }
    }
    await take();
    return found;
  }

  /** Runs a read again when a value's chunks were replaced while it was read. */
  async #reading<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await read();
      } catch (error) {
        if (!(error instanceof MissingChunksError) || attempt >= READ_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Appends an audit entry: one commit writes it under its time, its action
   * and its request id, so that each of these listings is one key range.
   *
   * @param record The entry.
   * @throws {InvalidArgumentError} when it is not JSON or lacks its id, time, action or request id.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * await store.appendAudit({
   *   auditId: "au_1", actorType: "anonymous", actorId: null, actorRole: null, action: "job.run",
   *   resourceType: "thread", resourceId: "t-1", result: "success", requestId: "req-1",
   *   details: { status_code: 200 }, createdAt: 1,
   * });
   * assert.equal((await store.listAudit({ action: "job.run" })).items.length, 1);
   * ```
   */
  appendAudit(record: AuditRecord): Promise<void> {
    return this.#do("append an audit entry", async () => {
      const json = encodeJson(record, "audit record");
      for (const field of ["auditId", "action", "requestId"] as const) {
        if (typeof record[field] !== "string" || record[field].length === 0) {
          throw new InvalidArgumentError(`audit ${field} must be a non-empty string`, { field });
        }
      }
      if (!Number.isFinite(record.createdAt)) {
        throw new InvalidArgumentError("audit createdAt must be a number", { field: "createdAt" });
      }
      const { value, ref } = await prepareBlob(this.#kv, CHUNKS.audit, encoder.encode(json));
      const id = keyPart(record.auditId);
      const mutations: Deno.KvMutation[] = [
        { type: "set", key: [...auditPrefix(), record.createdAt, id], value },
        { type: "set", key: [...auditActionPrefix(record.action), record.createdAt, id], value },
        {
          type: "set",
          key: [...auditRequestPrefix(record.requestId), record.createdAt, id],
          value,
        },
      ];
      try {
        // Group-committed with appends and other entries (a NUL never starts a run's id).
        await this.#group.submit({ key: `\0audit:${record.auditId}`, checks: [], mutations });
      } catch (error) {
        if (ref !== null) await deleteChunks(this.#kv, CHUNKS.audit, ref).catch(() => {});
        throw error;
      }
    });
  }

  /**
   * Lists audit entries, newest first. A request id or action filter reads
   * that filter's key range; the time window bounds the range.
   *
   * @param options Filters, limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit, cursor or time window is not valid.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.deepEqual(await store.listAudit({ requestId: "req-1" }), { items: [], nextCursor: null });
   * ```
   */
  listAudit(options: ListAuditOptions = {}): Promise<Page<AuditRecord>> {
    return this.#do("list audit entries", () => {
      const limit = pageLimit(options.limit);
      const after = decodeTimeIdCursor(options.cursor);
      const { requestId, action, fromMs, toMs } = options;
      for (const [field, bound] of [["from_ms", fromMs], ["to_ms", toMs]] as const) {
        if (bound !== undefined && typeof bound !== "number") {
          throw new InvalidArgumentError(`${field} must be a number`, { field });
        }
      }
      const empty: Page<AuditRecord> = { items: [], nextCursor: null };
      if (Number.isNaN(fromMs) || Number.isNaN(toMs)) return Promise.resolve(empty);
      const prefix = requestId !== undefined
        ? auditRequestPrefix(requestId)
        : action !== undefined
        ? auditActionPrefix(action)
        : auditPrefix();
      // The range: from `fromMs`, to before the cursor or through `toMs`.
      const upperTime = after !== null && (toMs === undefined || after.time <= toMs)
        ? after.time
        : toMs;
      const upper = after !== null && upperTime === after.time
        ? [...prefix, after.time, keyPart(after.id)]
        : toMs !== undefined
        ? [...prefix, toMs, true]
        : null;
      const lower = fromMs !== undefined ? [...prefix, fromMs] : null;
      if (fromMs !== undefined && upperTime !== undefined && fromMs > upperTime) {
        return Promise.resolve(empty);
      }
      const selector = lower !== null && upper !== null
        ? { start: lower, end: upper }
        : lower !== null
        ? { prefix, start: lower }
        : upper !== null
        ? { prefix, end: upper }
        : { prefix };
      return this.#reading(async () => {
        const found: AuditRecord[] = [];
        const exact = requestId === undefined && action === undefined;
        const entries = this.#kv.list<BlobValue>(selector, {
          reverse: true,
          ...(exact ? { limit: limit + 1 } : { batchSize: Math.min(limit + 1, 500) }),
        });
        for await (const entry of entries) {
          const bytes = await readBlob(this.#kv, CHUNKS.audit, entry.value);
          const record = JSON.parse(decoder.decode(bytes)) as AuditRecord;
          if (requestId !== undefined && record.requestId !== requestId) continue;
          if (action !== undefined && record.action !== action) continue;
          found.push(record);
          if (found.length > limit) break;
        }
        return pageOf(found, limit, (last) => [last.createdAt, last.auditId]);
      });
    });
  }

  /**
   * Creates or replaces an API key (keeping the count of keys in the same commit).
   *
   * @param record The key (its secret hashed).
   * @throws {InvalidArgumentError} when it is not JSON or has no id.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * await store.putApiKey({
   *   keyId: "ops-1", secretHash: "ab".repeat(32), role: "operator", status: "active",
   *   createdAt: 1, updatedAt: 1,
   * });
   * assert.equal((await store.getApiKey("ops-1"))?.role, "operator");
   * ```
   */
  putApiKey(record: ApiKeyRecord): Promise<void> {
    return this.#do("store an API key", async () => {
      const json = encodeJson(record, "API key");
      if (typeof record.keyId !== "string" || record.keyId.length === 0) {
        throw new InvalidArgumentError("API key id must be a non-empty string", {
          field: "keyId",
        });
      }
      const key = apiKeyKey(record.keyId);
      const value = encoder.encode(json);
      for (let attempt = 1;; attempt++) {
        const entry = await this.#kv.get(key);
        const atomic = this.#kv.atomic().check(entry).set(key, value);
        if (entry.value === null) atomic.sum(API_KEY_COUNT_KEY, 1n);
        if ((await commit(atomic)).ok) return;
        if (attempt >= READ_ATTEMPTS) {
          throw new StorageError("Cannot store the API key: it keeps changing", {
            retryable: true,
          });
        }
      }
    });
  }

  /**
   * Gets an API key.
   *
   * @param keyId The key's id.
   * @returns The key, or `null`.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.equal(await store.getApiKey("nobody"), null);
   * ```
   */
  getApiKey(keyId: string): Promise<ApiKeyRecord | null> {
    return this.#do("get an API key", async () => {
      if (typeof keyId !== "string" || keyId.length === 0) return null;
      const entry = await this.#kv.get<Uint8Array>(apiKeyKey(keyId));
      if (entry.value === null) return null;
      const record = decodeValue<ApiKeyRecord>(entry.value);
      return record.keyId === keyId ? record : null;
    });
  }

  /**
   * Counts the stored API keys (one read: the count is kept by {@linkcode KvStore.putApiKey}).
   *
   * @returns How many there are.
   *
   * @example
   * ```ts
   * import { KvStore } from "./kv_store.ts";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open({ path: ":memory:" });
   * assert.equal(await store.countApiKeys(), 0);
   * ```
   */
  countApiKeys(): Promise<number> {
    return this.#do("count API keys", async () => {
      const entry = await this.#kv.get<Deno.KvU64>(API_KEY_COUNT_KEY);
      return entry.value === null ? 0 : Number(entry.value.value);
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

/** Whether `a` is a later state of the same interrupt than `b`. */
function isLater(a: StoredInterrupt, b: StoredInterrupt): boolean {
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt;
  return (a.resolvedAt ?? -Infinity) > (b.resolvedAt ?? -Infinity);
}

function blobBytes(value: BlobValue): number {
  return value instanceof Uint8Array ? value.length : 128;
}

function isChunk(value: BlobValue): value is ChunkRef {
  return !(value instanceof Uint8Array);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
