/**
 * Runs and their event logs in Deno KV: creating runs, appending, loading,
 * reading events and listing runs.
 *
 * An append is one atomic commit guarded by one check: no batch starts at
 * `expectedVersion + 1`. Batches are immutable and gap-free, so when the
 * store knows (from its head cache) that a batch ends at `expectedVersion`,
 * that check alone proves the run is at that version. Each batch carries the
 * run's head after it (status, updatedAt, stored snapshot), so a cache miss
 * costs one reverse range read and there is no head record to rewrite.
 *
 * Group commit: a local commit waits for the disk whatever its size, so the
 * appends (and creations, and audit entries) of different runs that arrive
 * while a commit is in flight go out together as one atomic operation once it
 * lands; with nothing in flight, an append goes at once, alone. A batch whose
 * checks fail wrote nothing, and its appends are then committed one by one, so
 * each lands or conflicts on its own. Appends that change the interrupt index
 * are always committed alone, with the index's changes (`interrupts.ts`).
 *
 * A run has two listing lines keyed by its creation time (one among all runs,
 * one among the runs of its status), written when it is created and when its
 * status changes (the second moves); an append that keeps the status writes
 * only its batch. A listing is one key range, and the version and update time
 * of each run it returns are read from the run's last batch. A value over 60 KiB is
 * written as chunks before the commit and becomes visible with it; the loser
 * of a race and a replaced snapshot delete their chunks. (A process killed
 * between writing chunks and committing leaves them unreferenced: invisible,
 * but not reclaimed.)
 *
 * @module
 */

import {
  type AppendResult,
  checkFromSeq,
  checkLeaseRequest,
  type Claim,
  type CreateRunResult,
  currentSnapshot,
  decodeRunCursor,
  encodeAppend,
  encodeCreate,
  type EncodedAppend,
  IdempotencyConflictError,
  isValidId,
  type LeaseRequest,
  type ListRunsOptions,
  type LoadedRun,
  OrisError,
  type Page,
  pageLimit,
  pageOf,
  parseThreadId,
  type ReadEventsOptions,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type RunStartedEvent,
  type RunSummary,
  schedulingOf,
  snapshotDue,
  StorageError,
  type StoredEvent,
  storedSnapshotAfter,
  type ThreadId,
  timeIdPosition,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { batchText, readBatch, type RunHead, sequenceOf } from "./_batches.ts";
import {
  type BlobValue,
  type ChunkRef,
  decodeValue,
  discardChunks,
  encodeValue,
  isChunkRef,
  readBlob,
  stageBlob,
} from "./_blobs.ts";
import { commit } from "./_commit.ts";
import { type KvContext, retryReads } from "./_context.ts";
import {
  CHUNKS,
  chunksPrefix,
  eventsPrefix,
  keySize,
  runKey,
  runsPrefix,
  runStatusKey,
  runStatusPrefix,
  snapshotKey,
} from "./_keys.ts";
import { addInterruptChanges, type InterruptCommit } from "./interrupts.ts";
import { type LocalOwnership, runInfoOf } from "../_ownership.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Creates a run from its `run.created` event, idempotently.
 *
 * @param ctx The store.
 * @param event The creating event.
 * @returns Whether it was created, and the run as it is now.
 * @throws {IdempotencyConflictError} when the run exists with another payload.
 */
export async function createRun(
  ctx: KvContext,
  event: RunCreatedEvent,
  started?: RunStartedEvent,
): Promise<CreateRunResult> {
  const encoded = encodeCreate(event, started);
  const threadId = encoded.threadId;
  if (ctx.heads.get(threadId) === null && await write(ctx, null, encoded) !== null) {
    return { created: true, run: JSON.parse(encoded.snapshotJson!) as RunSnapshot };
  }
  const loaded = await load(ctx, threadId);
  if (loaded === null) {
    throw new StorageError(`Cannot create run "${threadId}": it exists but has no snapshot`);
  }
  if (loaded.snapshot.payloadHash !== event.payloadHash) {
    throw new IdempotencyConflictError(threadId);
  }
  return { created: false, run: currentSnapshot(loaded) };
}

/**
 * Creates a run leased to its creator and, when `started` is given, started,
 * in the creation's one commit; see `OwnershipStore.createLeasedRun`. The
 * leases live in the process (`ownership`), granted once the commit landed:
 * under a tenant cap the run is created queued and the grant checks the cap.
 *
 * @param ctx The store.
 * @param ownership The store's leases.
 * @param event The creating event.
 * @param request The owner, ttl and tenant cap.
 * @param started The run's `run.started`.
 * @returns What `createRun` returns, and the lease (`null` when the run existed).
 */
export async function createLeasedRun(
  ctx: KvContext,
  ownership: LocalOwnership,
  event: RunCreatedEvent,
  request: LeaseRequest,
  started?: RunStartedEvent,
): Promise<CreateRunResult & { lease: Claim | null }> {
  checkLeaseRequest(request);
  const capped = request.tenantMaxActive !== undefined &&
    schedulingOf(event?.metadata).tenantId !== null;
  const result = await createNoted(ctx, ownership, event, capped ? undefined : started);
  if (!result.created) return { ...result, lease: null };
  return { ...result, lease: ownership.grantCreated(result.run.threadId, request) };
}

/**
 * Creates a run (see {@linkcode createRun}) and notes it in the store's leases.
 *
 * @param ctx The store.
 * @param ownership The store's leases.
 * @param event The creating event.
 * @param started The run's `run.started`, for a run created started.
 * @returns Whether it was created, and the run as it is now.
 */
export async function createNoted(
  ctx: KvContext,
  ownership: LocalOwnership,
  event: RunCreatedEvent,
  started?: RunStartedEvent,
): Promise<CreateRunResult> {
  const result = await createRun(ctx, event, started);
  if (result.created) ownership.noteRun(runInfoOf(result.run, event.metadata));
  return result;
}

/**
 * Appends events in one atomic commit if the run is at `expectedVersion`.
 *
 * @param ctx The store.
 * @param threadId The run.
 * @param expectedVersion The version the run must be at.
 * @param events The events.
 * @param snapshot The run after them.
 * @returns The new version.
 * @throws {VersionConflictError} when the run is at another version (nothing is written).
 */
export async function append(
  ctx: KvContext,
  threadId: ThreadId,
  expectedVersion: number,
  events: readonly RunEvent[],
  snapshot: RunSnapshot,
): Promise<AppendResult> {
  parseThreadId(threadId);
  let head = ctx.heads.get(threadId);
  if (head === null || head.version !== expectedVersion) head = await readHead(ctx, threadId);
  const stored = head?.version === expectedVersion ? head.stored : null;
  const encoded = encodeAppend(
    threadId,
    expectedVersion,
    events,
    snapshot,
    (bytes) => snapshotDue(snapshot, stored, bytes, ctx.snapshotEvery),
  );
  for (let attempt = 0; attempt < 2; attempt++) {
    if (head === null || head.version !== expectedVersion) break;
    if (await write(ctx, head, encoded) !== null) return { version: encoded.summary.version };
    head = await readHead(ctx, threadId);
  }
  throw new VersionConflictError(threadId, expectedVersion, head?.version ?? null);
}

/**
 * Writes an append (or a creation, when `head` is `null`) in one commit.
 * Returns the new head, or `null` when another writer got there first (then
 * nothing of this append remains).
 */
async function write(
  ctx: KvContext,
  head: RunHead | null,
  encoded: EncodedAppend,
): Promise<RunHead | null> {
  const { kv } = ctx;
  const threadId = encoded.threadId;
  const chunks = chunksPrefix(threadId);
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
      snapshotValue = await stageBlob(kv, chunks, encoder.encode(encoded.snapshotJson), written);
      mutations.push({ type: "set", key: snapshotKey(threadId), value: snapshotValue });
      snapshot = {
        version: encoded.snapshot.version,
        chunks: isChunkRef(snapshotValue) ? snapshotValue : null,
      };
    }
    if (snapshot === null) {
      throw new OrisError("internal", "Cannot append: no snapshot is stored");
    }
    const batch = batchText(summary, snapshot, encoded);
    const batchValue = await stageBlob(kv, chunks, encoder.encode(batch), written);
    mutations.push({ type: "set", key: batchKey, value: batchValue });
    // The listing lines are keyed by creation, which never changes, and are written when the run
    // is created and when its status changes: a listing reads the version and update time from
    // the run's last batch (layout 3). A step that keeps the status writes its batch alone.
    const moved = head === null || head.status !== summary.status;
    const keys: Deno.KvKey[] = [batchKey];
    let lineBytes = 0;
    if (moved) {
      const line = encodeValue(summary);
      const all = runKey(summary.createdAt, threadId);
      const byStatus = runStatusKey(summary.status, summary.createdAt, threadId);
      if (head !== null) {
        const old = runStatusKey(head.status, summary.createdAt, threadId);
        mutations.push({ type: "delete", key: old });
        keys.push(old);
      }
      mutations.push({ type: "set", key: all, value: line });
      mutations.push({ type: "set", key: byStatus, value: line });
      keys.push(all, byStatus);
      lineBytes = 2 * line.length;
    }
    if (encoded.interruptChanges.length > 0) {
      // The interrupt index goes into the same commit, within what the rest leaves of its limits.
      if (snapshotValue !== null) keys.push(snapshotKey(threadId));
      const keyBytes = keys.reduce((n, key) => n + keySize(key), 0);
      // It stays in this append's own commit, out of group commits.
      atomic = kv.atomic().check(...checks).mutate(...mutations);
      index = await addInterruptChanges(kv, atomic, threadId, encoded.interruptChanges, {
        mutations: keys.length,
        keyBytes,
        bytes: keyBytes + blobBytes(batchValue) + lineBytes +
          (snapshotValue === null ? 0 : blobBytes(snapshotValue)),
      });
    }
  } catch (error) {
    await discardChunks(kv, chunks, written);
    throw error;
  }
  // A commit that throws may still have landed: its chunks are kept rather than risked.
  const ok = atomic === null
    ? await ctx.group.submit({ key: threadId, checks, mutations })
    : (await commit(atomic)).ok;
  if (!ok) {
    await discardChunks(kv, chunks, written);
    if (index !== null) await discardChunks(kv, CHUNKS.interrupts, index.written);
    return null;
  }
  if (index !== null && index.replaced.length > 0) {
    await discardChunks(kv, CHUNKS.interrupts, index.replaced);
  }
  const next: RunHead = {
    version: summary.version,
    status: summary.status,
    updatedAt: summary.updatedAt,
    snapshot,
    stored: storedSnapshotAfter(head?.stored ?? null, encoded),
  };
  ctx.heads.remember(threadId, next);
  const replaced = head?.snapshot.chunks ?? null;
  if (encoded.snapshotJson !== null && replaced !== null) {
    await discardChunks(kv, chunks, [replaced]);
  }
  return next;
}

/** Reads the run's head from its last batch (and caches it), or `null` for an unknown run. */
async function readHead(ctx: KvContext, threadId: string): Promise<RunHead | null> {
  const head = await lastHead(ctx.kv, threadId);
  if (head !== null) ctx.heads.remember(threadId, head);
  return head;
}

/** The run's head as its last batch tells it, or `null` for an unknown run. */
async function lastHead(kv: Deno.Kv, threadId: string): Promise<RunHead | null> {
  const iterator = kv.list<BlobValue>({ prefix: eventsPrefix(threadId) }, {
    reverse: true,
    limit: 1,
  });
  for await (const entry of iterator) return (await readBatch(kv, threadId, entry, false)).head;
  return null;
}

/**
 * Loads the latest stored snapshot of a run and the events after it.
 *
 * @param ctx The store.
 * @param threadId The run.
 * @returns The snapshot and events, or `null` for an unknown run.
 */
export function load(ctx: KvContext, threadId: string): Promise<LoadedRun | null> {
  if (!isValidId(threadId)) return Promise.resolve(null);
  return retryReads(() => tryLoad(ctx, threadId));
}

async function tryLoad(ctx: KvContext, threadId: string): Promise<LoadedRun | null> {
  const { kv } = ctx;
  const entry = await kv.get<BlobValue>(snapshotKey(threadId));
  if (entry.value === null) return null;
  const bytes = await readBlob(kv, chunksPrefix(threadId), entry.value);
  const text = decoder.decode(bytes);
  const snapshot = JSON.parse(text) as RunSnapshot;
  const events: StoredEvent[] = [];
  let head: RunHead = {
    version: snapshot.version,
    status: snapshot.status,
    updatedAt: snapshot.updatedAt,
    snapshot: { version: snapshot.version, chunks: isChunkRef(entry.value) ? entry.value : null },
    stored: null,
  };
  // The batches' sizes stand for their events' (a little more: a snapshot comes a little early).
  let tailBytes = 0;
  const prefix = eventsPrefix(threadId);
  for await (
    const batch of kv.list<BlobValue>({ prefix, start: [...prefix, snapshot.version + 1] })
  ) {
    const decoded = await readBatch(kv, threadId, batch, true);
    events.push(...decoded.events);
    head = decoded.head;
    tailBytes += decoded.size;
  }
  // (A snapshot written meanwhile, after the one read, leaves the sizes unknown.)
  head.stored = head.snapshot.version === snapshot.version
    ? { version: snapshot.version, bytes: text.length, tailBytes }
    : null;
  ctx.heads.remember(threadId, head);
  return { snapshot, events };
}

/**
 * Reads a run's events from a seq, ascending.
 *
 * @param ctx The store.
 * @param threadId The run.
 * @param fromSeq The first seq to read.
 * @param options How many at most.
 * @returns The events (empty for an unknown run).
 * @throws {InvalidArgumentError} when `limit` is out of range or `fromSeq` is not a number.
 */
export async function readEvents(
  ctx: KvContext,
  threadId: ThreadId,
  fromSeq: number,
  options: ReadEventsOptions,
): Promise<StoredEvent[]> {
  const { kv } = ctx;
  const limit = options.limit === undefined ? Infinity : pageLimit(options.limit);
  const from = checkFromSeq(fromSeq);
  if (!isValidId(threadId) || from === Infinity) return [];
  const prefix = eventsPrefix(threadId);
  let start = 1;
  if (from > 1) {
    // The batch holding `from` is the last one that starts at or before it.
    const containing = kv.list({ prefix, end: [...prefix, from + 1] }, {
      reverse: true,
      limit: 1,
    });
    for await (const entry of containing) start = sequenceOf(entry.key);
  }
  const events: StoredEvent[] = [];
  for await (const entry of kv.list<BlobValue>({ prefix, start: [...prefix, start] })) {
    for (const item of (await readBatch(kv, threadId, entry, true)).events) {
      if (item.seq < from) continue;
      events.push(item);
      if (events.length >= limit) return events;
    }
  }
  return events;
}

/**
 * Lists runs, newest first (by creation, then thread id descending), paging
 * by that key: one key range, of all runs or of one status. A graph filter
 * reads that range and keeps the lines of the graph (there is no index by
 * graph), so a page of a rare graph may read many lines.
 *
 * @param ctx The store.
 * @param options Status and graph filters, limit and cursor.
 * @returns One page.
 * @throws {InvalidArgumentError} when the limit or cursor is not valid.
 */
export async function listRuns(
  ctx: KvContext,
  options: ListRunsOptions,
): Promise<Page<RunSummary>> {
  const limit = pageLimit(options.limit);
  const after = decodeRunCursor(options.cursor);
  const prefix = options.status === undefined ? runsPrefix() : runStatusPrefix(options.status);
  const selector = after === null
    ? { prefix }
    : { prefix, end: [...prefix, after.createdAt, after.threadId] };
  const lines: RunSummary[] = [];
  const graph = options.graph;
  const entries = ctx.kv.list<Uint8Array>(
    selector,
    graph === undefined ? { reverse: true, limit: limit + 1 } : { reverse: true, batchSize: 500 },
  );
  for await (const entry of entries) {
    const line = summaryLine(decodeValue<RunSummary>(entry.value));
    if (graph !== undefined && line.graph !== graph) continue;
    lines.push(line);
    if (lines.length > limit) break;
  }
  // (A run whose status changed after its line was read is listed with its new status.)
  const current = await Promise.all(
    lines.map((line, i) => i < limit ? currentLine(ctx.kv, line) : line),
  );
  return pageOf(current, limit, (last) => timeIdPosition("runs", last.createdAt, last.threadId));
}

/** A listing line, with the tenant and priority that lines written before them lack. */
function summaryLine(line: RunSummary): RunSummary {
  return { ...line, tenantId: line.tenantId ?? null, priority: line.priority ?? 0 };
}

/**
 * A listing line brought up to date: lines are rewritten only when the run's
 * status changes, so its version, update time and status are those of its
 * last batch.
 */
async function currentLine(kv: Deno.Kv, line: RunSummary): Promise<RunSummary> {
  const head = await lastHead(kv, line.threadId);
  if (head === null) return line;
  line.version = head.version;
  line.updatedAt = head.updatedAt;
  line.status = head.status;
  return line;
}

/** What a value costs in a commit, in bytes (a chunk reference: an estimate with margin). */
function blobBytes(value: BlobValue): number {
  return value instanceof Uint8Array ? value.length : 128;
}
