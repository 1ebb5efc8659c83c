/**
 * {@linkcode PostgresStore}: the durable {@linkcode Store} for production and
 * for several processes sharing one database.
 *
 * An append is one statement (data-modifying CTEs guarded by the expected
 * version), so one transaction and one round trip. Appends of different runs
 * that arrive while a batch is in flight are grouped into the next batch: one
 * statement over arrays, each append succeeding or conflicting on its own.
 * Appends whose events raise, answer or close interrupts write the interrupt
 * index in that same statement (more CTEs over arrays, guarded by the same
 * version check); batches without such changes use the statements without
 * those CTEs.
 *
 * It is also the {@linkcode ControlStore}: idempotency keys, the interrupt
 * index, audit logs and API keys, each in its own table.
 *
 * @module
 */

import postgres from "postgres";
import {
  type ApiKeyRecord,
  type AppendResult,
  type AuditRecord,
  checkEffectKey,
  checkIdempotencyKey,
  checkIdempotencyRecord,
  type CheckpointId,
  type CheckpointRecord,
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
  type InterruptRow,
  type InterruptStatus,
  InvalidArgumentError,
  type Json,
  type JsonObject,
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
import { checkFromSeq, decodeSnapshot as decodeStoredSnapshot } from "../../kernel/mod.ts";
import { isConnectionError, isRaceLost, toStorageError } from "./_errors.ts";
import { GroupCommitter, type Settled } from "../_group_commit.ts";
import { type InterruptPlan, planInterruptChanges } from "./_interrupts.ts";
import { type Statements, statements } from "./_sql.ts";
import { applyMigrations, parseSchemaName, quoteIdentifier } from "./migrations.ts";

/** Options of {@linkcode PostgresStore.connect}. */
export interface PostgresStoreOptions {
  /** A PostgreSQL connection URL, e.g. `postgres://user:secret@host:5432/db`. */
  url: string;
  /**
   * The schema that holds Oris's tables (`runtime_*`).
   * @default {"public"}
   */
  schema?: string;
  /**
   * The most connections the pool opens.
   * @default {10}
   */
  max?: number;
  /**
   * Create the schema when it does not exist. When `false`, connecting to a
   * database without the schema fails.
   * @default {true}
   */
  createSchema?: boolean;
  /**
   * The snapshot policy's cap: persist a running run's snapshot at least
   * every this many versions (1: at every append). Between, a snapshot is
   * persisted once the events after the last one outweigh it, so that a long
   * run does not rewrite its whole state at every step; runs at rest, and
   * runs this store has not written or loaded since it connected, always get
   * one. See `snapshotDue`.
   * @default {64}
   */
  snapshotEvery?: number;
}

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
/** How many runs' stored snapshots are remembered (see `#snapshots`). */
const MAX_REMEMBERED_RUNS = 100_000;
/** How often a transaction that lost a deadlock race is tried again. */
const RACE_RETRIES = 3;
/** How often a claim of an idempotency key is tried while the key is claimed and released meanwhile. */
const CLAIM_ATTEMPTS = 5;

/** What the store knows of a run's stored snapshot, for the snapshot policy. */
interface KnownSnapshot {
  /** The run's version these sizes are for. */
  head: number;
  /** The stored snapshot and the events after it, through `head`. */
  stored: StoredSnapshotInfo;
}

/** An append ready for a batch: encoded, with the net changes to the interrupt index. */
interface PreparedAppend {
  encoded: EncodedAppend;
  /** `null` when the append changes no interrupt. */
  interrupts: InterruptPlan | null;
}

/**
 * A {@linkcode Store} on PostgreSQL (postgres.js). Open it with
 * {@linkcode PostgresStore.connect}, which also brings the schema up to date.
 *
 * @example Connect, create a run and append to it
 * ```ts ignore
 * import { PostgresStore } from "./postgres_store.ts";
 * import { fold, type RunCreatedEvent, type ThreadId } from "../../kernel/mod.ts";
 *
 * await using store = await PostgresStore.connect({
 *   url: "postgres://postgres@127.0.0.1:5432/oris",
 *   schema: "oris",
 * });
 * const created: RunCreatedEvent = {
 *   type: "run.created", v: 1, at: Date.now(), threadId: "t-1" as ThreadId, graph: "hello",
 *   input: {}, payloadHash: "h", state: {}, next: [],
 * };
 * const { run } = await store.createRun(created);
 * const paused = { type: "run.paused", v: 1, at: Date.now(), reason: null } as const;
 * await store.append(run.threadId, run.version, [paused], fold(run, paused));
 * ```
 */
export class PostgresStore implements Store, ControlStore {
  #sql: postgres.Sql;
  #schema: string;
  #statements: Statements;
  #snapshotEvery: number;
  #appends: GroupCommitter<PreparedAppend, number>;
  /**
   * The stored snapshot of runs this store has written or read (its version
   * and size, and the size of the events after it), for the snapshot policy.
   * It is used only by an append at the version it was recorded at (so
   * another process's appends make it unused); an unknown run gets a snapshot
   * at its next append.
   */
  #snapshots = new Map<string, KnownSnapshot>();
  #closing: Promise<void> | null = null;

  private constructor(sql: postgres.Sql, schema: string, snapshotEvery: number) {
    this.#sql = sql;
    this.#schema = schema;
    this.#statements = statements(quoteIdentifier(schema));
    this.#snapshotEvery = snapshotEvery;
    this.#appends = new GroupCommitter<PreparedAppend, number>({
      execute: (items) => this.#appendBatch(items),
      key: (item) => item.encoded.threadId,
      size: ({ encoded, interrupts }) =>
        (encoded.snapshotJson?.length ?? 0) + encoded.eventBytes +
        (interrupts?.upserts.reduce((total, row) => total + row.valueJson.length, 0) ?? 0),
      maxInFlight: MAX_BATCHES_IN_FLIGHT,
      minSplit: MIN_SPLIT,
      maxItems: MAX_BATCH_ITEMS,
      maxBytes: MAX_BATCH_BYTES,
    });
  }

  /**
   * Connects to PostgreSQL and applies any missing migrations (under an
   * advisory lock, so concurrent connects do not race).
   *
   * @param options Where to connect, the schema, the pool size and the snapshot policy.
   * @returns An open store.
   * @throws {StorageError} when the database cannot be reached (retryable), when
   * the schema is missing and `createSchema` is `false`, or when the database
   * is at a newer schema version than this Oris knows.
   * @throws {InvalidArgumentError} when the URL or the schema name is not valid.
   * @throws {RangeError} when `max` or `snapshotEvery` is not a whole number from 1.
   *
   * @example
   * ```ts ignore
   * import { PostgresStore } from "./postgres_store.ts";
   *
   * const store = await PostgresStore.connect({ url: "postgres://postgres@127.0.0.1:5432/oris" });
   * await store.ping();
   * await store.close();
   * ```
   */
  static async connect(options: PostgresStoreOptions): Promise<PostgresStore> {
    const schema = parseSchemaName(options.schema ?? "public");
    const snapshotEvery = wholeNumber(
      options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY,
      "snapshotEvery",
    );
    const max = wholeNumber(options.max ?? 10, "max");
    const sql = openPool(options.url, max);
    try {
      await applyMigrations(sql, schema, { createSchema: options.createSchema ?? true });
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw toStorageError(`connect to schema "${schema}"`, error);
    }
    return new PostgresStore(sql, schema, snapshotEvery);
  }

  /** The schema this store uses. */
  get schema(): string {
    return this.#schema;
  }

  /**
   * Creates a run from its `run.created` event, idempotently: a second
   * creation with the same `payloadHash` returns the run as it is now.
   *
   * @param event The creating event.
   * @returns Whether it was created, and the run.
   * @throws {IdempotencyConflictError} when the run exists with another payload.
   * @throws {InvalidArgumentError} when the event is not valid or not JSON.
   */
  createRun(event: RunCreatedEvent): Promise<CreateRunResult> {
    return this.#io(`create run "${event?.threadId}"`, async () => {
      const encoded = encodeCreate(event);
      const first = encoded.events[0]!;
      const [row] = await this.#query<{ created: number }>(this.#statements.createRun, [
        encoded.threadId,
        encoded.summary.status,
        encoded.summary.graph,
        event.payloadHash,
        encoded.summary.version,
        encoded.summary.createdAt,
        encoded.summary.updatedAt,
        first.type,
        first.at,
        first.json,
        encoded.snapshotJson!,
      ]);
      if (row?.created === 1) {
        this.#remember(encoded.threadId, {
          head: encoded.summary.version,
          stored: storedSnapshotAfter(null, encoded)!,
        });
        return { created: true, run: JSON.parse(encoded.snapshotJson!) as RunSnapshot };
      }
      const loaded = await this.#load(encoded.threadId);
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
    });
  }

  /**
   * Appends events atomically if the run is at `expectedVersion`. Appends of
   * other runs made meanwhile are committed in the same transaction (group
   * commit), each deciding its own success or conflict.
   *
   * @param threadId The run.
   * @param expectedVersion The version the run must be at.
   * @param events The events.
   * @param snapshot The run after them.
   * @returns The new version.
   * @throws {VersionConflictError} when the run is at another version (nothing is written).
   * @throws {InvalidArgumentError} when anything is not JSON (nothing is written).
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
  ): Promise<AppendResult> {
    return this.#io(`append to run "${threadId}"`, async () => {
      const known = this.#snapshots.get(threadId);
      const stored = known?.head === expectedVersion ? known.stored : null;
      const encoded = encodeAppend(
        threadId,
        expectedVersion,
        events,
        snapshot,
        (bytes) => snapshotDue(snapshot, stored, bytes, this.#snapshotEvery),
      );
      const interrupts = planInterruptChanges(threadId, encoded.interruptChanges);
      return { version: await this.#appends.submit({ encoded, interrupts }) };
    });
  }

  /** Writes one batch of appends; see the module doc. */
  async #appendBatch(batch: PreparedAppend[]): Promise<Settled<number>[]> {
    if (batch.length > 1 && sharesInterrupts(batch)) {
      // Appends of two runs that write the same interrupt row (interrupt ids
      // are unique, so hardly ever): one statement cannot write a row twice,
      // so the batch goes one append after another.
      const results: Settled<number>[] = [];
      for (const item of batch) results.push(await this.#appendAlone(item));
      return results;
    }
    const items = batch.map((item) => item.encoded);
    const withInterrupts = batch.some((item) => item.interrupts !== null);
    let updated: Set<string>;
    for (let attempt = 1;; attempt++) {
      try {
        const one = items.length === 1 && !withInterrupts ? appendOneParameters(items[0]!) : null;
        const s = this.#statements;
        const rows = await this.#query<{ thread_id: string }>(
          one !== null ? s.appendOne : withInterrupts ? s.appendWithInterrupts : s.append,
          one ??
            (withInterrupts
              ? [...appendParameters(items), ...interruptParameters(batch)]
              : appendParameters(items)),
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
        return await Promise.all(batch.map((item) => this.#appendAlone(item)));
      }
    }
    // Only on conflict, a second query: the versions the stale appends missed.
    const stale = items.filter((item) => !updated.has(item.threadId));
    const actual = new Map<string, number>();
    let unread: unknown = null;
    if (stale.length > 0) {
      try {
        const rows = await this.#query<{ thread_id: string; version: number }>(
          this.#statements.versions,
          [stale.map((item) => item.threadId)],
        );
        for (const row of rows) actual.set(row.thread_id, row.version);
      } catch (error) {
        unread = error; // The others of the batch did commit: they still succeed.
      }
    }
    return items.map((item): Settled<number> => {
      if (!updated.has(item.threadId)) {
        const error = unread === null
          ? new VersionConflictError(
            item.threadId,
            item.expectedVersion,
            actual.get(item.threadId) ?? null,
          )
          : toStorageError(
            `append to run "${item.threadId}": it is not at version ${item.expectedVersion}, ` +
              "and its version cannot be read",
            unread,
          );
        return { ok: false, error };
      }
      this.#appended(item);
      return { ok: true, value: item.summary.version };
    });
  }

  async #appendAlone(item: PreparedAppend): Promise<Settled<number>> {
    try {
      const [result] = await this.#appendBatch([item]);
      return result!;
    } catch (error) {
      return {
        ok: false,
        error: toStorageError(`append to run "${item.encoded.threadId}"`, error),
      };
    }
  }

  /**
   * Loads the latest stored snapshot of a run and the events after it, in
   * one statement (so one consistent read).
   *
   * @param threadId The run.
   * @returns The snapshot and events, or `null` for an unknown run.
   */
  load(threadId: ThreadId): Promise<LoadedRun | null> {
    return this.#io(`load run "${threadId}"`, () => this.#load(parseThreadId(threadId)));
  }

  async #load(threadId: ThreadId): Promise<LoadedRun | null> {
    const rows = await this.#query<{ is_snapshot: boolean; seq: number; json: string }>(
      this.#statements.load,
      [threadId],
    );
    const [first, ...rest] = rows;
    if (first === undefined) return null;
    const snapshot = decodeSnapshot(first.json);
    let tailBytes = 0;
    for (const row of rest) tailBytes += row.json.length;
    this.#remember(threadId, {
      head: rest.at(-1)?.seq ?? snapshot.version,
      stored: { version: snapshot.version, bytes: first.json.length, tailBytes },
    });
    return { snapshot, events: rest.map(toStoredEvent) };
  }

  /**
   * Reads a run's events from a seq, ascending.
   *
   * @param threadId The run.
   * @param fromSeq The first seq to read (below 1 reads from 1).
   * @param options How many at most (default: all).
   * @returns The events (empty for an unknown run).
   */
  readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options: ReadEventsOptions = {},
  ): Promise<StoredEvent[]> {
    return this.#io(`read events of run "${threadId}"`, async () => {
      parseThreadId(threadId);
      const limit = options.limit === undefined ? null : pageLimit(options.limit);
      const from = checkFromSeq(fromSeq);
      if (from === Infinity) return [];
      const rows = await this.#query<{ seq: number; event: string }>(
        this.#statements.readEvents,
        [threadId, from, limit],
      );
      return rows.map((row) => ({ seq: row.seq, event: decodeEvent(JSON.parse(row.event)) }));
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
    return this.#io(`get checkpoint "${checkpointId}" of run "${threadId}"`, async () => {
      parseThreadId(threadId);
      if (typeof checkpointId !== "string") return null;
      const [row] = await this.#query<CheckpointRow>(this.#statements.getCheckpoint, [
        threadId,
        checkpointId,
      ]);
      return row === undefined ? null : toCheckpoint(row);
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
    return this.#io(`list checkpoints of run "${threadId}"`, async () => {
      parseThreadId(threadId);
      const limit = pageLimit(options.limit);
      const before = decodeVersionCursor(options.cursor);
      const rows = before === null
        ? await this.#query<CheckpointRow>(this.#statements.listCheckpoints, [threadId, limit + 1])
        : await this.#query<CheckpointRow>(this.#statements.listCheckpointsBefore, [
          threadId,
          limit + 1,
          before,
        ]);
      return pageOf(rows, limit, (last) => last.version, toCheckpoint);
    });
  }

  /**
   * Lists runs, most recently updated first (then by thread id, descending),
   * paged by key.
   *
   * @param options Status filter, limit and cursor.
   * @returns One page.
   */
  listRuns(options: ListRunsOptions = {}): Promise<Page<RunSummary>> {
    return this.#io("list runs", async () => {
      const limit = pageLimit(options.limit);
      const after = decodeRunCursor(options.cursor);
      const s = this.#statements;
      const status = options.status;
      const rows = status === undefined
        ? after === null
          ? await this.#query<SummaryRow>(s.listRuns, [limit + 1])
          : await this.#query<SummaryRow>(s.listRunsAfter, [
            limit + 1,
            after.updatedAt,
            after.threadId,
          ])
        : after === null
        ? await this.#query<SummaryRow>(s.listRunsByStatus, [status, limit + 1])
        : await this.#query<SummaryRow>(s.listRunsByStatusAfter, [
          status,
          limit + 1,
          after.updatedAt,
          after.threadId,
        ]);
      return pageOf(rows, limit, (last) => [last.updatedAt, last.threadId], toSummary);
    });
  }

  /**
   * Records an effect unless its key is taken; the first record wins and is
   * returned.
   *
   * @param record The effect.
   * @returns The stored record.
   * @throws {InvalidArgumentError} when the record is not JSON (nothing is written).
   */
  recordEffect(record: EffectRecord): Promise<EffectRecord> {
    return this.#io(`record effect of run "${record?.threadId}"`, async () => {
      const json = encodeEffect(record);
      const [row] = await this.#query<{ record: string }>(this.#statements.recordEffect, [
        record.threadId,
        record.step,
        record.node,
        record.index,
        record.name,
        json,
      ]);
      if (row !== undefined) return JSON.parse(row.record) as EffectRecord;
      // A racing insert committed after this statement's snapshot: read it now.
      const stored = await this.#getEffect(record);
      if (stored === null) {
        throw new OrisError(
          "internal",
          `Cannot record effect of run "${record.threadId}": it vanished`,
        );
      }
      return stored;
    });
  }

  /**
   * Gets a recorded effect.
   *
   * @param key Its key.
   * @returns The record, or `null`.
   */
  getEffect(key: EffectKey): Promise<EffectRecord | null> {
    return this.#io(`get effect of run "${key?.threadId}"`, () => {
      checkEffectKey(key);
      return this.#getEffect(key);
    });
  }

  async #getEffect(key: EffectKey): Promise<EffectRecord | null> {
    const [row] = await this.#query<{ record: string }>(this.#statements.getEffect, [
      key.threadId,
      key.step,
      key.node,
      key.index,
    ]);
    return row === undefined ? null : JSON.parse(row.record) as EffectRecord;
  }

  /**
   * Lists a run's recorded effects by step, node and index.
   *
   * @param threadId The run.
   * @param step Only this step, if given.
   * @returns The records.
   */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]> {
    return this.#io(`list effects of run "${threadId}"`, async () => {
      parseThreadId(threadId);
      const rows = step === undefined
        ? await this.#query<{ record: string }>(this.#statements.listEffects, [threadId])
        : await this.#query<{ record: string }>(this.#statements.listEffectsOfStep, [
          threadId,
          step,
        ]);
      return rows.map((row) => JSON.parse(row.record) as EffectRecord);
    });
  }

  /**
   * Claims an idempotency key atomically: the first claim inserts the record
   * and gets `claimed: true`; later claims, from this process or another,
   * get the stored record.
   *
   * @param record The claim.
   * @returns Whether this call claimed the key, and the stored record.
   * @throws {InvalidArgumentError} when the key or a field is malformed, or not JSON.
   */
  claimIdempotency(
    record: IdempotencyRecord,
  ): Promise<{ claimed: boolean; record: IdempotencyRecord }> {
    return this.#io("claim an idempotency key", async () => {
      checkIdempotencyRecord(record);
      encodeJson(record, "idempotency record");
      const response = record.response === null
        ? null
        : encodeJson(record.response, "idempotency response");
      const s = this.#statements;
      for (let attempt = 1;; attempt++) {
        const [row] = await this.#query<IdempotencyRow & { claimed: boolean }>(
          s.claimIdempotency,
          [
            record.key,
            record.operation,
            record.threadId,
            record.payloadHash,
            response,
            record.createdAt,
          ],
        );
        if (row !== undefined) return { claimed: row.claimed, record: toIdempotency(row) };
        // A racing claim committed after this statement's snapshot: read it now.
        const [stored] = await this.#query<IdempotencyRow>(s.getIdempotency, [record.key]);
        if (stored !== undefined) return { claimed: false, record: toIdempotency(stored) };
        // ... and was released already: claim again.
        if (attempt >= CLAIM_ATTEMPTS) {
          throw new StorageError(
            "Cannot claim an idempotency key: it was claimed and released repeatedly meanwhile",
            { retryable: true },
          );
        }
      }
    });
  }

  /**
   * Stores the response of a claimed key, for later claims to replay.
   *
   * @param key The key.
   * @param response The response.
   * @throws {NotFoundError} when the key is not claimed.
   * @throws {InvalidArgumentError} when the key is malformed or the response not JSON.
   */
  completeIdempotency(key: string, response: Json): Promise<void> {
    return this.#io("complete an idempotency key", async () => {
      checkIdempotencyKey(key);
      const json = encodeJson(response, "idempotency response");
      const rows = await this.#query(this.#statements.completeIdempotency, [key, json]);
      if (rows.length === 0) throw new NotFoundError("idempotency key", key);
    });
  }

  /**
   * Releases a claim (a no-op for a key that is not claimed).
   *
   * @param key The key.
   * @throws {InvalidArgumentError} when the key is malformed.
   */
  releaseIdempotency(key: string): Promise<void> {
    return this.#io("release an idempotency key", async () => {
      checkIdempotencyKey(key);
      await this.#query(this.#statements.releaseIdempotency, [key]);
    });
  }

  /**
   * Gets an interrupt of the index.
   *
   * @param interruptId The interrupt.
   * @returns The row, or `null`.
   */
  getInterrupt(interruptId: string): Promise<InterruptRow | null> {
    return this.#io(`get interrupt "${interruptId}"`, async () => {
      if (typeof interruptId !== "string") return null;
      const [row] = await this.#query<InterruptDbRow>(this.#statements.getInterrupt, [
        interruptId,
      ]);
      return row === undefined ? null : toInterrupt(row);
    });
  }

  /**
   * Lists interrupts, newest first (then by id, descending), paged by key.
   *
   * @param options Status and run filters, limit and cursor.
   * @returns One page.
   */
  listInterrupts(options: ListInterruptsOptions = {}): Promise<Page<InterruptRow>> {
    return this.#io("list interrupts", async () => {
      const limit = pageLimit(options.limit);
      const after = decodeTimeIdCursor(options.cursor);
      const parameters: Parameter[] = [limit + 1];
      if (options.status !== undefined) parameters.push(options.status);
      if (options.threadId !== undefined) parameters.push(options.threadId);
      if (after !== null) parameters.push(after.time, after.id);
      const text = this.#statements.listInterrupts({
        status: options.status !== undefined,
        threadId: options.threadId !== undefined,
        after: after !== null,
      });
      const rows = await this.#query<InterruptDbRow>(text, parameters);
      return pageOf(rows, limit, (last) => [last.createdAt, last.interruptId], toInterrupt);
    });
  }

  /**
   * Appends an audit entry. An entry whose id is stored already is kept as
   * it is, so that a retried write does not add it twice.
   *
   * @param record The entry.
   * @throws {InvalidArgumentError} when it is not JSON.
   */
  appendAudit(record: AuditRecord): Promise<void> {
    return this.#io("append an audit entry", async () => {
      encodeJson(record, "audit record");
      await this.#query(this.#statements.appendAudit, [
        record.auditId,
        record.actorType,
        record.actorId,
        record.actorRole,
        record.action,
        record.resourceType,
        record.resourceId,
        record.result,
        record.requestId,
        encodeJson(record.details, "audit details"),
        record.createdAt,
      ]);
    });
  }

  /**
   * Lists audit entries, newest first (then by id, descending), paged by key.
   *
   * @param options Request, action and time filters, limit and cursor.
   * @returns One page.
   */
  listAudit(options: ListAuditOptions = {}): Promise<Page<AuditRecord>> {
    return this.#io("list audit entries", async () => {
      const limit = pageLimit(options.limit);
      const after = decodeTimeIdCursor(options.cursor);
      const parameters: Parameter[] = [limit + 1];
      if (options.requestId !== undefined) parameters.push(options.requestId);
      if (options.action !== undefined) parameters.push(options.action);
      if (options.fromMs !== undefined) parameters.push(options.fromMs);
      if (options.toMs !== undefined) parameters.push(options.toMs);
      if (after !== null) parameters.push(after.time, after.id);
      const text = this.#statements.listAudit({
        requestId: options.requestId !== undefined,
        action: options.action !== undefined,
        from: options.fromMs !== undefined,
        to: options.toMs !== undefined,
        after: after !== null,
      });
      const rows = await this.#query<AuditRow>(text, parameters);
      return pageOf(rows, limit, (last) => [last.createdAt, last.auditId], toAudit);
    });
  }

  /**
   * Creates or replaces an API key.
   *
   * @param record The key (its secret hashed).
   * @throws {InvalidArgumentError} when it is not JSON or its status is unknown.
   */
  putApiKey(record: ApiKeyRecord): Promise<void> {
    return this.#io(`put API key "${record?.keyId}"`, async () => {
      encodeJson(record, "API key");
      await this.#query(this.#statements.putApiKey, [
        record.keyId,
        record.secretHash,
        record.role,
        record.status,
        record.createdAt,
        record.updatedAt,
      ]);
    });
  }

  /**
   * Gets an API key.
   *
   * @param keyId The key's id.
   * @returns The key, or `null`.
   */
  getApiKey(keyId: string): Promise<ApiKeyRecord | null> {
    return this.#io(`get API key "${keyId}"`, async () => {
      if (typeof keyId !== "string") return null;
      const [row] = await this.#query<ApiKeyRow>(this.#statements.getApiKey, [keyId]);
      return row === undefined ? null : toApiKey(row);
    });
  }

  /**
   * Counts the stored API keys.
   *
   * @returns How many there are.
   */
  countApiKeys(): Promise<number> {
    return this.#io("count API keys", async () => {
      const [row] = await this.#query<{ count: number }>(this.#statements.countApiKeys, []);
      return row?.count ?? 0;
    });
  }

  /**
   * Checks that PostgreSQL answers.
   *
   * @throws {StorageError} when it does not.
   */
  ping(): Promise<void> {
    return this.#io("ping PostgreSQL", async () => {
      await this.#query("SELECT 1", []);
    });
  }

  /**
   * Waits for appends in flight, then closes the pool. Idempotent; later
   * calls of other methods fail.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#appends.drain();
      await this.#sql.end({ timeout: 5 });
    })();
    return this.#closing;
  }

  /** Closes the store, as {@linkcode PostgresStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #io<T>(action: string, body: () => Promise<T>): Promise<T> {
    if (this.#closing !== null) {
      throw new OrisError("unavailable", "Cannot use the store: it is closed");
    }
    try {
      return await body();
    } catch (error) {
      throw toStorageError(action, error);
    }
  }

  #query<T>(text: string, parameters: Parameter[]): Promise<T[]> {
    return this.#sql.unsafe(text, parameters as never[], { prepare: true }) as unknown as Promise<
      T[]
    >;
  }

  /** Records what a committed append changed of its run's stored snapshot. */
  #appended(append: EncodedAppend): void {
    const known = this.#snapshots.get(append.threadId);
    if (known !== undefined && known.head >= append.summary.version) return; // A load saw it.
    const stored = storedSnapshotAfter(
      known?.head === append.expectedVersion ? known.stored : null,
      append,
    );
    if (stored === null) this.#snapshots.delete(append.threadId);
    else this.#remember(append.threadId, { head: append.summary.version, stored });
  }

  #remember(threadId: string, known: KnownSnapshot): void {
    const snapshots = this.#snapshots;
    const previous = snapshots.get(threadId);
    if (previous !== undefined && previous.head > known.head) return;
    snapshots.delete(threadId);
    snapshots.set(threadId, known);
    if (snapshots.size > MAX_REMEMBERED_RUNS) {
      snapshots.delete(snapshots.keys().next().value!);
    }
  }
}

type Parameter = string | number | null | (string | number | null)[];

interface SummaryRow {
  thread_id: string;
  status: RunStatus;
  graph: string;
  version: number;
  created_at: number;
  updated_at: number;
}

interface CheckpointRow {
  thread_id: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  step: number;
  version: number;
  created_at: number;
}

interface IdempotencyRow {
  key: string;
  operation: string;
  thread_id: string;
  payload_hash: string;
  response: string | null;
  created_at: number;
}

interface InterruptDbRow {
  interrupt_id: string;
  thread_id: string;
  node: string;
  step: number;
  value: string;
  status: InterruptStatus;
  resume_value: string | null;
  created_at: number;
  resolved_at: number | null;
}

interface AuditRow {
  audit_id: string;
  actor_type: AuditRecord["actorType"];
  actor_id: string | null;
  actor_role: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  result: AuditRecord["result"];
  request_id: string;
  details: string;
  created_at: number;
}

interface ApiKeyRow {
  key_id: string;
  secret_hash: string;
  role: ApiKeyRecord["role"];
  status: ApiKeyRecord["status"];
  created_at: number;
  updated_at: number;
}

/**
 * Whether two appends of a batch write the same interrupt row (raise or
 * answer the same id), which one statement cannot do.
 */
function sharesInterrupts(batch: PreparedAppend[]): boolean {
  const seen = new Set<string>();
  for (const { interrupts } of batch) {
    for (const id of interrupts?.ids ?? []) {
      if (seen.has(id)) return true;
      seen.add(id);
    }
  }
  return false;
}

/** The parameters `$18..$34` of `appendWithInterrupts`. */
function interruptParameters(batch: PreparedAppend[]): Parameter[] {
  const raised: [
    string[],
    string[],
    string[],
    number[],
    string[],
    string[],
    (string | null)[],
    number[],
    (number | null)[],
  ] = [[], [], [], [], [], [], [], [], []];
  const answered: [string[], string[], (string | null)[], number[]] = [[], [], [], []];
  const closed: [string[], string[], (string | null)[], number[]] = [[], [], [], []];
  for (const { encoded, interrupts } of batch) {
    if (interrupts === null) continue;
    for (const { row, valueJson, resumeValueJson } of interrupts.upserts) {
      raised[0].push(row.interruptId);
      raised[1].push(row.threadId);
      raised[2].push(row.node);
      raised[3].push(row.step);
      raised[4].push(valueJson);
      raised[5].push(row.status);
      raised[6].push(resumeValueJson);
      raised[7].push(row.createdAt);
      raised[8].push(row.resolvedAt);
    }
    for (const answer of interrupts.resolves) {
      answered[0].push(encoded.threadId);
      answered[1].push(answer.interruptId);
      answered[2].push(answer.resumeValueJson);
      answered[3].push(answer.at);
    }
    if (interrupts.close !== null) {
      closed[0].push(encoded.threadId);
      closed[1].push(interrupts.close.status);
      closed[2].push(interrupts.close.rejectedId);
      closed[3].push(interrupts.close.at);
    }
  }
  return [...raised, ...answered, ...closed];
}

function toIdempotency(row: IdempotencyRow): IdempotencyRecord {
  return {
    key: row.key,
    operation: row.operation,
    threadId: row.thread_id,
    payloadHash: row.payload_hash,
    response: row.response === null ? null : JSON.parse(row.response) as Json,
    createdAt: row.created_at,
  };
}

function toInterrupt(row: InterruptDbRow): InterruptRow {
  return {
    interruptId: row.interrupt_id,
    threadId: row.thread_id,
    node: row.node,
    step: row.step,
    value: JSON.parse(row.value) as Json,
    status: row.status,
    resumeValue: row.resume_value === null ? null : JSON.parse(row.resume_value) as Json,
    createdAt: row.created_at,
    resolvedAt: row.resolved_at,
  };
}

function toAudit(row: AuditRow): AuditRecord {
  return {
    auditId: row.audit_id,
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorRole: row.actor_role,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    result: row.result,
    requestId: row.request_id,
    details: JSON.parse(row.details) as JsonObject,
    createdAt: row.created_at,
  };
}

function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    keyId: row.key_id,
    secretHash: row.secret_hash,
    role: row.role,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The parameters of `appendOne`, or `null` when the append has several events. */
function appendOneParameters(item: EncodedAppend): Parameter[] | null {
  const [event, ...more] = item.events;
  if (event === undefined || more.length > 0) return null;
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
    checkpoint?.createdAt ?? null,
  ];
}

function appendParameters(items: EncodedAppend[]): Parameter[] {
  const runs: [string[], number[], number[], string[], number[], (string | null)[]] = [
    [],
    [],
    [],
    [],
    [],
    [],
  ];
  const events: [string[], number[], string[], number[], string[]] = [[], [], [], [], []];
  const checkpoints: [string[], number[], string[], (string | null)[], number[], number[]] = [
    [],
    [],
    [],
    [],
    [],
    [],
  ];
  for (const item of items) {
    runs[0].push(item.threadId);
    runs[1].push(item.expectedVersion);
    runs[2].push(item.summary.version);
    runs[3].push(item.summary.status);
    runs[4].push(item.summary.updatedAt);
    runs[5].push(item.snapshotJson);
    for (const event of item.events) {
      events[0].push(item.threadId);
      events[1].push(event.seq);
      events[2].push(event.type);
      events[3].push(event.at);
      events[4].push(event.json);
    }
    for (const checkpoint of item.checkpoints) {
      checkpoints[0].push(item.threadId);
      checkpoints[1].push(checkpoint.version);
      checkpoints[2].push(checkpoint.checkpointId);
      checkpoints[3].push(checkpoint.parentCheckpointId);
      checkpoints[4].push(checkpoint.step);
      checkpoints[5].push(checkpoint.createdAt);
    }
  }
  return [...runs, ...events, ...checkpoints];
}

function decodeSnapshot(json: string): RunSnapshot {
  return decodeStoredSnapshot(JSON.parse(json));
}

function toStoredEvent(row: { seq: number; json: string }): StoredEvent {
  return { seq: row.seq, event: decodeEvent(JSON.parse(row.json)) };
}

function toCheckpoint(row: CheckpointRow): CheckpointRecord {
  return {
    threadId: row.thread_id as ThreadId,
    checkpointId: row.checkpoint_id as CheckpointId,
    parentCheckpointId: row.parent_checkpoint_id as CheckpointId | null,
    step: row.step,
    version: row.version,
    createdAt: row.created_at,
  };
}

function toSummary(row: SummaryRow): RunSummary {
  return {
    threadId: row.thread_id as ThreadId,
    status: row.status,
    graph: row.graph,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function openPool(url: string, max: number): postgres.Sql {
  try {
    return postgres(url, {
      max,
      onnotice: ignoreNotice,
      connect_timeout: 10,
      connection: { application_name: "oris" },
    });
  } catch (error) {
    // The message may quote the URL, and with it a password: keep it as the cause only.
    throw new InvalidArgumentError("Cannot connect: url is not a valid PostgreSQL URL", {
      field: "url",
      cause: error,
    });
  }
}

function wholeNumber(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot connect: ${name} must be a whole number from 1, got ${value}`);
  }
  return value;
}

/** Notices ("relation exists, skipping" ...) are not errors and are not printed. */
function ignoreNotice(): void {}
