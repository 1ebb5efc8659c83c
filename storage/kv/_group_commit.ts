/**
 * Group commit for Deno KV: a local Deno KV commit waits for the disk (one
 * SQLite transaction, one fsync), whatever its size. So while a commit is in
 * flight, the appends of other runs wait, and then go out together as one
 * atomic operation holding every append's checks and mutations (at most one
 * append per run, within Deno KV's limits on one atomic operation). When
 * nothing is in flight, an append goes at once, alone: a single writer pays
 * nothing for it.
 *
 * Each append still succeeds or conflicts on its own: a batch whose checks
 * fail wrote nothing, and its appends are then committed again one by one
 * (in parallel), each with its own outcome. A batch over Deno KV's limits
 * (a `TypeError`, thrown before anything is written) is split the same way.
 *
 * @module
 */

import { GroupCommitter, type Settled } from "../_group_commit.ts";
import { isChunkRef } from "./_blobs.ts";
import { commit, MAX_CHECKS, MAX_COMMIT_BYTES, MAX_KEY_BYTES, MAX_MUTATIONS } from "./_commit.ts";
import { keySize } from "./_keys.ts";

/** A part's share of a commit is measured in millionths of the limits. */
const WHOLE = 1_000_000;
/** What a chunk reference or another small value costs, in bytes (an estimate with margin). */
const SMALL_VALUE_BYTES = 128;

/** One write's part of a commit: its checks and mutations. */
export interface CommitPart {
  /**
   * What it writes (a run's id, for an append): a batch holds at most one part
   * per key, and parts of one key go in arrival order.
   */
  key: string;
  /** Its checks. */
  checks: Deno.AtomicCheck[];
  /** Its mutations (`set` and `delete` only). */
  mutations: Deno.KvMutation[];
}

/**
 * Commits parts of different runs together while a commit is in flight: see
 * the module doc.
 */
export class KvGroupCommitter {
  #kv: Deno.Kv;
  #committer: GroupCommitter<CommitPart, boolean>;

  /** @param kv The database. */
  constructor(kv: Deno.Kv) {
    this.#kv = kv;
    this.#committer = new GroupCommitter<CommitPart, boolean>({
      execute: (parts) => this.#execute(parts),
      key: (part) => part.key,
      size: shareOf,
      maxInFlight: 1,
      maxItems: MAX_CHECKS,
      maxBytes: WHOLE,
      minSplit: MAX_CHECKS,
    });
  }

  /**
   * Commits a part, with the parts of other runs that wait with it.
   *
   * @param part The checks and mutations.
   * @returns Whether it landed (`false`: its checks failed, nothing of it was written).
   * @throws The driver's error (then it may or may not have landed, as for any commit).
   */
  submit(part: CommitPart): Promise<boolean> {
    return this.#committer.submit(part);
  }

  async #execute(parts: CommitPart[]): Promise<Settled<boolean>[]> {
    if (parts.length > 1) {
      const atomic = this.#kv.atomic();
      for (const part of parts) atomic.check(...part.checks).mutate(...part.mutations);
      try {
        const result = await commit(atomic);
        if (result.ok) {
          return parts.map(() => ({ ok: true, value: true }));
        }
      } catch (error) {
        // Over a limit: refused before anything was written. Anything else may have landed.
        if (!(error instanceof TypeError)) throw error;
      }
    }
    return await Promise.all(parts.map(async (part): Promise<Settled<boolean>> => {
      try {
        const atomic = this.#kv.atomic().check(...part.checks).mutate(...part.mutations);
        return { ok: true, value: (await commit(atomic)).ok };
      } catch (error) {
        return { ok: false, error };
      }
    }));
  }
}

/** A part's share of one commit: its largest fraction of any of the limits, in millionths. */
function shareOf(part: CommitPart): number {
  let bytes = 0;
  let keyBytes = 0;
  for (const check of part.checks) keyBytes += keySize(check.key);
  for (const mutation of part.mutations) {
    const size = keySize(mutation.key);
    keyBytes += size;
    bytes += size + (mutation.type === "set" ? valueSize(mutation.value) : 0);
  }
  const share = Math.max(
    part.checks.length / MAX_CHECKS,
    part.mutations.length / MAX_MUTATIONS,
    bytes / MAX_COMMIT_BYTES,
    keyBytes / MAX_KEY_BYTES,
  );
  return Math.ceil(share * WHOLE);
}

function valueSize(value: unknown): number {
  if (value instanceof Uint8Array) return value.length + 16;
  if (isChunkRef(value) || typeof value !== "string") return SMALL_VALUE_BYTES;
  return value.length * 3 + 16;
}
