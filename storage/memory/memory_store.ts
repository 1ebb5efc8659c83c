/**
 * An in-process {@linkcode Store}: for tests, examples and the default of
 * `compile()`. It keeps JSON text, not live objects, so that it behaves like
 * the durable adapters (no aliasing between what was written and what is read).
 *
 * @module
 */

import {
  type ApiKeyRecord,
  type AppendOptions,
  type AppendResult,
  type AttemptStore,
  type AuditRecord,
  checkIdempotencyKey,
  checkIdempotencyRecord,
  checkLeaseRequest,
  type CheckpointId,
  type CheckpointRecord,
  type Claim,
  type ClaimRequest,
  compareInterruptOrder,
  compareRunOrder,
  type ControlStore,
  type CreateRunResult,
  currentSnapshot,
  decodeRunCursor,
  decodeTimeIdCursor,
  decodeVersionCursor,
  DEFAULT_SNAPSHOT_EVERY,
  type EffectKey,
  type EffectRecord,
  encodeAppend,
  encodeCreate,
  encodeJson,
  IdempotencyConflictError,
  type IdempotencyRecord,
  type InterruptRow,
  type Json,
  type Lease,
  type LeaseRef,
  type LeaseRequest,
  type ListAuditOptions,
  type ListInterruptsOptions,
  type ListRunsOptions,
  type LoadedRun,
  type MailAnswer,
  type MailMessage,
  type MailRecord,
  NotFoundError,
  OrisError,
  type Page,
  pageLimit,
  type PageOptions,
  type PostResult,
  type QueueStats,
  type ReadEventsOptions,
  type RecordEffectOptions,
  type ReleaseOutcome,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type RunStartedEvent,
  type RunSummary,
  snapshotDue,
  type Store,
  type StoredEvent,
  type StoreSignal,
  type ThreadId,
  timeIdPosition,
  VersionConflictError,
  versionPosition,
} from "../../kernel/mod.ts";
import { pageOf } from "../../kernel/mod.ts";
import { MemoryApiKeys, MemoryAuditLog } from "./_control.ts";
import { CellAttempts, memoryCells } from "../_attempts.ts";
import { LocalOwnership, runInfoOf } from "../_ownership.ts";
import { MemoryJournal } from "./_effects.ts";
import {
  createdRun,
  loadStored,
  readStored,
  storedInfo,
  type StoredRun,
  writeAppend,
} from "./_runs.ts";

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The snapshot policy's cap: persist a running run's snapshot at least
   * every this many versions (1: at every append). Between, a snapshot is
   * persisted once the events after the last one outweigh it; runs at rest
   * always get one. See `snapshotDue`.
   * @default {64}
   */
  snapshotEvery?: number;
}

/**
 * A {@linkcode Store} in memory. Everything is lost when the process ends.
 *
 * @example Create a run and append to it
 * ```ts
 * import { MemoryStore } from "./memory_store.ts";
 * import { fold, type RunCreatedEvent, type ThreadId } from "../../kernel/mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
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
export class MemoryStore implements Store, ControlStore {
  #runs = new Map<string, StoredRun>();
  #journal = new MemoryJournal();
  #snapshotEvery: number;
  #closed = false;
  #idempotency = new Map<string, string>();
  #interrupts = new Map<string, InterruptRow>();
  #audit = new MemoryAuditLog();
  #apiKeys = new MemoryApiKeys();
  #cells = new CellAttempts(memoryCells());
  #ownership = new LocalOwnership({
    waitingForRetry: (now) => this.#cells.waitingForRetry(now),
  });
  /** The worker plane's attempts and dead letters. */
  readonly attempts: AttemptStore = this.#cells;

  /** Creates an empty store. @param options The snapshot policy. */
  constructor(options: MemoryStoreOptions = {}) {
    this.#snapshotEvery = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY;
  }

  /**
   * Creates a run from its `run.created` event, idempotently.
   *
   * @param event The creating event.
   * @returns Whether it was created, and the run as it is now.
   * @throws {IdempotencyConflictError} when the run exists with another payload.
   */
  createRun(event: RunCreatedEvent): Promise<CreateRunResult> {
    return this.#do(() => this.#create(event));
  }
  #create(event: RunCreatedEvent, encoded = encodeCreate(event)): CreateRunResult {
    const existing = this.#runs.get(encoded.threadId);
    if (existing?.payloadHash === event.payloadHash) {
      return { created: false, run: currentSnapshot(loadStored(existing)) };
    }
    if (existing !== undefined) throw new IdempotencyConflictError(encoded.threadId);
    this.#runs.set(encoded.threadId, createdRun(encoded, event.payloadHash, this.#interrupts));
    this.#ownership.noteRun(runInfoOf(encoded.snapshot, event.metadata));
    return { created: true, run: JSON.parse(encoded.snapshotJson!) as RunSnapshot };
  }
  /** Creates a run leased (and started) in one step; see {@linkcode OwnershipStore.createLeasedRun}. */
  createLeasedRun(
    event: RunCreatedEvent,
    request: LeaseRequest,
    started?: RunStartedEvent,
  ): Promise<CreateRunResult & { lease: Claim | null }> {
    return this.#do(() => {
      checkLeaseRequest(request);
      // Created started: both events in one append, as the durable stores write them.
      const result = this.#create(event, started && encodeCreate(event, started));
      if (!result.created) return { ...result, lease: null };
      const lease = this.#ownership.grantCreated(result.run.threadId, request);
      if (lease !== null || started === undefined) return { ...result, lease };
      // No lease (a tenant cap): the run is created, not started (nothing awaited in between).
      this.#runs.delete(result.run.threadId);
      return { ...this.#create(event), lease };
    });
  }

  /**
   * Appends events atomically if the run is at `expectedVersion`.
   *
   * @param threadId The run.
   * @param expectedVersion The version the run must be at.
   * @param events The events.
   * @param snapshot The run after them.
   * @param options The holder's fencing token, and the mailbox message applied.
   * @returns The new version.
   * @throws {VersionConflictError} when the run is at another version.
   * @throws {LeaseLostError} when the fencing token is not current.
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    return this.#do(() => {
      const run = this.#runs.get(threadId);
      const stored = run === undefined ? null : storedInfo(run);
      const encoded = encodeAppend(
        threadId,
        expectedVersion,
        events,
        snapshot,
        (bytes) => snapshotDue(snapshot, stored, bytes, this.#snapshotEvery),
      );
      this.#ownership.checkFence(threadId, options.fence);
      if (run === undefined || run.summary.version !== expectedVersion) {
        throw new VersionConflictError(threadId, expectedVersion, run?.summary.version ?? null);
      }
      writeAppend(run, encoded, this.#interrupts);
      this.#ownership.noteStatus(threadId, encoded.snapshot);
      if (options.ack !== undefined) {
        this.#ownership.applied(threadId, options.ack, encoded.summary.version);
      }
      return { version: encoded.summary.version };
    });
  }

  /**
   * Loads the latest stored snapshot of a run and the events after it.
   *
   * @param threadId The run.
   * @returns The snapshot and events, or `null` for an unknown run.
   */
  load(threadId: ThreadId): Promise<LoadedRun | null> {
    return this.#do(() => {
      const run = this.#runs.get(threadId);
      return run === undefined ? null : loadStored(run);
    });
  }

  /**
   * Reads a run's events from a seq, ascending.
   *
   * @param threadId The run.
   * @param fromSeq The first seq to read.
   * @param options How many at most.
   * @returns The events (empty for an unknown run).
   */
  readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options: ReadEventsOptions = {},
  ): Promise<StoredEvent[]> {
    return this.#do(() => {
      const run = this.#runs.get(threadId);
      const limit = options.limit === undefined ? Infinity : pageLimit(options.limit);
      return run === undefined ? [] : readStored(run, fromSeq, limit);
    });
  }

  /**
   * Gets one checkpoint of a run.
   *
   * @param threadId The run.
   * @param checkpointId The checkpoint.
   * @returns The checkpoint, or `null`.
   */
  getCheckpoint(threadId: ThreadId, checkpointId: CheckpointId): Promise<CheckpointRecord | null> {
    return this.#do(() => {
      const found = this.#runs.get(threadId)?.checkpoints.find((record) =>
        record.checkpointId === checkpointId
      );
      return found === undefined ? null : { ...found };
    });
  }

  /**
   * Lists a run's checkpoints, newest first.
   *
   * @param threadId The run.
   * @param options Limit and cursor.
   * @returns One page.
   */
  listCheckpoints(threadId: ThreadId, options: PageOptions = {}): Promise<Page<CheckpointRecord>> {
    return this.#do(() => {
      const limit = pageLimit(options.limit);
      const before = decodeVersionCursor(options.cursor);
      const all = [...(this.#runs.get(threadId)?.checkpoints ?? [])].reverse();
      const rest = before === null ? all : all.filter((record) => record.version < before);
      return pageOf(
        rest,
        limit,
        (last) => versionPosition(last.version),
        (record) => ({ ...record }),
      );
    });
  }

  /**
   * Lists runs, newest first (by creation, then thread id descending).
   *
   * @param options Status and graph filters, limit and cursor.
   * @returns One page.
   */
  listRuns(options: ListRunsOptions = {}): Promise<Page<RunSummary>> {
    return this.#do(() => {
      const limit = pageLimit(options.limit);
      const after = decodeRunCursor(options.cursor);
      const rest = [...this.#runs.values()]
        .map((run) => run.summary)
        .filter((summary) => options.status === undefined || summary.status === options.status)
        .filter((summary) => options.graph === undefined || summary.graph === options.graph)
        .filter((summary) => after === null || compareRunOrder(summary, after) > 0)
        .sort(compareRunOrder);
      return pageOf(
        rest,
        limit,
        (last) => timeIdPosition("runs", last.createdAt, last.threadId),
        (summary) => ({ ...summary }),
      );
    });
  }

  /**
   * Records an effect unless its key is taken; the first record wins.
   *
   * @param record The effect.
   * @param options The holder's fencing token.
   * @returns The stored record.
   * @throws {LeaseLostError} when the fencing token is not current.
   */
  recordEffect(record: EffectRecord, options: RecordEffectOptions = {}): Promise<EffectRecord> {
    return this.#do(() =>
      this.#journal.record(
        record,
        () => this.#ownership.checkFence(record.threadId, options.fence),
      )
    );
  }

  /**
   * Gets a recorded effect.
   *
   * @param key Its key.
   * @returns The record, or `null`.
   */
  getEffect(key: EffectKey): Promise<EffectRecord | null> {
    return this.#do(() => this.#journal.get(key));
  }

  /**
   * Lists a run's recorded effects by step, node and index.
   *
   * @param threadId The run.
   * @param step Only this step, if given.
   * @returns The records.
   */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]> {
    return this.#do(() => this.#journal.list(threadId, step));
  }

  /**
   * Claims an idempotency key; the first claim wins.
   *
   * @param record The claim.
   * @returns Whether this call claimed it, and the stored record.
   */
  claimIdempotency(
    record: IdempotencyRecord,
  ): Promise<{ claimed: boolean; record: IdempotencyRecord }> {
    return this.#do(() => {
      checkIdempotencyRecord(record);
      const json = encodeJson(record, "idempotency record");
      const stored = this.#idempotency.get(record.key);
      if (stored !== undefined) {
        return { claimed: false, record: JSON.parse(stored) as IdempotencyRecord };
      }
      this.#idempotency.set(record.key, json);
      return { claimed: true, record: JSON.parse(json) as IdempotencyRecord };
    });
  }

  /**
   * Stores the response of a claimed key.
   *
   * @param key The key.
   * @param response The response to replay.
   */
  completeIdempotency(key: string, response: Json): Promise<void> {
    return this.#do(() => {
      const stored = this.#idempotency.get(checkIdempotencyKey(key));
      if (stored === undefined) throw new NotFoundError("idempotency key", key);
      const record = JSON.parse(stored) as IdempotencyRecord;
      this.#idempotency.set(key, encodeJson({ ...record, response }, "idempotency response"));
    });
  }

  /**
   * Releases a claim.
   *
   * @param key The key.
   */
  releaseIdempotency(key: string): Promise<void> {
    return this.#do(() => {
      this.#idempotency.delete(checkIdempotencyKey(key));
    });
  }

  /**
   * Gets an interrupt of the index.
   *
   * @param interruptId The interrupt.
   * @returns The row, or `null`.
   */
  getInterrupt(interruptId: string): Promise<InterruptRow | null> {
    return this.#do(() => {
      const row = this.#interrupts.get(interruptId);
      return row === undefined ? null : structuredClone(row);
    });
  }

  /**
   * Lists interrupts, newest first.
   *
   * @param options Status and run filters, limit and cursor.
   * @returns One page.
   */
  listInterrupts(options: ListInterruptsOptions = {}): Promise<Page<InterruptRow>> {
    return this.#do(() => {
      const limit = pageLimit(options.limit);
      const after = decodeTimeIdCursor(options.cursor, "interrupts");
      const rest = [...this.#interrupts.values()]
        .filter((row) => options.status === undefined || row.status === options.status)
        .filter((row) => options.threadId === undefined || row.threadId === options.threadId)
        .filter((row) =>
          after === null ||
          compareInterruptOrder(row, { createdAt: after.time, interruptId: after.id }) > 0
        )
        .sort(compareInterruptOrder);
      return pageOf(
        rest,
        limit,
        (last) => timeIdPosition("interrupts", last.createdAt, last.interruptId),
        (row) => structuredClone(row),
      );
    });
  }

  /**
   * Appends an audit entry.
   *
   * @param record The entry.
   */
  appendAudit(record: AuditRecord): Promise<void> {
    return this.#do(() => this.#audit.append(record));
  }

  /**
   * Lists audit entries, newest first.
   *
   * @param options Filters, limit and cursor.
   * @returns One page.
   */
  listAudit(options: ListAuditOptions = {}): Promise<Page<AuditRecord>> {
    return this.#do(() => this.#audit.list(options));
  }

  /**
   * Creates or replaces an API key.
   *
   * @param record The key (its secret hashed).
   */
  putApiKey(record: ApiKeyRecord): Promise<void> {
    return this.#do(() => this.#apiKeys.put(record));
  }

  /**
   * Creates an API key unless one with its id exists.
   *
   * @param record The key (its secret hashed).
   * @returns `true` when it was created.
   */
  createApiKey(record: ApiKeyRecord): Promise<boolean> {
    return this.#do(() => this.#apiKeys.create(record));
  }

  /**
   * Gets an API key.
   *
   * @param keyId The key's id.
   * @returns The key, or `null`.
   */
  getApiKey(keyId: string): Promise<ApiKeyRecord | null> {
    return this.#do(() => this.#apiKeys.get(keyId));
  }

  /**
   * Lists API keys by key id.
   *
   * @param options Limit and cursor.
   * @returns One page.
   */
  listApiKeys(options: PageOptions = {}): Promise<Page<ApiKeyRecord>> {
    return this.#do(() => this.#apiKeys.list(options));
  }

  /**
   * Counts the stored API keys.
   *
   * @returns How many there are.
   */
  countApiKeys(): Promise<number> {
    return this.#do(() => this.#apiKeys.count());
  }

  /** Acquires a run's lease; see {@linkcode OwnershipStore.acquireLease}. */
  acquireLease(threadId: ThreadId, request: LeaseRequest): Promise<Claim | null> {
    return this.#do(() => this.#ownership.acquire(threadId, request));
  }

  /** Claims runnable runs; see {@linkcode OwnershipStore.claimRuns}. */
  claimRuns(request: ClaimRequest): Promise<Claim[]> {
    return this.#do(() => this.#ownership.claim(request));
  }

  /** Renews leases; see {@linkcode OwnershipStore.renewLeases}. */
  renewLeases(owner: string, leases: readonly LeaseRef[], ttlMs: number): Promise<Claim[]> {
    return this.#do(() => this.#ownership.renew(owner, leases, ttlMs));
  }

  /** Releases a lease; see {@linkcode OwnershipStore.releaseLease}. */
  releaseLease(owner: string, lease: LeaseRef): Promise<ReleaseOutcome> {
    return this.#do(() => this.#ownership.release(owner, lease));
  }

  /** A run's lease; see {@linkcode OwnershipStore.getLease}. */
  getLease(threadId: ThreadId): Promise<Lease | null> {
    return this.#do(() => this.#ownership.get(threadId));
  }

  /** Posts a control message; see {@linkcode OwnershipStore.postMessage}. */
  postMessage(threadId: ThreadId, message: MailMessage): Promise<PostResult> {
    return this.#do(() => this.#ownership.post(threadId, message));
  }

  /** A run's pending messages; see {@linkcode OwnershipStore.pendingMessages}. */
  pendingMessages(threadId: ThreadId): Promise<MailRecord[]> {
    return this.#do(() => this.#ownership.pending(threadId));
  }

  /** A message; see {@linkcode OwnershipStore.getMessage}. */
  getMessage(threadId: ThreadId, seq: number): Promise<MailRecord | null> {
    return this.#do(() => this.#ownership.message(threadId, seq));
  }

  /** Answers a message; see {@linkcode OwnershipStore.answerMessage}. */
  answerMessage(threadId: ThreadId, seq: number, answer: MailAnswer, fence: number): Promise<void> {
    return this.#do(() => this.#ownership.answer(threadId, seq, answer, fence));
  }

  /** The queue of runs waiting to start; see {@linkcode OwnershipStore.queueStats}. */
  queueStats(): Promise<QueueStats> {
    return this.#do(() => this.#ownership.stats());
  }

  /** Sends a signal; see {@linkcode OwnershipStore.notify}. */
  notify(signal: StoreSignal): Promise<void> {
    return this.#do(() => this.#ownership.notify(signal));
  }

  /** Receives signals; see {@linkcode OwnershipStore.subscribe}. */
  subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    return this.#do(() => this.#ownership.subscribe(listener));
  }

  /** Resolves while the store is open. */
  ping(): Promise<void> {
    return this.#do(() => undefined);
  }

  /** Closes the store; later calls fail. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Closes the store. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #do<T>(body: () => T | Promise<T>): Promise<T> {
    try {
      if (this.#closed) throw new OrisError("unavailable", "Cannot use the store: it is closed");
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
