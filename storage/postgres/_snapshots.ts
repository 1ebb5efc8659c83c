/**
 * What a {@linkcode PostgresStore} remembers of runs' stored snapshots, for
 * the snapshot policy (`snapshotDue`): the version and size of the stored
 * snapshot of runs it has written or read, and the size of the events after
 * it.
 *
 * What it remembers is used only by an append at the version it was
 * remembered at (so another process's appends make it unused); a run it does
 * not know gets a snapshot at its next append.
 *
 * @module
 */

import {
  type EncodedAppend,
  storedSnapshotAfter,
  type StoredSnapshotInfo,
} from "../../kernel/mod.ts";

/** How many runs' stored snapshots are remembered (the oldest are forgotten first). */
const MAX_REMEMBERED_RUNS = 100_000;

/** What the store knows of a run's stored snapshot, for the snapshot policy. */
export interface KnownSnapshot {
  /** The run's version these sizes are for. */
  head: number;
  /** The stored snapshot and the events after it, through `head`. */
  stored: StoredSnapshotInfo;
}

/**
 * The stored snapshots a store knows of; see the module doc.
 *
 * @example
 * ```ts
 * import { KnownSnapshots } from "./_snapshots.ts";
 * import assert from "node:assert/strict";
 *
 * const known = new KnownSnapshots();
 * known.remember("t", { head: 3, stored: { version: 3, bytes: 100, tailBytes: 0 } });
 * assert.deepEqual(known.at("t", 3), { version: 3, bytes: 100, tailBytes: 0 });
 * assert.equal(known.at("t", 4), null);
 * ```
 */
export class KnownSnapshots {
  #snapshots = new Map<string, KnownSnapshot>();

  /**
   * The stored snapshot of a run, if it is known at this version.
   *
   * @param threadId The run.
   * @param head The version the run is expected at.
   * @returns What is known, or `null`.
   */
  at(threadId: string, head: number): StoredSnapshotInfo | null {
    const known = this.#snapshots.get(threadId);
    return known?.head === head ? known.stored : null;
  }

  /**
   * Records what a committed append changed of its run's stored snapshot.
   *
   * @param append The committed append.
   */
  appended(append: EncodedAppend): void {
    const known = this.#snapshots.get(append.threadId);
    if (known !== undefined && known.head >= append.summary.version) return; // A load saw it.
    const stored = storedSnapshotAfter(
      known?.head === append.expectedVersion ? known.stored : null,
      append,
    );
    if (stored === null) this.#snapshots.delete(append.threadId);
    else this.remember(append.threadId, { head: append.summary.version, stored });
  }

  /**
   * Records a run's stored snapshot as seen at a version (unless a later one is known).
   *
   * @param threadId The run.
   * @param known Its stored snapshot at `known.head`.
   */
  remember(threadId: string, known: KnownSnapshot): void {
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
