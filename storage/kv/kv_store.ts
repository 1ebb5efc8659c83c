/**
 * The Deno KV {@linkcode Store}: the embedded, durable default.
 *
 * {@linkcode KvStore} opens the database, keeps the lifecycle and turns
 * driver failures into `StorageError`s; each part of the Store is a file of
 * its own, sharing one context (`_context.ts`: the handle, the head cache,
 * the group committer):
 *
 * - `runs.ts`: runs, their event logs (one atomic commit per append, group
 *   committed across runs), snapshots and listing;
 * - `checkpoints.ts`: checkpoints, indexed from the log when read;
 * - `effects.ts`: the effect journal;
 * - `interrupts.ts`: the interrupt index, written in the commit of the append
 *   whose events change it;
 * - `idempotency.ts`, `audit.ts`, `api_keys.ts`: the other control records.
 *
 * The key layout is in `_keys.ts`; values over 60 KiB are written as chunks
 * (`_blobs.ts`).
 *
 * @module
 */

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
  OrisError,
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
  StorageError,
  type Store,
  type StoredEvent,
  type StoreSignal,
  type ThreadId,
} from "../../kernel/mod.ts";
import { isBusy } from "./_commit.ts";
import { createContext, type KvContext } from "./_context.ts";
import { PING_KEY } from "./_keys.ts";
import { messageOf, openDatabase, snapshotEveryOf } from "./_open.ts";
import * as apiKeys from "./api_keys.ts";
import { kvAttempts } from "./attempts.ts";
import * as audit from "./audit.ts";
import * as checkpoints from "./checkpoints.ts";
import * as effects from "./effects.ts";
import * as idempotency from "./idempotency.ts";
import * as interrupts from "./interrupts.ts";
import { kvOwnership } from "./ownership.ts";
import * as runs from "./runs.ts";
import type { LocalOwnership } from "../_ownership.ts";

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
  #ctx: KvContext;
  #closed = false;
  #ownership: LocalOwnership;
  /** The worker plane's attempts and dead letters. */
  readonly attempts: AttemptStore;

  // A TypeScript `private` constructor (a `#` one does not exist): open with KvStore.open().
  private constructor(kv: Deno.Kv, snapshotEvery: number) {
    this.#ctx = createContext(kv, snapshotEvery);
    this.#ownership = kvOwnership(this.#ctx);
    this.attempts = kvAttempts(kv);
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
    const snapshotEvery = snapshotEveryOf(options.snapshotEvery);
    const kv = await openDatabase(options.path);
    return new KvStore(kv, snapshotEvery);
  }

  /**
   * Creates a run from its `run.created` event, idempotently.
   *
   * @param event The creating event.
   * @returns Whether it was created, and the run as it is now.
   * @throws {IdempotencyConflictError} when the run exists with another payload.
   * @throws {InvalidArgumentError} when the event is not valid or not JSON.
   */
  createRun(event: RunCreatedEvent): Promise<CreateRunResult> {
    return this.#do("create a run", () => runs.createNoted(this.#ctx, this.#ownership, event));
  }

  /** Creates a run leased (and started) in one commit; see {@linkcode OwnershipStore.createLeasedRun}. */
  createLeasedRun(
    event: RunCreatedEvent,
    request: LeaseRequest,
    started?: RunStartedEvent,
  ): Promise<CreateRunResult & { lease: Claim | null }> {
    const ownership = this.#ownership;
    return this.#do(
      "create a run",
      () => runs.createLeasedRun(this.#ctx, ownership, event, request, started),
    );
  }

  /**
   * Appends events in one atomic commit if the run is at `expectedVersion`.
   *
   * @param threadId The run.
   * @param expectedVersion The version the run must be at.
   * @param events The events.
   * @param snapshot The run after them.
   * @param options The holder's fencing token, and the mailbox message applied.
   * @returns The new version.
   * @throws {VersionConflictError} when the run is at another version (nothing is written).
   * @throws {LeaseLostError} when the fencing token is not current (nothing is written).
   * @throws {InvalidArgumentError} when anything is not valid or not JSON (nothing is written).
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    return this.#do(`append to run "${threadId}"`, async () => {
      const result = await this.#ownership.fenced(
        threadId,
        options.fence,
        () => runs.append(this.#ctx, threadId, expectedVersion, events, snapshot),
      );
      this.#ownership.noteStatus(threadId, snapshot);
      if (options.ack !== undefined) this.#ownership.applied(threadId, options.ack, result.version);
      return result;
    });
  }

  /**
   * Loads the latest stored snapshot of a run and the events after it.
   *
   * @param threadId The run.
   * @returns The snapshot and events, or `null` for an unknown run.
   */
  load(threadId: ThreadId): Promise<LoadedRun | null> {
    return this.#do(`load run "${threadId}"`, () => runs.load(this.#ctx, threadId));
  }

  /**
   * Reads a run's events from a seq, ascending.
   *
   * @param threadId The run.
   * @param fromSeq The first seq to read.
   * @param options How many at most.
   * @returns The events (empty for an unknown run).
   * @throws {InvalidArgumentError} when `limit` is out of range or `fromSeq` is not a number.
   */
  readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options: ReadEventsOptions = {},
  ): Promise<StoredEvent[]> {
    return this.#do(
      `read the events of run "${threadId}"`,
      () => runs.readEvents(this.#ctx, threadId, fromSeq, options),
    );
  }

  /**
   * Gets one checkpoint of a run.
   *
   * @param threadId The run.
   * @param checkpointId The checkpoint.
   * @returns The checkpoint, or `null`.
   */
  getCheckpoint(threadId: ThreadId, checkpointId: CheckpointId): Promise<CheckpointRecord | null> {
    return this.#do(
      `get a checkpoint of run "${threadId}"`,
      () => checkpoints.getCheckpoint(this.#ctx, threadId, checkpointId),
    );
  }

  /**
   * Lists a run's checkpoints, newest first.
   *
   * @param threadId The run.
   * @param options Limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit or cursor is not valid.
   */
  listCheckpoints(threadId: ThreadId, options: PageOptions = {}): Promise<Page<CheckpointRecord>> {
    return this.#do(
      `list the checkpoints of run "${threadId}"`,
      () => checkpoints.listCheckpoints(this.#ctx, threadId, options),
    );
  }

  /**
   * Lists runs, newest first (by creation), paging by that key: a run is
   * listed exactly once while runs change between pages.
   *
   * @param options Status filter, limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit or cursor is not valid.
   */
  listRuns(options: ListRunsOptions = {}): Promise<Page<RunSummary>> {
    return this.#do("list runs", () => runs.listRuns(this.#ctx, options));
  }

  /**
   * Records an effect unless its key is taken; the first record wins, also
   * across instances and processes.
   *
   * @param record The effect.
   * @param options The holder's fencing token.
   * @returns The stored record.
   * @throws {LeaseLostError} when the fencing token is not current (nothing is written).
   * @throws {InvalidArgumentError} when the key is malformed or the result is not JSON.
   */
  recordEffect(record: EffectRecord, options: RecordEffectOptions = {}): Promise<EffectRecord> {
    return this.#do(
      `record an effect of run "${record?.threadId}"`,
      () =>
        this.#ownership.fenced(
          record?.threadId,
          options.fence,
          () => effects.recordEffect(this.#ctx, record),
        ),
    );
  }

  /**
   * Gets a recorded effect.
   *
   * @param key Its key.
   * @returns The record, or `null`.
   * @throws {InvalidArgumentError} when the key is malformed.
   */
  getEffect(key: EffectKey): Promise<EffectRecord | null> {
    return this.#do(
      `get an effect of run "${key?.threadId}"`,
      () => effects.getEffect(this.#ctx, key),
    );
  }

  /**
   * Lists a run's recorded effects by step, node and index.
   *
   * @param threadId The run.
   * @param step Only this step, if given.
   * @returns The records.
   * @throws {InvalidArgumentError} when the thread id is malformed.
   */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]> {
    return this.#do(
      `list the effects of run "${threadId}"`,
      () => effects.listEffects(this.#ctx, threadId, step),
    );
  }

  /**
   * Claims an idempotency key: the first claim wins, also across instances
   * and processes sharing the database (one atomic commit that requires the
   * key to be absent).
   *
   * @param record The claim.
   * @returns Whether this call claimed it, and the stored record.
   * @throws {InvalidArgumentError} when the key or record is malformed.
   */
  claimIdempotency(
    record: IdempotencyRecord,
  ): Promise<{ claimed: boolean; record: IdempotencyRecord }> {
    return this.#do(
      "claim an idempotency key",
      () => idempotency.claimIdempotency(this.#ctx, record),
    );
  }

  /**
   * Stores the response of a claimed idempotency key.
   *
   * @param key The key.
   * @param response The response to replay.
   * @throws {NotFoundError} when the key is not claimed.
   * @throws {InvalidArgumentError} when the key is malformed or the response is not JSON.
   */
  completeIdempotency(key: string, response: Json): Promise<void> {
    return this.#do(
      "complete an idempotency key",
      () => idempotency.completeIdempotency(this.#ctx, key, response),
    );
  }

  /**
   * Releases a claimed idempotency key (nothing happens for an unknown key).
   *
   * @param key The key.
   * @throws {InvalidArgumentError} when the key is malformed.
   */
  releaseIdempotency(key: string): Promise<void> {
    return this.#do(
      "release an idempotency key",
      () => idempotency.releaseIdempotency(this.#ctx, key),
    );
  }

  /**
   * Gets an interrupt of the index.
   *
   * @param interruptId The interrupt.
   * @returns The row, or `null`.
   */
  getInterrupt(interruptId: string): Promise<InterruptRow | null> {
    return this.#do("get an interrupt", () => interrupts.getInterrupt(this.#ctx, interruptId));
  }

  /**
   * Lists interrupts, newest first (by creation time, then id). A status
   * filter reads one key range; a run filter reads the run's range.
   *
   * @param options Status and run filters, limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit or cursor is not valid.
   */
  listInterrupts(options: ListInterruptsOptions = {}): Promise<Page<InterruptRow>> {
    return this.#do("list interrupts", () => interrupts.listInterrupts(this.#ctx, options));
  }

  /**
   * Appends an audit entry: one commit writes it under its time, its action
   * and its request id, so that each of these listings is one key range.
   *
   * @param record The entry.
   * @throws {InvalidArgumentError} when it is not JSON or lacks its id, time, action or request id.
   */
  appendAudit(record: AuditRecord): Promise<void> {
    return this.#do("append an audit entry", () => audit.appendAudit(this.#ctx, record));
  }

  /**
   * Lists audit entries, newest first. A request id or action filter reads
   * that filter's key range; the time window bounds the range.
   *
   * @param options Filters, limit and cursor.
   * @returns One page.
   * @throws {InvalidArgumentError} when the limit, cursor or time window is not valid.
   */
  listAudit(options: ListAuditOptions = {}): Promise<Page<AuditRecord>> {
    return this.#do("list audit entries", () => audit.listAudit(this.#ctx, options));
  }

  /**
   * Creates or replaces an API key (keeping the count of keys in the same commit).
   *
   * @param record The key (its secret hashed).
   * @throws {InvalidArgumentError} when it is not a valid record.
   */
  putApiKey(record: ApiKeyRecord): Promise<void> {
    return this.#do("store an API key", () => apiKeys.putApiKey(this.#ctx, record));
  }

  /**
   * Creates an API key unless one with its id exists (one checked commit).
   *
   * @param record The key (its secret hashed).
   * @returns `true` when it was created.
   * @throws {InvalidArgumentError} when it is not a valid record.
   */
  createApiKey(record: ApiKeyRecord): Promise<boolean> {
    return this.#do("create an API key", () => apiKeys.createApiKey(this.#ctx, record));
  }

  /** Gets an API key by id, or `null`. */
  getApiKey(keyId: string): Promise<ApiKeyRecord | null> {
    return this.#do("get an API key", () => apiKeys.getApiKey(this.#ctx, keyId));
  }

  /**
   * Lists API keys by key id (one key range).
   *
   * @param options Limit and cursor.
   * @returns One page.
   */
  listApiKeys(options: PageOptions = {}): Promise<Page<ApiKeyRecord>> {
    return this.#do("list API keys", () => apiKeys.listApiKeys(this.#ctx, options));
  }

  /** Counts the stored API keys (one read: the count is kept by {@linkcode KvStore.putApiKey}). */
  countApiKeys(): Promise<number> {
    return this.#do("count API keys", () => apiKeys.countApiKeys(this.#ctx));
  }

  /** Acquires a run's lease; see {@linkcode OwnershipStore.acquireLease}. */
  acquireLease(threadId: ThreadId, request: LeaseRequest): Promise<Claim | null> {
    return this.#do("acquire a lease", () => this.#ownership.acquire(threadId, request));
  }

  /** Claims runnable runs; see {@linkcode OwnershipStore.claimRuns}. */
  claimRuns(request: ClaimRequest): Promise<Claim[]> {
    return this.#do("claim runs", () => this.#ownership.claim(request));
  }

  /** Renews leases; see {@linkcode OwnershipStore.renewLeases}. */
  renewLeases(owner: string, leases: readonly LeaseRef[], ttlMs: number): Promise<Claim[]> {
    return this.#do("renew leases", () => this.#ownership.renew(owner, leases, ttlMs));
  }

  /** Releases a lease; see {@linkcode OwnershipStore.releaseLease}. */
  releaseLease(owner: string, lease: LeaseRef): Promise<ReleaseOutcome> {
    return this.#do("release a lease", () => this.#ownership.release(owner, lease));
  }

  /** A run's lease; see {@linkcode OwnershipStore.getLease}. */
  getLease(threadId: ThreadId): Promise<Lease | null> {
    return this.#do("get a lease", () => this.#ownership.get(threadId));
  }

  /** Posts a control message; see {@linkcode OwnershipStore.postMessage}. */
  postMessage(threadId: ThreadId, message: MailMessage): Promise<PostResult> {
    return this.#do("post a message", () => this.#ownership.post(threadId, message));
  }

  /** A run's pending messages; see {@linkcode OwnershipStore.pendingMessages}. */
  pendingMessages(threadId: ThreadId): Promise<MailRecord[]> {
    return this.#do("read messages", () => this.#ownership.pending(threadId));
  }

  /** A message; see {@linkcode OwnershipStore.getMessage}. */
  getMessage(threadId: ThreadId, seq: number): Promise<MailRecord | null> {
    return this.#do("read a message", () => this.#ownership.message(threadId, seq));
  }

  /** Answers a message; see {@linkcode OwnershipStore.answerMessage}. */
  answerMessage(threadId: ThreadId, seq: number, answer: MailAnswer, fence: number): Promise<void> {
    return this.#do("answer", () => this.#ownership.answer(threadId, seq, answer, fence));
  }

  /** The queue of runs waiting to start; see {@linkcode OwnershipStore.queueStats}. */
  queueStats(): Promise<QueueStats> {
    return this.#do("read the queue", () => this.#ownership.stats());
  }

  /** Sends a signal; see {@linkcode OwnershipStore.notify}. */
  notify(signal: StoreSignal): Promise<void> {
    return this.#do("send a signal", () => this.#ownership.notify(signal));
  }

  /** Receives signals; see {@linkcode OwnershipStore.subscribe}. */
  subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    return this.#do("subscribe", () => this.#ownership.subscribe(listener));
  }

  /**
   * Resolves when the database answers.
   *
   * @returns Nothing.
   * @throws {OrisError} code `unavailable` when the store is closed.
   */
  ping(): Promise<void> {
    return this.#do("ping the store", async () => {
      await this.#ctx.kv.get(PING_KEY);
    });
  }

  /**
   * Closes the database; later calls fail. Idempotent. `await using` closes
   * the store too (`[Symbol.asyncDispose]`).
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
   * {
   *   await using other = await KvStore.open({ path: ":memory:" });
   *   await other.ping();
   * } // closed here
   * ```
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#ctx.heads.clear();
      this.#ctx.kv.close();
    }
    return Promise.resolve();
  }

  /**
   * Closes the store, for `await using` (see {@linkcode KvStore.close}).
   *
   * @returns Nothing.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #do<T>(action: string, body: () => T | Promise<T>): Promise<T> {
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
