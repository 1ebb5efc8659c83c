/**
 * The snapshot policy of the storage adapters: when an append persists the
 * run's snapshot, and what an adapter knows of the stored one after it.
 *
 * @module
 */

import type { EncodedAppend } from "./codec.ts";
import type { RunSnapshot } from "./snapshot.ts";

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
 * import { snapshotDue } from "./snapshot_policy.ts";
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
 * import { encodeAppend } from "./codec.ts";
 * import { storedSnapshotAfter } from "./snapshot_policy.ts";
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
