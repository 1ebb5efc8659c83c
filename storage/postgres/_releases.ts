/**
 * The lease releases of a {@linkcode PostgresStore}, group committed: the
 * releases of different runs that arrive while one is in flight go out
 * together as one statement (with many runs ending at once, one release per
 * run was as many statements as their creations). Each release keeps its own
 * outcome and its checks (owner, token, no mail waiting), as one statement
 * per release did.
 *
 * @module
 */

import type { ReleaseOutcome } from "../../kernel/mod.ts";
import { GroupCommitter, type Settled } from "../_group_commit.ts";
import type { PostgresContext, PreparedRelease } from "./_context.ts";
import { isRaceLost, RACE_RETRIES } from "./_errors.ts";

/** Releases that may go out together as one batch. */
const MAX_BATCH_ITEMS = 500;

/**
 * The group committer of a store's lease releases.
 *
 * @param context The store's shared state.
 * @returns The committer.
 */
export function releaseCommitter(
  context: PostgresContext,
): GroupCommitter<PreparedRelease, ReleaseOutcome> {
  return new GroupCommitter<PreparedRelease, ReleaseOutcome>({
    execute: (items) => releaseBatch(context, items),
    key: (item) => item.lease.threadId,
    size: () => 1,
    maxInFlight: 2,
    minSplit: 32,
    maxItems: MAX_BATCH_ITEMS,
    maxBytes: MAX_BATCH_ITEMS,
  });
}

/** Releases a batch in one statement; only the leases it did not release are read again. */
async function releaseBatch(
  context: PostgresContext,
  batch: PreparedRelease[],
): Promise<Settled<ReleaseOutcome>[]> {
  // In the order of the runs, as appends and renewals lock them, so that they do not deadlock.
  const sorted = [...batch].sort((a, b) => a.lease.threadId < b.lease.threadId ? -1 : 1);
  const s = context.ownership;
  let released: Set<string>;
  for (let attempt = 1;; attempt++) {
    try {
      const rows = await context.query<{ thread_id: string }>(s.release, [
        sorted.map((item) => item.lease.threadId),
        sorted.map((item) => item.owner),
        sorted.map((item) => item.lease.token),
      ]);
      released = new Set(rows.map((row) => row.thread_id));
      break;
    } catch (error) {
      if (isRaceLost(error) && attempt < RACE_RETRIES) continue;
      throw error;
    }
  }
  const kept = batch.filter((item) => !released.has(item.lease.threadId));
  const leases = new Map<string, { lease_owner: string | null; lease_token: number }>();
  if (kept.length > 0) {
    const rows = await context.query<
      { thread_id: string; lease_owner: string | null; lease_token: number }
    >(s.leasesOf, [kept.map((item) => item.lease.threadId)]);
    for (const row of rows) leases.set(row.thread_id, row);
  }
  return batch.map(({ owner, lease }): Settled<ReleaseOutcome> => {
    if (released.has(lease.threadId)) return { ok: true, value: "released" };
    const row = leases.get(lease.threadId);
    // Still held, with this token: mail waits, so the holder keeps it.
    const value = row?.lease_owner === owner && row.lease_token === lease.token ? "mail" : "lost";
    return { ok: true, value };
  });
}
