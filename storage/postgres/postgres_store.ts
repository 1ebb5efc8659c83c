/**
 * {@linkcode PostgresStore}: the durable {@linkcode Store} for production and
 * for several processes sharing one database.
 *
 * An append is one statement (data-modifying CTEs guarded by the expected
 * version), so one transaction and one round trip. Appends of different runs
 * that arrive while a batch is in flight are grouped into the next batch: one
 * statement over arrays, each append succeeding or conflicting on its own.
 *
 * @module
 */

import postgres from "postgres";
import {
  type AppendResult,
  checkEffectKey,
  type CheckpointId,
  type CheckpointRecord,
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
  InvalidArgumentError,
  type ListRunsOptions,
  type LoadedRun,
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
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { checkFromSeq, decodeSnapshot as decodeStoredSnapshot } from "../../kernel/mod.ts";
import { isConnectionError, isRaceLost, toStorageError } from "./_errors.ts";
import { GroupCommitter, type Settled } from "./_group_commit.ts";
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
   * Persist a running run's snapshot every this many versions (runs at rest
   * always get one), so that a long run does not rewrite its whole state at
   * every step.
   * @default {8}
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
/** How many stored snapshot versions are remembered (see `#snapshotVersions`). */
const MAX_REMEMBERED_RUNS = 100_000;
/** How often a transaction that lost a deadlock race is tried again. */
const RACE_RETRIES = 3;

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
export class PostgresStore implements Store {
  #sql: postgres.Sql;
  #schema: string;
  #statements: Statements;
  #snapshotEvery: number;
  #appends: GroupCommitter<EncodedAppend, number>;
  /**
   * The version of the stored snapshot of runs this store has written or
   * read, for the snapshot policy. It may lag behind the database (another
   * process wrote a newer snapshot), which only makes a snapshot come early;
   * an unknown run gets one at its next append.
   */
  #snapshotVersions = new Map<string, number>();
  #closing: Promise<void> | null = null;

  private constructor(sql: postgres.Sql, schema: string, snapshotEvery: number) {
    this.#sql = sql;
    this.#schema = schema;
    this.#statements = statements(quoteIdentifier(schema));
    this.#snapshotEvery = snapshotEvery;
    this.#appends = new GroupCommitter<EncodedAppend, number>({
      execute: (items) => this.#appendBatch(items),
      key: (item) => item.threadId,
      size: (item) =>
        (item.snapshotJson?.length ?? 0) +
        item.events.reduce((total, event) => total + event.json.length, 0),
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
    const snapshotEvery = wholeNumber(options.snapshotEvery ?? 8, "snapshotEvery");
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
        this.#remember(encoded.threadId, encoded.summary.version);
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
      const stored = this.#snapshotVersions.get(threadId) ?? null;
      const due = snapshotDue(snapshot, stored, this.#snapshotEvery);
      const encoded = encodeAppend(threadId, expectedVersion, events, snapshot, due);
      return { version: await this.#appends.submit(encoded) };
    });
  }

  /** Writes one batch of appends; see the module doc. */
  async #appendBatch(items: EncodedAppend[]): Promise<Settled<number>[]> {
    let updated: Set<string>;
    for (let attempt = 1;; attempt++) {
      try {
        const one = items.length === 1 ? appendOneParameters(items[0]!) : null;
        const rows = await this.#query<{ thread_id: string }>(
          one === null ? this.#statements.append : this.#statements.appendOne,
          one ?? appendParameters(items),
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
        return await Promise.all(items.map(async (item): Promise<Settled<number>> => {
          try {
            const [result] = await this.#appendBatch([item]);
            return result!;
          } catch (error) {
            return { ok: false, error: toStorageError(`append to run "${item.threadId}"`, error) };
          }
        }));
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
      if (item.snapshotJson !== null) this.#remember(item.threadId, item.summary.version);
      return { ok: true, value: item.summary.version };
    });
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
    this.#remember(threadId, snapshot.version);
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
      const items = rows.slice(0, limit).map(toCheckpoint);
      const last = items.at(-1);
      return {
        items,
        nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.version) : null,
      };
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
      const items = rows.slice(0, limit).map(toSummary);
      const last = items.at(-1);
      return {
        items,
        nextCursor: rows.length > limit && last !== undefined
          ? encodeCursor([last.updatedAt, last.threadId])
          : null,
      };
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

  #remember(threadId: string, version: number): void {
    const versions = this.#snapshotVersions;
    versions.delete(threadId);
    versions.set(threadId, version);
    if (versions.size > MAX_REMEMBERED_RUNS) {
      versions.delete(versions.keys().next().value!);
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
