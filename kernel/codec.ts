/**
 * What the storage adapters share to validate and encode the same way: an
 * append, a creation or an effect record becomes checked JSON text before
 * anything is written, and a stored snapshot, a loaded run or a thrown error
 * reads back the same in every store.
 *
 * @module
 */

import { InvalidArgumentError, OrisError, toOrisError } from "./errors.ts";
import {
  EVENT_FORMAT_VERSION,
  type RunCreatedEvent,
  type RunEvent,
  type RunStartedEvent,
} from "./events.ts";
import { parseCheckpointId, parseGraphName, parseThreadId, type ThreadId } from "./ids.ts";
import { type InterruptChange, interruptChanges } from "./interrupt_index.ts";
import { assertJson, encodeJson, isJsonObject, type Json } from "./json.ts";
import { isCheckedJson } from "./_checked_json.ts";
import { fold, foldAll, RUN_STATUSES, type RunSnapshot } from "./snapshot.ts";
import type {
  CheckpointRecord,
  EffectKey,
  EffectRecord,
  LoadedRun,
  RunSummary,
  SerializedError,
} from "./store.ts";

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
 * import { encodeAppend } from "./codec.ts";
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
  return encodeChecked(threadId, expectedVersion, events, snapshot, writeSnapshot, false);
}

/**
 * {@linkcode encodeAppend}, where `json` says that the events and the
 * snapshot were checked to be JSON already (a creation: its event was
 * checked, and its snapshot is made of it), so they are only encoded.
 */
function encodeChecked(
  threadId: ThreadId,
  expectedVersion: number,
  events: readonly RunEvent[],
  snapshot: RunSnapshot,
  writeSnapshot: boolean | ((eventBytes: number) => boolean),
  json: boolean,
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
    const text = json || isCheckedJson(event)
      ? JSON.stringify(event)
      : encodeJson(event, `event ${i + 1} of the append`);
    if (
      !isJsonObject(event as unknown) || typeof event.type !== "string" ||
      !Number.isFinite(event.at)
    ) {
      throw new InvalidArgumentError(`Cannot append: event ${i + 1} has no type or time`, {
        field: "events",
      });
    }
    return { seq: expectedVersion + i + 1, type: event.type, at: event.at, json: text };
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
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (event.type !== "step.committed" && event.type !== "state.updated") continue;
    // A step the kernel made carries the id it made and the run's (read or made by it).
    const checked = isCheckedJson(event);
    checkpoints.push({
      threadId,
      checkpointId: checked ? event.checkpointId : parseCheckpointId(event.checkpointId),
      parentCheckpointId: event.parentCheckpointId === null || checked
        ? event.parentCheckpointId
        : parseCheckpointId(event.parentCheckpointId),
      step: event.step,
      version: encoded[i]!.seq,
      createdAt: event.at,
    });
  }
  const changes = interruptChanges(threadId, events, snapshot);
  let eventBytes = 0;
  for (const item of encoded) eventBytes += item.json.length;
  const due = typeof writeSnapshot === "function" ? writeSnapshot(eventBytes) : writeSnapshot;
  const snapshotJson = !due
    ? null
    : json
    ? JSON.stringify(snapshot)
    : encodeJson(snapshot, "snapshot");
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

/**
 * Validates and encodes a `run.created` event: the append of seq 1 (and,
 * for a run created started, its `run.started` at seq 2).
 *
 * @internal Shared by the storage adapters.
 * @param event The creating event.
 * @param started The run's `run.started`, for a run created started (`createLeasedRun`).
 * @returns The encoded append at expected version 0.
 * @throws {InvalidArgumentError} when the event is not valid or not JSON.
 *
 * @example
 * ```ts
 * import { encodeCreate } from "./codec.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const append = encodeCreate({ type: "run.created", v: 1, at: 1, threadId: "t" as ThreadId, graph: "g", input: null, payloadHash: "h", state: {}, next: [] });
 * assert.equal(append.snapshot.status, "queued");
 * ```
 */
export function encodeCreate(event: RunCreatedEvent, started?: RunStartedEvent): EncodedAppend {
  if (event?.type !== "run.created") {
    throw new InvalidArgumentError('Cannot create a run: the event must be "run.created"', {
      field: "event",
    });
  }
  const threadId = parseThreadId(event.threadId);
  parseGraphName(event.graph);
  // What it carries was accepted within the runtime's nesting limit; the event wraps it.
  assertJson(event, "run.created event", { maxDepth: Infinity });
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
  // The event was checked above, and its snapshot is made of it: both are only encoded.
  if (started === undefined) {
    return encodeChecked(threadId, 0, [event], fold(null, event), true, true);
  }
  if (started?.type !== "run.started") {
    throw new InvalidArgumentError('Cannot create a run started: the event must be "run.started"', {
      field: "started",
    });
  }
  // Checked as the creating event was; then both, and the snapshot made of them, are only encoded.
  assertJson(started, "run.started event", { maxDepth: Infinity });
  const snapshot = fold(fold(null, event), started);
  return encodeChecked(threadId, 0, [event, started], snapshot, true, true);
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
 * import { encodeEffect } from "./codec.ts";
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
  for (const field of ["startedAt", "recordedAt"] as const) {
    const at = record[field];
    if ((at !== undefined || field === "recordedAt") && !Number.isFinite(at)) {
      throw new InvalidArgumentError(`effect ${field} must be a time in ms, got ${at}`, { field });
    }
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
 * import { checkEffectKey } from "./codec.ts";
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
 * Validates the `fromSeq` of a log read: any number (below 1 reads from 1).
 *
 * @internal Shared by the storage adapters.
 * @param fromSeq The caller's value.
 * @returns The first seq to read: a whole number from 1, or `Infinity`.
 * @throws {InvalidArgumentError} when it is not a number.
 *
 * @example
 * ```ts
 * import { checkFromSeq } from "./codec.ts";
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
 * import { decodeSnapshot } from "./codec.ts";
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
 * import { summarize } from "./codec.ts";
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
    tenantId: snapshot.tenantId ?? null,
    priority: snapshot.priority ?? 0,
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
 * import { currentSnapshot } from "./codec.ts";
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
 * The error a serialized error stands for, to throw again: an `OrisError`
 * with its code and details when it has a code, else an `Error`; both keep
 * the original name and message (the inverse of {@linkcode serializeError}).
 *
 * @param serialized The error as stored.
 * @returns The error.
 *
 * @example
 * ```ts
 * import { deserializeError, serializeError } from "./codec.ts";
 * import { OrisError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = deserializeError(serializeError(new OrisError("conflict", "taken")));
 * assert.ok(error instanceof OrisError);
 * assert.equal(error.code, "conflict");
 * assert.equal(deserializeError({ name: "TypeError", message: "bad" }).name, "TypeError");
 * ```
 */
export function deserializeError(serialized: SerializedError): Error {
  const { name, message, code, details } = serialized;
  const error = code === undefined
    ? new Error(message)
    : new OrisError(code as OrisError["code"], message, {
      details: (details ?? {}) as Record<string, unknown>,
    });
  Object.defineProperty(error, "name", { value: name, configurable: true, writable: true });
  return error;
}

/**
 * Serializes a thrown value for the effect journal.
 *
 * @param error Anything thrown.
 * @returns Its name, message, and code and details when it has them.
 *
 * @example
 * ```ts
 * import { serializeError } from "./codec.ts";
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
