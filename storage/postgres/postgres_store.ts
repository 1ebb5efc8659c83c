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
 * This file holds the class, its connection and its lifecycle; each
 * interface it implements has its own file, which the class delegates to:
 * `runs.ts` (creating, appending, loading and listing runs), `checkpoints.ts`,
 * `effects.ts` (the effect journal), `interrupts.ts` (the interrupt index),
 * `idempotency.ts`, `audit.ts` and `api_keys.ts`. They share one
 * `PostgresContext` (`_context.ts`): the pool, the schema and its statements,
 * and the group committers of appends and of audit entries.
 *
 * @module
 */

import type postgres from "postgres";
import {
  type ApiKeyRecord,
  type AppendOptions,
  type AppendResult,
  type AttemptStore,
  type AuditRecord,
  type CheckpointId,
  type CheckpointRecord,
  type Claim,
  type ClaimRequest,
  type ControlStore,
  type CreateRunResult,
  DEFAULT_SNAPSHOT_EVERY,
  type EffectKey,
  type EffectRecord,
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
  type Page,
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
  type Store,
  type StoredEvent,
  type StoreSignal,
  type ThreadId,
} from "../../kernel/mod.ts";
import { PostgresContext } from "./_context.ts";
import { releaseCommitter } from "./_releases.ts";
import { createCommitter } from "./_creations.ts";
import { toStorageError } from "./_errors.ts";
import * as apiKeys from "./api_keys.ts";
import { PostgresAttempts } from "./attempts.ts";
import * as audit from "./audit.ts";
import * as checkpoints from "./checkpoints.ts";
import * as effects from "./effects.ts";
import * as idempotency from "./idempotency.ts";
import * as interrupts from "./interrupts.ts";
import { openClient, pinArrayTypes } from "./_client.ts";
import { applyMigrations, parseSchemaName } from "./migrations.ts";
import * as ownership from "./ownership.ts";
import * as runs from "./runs.ts";

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
  #context: PostgresContext;
  /** The worker plane's attempts and dead letters. */
  readonly attempts: AttemptStore;

  private constructor(
    sql: postgres.Sql,
    schema: string,
    snapshotEvery: number,
    reopen: () => postgres.Sql,
  ) {
    this.#context = new PostgresContext(sql, {
      schema,
      snapshotEvery,
      creations: createCommitter,
      appends: runs.appendCommitter,
      audits: audit.auditCommitter,
      releases: releaseCommitter,
      reopen,
    });
    this.attempts = new PostgresAttempts(this.#context);
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
    const open = () => openClient(options.url, { max, applicationName: "oris" });
    const sql = open();
    try {
      await applyMigrations(sql, schema, { createSchema: options.createSchema ?? true });
      // The connection that migrated fetched the array types: later ones need not.
      if (!pinArrayTypes(sql)) {
        await sql`SELECT 1`;
        pinArrayTypes(sql);
      }
    } catch (error) {
      await sql.end({ timeout: 1 });
      throw toStorageError(`connect to schema "${schema}"`, error);
    }
    return new PostgresStore(sql, schema, snapshotEvery, open);
  }

  /** The schema this store uses. */
  get schema(): string {
    return this.#context.schema;
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
    return runs.createRun(this.#context, event);
  }

  /**
   * Creates a run leased to its creator (and started), in one statement; see
   * {@linkcode OwnershipStore.createLeasedRun}. Under a tenant cap, a run
   * with a tenant is created without a lease (`acquireLease` checks the cap).
   *
   * @param event The creating event.
   * @param request The owner, ttl and tenant cap.
   * @param started The run's `run.started`, appended with the lease.
   * @returns What `createRun` returns, and the lease (`null` when the run existed).
   */
  createLeasedRun(
    event: RunCreatedEvent,
    request: LeaseRequest,
    started?: RunStartedEvent,
  ): Promise<CreateRunResult & { lease: Claim | null }> {
    return runs.createLeasedRun(this.#context, event, request, started);
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
   * @param options The holder's fencing token (checked in the same statement), and the
   * mailbox message applied (marked applied in it).
   * @returns The new version.
   * @throws {VersionConflictError} when the run is at another version (nothing is written).
   * @throws {LeaseLostError} when the fencing token is not current (nothing is written).
   * @throws {InvalidArgumentError} when anything is not JSON (nothing is written).
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    return runs.append(this.#context, threadId, expectedVersion, events, snapshot, options);
  }

  /**
   * Loads the latest stored snapshot of a run and the events after it, in
   * one statement (so one consistent read).
   *
   * @param threadId The run.
   * @returns The snapshot and events, or `null` for an unknown run.
   */
  load(threadId: ThreadId): Promise<LoadedRun | null> {
    return runs.load(this.#context, threadId);
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
    return runs.readEvents(this.#context, threadId, fromSeq, options);
  }

  /**
   * Gets one checkpoint of a run.
   *
   * @param threadId The run.
   * @param checkpointId The checkpoint.
   * @returns The checkpoint, or `null`.
   */
  getCheckpoint(threadId: ThreadId, checkpointId: CheckpointId): Promise<CheckpointRecord | null> {
    return checkpoints.getCheckpoint(this.#context, threadId, checkpointId);
  }

  /**
   * Lists a run's checkpoints, newest first.
   *
   * @param threadId The run.
   * @param options Limit and cursor.
   * @returns One page.
   */
  listCheckpoints(threadId: ThreadId, options: PageOptions = {}): Promise<Page<CheckpointRecord>> {
    return checkpoints.listCheckpoints(this.#context, threadId, options);
  }

  /**
   * Lists runs, newest first (by creation, then by thread id, descending),
   * paged by that key.
   *
   * @param options Status and graph filters, limit and cursor.
   * @returns One page.
   */
  listRuns(options: ListRunsOptions = {}): Promise<Page<RunSummary>> {
    return runs.listRuns(this.#context, options);
  }

  /**
   * Records an effect unless its key is taken; the first record wins and is
   * returned.
   *
   * @param record The effect.
   * @param options The holder's fencing token (checked in the same statement).
   * @returns The stored record.
   * @throws {LeaseLostError} when the fencing token is not current (nothing is written).
   * @throws {InvalidArgumentError} when the record is not JSON (nothing is written).
   */
  recordEffect(record: EffectRecord, options: RecordEffectOptions = {}): Promise<EffectRecord> {
    return effects.recordEffect(this.#context, record, options);
  }

  /**
   * Gets a recorded effect.
   *
   * @param key Its key.
   * @returns The record, or `null`.
   */
  getEffect(key: EffectKey): Promise<EffectRecord | null> {
    return effects.getEffect(this.#context, key);
  }

  /**
   * Lists a run's recorded effects by step, node and index.
   *
   * @param threadId The run.
   * @param step Only this step, if given.
   * @returns The records.
   */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]> {
    return effects.listEffects(this.#context, threadId, step);
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
    return idempotency.claimIdempotency(this.#context, record);
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
    return idempotency.completeIdempotency(this.#context, key, response);
  }

  /**
   * Releases a claim (a no-op for a key that is not claimed).
   *
   * @param key The key.
   * @throws {InvalidArgumentError} when the key is malformed.
   */
  releaseIdempotency(key: string): Promise<void> {
    return idempotency.releaseIdempotency(this.#context, key);
  }

  /**
   * Gets an interrupt of the index.
   *
   * @param interruptId The interrupt.
   * @returns The row, or `null`.
   */
  getInterrupt(interruptId: string): Promise<InterruptRow | null> {
    return interrupts.getInterrupt(this.#context, interruptId);
  }

  /**
   * Lists interrupts, newest first (then by id, descending), paged by key.
   *
   * @param options Status and run filters, limit and cursor.
   * @returns One page.
   */
  listInterrupts(options: ListInterruptsOptions = {}): Promise<Page<InterruptRow>> {
    return interrupts.listInterrupts(this.#context, options);
  }

  /**
   * Appends an audit entry. An entry whose id is stored already is kept as
   * it is, so that a retried write does not add it twice.
   *
   * @param record The entry.
   * @throws {InvalidArgumentError} when it is not JSON.
   */
  appendAudit(record: AuditRecord): Promise<void> {
    return audit.appendAudit(this.#context, record);
  }

  /**
   * Lists audit entries, newest first (then by id, descending), paged by key.
   *
   * @param options Request, action and time filters, limit and cursor.
   * @returns One page.
   */
  listAudit(options: ListAuditOptions = {}): Promise<Page<AuditRecord>> {
    return audit.listAudit(this.#context, options);
  }

  /**
   * Creates or replaces an API key.
   *
   * @param record The key (its secret hashed).
   * @throws {InvalidArgumentError} when it is not JSON or its status is unknown.
   */
  putApiKey(record: ApiKeyRecord): Promise<void> {
    return apiKeys.putApiKey(this.#context, record);
  }

  /**
   * Gets an API key.
   *
   * @param keyId The key's id.
   * @returns The key, or `null`.
   */
  getApiKey(keyId: string): Promise<ApiKeyRecord | null> {
    return apiKeys.getApiKey(this.#context, keyId);
  }

  /**
   * Creates an API key unless one with its id exists (one statement).
   *
   * @param record The key (its secret hashed).
   * @returns `true` when it was created.
   */
  createApiKey(record: ApiKeyRecord): Promise<boolean> {
    return apiKeys.createApiKey(this.#context, record);
  }

  /**
   * Lists API keys by key id.
   *
   * @param options Limit and cursor.
   * @returns One page.
   */
  listApiKeys(options: PageOptions = {}): Promise<Page<ApiKeyRecord>> {
    return apiKeys.listApiKeys(this.#context, options);
  }

  /**
   * Counts the stored API keys.
   *
   * @returns How many there are.
   */
  countApiKeys(): Promise<number> {
    return apiKeys.countApiKeys(this.#context);
  }

  /** Acquires a run's lease; see {@linkcode OwnershipStore.acquireLease}. */
  acquireLease(threadId: ThreadId, request: LeaseRequest): Promise<Claim | null> {
    return ownership.acquireLease(this.#context, threadId, request);
  }

  /** Claims runnable runs (`FOR UPDATE SKIP LOCKED`); see {@linkcode OwnershipStore.claimRuns}. */
  claimRuns(request: ClaimRequest): Promise<Claim[]> {
    return ownership.claimRuns(this.#context, request);
  }

  /** Renews leases; see {@linkcode OwnershipStore.renewLeases}. */
  renewLeases(owner: string, leases: readonly LeaseRef[], ttlMs: number): Promise<Claim[]> {
    return ownership.renewLeases(this.#context, owner, leases, ttlMs);
  }

  /** Releases a lease; see {@linkcode OwnershipStore.releaseLease}. */
  releaseLease(owner: string, lease: LeaseRef): Promise<ReleaseOutcome> {
    return ownership.releaseLease(this.#context, owner, lease);
  }

  /** A run's lease; see {@linkcode OwnershipStore.getLease}. */
  getLease(threadId: ThreadId): Promise<Lease | null> {
    return ownership.getLease(this.#context, threadId);
  }

  /** Posts a control message (and notifies); see {@linkcode OwnershipStore.postMessage}. */
  postMessage(threadId: ThreadId, message: MailMessage): Promise<PostResult> {
    return ownership.postMessage(this.#context, threadId, message);
  }

  /** A run's pending messages; see {@linkcode OwnershipStore.pendingMessages}. */
  pendingMessages(threadId: ThreadId): Promise<MailRecord[]> {
    return ownership.pendingMessages(this.#context, threadId);
  }

  /** A message; see {@linkcode OwnershipStore.getMessage}. */
  getMessage(threadId: ThreadId, seq: number): Promise<MailRecord | null> {
    return ownership.getMessage(this.#context, threadId, seq);
  }

  /** Answers a message; see {@linkcode OwnershipStore.answerMessage}. */
  answerMessage(threadId: ThreadId, seq: number, answer: MailAnswer, fence: number): Promise<void> {
    return ownership.answerMessage(this.#context, threadId, seq, answer, fence);
  }

  /** The queue of runs waiting to start; see {@linkcode OwnershipStore.queueStats}. */
  queueStats(): Promise<QueueStats> {
    return ownership.queueStats(this.#context);
  }

  /** Sends a signal (`NOTIFY`); see {@linkcode OwnershipStore.notify}. */
  notify(signal: StoreSignal): Promise<void> {
    return this.#context.io("send a signal", () => ownership.signal(this.#context, signal));
  }

  /** Receives signals (`LISTEN`); see {@linkcode OwnershipStore.subscribe}. */
  subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    return ownership.subscribe(this.#context, listener);
  }

  /**
   * Checks that PostgreSQL answers.
   *
   * @throws {StorageError} when it does not.
   */
  ping(): Promise<void> {
    const context = this.#context;
    return context.io("ping PostgreSQL", async () => {
      await context.query("SELECT 1", []);
    });
  }

  /**
   * Waits for appends in flight, then closes the pool. Idempotent; later
   * calls of other methods fail.
   */
  close(): Promise<void> {
    return this.#context.close();
  }

  /** Closes the store, as {@linkcode PostgresStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function wholeNumber(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot connect: ${name} must be a whole number from 1, got ${value}`);
  }
  return value;
}
