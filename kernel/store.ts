/**
 * The Store interfaces every storage adapter implements (`MemoryStore`,
 * `KvStore`, `PostgresStore`) and their records: {@linkcode RunStore} (runs,
 * their event logs, snapshots, checkpoints and listings) and
 * {@linkcode EffectJournal}; with `ControlStore` (`control.ts`),
 * `OwnershipStore` (`ownership.ts`) and a lifecycle they make `Store`
 * (`backend.ts`). The helpers the adapters share are beside it:
 * `codec.ts`, `paging.ts`, `snapshot_policy.ts`, `interrupt_index.ts`.
 *
 * @module
 */

import type { RunCreatedEvent, RunEvent, StoredEvent } from "./events.ts";
import type { CheckpointId, ThreadId } from "./ids.ts";
import type { Json } from "./json.ts";
import type { Page, PageOptions } from "./paging.ts";
import type { RunSnapshot, RunStatus } from "./snapshot.ts";

/** The result of {@linkcode RunStore.createRun}. */
export interface CreateRunResult {
  /** `false` when the run already existed with the same payload. */
  created: boolean;
  /** The run as it is now. */
  run: RunSnapshot;
}

/** Options of {@linkcode RunStore.append} for a lease holder (see `OwnershipStore`). */
export interface AppendOptions {
  /** The holder's fencing token: the append is refused with `LeaseLostError` unless it is current. */
  fence?: number;
  /** The mailbox message this append applies (its seq): marked applied in the same commit. */
  ack?: number;
}

/** Options of {@linkcode EffectJournal.recordEffect} for a lease holder. */
export interface RecordEffectOptions {
  /** The holder's fencing token: the record is refused with `LeaseLostError` unless it is current. */
  fence?: number;
}

/** The result of {@linkcode RunStore.append}. */
export interface AppendResult {
  /** The run's version after the append (the seq of its last event). */
  version: number;
}

/** What {@linkcode RunStore.load} returns: the latest stored snapshot and the events after it. */
export interface LoadedRun {
  /** The latest stored snapshot. */
  snapshot: RunSnapshot;
  /** Events with `seq > snapshot.version`, ascending. */
  events: StoredEvent[];
}

/** A committed step of a run, addressable for time travel. */
export interface CheckpointRecord {
  /** The run. */
  threadId: ThreadId;
  /** The checkpoint. */
  checkpointId: CheckpointId;
  /** The checkpoint it follows, or `null` for the first. */
  parentCheckpointId: CheckpointId | null;
  /** The superstep that made it. */
  step: number;
  /** The seq of its `step.committed` (or `state.updated`) event: the run's version there. */
  version: number;
  /** When it was committed (ms). */
  createdAt: number;
}

/** One line of a run listing. */
export interface RunSummary {
  /** The run. */
  threadId: ThreadId;
  /** Its status. */
  status: RunStatus;
  /** Its graph. */
  graph: string;
  /** Its version. */
  version: number;
  /** When it was created (ms). */
  createdAt: number;
  /** When it last changed (ms). */
  updatedAt: number;
  /** Its tenant (`metadata.tenant_id` at creation), or `null`. */
  tenantId: string | null;
  /** Its priority (`metadata.priority` at creation, default 0). */
  priority: number;
}

/** Options of {@linkcode RunStore.listRuns}. */
export interface ListRunsOptions extends PageOptions {
  /** Only runs with this status. */
  status?: RunStatus;
  /** Only runs of this graph. */
  graph?: string;
}

/** Options of {@linkcode RunStore.readEvents}. */
export interface ReadEventsOptions {
  /** How many events at most (default: all). */
  limit?: number;
}

/** The key of an effect in the journal. */
export interface EffectKey {
  /** The run. */
  threadId: ThreadId;
  /** The superstep. */
  step: number;
  /** The node (task path) that ran it. */
  node: string;
  /** The call index within the node's execution, from 0. */
  index: number;
}

/** An error as journaled: enough to throw "the same error" again. */
export interface SerializedError {
  /** The error's `name`. */
  name: string;
  /** The error's `message`. */
  message: string;
  /** The `code` of an `OrisError`, if it was one. */
  code?: string;
  /** The `details` of an `OrisError`, if any. */
  details?: Json;
}

/** The outcome of an effect. */
export type EffectResult = { ok: true; value: Json } | { ok: false; error: SerializedError };

/** A journaled effect. */
export interface EffectRecord extends EffectKey {
  /** The effect's name. */
  name: string;
  /** What it returned or threw. */
  result: EffectResult;
  /**
   * When its function began (ms); absent in records journaled before it was
   * recorded.
   */
  startedAt?: number;
  /** When it finished (ms). */
  recordedAt: number;
}

/**
 * Run data: the append-only event log with snapshots, checkpoints, and
 * listings. Implemented by every storage adapter and checked by one shared
 * conformance suite.
 */
export interface RunStore {
  /**
   * Creates a run from its `run.created` event. Idempotent: the same thread
   * id with the same `payloadHash` returns the existing run.
   *
   * @throws {IdempotencyConflictError} when the run exists with another payload.
   * @throws {InvalidArgumentError} when the event is not JSON or not valid.
   */
  createRun(event: RunCreatedEvent): Promise<CreateRunResult>;
  /**
   * Appends events atomically if the run is at `expectedVersion`. `snapshot`
   * is the fold of the run through these events; the store uses it for
   * listings and persists it according to its snapshot policy.
   *
   * A lease holder passes its fencing token (`options.fence`), checked in the
   * same atomic operation, and the mailbox message the append applies
   * (`options.ack`), marked applied in it.
   *
   * @throws {VersionConflictError} when the run is at another version (nothing is written).
   * @throws {LeaseLostError} when `options.fence` is not the run's current token (nothing is written).
   * @throws {InvalidArgumentError} when anything is not JSON (nothing is written).
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
    options?: AppendOptions,
  ): Promise<AppendResult>;
  /** The latest stored snapshot and the events after it, or `null` for an unknown run. */
  load(threadId: ThreadId): Promise<LoadedRun | null>;
  /** Events with `seq >= fromSeq`, ascending (empty for an unknown run). */
  readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options?: ReadEventsOptions,
  ): Promise<StoredEvent[]>;
  /** One checkpoint of a run, or `null`. */
  getCheckpoint(threadId: ThreadId, checkpointId: CheckpointId): Promise<CheckpointRecord | null>;
  /** A run's checkpoints, newest first. */
  listCheckpoints(threadId: ThreadId, options?: PageOptions): Promise<Page<CheckpointRecord>>;
  /**
   * Runs, newest first (by creation, then thread id descending). Paging is by
   * that key, not offset, and it never changes for a run: a run that exists
   * when a client starts paging (and matches the status filter when its page
   * is read) appears exactly once, however it changes meanwhile, and no run
   * appears twice.
   */
  listRuns(options?: ListRunsOptions): Promise<Page<RunSummary>>;
}

/** The effect journal: results of effects by (thread, step, node, index). */
export interface EffectJournal {
  /**
   * Records an effect's result unless one is already recorded under its key;
   * the first record wins and is returned.
   *
   * @throws {LeaseLostError} when `options.fence` is not the run's current token (nothing is written).
   * @throws {InvalidArgumentError} when the result is not JSON (nothing is written).
   */
  recordEffect(record: EffectRecord, options?: RecordEffectOptions): Promise<EffectRecord>;
  /** The recorded effect under a key, or `null`. */
  getEffect(key: EffectKey): Promise<EffectRecord | null>;
  /** A run's recorded effects (of one step, if given), by step, node and index. */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]>;
}
