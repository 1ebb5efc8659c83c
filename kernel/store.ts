/**
 * The Store interfaces every storage adapter implements (`MemoryStore`,
 * `KvStore`, `PostgresStore`), and the pure helpers they share so that all of
 * them validate and encode the same way.
 *
 * @module
 */

import { type ControlStore, type InterruptChange, interruptChanges } from "./control.ts";
import { InvalidArgumentError, OrisError, toOrisError } from "./errors.ts";
import {
  EVENT_FORMAT_VERSION,
  type RunCreatedEvent,
  type RunEvent,
  type StoredEvent,
} from "./events.ts";
import {
  type CheckpointId,
  isValidId,
  parseCheckpointId,
  parseThreadId,
  type ThreadId,
} from "./ids.ts";
import { assertJson, encodeJson, isJsonObject, type Json } from "./json.ts";
import { fold, foldAll, RUN_STATUSES, type RunSnapshot, type RunStatus } from "./snapshot.ts";

/** The result of {@linkcode RunStore.createRun}. */
export interface CreateRunResult {
  /** `false` when the run already existed with the same payload. */
  created: boolean;
  /** The run as it is now. */
  run: RunSnapshot;
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
}

/** One page of a listing. */
export interface Page<T> {
  /** The items, in listing order. */
  items: T[];
  /** Pass as `cursor` to get the next page; `null` on the last page. */
  nextCursor: string | null;
}

/** Options of a paged listing. */
export interface PageOptions {
  /**
   * How many items at most.
   * @default {50}
   */
  limit?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | null;
}

/** Options of {@linkcode RunStore.listRuns}. */
export interface ListRunsOptions extends PageOptions {
  /** Only runs with this status. */
  status?: RunStatus;
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
   * @throws {VersionConflictError} when the run is at another version (nothing is written).
   * @throws {InvalidArgumentError} when anything is not JSON (nothing is written).
   */
  append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
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
   * Runs, most recently updated first. Paging is by key, not offset: a run
   * that is not updated while a client pages appears exactly once, and no run
   * appears twice (a run updated meanwhile moves to the head of the listing).
   */
  listRuns(options?: ListRunsOptions): Promise<Page<RunSummary>>;
}

/** The effect journal: results of effects by (thread, step, node, index). */
export interface EffectJournal {
  /**
   * Records an effect's result unless one is already recorded under its key;
   * the first record wins and is returned.
   *
   * @throws {InvalidArgumentError} when the result is not JSON (nothing is written).
   */
  recordEffect(record: EffectRecord): Promise<EffectRecord>;
  /** The recorded effect under a key, or `null`. */
  getEffect(key: EffectKey): Promise<EffectRecord | null>;
  /** A run's recorded effects (of one step, if given), by step, node and index. */
  listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]>;
}

/** A storage backend: run data, effect journal and control records, with a lifecycle. */
export interface Store extends RunStore, EffectJournal, ControlStore, AsyncDisposable {
  /** Checks that the backend is reachable. */
  ping(): Promise<void>;
  /** Releases connections and handles. Idempotent. */
  close(): Promise<void>;
}

/** The largest `limit` a listing accepts. */
export const MAX_PAGE_LIMIT = 1000;
/** The `limit` of a listing that gives none. */
export const DEFAULT_PAGE_LIMIT = 50;

/**
 * Validates a listing's `limit`.
 *
 * @param limit The caller's limit, if any.
 * @returns A whole number from 1 to {@linkcode MAX_PAGE_LIMIT}.
 * @throws {InvalidArgumentError} otherwise.
 *
 * @example
 * ```ts
 * import { pageLimit } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(pageLimit(undefined), 50);
 * assert.throws(() => pageLimit(-1), /limit must be/);
 * ```
 */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new InvalidArgumentError(
      `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}, got ${limit}`,
      {
        field: "limit",
      },
    );
  }
  return limit;
}

/**
 * Builds a page from rows read with one more than `limit`: the first `limit`
 * rows, and a cursor at the last of them when more remain.
 *
 * @internal Shared by the storage adapters.
 * @param rows The rows read (at most `limit`, or more when a next page exists).
 * @param limit The page size.
 * @param position The listing position of an item, encoded into the cursor.
 * @param map Converts a row to an item (default: as is).
 * @returns The page.
 *
 * @example
 * ```ts
 * import { decodeCursor, pageOf } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * const page = pageOf([3, 2, 1], 2, (n) => n);
 * assert.deepEqual(page.items, [3, 2]);
 * assert.equal(decodeCursor(page.nextCursor!), 2);
 * ```
 */
export function pageOf<R, T = R>(
  rows: readonly R[],
  limit: number,
  position: (last: T) => Json,
  map: (row: R) => T = (row) => row as unknown as T,
): Page<T> {
  const items = rows.slice(0, limit).map(map);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null,
  };
}

/**
 * Encodes a listing position as an opaque cursor.
 *
 * @param position JSON describing where the page ended.
 * @returns A URL-safe string.
 *
 * @example
 * ```ts
 * import { decodeCursor, encodeCursor } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeCursor(encodeCursor([5, "t"])), [5, "t"]);
 * ```
 */
export function encodeCursor(position: Json): string {
  const bytes = new TextEncoder().encode(JSON.stringify(position));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/**
 * Decodes a cursor made by {@linkcode encodeCursor}.
 *
 * @param cursor The cursor.
 * @returns The position.
 * @throws {InvalidArgumentError} when it is not a cursor.
 *
 * @example
 * ```ts
 * import { decodeCursor } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decodeCursor("%%%"), /cursor is not valid/);
 * ```
 */
export function decodeCursor(cursor: string): Json {
  try {
    const binary = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(binary, (char) => char.charCodeAt(0)),
    );
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new InvalidArgumentError("cursor is not valid", { field: "cursor", cause: error });
  }
}

/** An event ready to write: its seq, type, time and JSON text. */
export interface EncodedEvent {
  /** Its position in the log. */
  seq: number;
  /** Its type. */
  type: RunEvent["type"];
  /** Its time (ms). */
  at: number;
  /** Its JSON text. */
  json: string;
}

/** An append, validated and encoded: what an adapter writes. */
export interface EncodedAppend {
  /** The run. */
  threadId: ThreadId;
  /** The version the run must be at. */
  expectedVersion: number;
  /** The events with their seqs. */
  events: EncodedEvent[];
  /** The size of the events' JSON texts together (characters), for the snapshot policy. */
  eventBytes: number;
  /** The snapshot's JSON text, or `null` when the snapshot is not to be written. */
  snapshotJson: string | null;
  /** The snapshot. */
  snapshot: RunSnapshot;
  /** The run's listing line after the append. */
  summary: RunSummary;
  /** Checkpoints made by `step.committed` and `state.updated` events. */
  checkpoints: CheckpointRecord[];
  /** Changes to the interrupt index made by the events. */
  interruptChanges: InterruptChange[];
}

/**
 * Validates and encodes an append so that every adapter checks the same
 * things before writing anything: a valid thread id, a whole expected
 * version, at least one event, everything JSON, and a snapshot of this run at
 * the resulting version. Whether the snapshot is written may depend on the
 * size of the encoded events ({@linkcode snapshotDue}): `writeSnapshot` may
 * be a function, called once everything else is validated and encoded.
 *
 * @internal Shared by the storage adapters.
 * @param threadId The run.
 * @param expectedVersion The version the run must be at.
 * @param events The events to append.
 * @param snapshot The run after them.
 * @param writeSnapshot Whether the snapshot will be persisted (then it is encoded and checked
 * too), or a function of the events' encoded size ({@linkcode EncodedAppend.eventBytes}) that
 * decides it.
 * @returns The encoded append.
 * @throws {InvalidArgumentError} on any violation.
 *
 * @example
 * ```ts
 * import { encodeAppend } from "./store.ts";
 * import { fold } from "./snapshot.ts";
 * import type { RunCreatedEvent, RunEvent } from "./events.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const created: RunCreatedEvent = { type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] };
 * const run = fold(null, created);
 * const event: RunEvent = { type: "run.cancelled", v: 1, at: 2, reason: null };
 * const append = encodeAppend("t" as ThreadId, 1, [event], fold(run, event));
 * assert.equal(append.events[0]?.seq, 2);
 * assert.equal(append.eventBytes, append.events[0]?.json.length);
 * const skipped = encodeAppend("t" as ThreadId, 1, [event], fold(run, event), (bytes) => bytes > 1e6);
 * assert.equal(skipped.snapshotJson, null);
 * ```
 */
export function encodeAppend(
  threadId: ThreadId,
  expectedVersion: number,
  events: readonly RunEvent[],
  snapshot: RunSnapshot,
  writeSnapshot: boolean | ((eventBytes: number) => boolean) = true,
): EncodedAppend {
  parseThreadId(threadId);
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
    throw new InvalidArgumentError(
      `expectedVersion must be a whole number, got ${expectedVersion}`,
      {
        field: "expectedVersion",
      },
    );
  }
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidArgumentError("Cannot append: no events given", { field: "events" });
  }
  const encoded = events.map((event, i): EncodedEvent => {
    const json = encodeJson(event, `event ${i + 1} of the append`);
    if (
      !isJsonObject(event as unknown) || typeof event.type !== "string" ||
      !Number.isFinite(event.at)
    ) {
      throw new InvalidArgumentError(`Cannot append: event ${i + 1} has no type or time`, {
        field: "events",
      });
    }
    return { seq: expectedVersion + i + 1, type: event.type, at: event.at, json };
  });
  const version = expectedVersion + events.length;
  if (snapshot?.threadId !== threadId || snapshot.version !== version) {
    throw new InvalidArgumentError(
      `Cannot append to run "${threadId}": the snapshot must be of this run at version ${version}`,
      { field: "snapshot" },
    );
  }
  if (!(RUN_STATUSES as readonly string[]).includes(snapshot.status)) {
    throw new InvalidArgumentError(`Cannot append: unknown status "${snapshot.status}"`, {
      field: "snapshot",
    });
  }
  const checkpoints: CheckpointRecord[] = [];
  encoded.forEach((item, i) => {
    const event = events[i]!;
    if (event.type === "step.committed" || event.type === "state.updated") {
      checkpoints.push({
        threadId,
        checkpointId: parseCheckpointId(event.checkpointId),
        parentCheckpointId: event.parentCheckpointId === null
          ? null
          : parseCheckpointId(event.parentCheckpointId),
        step: event.step,
        version: item.seq,
        createdAt: event.at,
      });
    }
  });
  const changes = interruptChanges(threadId, events);
  let eventBytes = 0;
  for (const item of encoded) eventBytes += item.json.length;
  const due = typeof writeSnapshot === "function" ? writeSnapshot(eventBytes) : writeSnapshot;
  const snapshotJson = due ? encodeJson(snapshot, "snapshot") : null;
  return {
    threadId,
    expectedVersion,
    events: encoded,
    eventBytes,
    snapshotJson,
    snapshot,
    summary: summarize(snapshot),
    checkpoints,
    interruptChanges: changes,
  };
}

/** The default of the adapters' `snapshotEvery`: at most this many versions between snapshots. */
export const DEFAULT_SNAPSHOT_EVERY = 64;

/**
 * The floor of the byte rule of {@linkcode snapshotDue}: a running run whose
 * snapshot is smaller than this gets a new one once this many characters of
 * events follow it (so that a tiny state is not rewritten at every step).
 */
export const SNAPSHOT_MIN_BYTES = 4096;

/**
 * What an adapter knows of a run's stored snapshot, for {@linkcode snapshotDue}.
 * Sizes are lengths of JSON text (characters: bytes for ASCII).
 *
 * @internal Shared by the storage adapters.
 */
export interface StoredSnapshotInfo {
  /** The stored snapshot's version. */
  version: number;
  /** The size of its JSON text. */
  bytes: number;
  /** The size of the JSON texts of the events stored after it. */
  tailBytes: number;
}

/**
 * The snapshot policy of the adapters: whether an append should persist its
 * snapshot. It is written
 * - when nothing is known of the stored snapshot (`stored` is `null`: a run
 *   the adapter has not written or read since it opened);
 * - when the run comes to rest (not `queued` or `running`), so that it loads
 *   in one read;
 * - when the events stored after the snapshot, this append's included, reach
 *   its size (or {@linkcode SNAPSHOT_MIN_BYTES}, whichever is larger);
 * - and at the latest `every` versions after the stored one.
 *
 * So a step of a long conversation writes, amortized, about twice its events'
 * bytes rather than its whole state every few versions, and a load reads at
 * most about one snapshot's worth of events after the snapshot.
 *
 * @internal Shared by the storage adapters.
 * @param snapshot The run after the append.
 * @param stored The run's stored snapshot before the append (`null`: none or unknown).
 * @param appendBytes The size of this append's events ({@linkcode EncodedAppend.eventBytes}).
 * @param every At most this many versions between snapshots; 1 writes at every append.
 * @returns Whether to write the snapshot.
 *
 * @example
 * ```ts
 * import { snapshotDue } from "./store.ts";
 * import { fold } from "./snapshot.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const run = fold(null, { type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] });
 * assert.ok(snapshotDue(run, null, 100, 64));
 * const stored = { version: 0, bytes: 50_000, tailBytes: 10_000 };
 * assert.ok(!snapshotDue(run, stored, 100, 64));
 * assert.ok(snapshotDue(run, stored, 40_000, 64));
 * ```
 */
export function snapshotDue(
  snapshot: RunSnapshot,
  stored: StoredSnapshotInfo | null,
  appendBytes: number,
  every: number,
): boolean {
  if (stored === null) return true;
  if (snapshot.status !== "running" && snapshot.status !== "queued") return true;
  if (snapshot.version - stored.version >= every) return true;
  return stored.tailBytes + appendBytes >= Math.max(stored.bytes, SNAPSHOT_MIN_BYTES);
}

/**
 * What is known of a run's stored snapshot after an append was written: the
 * snapshot it wrote, or the one before with the append's events added to its
 * tail.
 *
 * @internal Shared by the storage adapters.
 * @param stored What was known before the append (`null`: unknown).
 * @param append The append as written.
 * @returns What is known now (`null`: unknown).
 *
 * @example
 * ```ts
 * import { encodeAppend, storedSnapshotAfter } from "./store.ts";
 * import { fold } from "./snapshot.ts";
 * import type { RunEvent } from "./events.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const run = fold(null, { type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] });
 * const event: RunEvent = { type: "run.paused", v: 1, at: 2, reason: null };
 * const append = encodeAppend("t" as ThreadId, 1, [event], fold(run, event), false);
 * const after = storedSnapshotAfter({ version: 1, bytes: 200, tailBytes: 0 }, append);
 * assert.deepEqual(after, { version: 1, bytes: 200, tailBytes: append.eventBytes });
 * ```
 */
export function storedSnapshotAfter(
  stored: StoredSnapshotInfo | null,
  append: EncodedAppend,
): StoredSnapshotInfo | null {
  if (append.snapshotJson !== null) {
    return { version: append.snapshot.version, bytes: append.snapshotJson.length, tailBytes: 0 };
  }
  return stored === null ? null : { ...stored, tailBytes: stored.tailBytes + append.eventBytes };
}

/**
 * Validates and encodes a `run.created` event: the append of seq 1.
 *
 * @internal Shared by the storage adapters.
 * @param event The creating event.
 * @returns The encoded append at expected version 0.
 * @throws {InvalidArgumentError} when the event is not valid or not JSON.
 *
 * @example
 * ```ts
 * import { encodeCreate } from "./store.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const append = encodeCreate({ type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] });
 * assert.equal(append.snapshot.status, "queued");
 * ```
 */
export function encodeCreate(event: RunCreatedEvent): EncodedAppend {
  if (event?.type !== "run.created") {
    throw new InvalidArgumentError('Cannot create a run: the event must be "run.created"', {
      field: "event",
    });
  }
  const threadId = parseThreadId(event.threadId);
  parseGraphName(event.graph);
  assertJson(event, "run.created event");
  if (!isJsonObject(event.state) || !Array.isArray(event.next)) {
    throw new InvalidArgumentError("Cannot create a run: state must be an object and next a list", {
      field: "state",
    });
  }
  if (typeof event.payloadHash !== "string" || event.payloadHash.length === 0) {
    throw new InvalidArgumentError("Cannot create a run: payloadHash must not be empty", {
      field: "payloadHash",
    });
  }
  return encodeAppend(threadId, 0, [event], fold(null, event));
}

/**
 * Validates and encodes an effect record.
 *
 * @internal Shared by the storage adapters.
 * @param record The record.
 * @returns Its JSON text.
 * @throws {InvalidArgumentError} when the key is malformed or the result is not JSON.
 *
 * @example
 * ```ts
 * import { encodeEffect } from "./store.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => encodeEffect({ threadId: "t" as ThreadId, step: 1, node: "a", index: 0, name: "x", result: { ok: true, value: NaN }, recordedAt: 0 }), /NaN/);
 * ```
 */
export function encodeEffect(record: EffectRecord): string {
  checkEffectKey(record);
  if (typeof record.name !== "string") {
    throw new InvalidArgumentError("effect name must be a string", { field: "name" });
  }
  if (record.result?.ok !== true && record.result?.ok !== false) {
    throw new InvalidArgumentError("effect result must have ok: true or false", {
      field: "result",
    });
  }
  return encodeJson(record, `effect "${record.name}"`);
}

/**
 * Validates an effect key.
 *
 * @internal Shared by the storage adapters.
 * @param key The key.
 * @throws {InvalidArgumentError} when a part is malformed.
 *
 * @example
 * ```ts
 * import { checkEffectKey } from "./store.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => checkEffectKey({ threadId: "t" as ThreadId, step: 1, node: "a", index: -1 }), /index/);
 * ```
 */
export function checkEffectKey(key: EffectKey): void {
  parseThreadId(key.threadId);
  for (const field of ["step", "index"] as const) {
    if (!Number.isSafeInteger(key[field]) || key[field] < 0) {
      throw new InvalidArgumentError(`effect ${field} must be a whole number, got ${key[field]}`, {
        field,
      });
    }
  }
  if (
    typeof key.node !== "string" || key.node.length === 0 || key.node.length > MAX_NODE_PATH ||
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f]/.test(key.node)
  ) {
    throw new InvalidArgumentError(
      `effect node must be 1 to ${MAX_NODE_PATH} characters without control characters`,
      { field: "node" },
    );
  }
}

/** The longest task path an effect key accepts. */
export const MAX_NODE_PATH = 512;

/**
 * Validates a graph name: 1 to 128 of `[A-Za-z0-9-_.:]`.
 *
 * @param value Anything.
 * @returns The name.
 * @throws {InvalidArgumentError} otherwise.
 *
 * @example
 * ```ts
 * import { parseGraphName } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseGraphName("hello"), "hello");
 * assert.throws(() => parseGraphName("a b"), /graph may contain only/);
 * ```
 */
export function parseGraphName(value: unknown): string {
  if (!isValidId(value)) {
    throw new InvalidArgumentError(
      `graph may contain only 1 to 128 letters, digits and "-_.:", got ${JSON.stringify(value)}`,
      { field: "graph" },
    );
  }
  return value;
}

/**
 * Validates the `fromSeq` of a log read: any number (below 1 reads from 1).
 *
 * @internal Shared by the storage adapters.
 * @param fromSeq The caller's value.
 * @returns The first seq to read: a whole number from 1, or `Infinity`.
 * @throws {InvalidArgumentError} when it is not a number.
 *
 * @example
 * ```ts
 * import { checkFromSeq } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkFromSeq(0), 1);
 * assert.equal(checkFromSeq(2.5), 2);
 * assert.throws(() => checkFromSeq(NaN), /fromSeq/);
 * ```
 */
export function checkFromSeq(fromSeq: number): number {
  if (typeof fromSeq !== "number" || Number.isNaN(fromSeq)) {
    throw new InvalidArgumentError(`fromSeq must be a number, got ${fromSeq}`, {
      field: "fromSeq",
    });
  }
  return Math.max(1, Math.floor(fromSeq));
}

/**
 * Reads a snapshot decoded from storage, refusing one written by a newer
 * format.
 *
 * @internal Shared by the storage adapters.
 * @param raw A parsed JSON value read from storage.
 * @returns The snapshot.
 * @throws {OrisError} code `internal` when it is not a snapshot of a known format.
 *
 * @example
 * ```ts
 * import { decodeSnapshot } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => decodeSnapshot({ v: 99, status: "queued" }), /newer Oris/);
 * ```
 */
export function decodeSnapshot(raw: unknown): RunSnapshot {
  if (!isJsonObject(raw) || typeof raw.v !== "number" || typeof raw.status !== "string") {
    throw new OrisError("internal", "Cannot read snapshot: it is not a snapshot");
  }
  if (raw.v > EVENT_FORMAT_VERSION) {
    throw new OrisError(
      "internal",
      `Cannot read snapshot of format ${raw.v}: it was written by a newer Oris (this one reads up to ${EVENT_FORMAT_VERSION})`,
    );
  }
  return raw as unknown as RunSnapshot;
}

/**
 * The listing line of a snapshot.
 *
 * @param snapshot A run.
 * @returns Its summary.
 *
 * @example
 * ```ts
 * import { summarize } from "./store.ts";
 * import { fold } from "./snapshot.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const run = fold(null, { type: "run.created", v: 1, at: 7, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] });
 * assert.equal(summarize(run).updatedAt, 7);
 * ```
 */
export function summarize(snapshot: RunSnapshot): RunSummary {
  return {
    threadId: snapshot.threadId,
    status: snapshot.status,
    graph: snapshot.graph,
    version: snapshot.version,
    createdAt: snapshot.createdAt,
    updatedAt: snapshot.updatedAt,
  };
}

/**
 * The run as it is now: a loaded snapshot with the events after it folded in.
 *
 * @param loaded What {@linkcode RunStore.load} returned.
 * @returns The current snapshot.
 * @throws {OrisError} code `internal` when the stored events do not follow the snapshot.
 *
 * @example
 * ```ts
 * import { currentSnapshot } from "./store.ts";
 * import { fold } from "./snapshot.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const snapshot = fold(null, { type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] });
 * const run = currentSnapshot({ snapshot, events: [{ seq: 2, event: { type: "run.cancelled", v: 1, at: 2, reason: null } }] });
 * assert.equal(run.status, "cancelled");
 * ```
 */
export function currentSnapshot(loaded: LoadedRun): RunSnapshot {
  const run = foldAll(loaded.snapshot, loaded.events);
  if (run === null) throw new OrisError("internal", "Cannot load run: no snapshot");
  return run;
}

/**
 * Compares listing positions: most recently updated first, then by thread id
 * descending. Adapters order and page runs by this key.
 *
 * @internal Shared by the storage adapters.
 * @param a A run summary.
 * @param b Another.
 * @returns Negative when `a` lists before `b`.
 *
 * @example
 * ```ts
 * import { compareRunOrder } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(compareRunOrder({ updatedAt: 2, threadId: "a" }, { updatedAt: 1, threadId: "b" }) < 0);
 * ```
 */
export function compareRunOrder(
  a: { updatedAt: number; threadId: string },
  b: { updatedAt: number; threadId: string },
): number {
  if (a.updatedAt !== b.updatedAt) return b.updatedAt - a.updatedAt;
  return a.threadId < b.threadId ? 1 : a.threadId > b.threadId ? -1 : 0;
}

/**
 * Decodes a cursor of a listing ordered by time then id (runs, interrupts,
 * audit entries): the position `[time, id]` of the last item of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The position, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed.
 *
 * @example
 * ```ts
 * import { decodeTimeIdCursor, encodeCursor } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeTimeIdCursor(encodeCursor([5, "x"])), { time: 5, id: "x" });
 * ```
 */
export function decodeTimeIdCursor(
  cursor: string | null | undefined,
): { time: number; id: string } | null {
  if (cursor === undefined || cursor === null) return null;
  const position = decodeCursor(cursor);
  if (
    !Array.isArray(position) || position.length !== 2 || typeof position[0] !== "number" ||
    typeof position[1] !== "string"
  ) {
    throw new InvalidArgumentError("cursor is not valid", { field: "cursor" });
  }
  return { time: position[0], id: position[1] };
}

/**
 * Decodes a run listing cursor into the position `[updatedAt, threadId]` of
 * the last run of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The position, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed.
 *
 * @example
 * ```ts
 * import { decodeRunCursor, encodeCursor } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(decodeRunCursor(encodeCursor([5, "t"])), { updatedAt: 5, threadId: "t" });
 * ```
 */
export function decodeRunCursor(
  cursor: string | null | undefined,
): { updatedAt: number; threadId: string } | null {
  const position = decodeTimeIdCursor(cursor);
  return position === null ? null : { updatedAt: position.time, threadId: position.id };
}

/**
 * Decodes a checkpoint listing cursor into the version of the last
 * checkpoint of the previous page.
 *
 * @internal Shared by the storage adapters.
 * @param cursor The cursor, if any.
 * @returns The version, or `null` for the first page.
 * @throws {InvalidArgumentError} when the cursor is malformed.
 *
 * @example
 * ```ts
 * import { decodeVersionCursor, encodeCursor } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeVersionCursor(encodeCursor(12)), 12);
 * ```
 */
export function decodeVersionCursor(cursor: string | null | undefined): number | null {
  if (cursor === undefined || cursor === null) return null;
  const position = decodeCursor(cursor);
  if (typeof position !== "number" || !Number.isSafeInteger(position)) {
    throw new InvalidArgumentError("cursor is not valid", { field: "cursor" });
  }
  return position;
}

/**
 * Serializes a thrown value for the effect journal.
 *
 * @param error Anything thrown.
 * @returns Its name, message, and code and details when it has them.
 *
 * @example
 * ```ts
 * import { serializeError } from "./store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(serializeError(new TypeError("bad")), { name: "TypeError", message: "bad" });
 * ```
 */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: "Error", message: toOrisError(error).message };
  const serialized: SerializedError = { name: error.name, message: error.message };
  if (error instanceof OrisError) {
    serialized.code = error.code;
    try {
      assertJson(error.details, "details");
      serialized.details = error.details as Json;
    } catch {
      // Details that are not JSON are left out of the journal.
    }
  }
  return serialized;
}
