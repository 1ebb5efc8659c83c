/**
 * The version of the key layout of a Deno KV store, and the upgrade of a
 * store written with an earlier one, done when the store opens.
 *
 * Layout 2 lists runs by creation (`runc`, `runsc`) instead of by status and
 * last update (`runs`). Upgrading a store of layout 1 moves each run's
 * listing line; each move is its own commit, checked against concurrent
 * writers of the new layout, so processes that open the store together may
 * both run it.
 *
 * Layout 3 keeps layout 2's keys but rewrites a run's listing lines only when
 * its status changes: a listing reads each run's version and update time
 * from its last batch. Lines of layout 2 (rewritten at every append) read the
 * same, so the upgrade from 2 only records the version; an Oris of layout 2
 * would list stale versions, so it refuses a store of layout 3.
 *
 * @module
 */

import { type RunSummary, StorageError } from "../../kernel/mod.ts";
import { decodeValue } from "./_blobs.ts";
import { commit } from "./_commit.ts";
import { LAYOUT_KEY, LEGACY_RUNS_PREFIX, runKey, runStatusKey, STORE_PREFIX } from "./_keys.ts";

/** The key layout this code reads and writes. */
export const LAYOUT_VERSION = 3;

/**
 * Brings a store to {@linkcode LAYOUT_VERSION}: records it in an empty or
 * current store, upgrades a store of layout 1 or 2.
 *
 * @param kv The database.
 * @throws {StorageError} when the store was written by a newer layout (upgrade Oris).
 */
export async function upgradeLayout(kv: Deno.Kv): Promise<void> {
  const recorded = await kv.get<number>(LAYOUT_KEY);
  if (recorded.value === LAYOUT_VERSION) return;
  if (typeof recorded.value === "number" && recorded.value > LAYOUT_VERSION) {
    throw new StorageError(
      `Cannot open the store: its key layout ${recorded.value} is newer than this Oris (knows up to ${LAYOUT_VERSION}): upgrade Oris`,
    );
  }
  for await (const line of kv.list<Uint8Array>({ prefix: LEGACY_RUNS_PREFIX })) {
    const summary = decodeValue<RunSummary>(line.value);
    const all = runKey(summary.createdAt, summary.threadId);
    const byStatus = runStatusKey(summary.status, summary.createdAt, summary.threadId);
    const current = await kv.get(all);
    const atomic = kv.atomic().check(line).delete(line.key);
    // A process of the new layout that appended meanwhile wrote newer lines: keep them.
    if (current.value === null) {
      atomic.check(current).set(all, line.value).set(byStatus, line.value);
    }
    await commit(atomic);
  }
  await commit(kv.atomic().check(recorded).set(LAYOUT_KEY, LAYOUT_VERSION));
}

/**
 * The key layout a store was written with, read without changing it: the
 * recorded version, 1 for a store written before layouts were recorded, 0
 * for a store with no Oris keys.
 *
 * @param kv The database.
 * @returns The version.
 */
export async function recordedLayout(kv: Deno.Kv): Promise<number> {
  const recorded = await kv.get<number>(LAYOUT_KEY);
  if (typeof recorded.value === "number") return recorded.value;
  for await (const _ of kv.list({ prefix: STORE_PREFIX }, { limit: 1 })) return 1;
  return 0;
}
