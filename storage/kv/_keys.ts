/**
 * The key layout of the Deno KV store. Every key starts with `"oris"`, so a
 * shared KV file stays tidy:
 *
 * | key                                     | value                                       |
 * | --------------------------------------- | ------------------------------------------- |
 * | `ev, threadId, firstSeq`                | one append: its events and the run's head   |
 * | `snap, threadId`                        | the latest stored snapshot                  |
 * | `runc, createdAt, threadId`             | the run's `RunSummary` at its last status change (listing all runs; version and update time are read from its last batch) |
 * | `runsc, status, createdAt, threadId`    | a copy of it, listed by status              |
 * | `cp, threadId, version`                 | one checkpoint (derived)                    |
 * | `cpid, threadId, checkpointId`          | one checkpoint, by id (derived)             |
 * | `cpw, threadId`                         | the version the derived keys cover          |
 * | `eff, threadId, step, node, index`      | one journaled effect                        |
 * | `chunk, threadId, nonce, i`             | the chunks of a value over 60 KiB           |
 * | `int, interruptId`                      | one interrupt of the index                  |
 * | `ints, status, createdAt, interruptId`  | a copy of it, listed by status              |
 * | `intt, threadId, createdAt, interruptId`| `true`: it is listed by run                 |
 * | `intg`                                  | the index's generation (`Deno.KvU64`)       |
 * | `intp, threadId`                        | ids of the run's possibly pending interrupts|
 * | `idem, key`                             | one idempotency record                      |
 * | `aud, createdAt, auditId`               | one audit entry                             |
 * | `auda, action, createdAt, auditId`      | the same entry, listed by action            |
 * | `audr, requestId, createdAt, auditId`   | the same entry, listed by request           |
 * | `key, keyId`                            | one API key                                 |
 * | `keyn`                                  | how many API keys there are (`Deno.KvU64`)  |
 * | `cchunk, kind, nonce, i`                | chunks of large control values              |
 * | `att, attempt, attemptId`               | one attempt of the worker plane (`_attempts.ts`)|
 * | `att, attempt_open, threadId`           | the id of the run's open attempt            |
 * | `att, attempt_status, status, attemptId`| `"1"`: the attempt is listed by status      |
 * | `att, dead_letter, attemptId`           | one dead letter                             |
 * | `layout`                                | the version of this layout (see `_layout.ts`)|
 *
 * Listings page by keys that never change for an item (a run's or an
 * interrupt's creation time, an audit entry's time, a key's id), so an item
 * that changes while a client pages keeps its place. Strings too long for a key (over 512 bytes) are keyed by
 * their SHA-256 ({@linkcode keyPart}).
 *
 * @module
 */

import {
  type EffectKey,
  type InterruptStatus,
  type RunStatus,
  sha256Hex,
} from "../../kernel/mod.ts";

const ROOT = "oris";

const encoder = new TextEncoder();

/** The largest string used as it is in a key; longer ones are replaced by their hash. */
const KEY_PART_MAX = 512;

/**
 * A string as a key part: itself, or when it is too long for a key, a hash of
 * it (records read through such a key are compared with the string).
 *
 * @param value A caller's string.
 * @returns The key part.
 */
export function keyPart(value: string): string {
  if (value.length * 3 <= KEY_PART_MAX || encoder.encode(value).length <= KEY_PART_MAX) {
    return value;
  }
  return `#sha256:${sha256Hex(value)}`;
}

/**
 * An estimate of a key's encoded size, with margin.
 *
 * @param key A key.
 * @returns Bytes.
 */
export function keySize(key: Deno.KvKey): number {
  let size = 0;
  for (const part of key) size += typeof part === "string" ? part.length * 3 + 2 : 10;
  return size;
}

/** The key a ping reads (nothing is stored there). */
export const PING_KEY: Deno.KvKey = [ROOT, "ping"];

/** A run's batches (appends), by first seq. */
export function eventsPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "ev", threadId];
}

/** A run's latest stored snapshot. */
export function snapshotKey(threadId: string): Deno.KvKey {
  return [ROOT, "snap", threadId];
}

/** The listing lines of all runs, oldest first. */
export function runsPrefix(): Deno.KvKey {
  return [ROOT, "runc"];
}

/** A run's listing line. */
export function runKey(createdAt: number, threadId: string): Deno.KvKey {
  return [ROOT, "runc", createdAt, threadId];
}

/** The listing lines of the runs of one status, oldest first. */
export function runStatusPrefix(status: RunStatus): Deno.KvKey {
  return [ROOT, "runsc", status];
}

/** A run's listing line by status. */
export function runStatusKey(status: RunStatus, createdAt: number, threadId: string): Deno.KvKey {
  return [ROOT, "runsc", status, createdAt, threadId];
}

/** The listing lines of runs of the layout before version 2 (by status and last update). */
export const LEGACY_RUNS_PREFIX: Deno.KvKey = [ROOT, "runs"];

/** Every key of a store. */
export const STORE_PREFIX: Deno.KvKey = [ROOT];

/** The version of the key layout the store was written with (absent: before version 2). */
export const LAYOUT_KEY: Deno.KvKey = [ROOT, "layout"];

/** A run's indexed checkpoints, by version. */
export function checkpointsPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "cp", threadId];
}

/** A run's indexed checkpoint, by id. */
export function checkpointIdKey(threadId: string, checkpointId: string): Deno.KvKey {
  return [ROOT, "cpid", threadId, checkpointId];
}

/** The version through which a run's checkpoints are indexed. */
export function checkpointWatermarkKey(threadId: string): Deno.KvKey {
  return [ROOT, "cpw", threadId];
}

/** A run's journaled effects, by step, node and index. */
export function effectsPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "eff", threadId];
}

/** One journaled effect. */
export function effectKey(key: EffectKey): Deno.KvKey {
  return [ROOT, "eff", key.threadId, key.step, key.node, key.index];
}

/** The chunks of a run's large values (batches, snapshots, effects). */
export function chunksPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "chunk", threadId];
}

/** Where the chunks of large control values are. */
export const CHUNKS = {
  interrupts: [ROOT, "cchunk", "int"] as Deno.KvKey,
  idempotency: [ROOT, "cchunk", "idem"] as Deno.KvKey,
  audit: [ROOT, "cchunk", "aud"] as Deno.KvKey,
};

/** An idempotency record, by key. */
export function idempotencyKey(key: string): Deno.KvKey {
  return [ROOT, "idem", keyPart(key)];
}

/** An interrupt row, by id. */
export function interruptKey(interruptId: string): Deno.KvKey {
  return [ROOT, "int", keyPart(interruptId)];
}

/** The interrupts of one status, newest last (a copy of each row). */
export function interruptStatusPrefix(status: InterruptStatus): Deno.KvKey {
  return [ROOT, "ints", status];
}

/** The status copy of an interrupt row. */
export function interruptStatusKey(
  status: string,
  createdAt: number,
  interruptId: string,
): Deno.KvKey {
  return [ROOT, "ints", status, createdAt, keyPart(interruptId)];
}

/** The interrupts of one run, newest last (keys only; the rows are under `int`). */
export function interruptThreadPrefix(threadId: string): Deno.KvKey {
  return [ROOT, "intt", threadId];
}

/** The marker that lists an interrupt under its run. */
export function interruptThreadKey(
  threadId: string,
  createdAt: number,
  interruptId: string,
): Deno.KvKey {
  return [ROOT, "intt", threadId, createdAt, keyPart(interruptId)];
}

/**
 * The interrupt index's generation (a `Deno.KvU64`), counted up by every
 * commit that changes the index, so that a reader of several of its ranges
 * can tell that none changed meanwhile.
 */
export const INTERRUPT_GENERATION_KEY: Deno.KvKey = [ROOT, "intg"];

/** The ids of a run's interrupts that may be pending (a superset of the pending ones). */
export function pendingInterruptsKey(threadId: string): Deno.KvKey {
  return [ROOT, "intp", threadId];
}

/** All audit entries, by time. */
export function auditPrefix(): Deno.KvKey {
  return [ROOT, "aud"];
}

/** The audit entries of one action, by time. */
export function auditActionPrefix(action: string): Deno.KvKey {
  return [ROOT, "auda", keyPart(action)];
}

/** The audit entries of one request, by time. */
export function auditRequestPrefix(requestId: string): Deno.KvKey {
  return [ROOT, "audr", keyPart(requestId)];
}

/** An API key, by id. */
export function apiKeyKey(keyId: string): Deno.KvKey {
  return [ROOT, "key", keyPart(keyId)];
}

/** All API keys, by id. */
export function apiKeysPrefix(): Deno.KvKey {
  return [ROOT, "key"];
}

/** How many API keys there are (a `Deno.KvU64`). */
export const API_KEY_COUNT_KEY: Deno.KvKey = [ROOT, "keyn"];
