/**
 * Commits that survive SQLite's write contention. Two connections to one
 * database file (two stores, or two processes) that commit checked writes at
 * the same time make one of them fail at once with "database is locked"
 * (SQLITE_BUSY: the lock upgrade is refused rather than waited for). Such a
 * commit did not happen, so it is retried after a short, random pause.
 *
 * Also Deno KV's limits on one atomic commit, as the store plans for them.
 *
 * @module
 */

/** Deno KV's limit on the checks of one atomic commit. */
export const MAX_CHECKS = 100;
/** Deno KV's limit on the mutations of one atomic commit. */
export const MAX_MUTATIONS = 1000;
/** The bytes of keys and values of one commit we plan for (the limit is 800 KiB; the rest is margin). */
export const MAX_COMMIT_BYTES = 700 * 1024;
/** The bytes of keys of one commit we plan for (the limit is 80 KiB). */
export const MAX_KEY_BYTES = 72 * 1024;

/** Attempts before a busy database is reported. */
const ATTEMPTS = 40;
/** The longest pause between attempts, in ms. */
const MAX_PAUSE = 50;

/**
 * Whether an error says the database was busy (nothing was committed).
 *
 * @param error Anything thrown by Deno KV.
 * @returns `true` for SQLITE_BUSY.
 */
export function isBusy(error: unknown): boolean {
  return error instanceof Error && /database is locked|SQLITE_BUSY/i.test(error.message);
}

/**
 * Commits an atomic operation, retrying while the database is busy.
 *
 * @param operation The operation (it can be committed again).
 * @returns The commit's result.
 * @throws The driver's error when it is not a busy database, or after the last attempt.
 */
export async function commit(
  operation: Deno.AtomicOperation,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  for (let attempt = 1;; attempt++) {
    try {
      return await operation.commit();
    } catch (error) {
      if (!isBusy(error) || attempt >= ATTEMPTS) throw error;
      const pause = Math.random() * Math.min(MAX_PAUSE, 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
