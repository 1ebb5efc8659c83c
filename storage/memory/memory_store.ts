/**
 * An in-process {@linkcode Store}: for tests, examples and the default of
 * `compile()`. It keeps JSON text, not live objects, so that it behaves like
 * the durable adapters (no aliasing between what was written and what is read).
 *
 * @module
 */

import {
  type ApiKeyRecord,
  type AppendResult,
  applyInterruptChanges,
  type AuditRecord,
  checkEffectKey,
  checkFromSeq,
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
  decodeSnapshot,
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
  type InterruptRow,
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
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type RunSummary,
  snapshotDue,
  type Store,
  type StoredEvent,
  storedSnapshotAfter,
  type StoredSnapshotInfo,
  type ThreadId,
  timeIdPosition,
  VersionConflictError,
  versionPosition,
} from "../../kernel/mod.ts";
import { pageOf } from "../../kernel/mod.ts";
import { MemoryApiKeys, MemoryAuditLog } from "./_control.ts";

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

interface StoredRun {
  summary: RunSummary;
  payloadHash: string;
  snapshotJson: string;
  snapshotVersion: number;
  /** The size of the JSON texts of the events after the snapshot. */
  tailBytes: number;
  events: string[];
  checkpoints: CheckpointRecord[];
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
  #effects = new Map<string, string>();
  #snapshotEvery: number;
  #closed = false;
  #idempotency = new Map<string, string>();
  #interrupts = new Map<string, InterruptRow>();
  #audit = new MemoryAuditLog();
  #apiKeys = new MemoryApiKeys();

  /**
   * Creates an empty store.
   *
   * @param options The snapshot policy.
   */
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
    return this.#do(() => {
      const encoded = encodeCreate(event);
      const existing = this.#runs.get(encoded.threadId);
      if (existing !== undefined) {
        if (existing.payloadHash !== event.payloadHash) {
          throw new IdempotencyConflictError(encoded.threadId);
        }
        return { created: false, run: currentSnapshot(this.#load(existing)) };
      }
      this.#runs.set(encoded.threadId, {
        summary: encoded.summary,
        payloadHash: event.payloadHash,
        snapshotJson: encoded.snapshotJson!,
        snapshotVersion: encoded.snapshot.version,
        tailBytes: 0,
        events: [],
        checkpoints: [],
      });
      this.#write(this.#runs.get(encoded.threadId)!, encoded);
      return { created: true, run: JSON.parse(encoded.snapshotJson!) as RunSnapshot };
    });
  }

  /**
   * Appends events atomically if the run is at `expectedVersion`.
   *
   * @param threadId The run.
   * @param expectedVersion The version the run must be at.
   * @param events The events.
   * @param snapshot The run after them.
   * @returns The new version.
   * @throws {VersionConflictError} when the run is at another version.
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
  ): Promise<AppendResult> {
    return this.#do(() => {
      const run = this.#runs.get(threadId);
      const stored = run === undefined ? null : this.#stored(run);
      const encoded = encodeAppend(
        threadId,
        expectedVersion,
        events,
        snapshot,
        (bytes) => snapshotDue(snapshot, stored, bytes, this.#snapshotEvery),
      );
      if (run === undefined || run.summary.version !== expectedVersion) {
        throw new VersionConflictError(threadId, expectedVersion, run?.summary.version ?? null);
      }
      this.#write(run, encoded);
      return { version: encoded.summary.version };
    });
  }

  #stored(run: StoredRun): StoredSnapshotInfo {
    return {
      version: run.snapshotVersion,
      bytes: run.snapshotJson.length,
      tailBytes: run.tailBytes,
    };
  }

  #write(run: StoredRun, encoded: EncodedAppend): void {
    for (const event of encoded.events) run.events.push(event.json);
    run.checkpoints.push(...encoded.checkpoints.map((record) => ({ ...record })));
    run.summary = encoded.summary;
    applyInterruptChanges(this.#interrupts, encoded.interruptChanges);
    const stored = storedSnapshotAfter(this.#stored(run), encoded)!;
    if (encoded.snapshotJson !== null) run.snapshotJson = encoded.snapshotJson;
    run.snapshotVersion = stored.version;
    run.tailBytes = stored.tailBytes;
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
      return run === undefined ? null : this.#load(run);
    });
  }

  #load(run: StoredRun): LoadedRun {
    return {
      snapshot: decodeSnapshot(JSON.parse(run.snapshotJson)),
      events: this.#events(run, run.snapshotVersion + 1, Infinity),
    };
  }

  #events(run: StoredRun, fromSeq: number, limit: number): StoredEvent[] {
    const from = checkFromSeq(fromSeq);
    return run.events.slice(from - 1, from - 1 + Math.min(limit, run.events.length)).map((
      json,
      i,
    ) => ({
      seq: from + i,
      event: decodeEvent(JSON.parse(json)),
    }));
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
      return run === undefined ? [] : this.#events(run, fromSeq, limit);
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
   * @param options Status filter, limit and cursor.
   * @returns One page.
   */
  listRuns(options: ListRunsOptions = {}): Promise<Page<RunSummary>> {
    return this.#do(() => {
      const limit = pageLimit(options.limit);
      const after = decodeRunCursor(options.cursor);
      const rest = [...this.#runs.values()]
        .map((run) => run.summary)
        .filter((summary) => options.status === undefined || summary.status === options.status)
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
   * @returns The stored record.
   */
  recordEffect(record: EffectRecord): Promise<EffectRecord> {
    return this.#do(() => {
      const json = encodeEffect(record);
      const key = effectKey(record);
      const stored = this.#effects.get(key) ?? json;
      this.#effects.set(key, stored);
      return JSON.parse(stored) as EffectRecord;
    });
  }

  /**
   * Gets a recorded effect.
   *
   * @param key Its key.
   * @returns The record, or `null`.
   */
  getEffect(key: EffectKey): Promise<EffectRecord | null> {
    return this.#do(() => {
      checkEffectKey(key);
      const stored = this.#effects.get(effectKey(key));
      return stored === undefined ? null : JSON.parse(stored) as EffectRecord;
    });
  }

  /**
   * Lists a run's recorded effects by step, node and index.
   *
   * @param threadId The run.
   * @param step Only this step, if given.
   * @returns The records.
   */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]> {
    return this.#do(() => {
      parseThreadId(threadId);
      return [...this.#effects.values()]
        .map((json) => JSON.parse(json) as EffectRecord)
        .filter((record) =>
          record.threadId === threadId && (step === undefined || record.step === step)
        )
        .sort((a, b) =>
          a.step - b.step || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.index - b.index
        );
    });
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

  #do<T>(body: () => T): Promise<T> {
    try {
      if (this.#closed) throw new OrisError("unavailable", "Cannot use the store: it is closed");
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

function effectKey(key: EffectKey): string {
  return JSON.stringify([key.threadId, key.step, key.node, key.index]);
}
