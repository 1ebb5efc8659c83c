/**
 * The runs of a {@linkcode PostgresStore}: creating them, appending to them
 * (with group commit), loading them, reading their events and listing them.
 *
 * An append is one statement (data-modifying CTEs guarded by the expected
 * version), so one transaction and one round trip. Appends of different runs
 * that arrive while a batch is in flight are grouped into the next batch: one
 * statement over arrays, each append succeeding or conflicting on its own.
 * Appends whose events raise, answer or close interrupts write the interrupt
 * index in that same statement (see `interrupts.ts`); batches without such
 * changes use the statements without those CTEs.
 *
 * @module
 */

import {
  type AppendOptions,
  type AppendResult,
  checkFromSeq,
  checkLeaseRequest,
  checkToken,
  type Claim,
  type CreateRunResult,
  currentSnapshot,
  decodeEvent,
  decodeRunCursor,
  decodeSnapshot as decodeStoredSnapshot,
  encodeAppend,
  encodeCreate,
  type EncodedAppend,
  IdempotencyConflictError,
  LeaseLostError,
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
  type RunStatus,
  type RunSummary,
  schedulingOf,
  snapshotDue,
  StorageError,
  type StoredEvent,
  storedSnapshotAfter,
  type ThreadId,
  timeIdPosition,
  VersionConflictError,
  wakeAtOf,
} from "../../kernel/mod.ts";
import type { Parameter, PostgresContext, PreparedAppend } from "./_context.ts";
import { isConnectionError, isRaceLost, RACE_RETRIES, toStorageError } from "./_errors.ts";
import { GroupCommitter, type Settled } from "../_group_commit.ts";
import { planInterruptChanges } from "./_interrupts.ts";
import { interruptBytes, interruptParameters, sharesInterrupts } from "./interrupts.ts";
import { signal } from "./ownership.ts";

/** Appends of different runs that may go out together as one batch. */
const MAX_BATCH_ITEMS = 500;
/** The bytes of JSON one batch carries at most (a larger single append goes alone). */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/**
 * How many append batches may be in flight at once: two, so that one is
 * prepared and sent while the other executes and flushes.
 */
const MAX_BATCHES_IN_FLIGHT = 2;
/** A long queue is shared among free batch slots, but no batch is split below this. */
const MIN_SPLIT = 32;

interface SummaryRow {
  thread_id: string;
  status: RunStatus;
  graph: string;
  version: number;
  created_at: number;
  updated_at: number;
  tenant_id: string | null;
  priority: number;
}

/**
 * The group committer of a store's appends: it writes batches with
 * {@linkcode PostgresContext.query}.
 *
 * @param context The store's shared state.
 * @returns The committer.
 */
export function appendCommitter(context: PostgresContext): GroupCommitter<PreparedAppend, number> {
  return new GroupCommitter<PreparedAppend, number>({
    execute: (items) => appendBatch(context, items),
    key: (item) => item.encoded.threadId,
    size: ({ encoded, interrupts }) =>
      (encoded.snapshotJson?.length ?? 0) + encoded.eventBytes + interruptBytes(interrupts),
    maxInFlight: MAX_BATCHES_IN_FLIGHT,
    minSplit: MIN_SPLIT,
    maxItems: MAX_BATCH_ITEMS,
    maxBytes: MAX_BATCH_BYTES,
  });
}

/**
 * Creates a run, idempotently; see {@linkcode PostgresStore.createRun}.
 *
 * @param context The store's shared state.
 * @param event The creating event.
 * @returns Whether it was created, and the run.
 */
export function createRun(
  context: PostgresContext,
  event: RunCreatedEvent,
): Promise<CreateRunResult> {
  return context.io(`create run "${event?.threadId}"`, () => create(context, event, null));
}

/**
 * Creates a run, idempotently, leased to its creator when created; see
 * {@linkcode PostgresStore.createLeasedRun}. A run with a tenant, asked for
 * under a tenant cap, is created without a lease (the cap is checked under
 * the tenant's lock by `acquireLease`).
 *
 * @param context The store's shared state.
 * @param event The creating event.
 * @param request The owner, ttl and tenant cap.
 * @returns Whether it was created, the run, and the lease.
 */
export function createLeasedRun(
  context: PostgresContext,
  event: RunCreatedEvent,
  request: LeaseRequest,
  started?: RunStartedEvent,
): Promise<CreateRunResult & { lease: Claim | null }> {
  return context.io(`create run "${event?.threadId}"`, async () => {
    checkLeaseRequest(request);
    const capped = request.tenantMaxActive !== undefined &&
      schedulingOf(event?.metadata).tenantId !== null;
    if (capped) return { ...await create(context, event, null), lease: null };
    let lease: Claim | null = null;
    const result = await create(context, event, { request, started }, (claim) => lease = claim);
    return { ...result, lease };
  });
}

async function create(
  context: PostgresContext,
  event: RunCreatedEvent,
  leasing: { request: LeaseRequest; started: RunStartedEvent | undefined } | null,
  leased?: (claim: Claim) => void,
): Promise<CreateRunResult> {
  const encoded = encodeCreate(event, leasing?.started);
  const scheduling = schedulingOf(event.metadata);
  const { created, lease } = await context.creations.submit({
    encoded,
    payloadHash: event.payloadHash,
    priority: scheduling.priority,
    tenantId: scheduling.tenantId,
    wakeAt: wakeAtOf(encoded.snapshot),
    lease: leasing === null ? null : leasing.request,
  });
  if (lease !== null) leased!(lease);
  if (created) {
    context.snapshots.remember(encoded.threadId, {
      head: encoded.summary.version,
      stored: storedSnapshotAfter(null, encoded)!,
    });
    return { created: true, run: JSON.parse(encoded.snapshotJson!) as RunSnapshot };
  }
  const loaded = await loadRun(context, encoded.threadId);
  if (loaded === null) {
    throw new OrisError(
      "internal",
      `Cannot create run "${encoded.threadId}": it exists but cannot be read`,
    );
  }
  if (loaded.snapshot.payloadHash !== event.payloadHash) {
    throw new IdempotencyConflictError(encoded.threadId);
  }
  return { created: false, run: currentSnapshot(loaded) };
}

/**
 * Appends events if the run is at `expectedVersion`, through the group
 * committer; see {@linkcode PostgresStore.append}.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param expectedVersion The version the run must be at.
 * @param events The events.
 * @param snapshot The run after them.
 * @returns The new version.
 */
export function append(
  context: PostgresContext,
  threadId: ThreadId,
  expectedVersion: number,
  events: readonly RunEvent[],
  snapshot: RunSnapshot,
  options: AppendOptions = {},
): Promise<AppendResult> {
  return context.io(`append to run "${threadId}"`, async () => {
    const stored = context.snapshots.at(threadId, expectedVersion);
    const encoded = encodeAppend(
      threadId,
      expectedVersion,
      events,
      snapshot,
      (bytes) => snapshotDue(snapshot, stored, bytes, context.snapshotEvery),
    );
    const fence = options.fence === undefined ? null : checkToken(options.fence, "fence");
    const ack = options.ack === undefined ? null : checkToken(options.ack, "ack");
    const interrupts = planInterruptChanges(threadId, encoded.interruptChanges);
    const wakeAt = wakeAtOf(snapshot);
    const version = await context.appends.submit({ encoded, interrupts, fence, ack, wakeAt });
    if (ack !== null) await notifyAnswered(context, threadId, ack);
    return { version };
  });
}

/** Writes one batch of appends; see the module doc. */
async function appendBatch(
  context: PostgresContext,
  batch: PreparedAppend[],
): Promise<Settled<number>[]> {
  if (batch.length > 1 && sharesInterrupts(batch)) {
    // Appends of two runs that write the same interrupt row (interrupt ids
    // are unique, so hardly ever): one statement cannot write a row twice,
    // so the batch goes one append after another.
    const results: Settled<number>[] = [];
    for (const item of batch) results.push(await appendAlone(context, item));
    return results;
  }
  const items = batch.map((item) => item.encoded);
  const withInterrupts = batch.some((item) => item.interrupts !== null);
  let updated: Set<string>;
  for (let attempt = 1;; attempt++) {
    try {
      const one = items.length === 1 && !withInterrupts ? appendOneParameters(batch[0]!) : null;
      const s = context.statements;
      const holders = holderParameters(batch);
      const rows = await context.query<{ thread_id: string }>(
        one !== null ? s.appendOne : withInterrupts ? s.appendWithInterrupts : s.append,
        one ??
          (withInterrupts
            ? [...appendParameters(items), ...holders, ...interruptParameters(batch)]
            : [...appendParameters(items), ...holders]),
      );
      updated = new Set(rows.map((row) => row.thread_id));
      break;
    } catch (error) {
      if (isRaceLost(error) && attempt < RACE_RETRIES) continue;
      if (isConnectionError(error)) {
        const message = error instanceof Error ? error.message : String(error);
        throw new StorageError(
          `Cannot append: the connection failed during the commit, so the append may or may ` +
            `not have been written (reload the run before retrying): ${message}`,
          { retryable: true, cause: error },
        );
      }
      if (items.length === 1) throw error;
      // Nothing of the batch was written; let each append succeed or fail alone.
      return await Promise.all(batch.map((item) => appendAlone(context, item)));
    }
  }
  // Only on conflict, a second query: the versions (and tokens) the stale appends missed.
  const stale = items.filter((item) => !updated.has(item.threadId));
  const actual = new Map<string, { version: number; token: number }>();
  let unread: unknown = null;
  if (stale.length > 0) {
    try {
      const rows = await context.query<
        { thread_id: string; version: number; lease_token: number }
      >(context.statements.versions, [stale.map((item) => item.threadId)]);
      for (const row of rows) {
        actual.set(row.thread_id, { version: row.version, token: row.lease_token });
      }
    } catch (error) {
      unread = error; // The others of the batch did commit: they still succeed.
    }
  }
  return items.map((item, i): Settled<number> => {
    if (!updated.has(item.threadId)) {
      const found = actual.get(item.threadId);
      const fence = batch[i]!.fence;
      const error = unread === null
        ? fence !== null && found !== undefined && found.token !== fence
          ? new LeaseLostError(item.threadId, fence, found.token)
          : new VersionConflictError(item.threadId, item.expectedVersion, found?.version ?? null)
        : toStorageError(
          `append to run "${item.threadId}": it is not at version ${item.expectedVersion}, ` +
            "and its version cannot be read",
          unread,
        );
      return { ok: false, error };
    }
    context.snapshots.appended(item);
    return { ok: true, value: item.summary.version };
  });
}

async function appendAlone(
  context: PostgresContext,
  item: PreparedAppend,
): Promise<Settled<number>> {
  try {
    const [result] = await appendBatch(context, [item]);
    return result!;
  } catch (error) {
    return {
      ok: false,
      error: toStorageError(`append to run "${item.encoded.threadId}"`, error),
    };
  }
}

/**
 * Loads the latest stored snapshot of a run and the events after it; see
 * {@linkcode PostgresStore.load}.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @returns The snapshot and events, or `null` for an unknown run.
 */
export function load(context: PostgresContext, threadId: ThreadId): Promise<LoadedRun | null> {
  return context.read(`load run "${threadId}"`, () => loadRun(context, parseThreadId(threadId)));
}

/** Loads a run in one statement (so one consistent read), and remembers its stored snapshot. */
async function loadRun(context: PostgresContext, threadId: ThreadId): Promise<LoadedRun | null> {
  const rows = await context.query<{ is_snapshot: boolean; seq: number; json: string }>(
    context.statements.load,
    [threadId],
  );
  const [first, ...rest] = rows;
  if (first === undefined) return null;
  const snapshot = decodeStoredSnapshot(JSON.parse(first.json));
  let tailBytes = 0;
  for (const row of rest) tailBytes += row.json.length;
  context.snapshots.remember(threadId, {
    head: rest.at(-1)?.seq ?? snapshot.version,
    stored: { version: snapshot.version, bytes: first.json.length, tailBytes },
  });
  return { snapshot, events: rest.map(toStoredEvent) };
}

/**
 * Reads a run's events from a seq, ascending; see {@linkcode PostgresStore.readEvents}.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param fromSeq The first seq to read (below 1 reads from 1).
 * @param options How many at most (default: all).
 * @returns The events (empty for an unknown run).
 */
export function readEvents(
  context: PostgresContext,
  threadId: ThreadId,
  fromSeq: number,
  options: ReadEventsOptions = {},
): Promise<StoredEvent[]> {
  return context.read(`read events of run "${threadId}"`, async () => {
    parseThreadId(threadId);
    const limit = options.limit === undefined ? null : pageLimit(options.limit);
    const from = checkFromSeq(fromSeq);
    if (from === Infinity) return [];
    const rows = await context.query<{ seq: number; event: string }>(
      context.statements.readEvents,
      [threadId, from, limit],
    );
    return rows.map((row) => ({ seq: row.seq, event: decodeEvent(JSON.parse(row.event)) }));
  });
}

/**
 * Lists runs, newest first (by creation, then by thread id, descending),
 * paged by that key; see {@linkcode PostgresStore.listRuns}.
 *
 * @param context The store's shared state.
 * @param options Status and graph filters, limit and cursor.
 * @returns One page.
 */
export function listRuns(
  context: PostgresContext,
  options: ListRunsOptions = {},
): Promise<Page<RunSummary>> {
  return context.read("list runs", async () => {
    const limit = pageLimit(options.limit);
    const after = decodeRunCursor(options.cursor);
    const s = context.statements;
    const status = options.status;
    const rows = options.graph !== undefined
      ? await context.query<SummaryRow>(s.listRunsByGraph, [
        options.graph,
        status ?? null,
        limit + 1,
        after?.createdAt ?? null,
        after?.threadId ?? null,
      ])
      : status === undefined
      ? after === null
        ? await context.query<SummaryRow>(s.listRuns, [limit + 1])
        : await context.query<SummaryRow>(s.listRunsAfter, [
          limit + 1,
          after.createdAt,
          after.threadId,
        ])
      : after === null
      ? await context.query<SummaryRow>(s.listRunsByStatus, [status, limit + 1])
      : await context.query<SummaryRow>(s.listRunsByStatusAfter, [
        status,
        limit + 1,
        after.createdAt,
        after.threadId,
      ]);
    return pageOf(
      rows,
      limit,
      (last) => timeIdPosition("runs", last.createdAt, last.threadId),
      toSummary,
    );
  });
}

/**
 * The parameters of `appendOne`, or `null` when the append has several
 * events or applies a mailbox message.
 */
function appendOneParameters(prepared: PreparedAppend): Parameter[] | null {
  const item = prepared.encoded;
  const [event, ...more] = item.events;
  if (event === undefined || more.length > 0 || prepared.ack !== null) return null;
  const checkpoint = item.checkpoints[0];
  return [
    item.threadId,
    item.expectedVersion,
    item.summary.version,
    item.summary.status,
    item.summary.updatedAt,
    item.snapshotJson,
    event.type,
    event.at,
    event.json,
    checkpoint?.checkpointId ?? null,
    checkpoint?.parentCheckpointId ?? null,
    checkpoint?.step ?? null,
    prepared.fence,
    prepared.wakeAt,
  ];
}

/** The fencing tokens, mailbox messages and wake-up times of a batch, in the order of its items. */
function holderParameters(batch: PreparedAppend[]): Parameter[] {
  return [
    batch.map((item) => item.fence),
    batch.map((item) => item.ack),
    batch.map((item) => item.wakeAt),
  ];
}

/** Wakes the sender of a mailbox message that an append applied (best effort). */
async function notifyAnswered(context: PostgresContext, threadId: string, seq: number) {
  try {
    await signal(context, { kind: "answer", threadId, seq });
  } catch {
    // The sender also polls.
  }
}

/**
 * The parameters `$1..$14` of `append` and `appendWithInterrupts`: the runs,
 * and their events, each with the checkpoint it makes (the checkpoints are
 * in the order of their events: an event's checkpoint has its seq as version).
 */
function appendParameters(items: EncodedAppend[]): Parameter[] {
  const runs: [string[], number[], number[], string[], number[], (string | null)[]] = [
    [],
    [],
    [],
    [],
    [],
    [],
  ];
  const events: [
    string[],
    number[],
    string[],
    number[],
    string[],
    (string | null)[],
    (string | null)[],
    (number | null)[],
  ] = [[], [], [], [], [], [], [], []];
  for (const item of items) {
    runs[0].push(item.threadId);
    runs[1].push(item.expectedVersion);
    runs[2].push(item.summary.version);
    runs[3].push(item.summary.status);
    runs[4].push(item.summary.updatedAt);
    runs[5].push(item.snapshotJson);
    let next = 0;
    for (const event of item.events) {
      const checkpoint = item.checkpoints[next]?.version === event.seq
        ? item.checkpoints[next++]!
        : null;
      events[0].push(item.threadId);
      events[1].push(event.seq);
      events[2].push(event.type);
      events[3].push(event.at);
      events[4].push(event.json);
      events[5].push(checkpoint?.checkpointId ?? null);
      events[6].push(checkpoint?.parentCheckpointId ?? null);
      events[7].push(checkpoint?.step ?? null);
    }
  }
  return [...runs, ...events];
}

function toStoredEvent(row: { seq: number; json: string }): StoredEvent {
  return { seq: row.seq, event: decodeEvent(JSON.parse(row.json)) };
}

function toSummary(row: SummaryRow): RunSummary {
  return {
    threadId: row.thread_id as ThreadId,
    status: row.status,
    graph: row.graph,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    tenantId: row.tenant_id,
    priority: row.priority,
  };
}
