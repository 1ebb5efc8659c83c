/**
 * The interrupt index in Deno KV: its reads, and the writes an append makes.
 *
 * A row is kept under `int, interruptId`, with a copy under its status
 * (`ints`) and a marker under its run (`intt`), both keyed by the row's
 * creation time (which a row raised again keeps); `intp, threadId` lists the
 * run's possibly pending interrupts, and `intg` counts the commits that
 * changed the index. The index is kept in the commit of the
 * append whose events change it ({@linkcode addInterruptChanges}), so it never
 * disagrees with the log; closing a run turns each of its rows listed under
 * `intp` that is still pending into cancelled (or rejected). Appends without
 * interrupt changes read nothing more and write nothing more.
 *
 * @module
 */

import {
  applyInterruptChanges,
  compareInterruptOrder,
  decodeTimeIdCursor,
  type IndexRow,
  INTERRUPT_STATUSES,
  type InterruptChange,
  type InterruptRow,
  type InterruptStatus,
  isValidId,
  type Json,
  type ListInterruptsOptions,
  type Page,
  pageLimit,
  pageOf,
  StorageError,
  timeIdPosition,
} from "../../kernel/mod.ts";
import {
  type BlobValue,
  type ChunkRef,
  decodeValue,
  discardChunks,
  isChunkRef,
  prepareBlob,
  readBlob,
} from "./_blobs.ts";
import { MAX_COMMIT_BYTES, MAX_KEY_BYTES, MAX_MUTATIONS } from "./_commit.ts";
import { type KvContext, retryReads } from "./_context.ts";
import {
  CHUNKS,
  INTERRUPT_GENERATION_KEY,
  interruptKey,
  interruptStatusKey,
  interruptStatusPrefix,
  interruptThreadKey,
  interruptThreadPrefix,
  keyPart,
  keySize,
  pendingInterruptsKey,
} from "./_keys.ts";

const encoder = new TextEncoder();

/** Values and answers of interrupts up to this size are stored inline (two copies per row). */
const INTERRUPT_BLOB_INLINE_MAX = 16 * 1024;
/** What a chunk reference costs in a commit, in bytes (an estimate with margin). */
const CHUNK_REF_BYTES = 128;
/** What a stored row costs besides its strings and blobs, in bytes (an estimate with margin). */
const ROW_OVERHEAD_BYTES = 256;
/** Interrupt rows read per `getMany` (Deno KV's maximum). */
const GET_MANY_MAX = 10;

/** An interrupt row as stored: its fields, with its value and answer as JSON bytes or chunks. */
type StoredInterrupt = IndexRow<BlobValue>;

/**
 * Gets an interrupt of the index.
 *
 * @param ctx The store.
 * @param interruptId The interrupt.
 * @returns The row, or `null`.
 */
export function getInterrupt(ctx: KvContext, interruptId: string): Promise<InterruptRow | null> {
  if (typeof interruptId !== "string") return Promise.resolve(null);
  return retryReads(async () => {
    const entry = await ctx.kv.get<StoredInterrupt>(interruptKey(interruptId));
    if (entry.value === null || entry.value.interruptId !== interruptId) return null;
    return decodeInterrupt(ctx.kv, entry.value);
  });
}

/**
 * Lists interrupts, newest first (by when they were first raised, then id).
 * A run filter reads the run's markers, a status filter alone the copies of
 * that status, no filter the copies of every status, merged. The keys are by
 * creation time, which a row keeps when it changes, so paging neither skips
 * nor repeats a row that changes meanwhile.
 *
 * @param ctx The store.
 * @param options Status and run filters, limit and cursor.
 * @returns One page.
 * @throws {InvalidArgumentError} when the limit or cursor is not valid.
 */
export function listInterrupts(
  ctx: KvContext,
  options: ListInterruptsOptions,
): Promise<Page<InterruptRow>> {
  const { kv } = ctx;
  const limit = pageLimit(options.limit);
  const after = decodeTimeIdCursor(options.cursor, "interrupts");
  const { status, threadId } = options;
  if (status !== undefined && !INTERRUPT_STATUSES.includes(status)) {
    return Promise.resolve({ items: [], nextCursor: null });
  }
  return retryReads(async () => {
    let rows: InterruptRow[];
    if (threadId !== undefined) {
      rows = isValidId(threadId)
        ? await markedInterrupts(
          kv,
          interruptThreadPrefix(threadId),
          { threadId, status },
          after,
          limit + 1,
        )
        : [];
    } else if (status !== undefined) {
      const stored = await statusInterrupts(kv, status, after, limit + 1);
      rows = await Promise.all(stored.map((row) => decodeInterrupt(kv, row)));
    } else {
      const stored = await allInterrupts(kv, after, limit + 1);
      rows = await Promise.all(stored.map((row) => decodeInterrupt(kv, row)));
    }
    return pageOf(
      rows,
      limit,
      (last) => timeIdPosition("interrupts", last.createdAt, last.interruptId),
    );
  });
}

/** How many times a listing of all interrupts is read again while the index changes under it. */
const LIST_ALL_ATTEMPTS = 8;

/**
 * Up to `count` rows of any status after a position, newest first: the
 * status ranges, merged. A row that changes status moves from one range to
 * another in one commit, and the ranges are read one by one, so the reads are
 * taken again when the index's generation changed while they ran (a row
 * could then be in neither range, or in two).
 */
async function allInterrupts(
  kv: Deno.Kv,
  after: { time: number; id: string } | null,
  count: number,
): Promise<StoredInterrupt[]> {
  for (let attempt = 1;; attempt++) {
    const generation = await kv.get(INTERRUPT_GENERATION_KEY);
    const ranges = await Promise.all(
      INTERRUPT_STATUSES.map((status) => statusInterrupts(kv, status, after, count)),
    );
    const now = await kv.get(INTERRUPT_GENERATION_KEY);
    if (now.versionstamp === generation.versionstamp) {
      return ranges.flat().sort(compareInterruptOrder).slice(0, count);
    }
    if (attempt >= LIST_ALL_ATTEMPTS) {
      throw new StorageError("Cannot list interrupts: the index keeps changing, try again", {
        retryable: true,
      });
    }
  }
}

/** The range of a listing by time and id up to a position (all of it when there is none). */
function before(
  prefix: Deno.KvKey,
  after: { time: number; id: string } | null,
): Deno.KvListSelector {
  return after === null ? { prefix } : { prefix, end: [...prefix, after.time, keyPart(after.id)] };
}

/** Up to `count` rows of one status after a position, newest first. */
async function statusInterrupts(
  kv: Deno.Kv,
  status: InterruptStatus,
  after: { time: number; id: string } | null,
  count: number,
): Promise<StoredInterrupt[]> {
  const prefix = interruptStatusPrefix(status);
  const selector = before(prefix, after);
  const stored: StoredInterrupt[] = [];
  const entries = kv.list<StoredInterrupt>(selector, { reverse: true, limit: count });
  for await (const entry of entries) stored.push(entry.value);
  return stored;
}

/**
 * Up to `count` rows listed by markers (`prefix, createdAt, interruptId`:
 * of one run, or of all interrupts) after a position, newest first, that
 * match the filters.
 */
async function markedInterrupts(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  filters: { threadId?: string; status?: InterruptStatus | undefined },
  after: { time: number; id: string } | null,
  count: number,
): Promise<InterruptRow[]> {
  const { threadId, status } = filters;
  const selector = before(prefix, after);
  const found: InterruptRow[] = [];
  let keys: Deno.KvKey[] = [];
  const take = async (): Promise<void> => {
    const ids = keys.map((key) => key[prefix.length + 1] as string);
    const entries = await getInterrupts(kv, ids);
    const rows = await Promise.all(entries.map((entry, i) => {
      const row = entry.value;
      // Skip a key whose row moved on meanwhile (its new key lists it).
      if (
        row === null || keyPart(row.interruptId) !== ids[i] ||
        row.createdAt !== keys[i]![prefix.length] ||
        (threadId !== undefined && row.threadId !== threadId) ||
        (status !== undefined && row.status !== status)
      ) {
        return null;
      }
      return decodeInterrupt(kv, row);
    }));
    for (const row of rows) if (row !== null && found.length < count) found.push(row);
    keys = [];
  };
  const batch = status === undefined ? count : Math.max(count, 50);
  for await (const entry of kv.list(selector, { reverse: true, batchSize: batch })) {
    keys.push(entry.key);
    if (keys.length >= batch) {
      await take();
      if (found.length >= count) return found;
    }
  }
  await take();
  return found;
}

/**
 * Reads a stored interrupt row back.
 *
 * @param kv The database.
 * @param stored The row as stored.
 * @returns The row.
 * @throws {MissingChunksError} when its chunks were replaced meanwhile (read again).
 */
async function decodeInterrupt(kv: Deno.Kv, stored: StoredInterrupt): Promise<InterruptRow> {
  const [value, resumeValue] = await Promise.all([
    readBlob(kv, CHUNKS.interrupts, stored.value),
    stored.resumeValue === null ? null : readBlob(kv, CHUNKS.interrupts, stored.resumeValue),
  ]);
  return {
    interruptId: stored.interruptId,
    threadId: stored.threadId,
    node: stored.node,
    step: stored.step,
    value: decodeValue<Json>(value),
    status: stored.status,
    resumeValue: resumeValue === null ? null : decodeValue<Json>(resumeValue),
    createdAt: stored.createdAt,
    resolvedAt: stored.resolvedAt,
  };
}

/**
 * Reads interrupt rows by id, 10 keys per read, in parallel.
 *
 * @param kv The database.
 * @param ids The ids.
 * @returns The entries, in the order of `ids`.
 */
async function getInterrupts(
  kv: Deno.Kv,
  ids: readonly string[],
): Promise<Deno.KvEntryMaybe<StoredInterrupt>[]> {
  const groups: Promise<Deno.KvEntryMaybe<StoredInterrupt>[]>[] = [];
  for (let i = 0; i < ids.length; i += GET_MANY_MAX) {
    groups.push(kv.getMany<StoredInterrupt[]>(ids.slice(i, i + GET_MANY_MAX).map(interruptKey)));
  }
  return (await Promise.all(groups)).flat();
}

/** What the rest of an append's commit uses of Deno KV's limits. */
export interface CommitUsage {
  /** Mutations. */
  mutations: number;
  /** Bytes of keys and values. */
  bytes: number;
  /** Bytes of keys. */
  keyBytes: number;
}

/** What adding the interrupt changes to a commit left to do. */
export interface InterruptCommit {
  /** Chunks written for the commit: delete them if it does not land. */
  written: ChunkRef[];
  /** Chunks the commit no longer references: delete them once it lands. */
  replaced: ChunkRef[];
}

/**
 * A value or answer of a row being written: its JSON bytes (new, or stored
 * inline) or its stored chunks; `chunk` says whether it is to be written as
 * chunks.
 */
interface Blob {
  bytes: Uint8Array | null;
  ref: ChunkRef | null;
  chunk: boolean;
}

/** A row being written, its blobs not yet final. */
type WorkingRow = IndexRow<Blob>;

/**
 * Adds an append's changes to the interrupt index to its commit, following
 * the reference semantics of `applyInterruptChanges`.
 *
 * The rows it changes are read first: the ones the changes name, and for a
 * `close`, the run's possibly pending ones (listed under `intp, threadId`) and
 * the answered ones it drops.
 * The commit's own check (no batch after the expected version) already makes
 * the reads current: a run's rows change only in appends to that run. The
 * commit also checks the run's pending list, and the rows of other runs it
 * changes (only possible when two runs share an interrupt id).
 *
 * Values over {@linkcode INTERRUPT_BLOB_INLINE_MAX}, and the largest others
 * when the commit would exceed Deno KV's size limit, are written as chunks
 * before the commit (invisible until it lands).
 *
 * @param kv The database.
 * @param atomic The append's commit.
 * @param threadId The run.
 * @param changes The changes of the append.
 * @param usage What the rest of the commit uses.
 * @returns The chunks written and replaced.
 * @throws {StorageError} when the changes do not fit in one commit.
 */
export async function addInterruptChanges(
  kv: Deno.Kv,
  atomic: Deno.AtomicOperation,
  threadId: string,
  changes: readonly InterruptChange[],
  usage: CommitUsage,
): Promise<InterruptCommit> {
  // Read the rows the changes touch.
  const named = new Set<string>();
  let closes = false;
  for (const change of changes) {
    if (change.kind === "raise") named.add(change.row.interruptId);
    else if (change.kind === "resolve") named.add(change.interruptId);
    else {
      closes = true;
      for (const id of change.dropped) named.add(id);
    }
  }
  const pendingKey = pendingInterruptsKey(threadId);
  const namedList = [...named];
  const [pendingEntry, namedEntries] = await Promise.all([
    kv.get<string[]>(pendingKey),
    getInterrupts(kv, namedList),
  ]);
  const pendingBefore = pendingEntry.value ?? [];
  // A close changes every pending row of the run: read the ones not read yet.
  const extraList = closes ? pendingBefore.filter((id) => !named.has(id)) : [];
  const idList = [...namedList, ...extraList];
  const entries = [...namedEntries, ...await getInterrupts(kv, extraList)];
  const before = new Map<string, { row: WorkingRow; versionstamp: string }>();
  entries.forEach((entry, i) => {
    if (entry.value === null || entry.value.interruptId !== idList[i]) return;
    const stored = entry.value;
    before.set(stored.interruptId, {
      row: {
        ...stored,
        value: storedBlob(stored.value),
        resumeValue: stored.resumeValue === null ? null : storedBlob(stored.resumeValue),
      },
      versionstamp: entry.versionstamp,
    });
  });

  // Apply the changes as the reference does.
  const rows = new Map<string, WorkingRow>();
  for (const [id, { row }] of before) rows.set(id, row);
  applyInterruptChanges(rows, changes, newBlob);

  // The rows that changed, and the run's pending list after the changes.
  const changed: { row: WorkingRow; old: WorkingRow | null }[] = [];
  for (const [id, row] of rows) {
    const old = before.get(id)?.row ?? null;
    if (row !== old) changed.push({ row, old });
  }
  const pendingAfter = pendingBefore.filter((id) => {
    const row = rows.get(id);
    return row === undefined || (row.threadId === threadId && row.status === "pending");
  });
  const listed = new Set(pendingAfter);
  for (const { row } of changed) {
    if (row.threadId === threadId && row.status === "pending" && !listed.has(row.interruptId)) {
      pendingAfter.push(row.interruptId);
      listed.add(row.interruptId);
    }
  }
  const pendingChanged = pendingAfter.length !== pendingBefore.length ||
    pendingAfter.some((id, i) => pendingBefore[i] !== id);

  // Plan the mutations, then fit the blobs into what is left of the commit.
  const sets: [Deno.KvKey, WorkingRow][] = [];
  const deletes: Deno.KvKey[] = [];
  const checks: Deno.AtomicCheck[] = [{ key: pendingKey, versionstamp: pendingEntry.versionstamp }];
  const markers: Deno.KvKey[] = [];
  for (const { row, old } of changed) {
    const id = row.interruptId;
    sets.push([interruptKey(id), row]);
    sets.push([interruptStatusKey(row.status, row.createdAt, id), row]);
    if (old === null || old.createdAt !== row.createdAt || old.threadId !== row.threadId) {
      markers.push(interruptThreadKey(row.threadId, row.createdAt, id));
      if (old !== null) deletes.push(interruptThreadKey(old.threadId, old.createdAt, id));
    }
    if (old !== null && (old.status !== row.status || old.createdAt !== row.createdAt)) {
      deletes.push(interruptStatusKey(old.status, old.createdAt, id));
    }
    if (old !== null && old.threadId !== threadId) {
      checks.push({ key: interruptKey(id), versionstamp: before.get(id)!.versionstamp });
    }
  }
  // One more: the index's generation.
  const mutations = usage.mutations + sets.length + deletes.length + markers.length +
    (pendingChanged ? 1 : 0) + 1;
  let keyBytes = usage.keyBytes;
  for (const [key] of sets) keyBytes += keySize(key);
  for (const key of [...deletes, ...markers]) keyBytes += keySize(key);
  for (const check of checks) keyBytes += keySize(check.key);
  keyBytes += keySize(pendingKey) + keySize(INTERRUPT_GENERATION_KEY);
  const pendingBytes = pendingChanged
    ? 16 + pendingAfter.reduce((n, id) => n + id.length * 3 + 4, 0)
    : 0;
  let bytes = usage.bytes + keyBytes - usage.keyBytes + pendingBytes + markers.length * 8;
  const inline: Blob[] = [];
  for (const [, row] of sets) {
    bytes += ROW_OVERHEAD_BYTES +
      3 * (row.interruptId.length + row.threadId.length + row.node.length);
    for (const blob of [row.value, row.resumeValue]) {
      if (blob === null) continue;
      const size = blobSize(blob);
      bytes += size;
      if (!blob.chunk && !inline.includes(blob)) inline.push(blob);
    }
  }
  // Each inline blob is stored twice (row and status copy): chunk the largest until it fits.
  inline.sort((a, b) => b.bytes!.length - a.bytes!.length);
  for (const blob of inline) {
    if (bytes <= MAX_COMMIT_BYTES || blob.bytes!.length <= CHUNK_REF_BYTES) break;
    bytes -= 2 * (blob.bytes!.length - CHUNK_REF_BYTES);
    blob.chunk = true;
  }
  if (mutations > MAX_MUTATIONS || bytes > MAX_COMMIT_BYTES || keyBytes > MAX_KEY_BYTES) {
    throw new StorageError(
      `Cannot append to run "${threadId}": its ${changed.length} interrupt index changes do not fit in one commit`,
    );
  }

  // Write the chunks, then the mutations.
  const written: ChunkRef[] = [];
  const finals = new Map<Blob, BlobValue>();
  try {
    const writes: Promise<void>[] = [];
    for (const [, row] of sets) {
      for (const blob of [row.value, row.resumeValue]) {
        if (blob === null || finals.has(blob)) continue;
        if (blob.ref !== null) {
          finals.set(blob, blob.ref);
        } else if (!blob.chunk) {
          finals.set(blob, blob.bytes!);
        } else {
          finals.set(blob, blob.bytes!); // until its chunks are written
          writes.push(
            prepareBlob(kv, CHUNKS.interrupts, blob.bytes!, 0).then(({ value, ref }) => {
              finals.set(blob, value);
              if (ref !== null) written.push(ref);
            }),
          );
        }
      }
    }
    const results = await Promise.allSettled(writes);
    const failed = results.find((result) => result.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  } catch (error) {
    await discardChunks(kv, CHUNKS.interrupts, written);
    throw error;
  }
  for (const check of checks) atomic.check(check);
  for (const key of deletes) atomic.delete(key);
  for (const [key, row] of sets) {
    const stored: StoredInterrupt = {
      interruptId: row.interruptId,
      threadId: row.threadId,
      node: row.node,
      step: row.step,
      status: row.status,
      createdAt: row.createdAt,
      resolvedAt: row.resolvedAt,
      value: finals.get(row.value)!,
      resumeValue: row.resumeValue === null ? null : finals.get(row.resumeValue)!,
    };
    atomic.set(key, stored);
  }
  for (const key of markers) atomic.set(key, true);
  atomic.sum(INTERRUPT_GENERATION_KEY, 1n);
  if (pendingChanged) {
    if (pendingAfter.length === 0) atomic.delete(pendingKey);
    else atomic.set(pendingKey, pendingAfter);
  }

  // The chunks of old values and answers that no row references any more.
  const kept = new Set<string>();
  for (const value of finals.values()) if (isChunkRef(value)) kept.add(value.nonce);
  const replaced: ChunkRef[] = [];
  for (const { old } of changed) {
    for (const blob of [old?.value, old?.resumeValue]) {
      const ref = blob?.ref ?? null;
      if (ref !== null && !kept.has(ref.nonce)) {
        kept.add(ref.nonce);
        replaced.push(ref);
      }
    }
  }
  return { written, replaced };
}

function newBlob(value: Json): Blob {
  const bytes = encoder.encode(JSON.stringify(value));
  return { bytes, ref: null, chunk: bytes.length > INTERRUPT_BLOB_INLINE_MAX };
}

function storedBlob(value: BlobValue): Blob {
  return isChunkRef(value)
    ? { bytes: null, ref: value, chunk: true }
    : { bytes: value, ref: null, chunk: false };
}

function blobSize(blob: Blob): number {
  return blob.chunk ? CHUNK_REF_BYTES : blob.bytes!.length;
}
