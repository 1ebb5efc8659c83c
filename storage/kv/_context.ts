/**
 * What the parts of the Deno KV store share: one {@linkcode KvContext} per
 * open store (the database handle, the snapshot policy's cap, the head cache
 * and the group committer), passed to every part's functions.
 *
 * @module
 */

import { MissingChunksError } from "./_blobs.ts";
import type { RunHead } from "./_batches.ts";
import { KvGroupCommitter } from "./_group_commit.ts";

/** Runs whose head one store remembers. */
const HEAD_CACHE_SIZE = 10_000;

/**
 * How often a read is tried when a value is replaced (and its chunks
 * deleted) while it is read, and a compare-and-set that keeps losing.
 */
export const READ_ATTEMPTS = 5;

/** The state of one open store, shared by its parts. */
export interface KvContext {
  /** The database. */
  readonly kv: Deno.Kv;
  /** The snapshot policy's cap (`snapshotEvery`). */
  readonly snapshotEvery: number;
  /** The heads of the runs this store wrote or read lately. */
  readonly heads: HeadCache;
  /** Commits appends of different runs (and audit entries) together. */
  readonly group: KvGroupCommitter;
}

/**
 * Makes the context of a store.
 *
 * @param kv The database.
 * @param snapshotEvery The snapshot policy's cap.
 * @returns The context.
 */
export function createContext(kv: Deno.Kv, snapshotEvery: number): KvContext {
  return { kv, snapshotEvery, heads: new HeadCache(), group: new KvGroupCommitter(kv) };
}

/**
 * The heads of the runs a store wrote or read lately, so that an append
 * knows the run's version and listing key without reading them. At most
 * {@linkcode HEAD_CACHE_SIZE} runs, the least recently remembered go first.
 */
export class HeadCache {
  #heads = new Map<string, RunHead>();

  /**
   * The remembered head of a run.
   *
   * @param threadId The run.
   * @returns Its head, or `null`.
   */
  get(threadId: string): RunHead | null {
    return this.#heads.get(threadId) ?? null;
  }

  /**
   * Remembers a run's head, unless a later one is known.
   *
   * @param threadId The run.
   * @param head Its head.
   */
  remember(threadId: string, head: RunHead): void {
    const known = this.#heads.get(threadId);
    if (known !== undefined && known.version > head.version) return;
    if (known?.version === head.version && head.stored === null) {
      // Batches are immutable: what is known of the run at this version still holds.
      head = { ...head, stored: known.stored };
    }
    this.#heads.delete(threadId);
    this.#heads.set(threadId, head);
    if (this.#heads.size > HEAD_CACHE_SIZE) {
      this.#heads.delete(this.#heads.keys().next().value!);
    }
  }

  /** Forgets every head. */
  clear(): void {
    this.#heads.clear();
  }
}

/**
 * Runs a read, again when a value's chunks were replaced (and deleted) while
 * it was read.
 *
 * @param read The read.
 * @returns What it returned.
 * @throws What it threw, once {@linkcode READ_ATTEMPTS} attempts are spent or
 * when it is not a `MissingChunksError`.
 */
export async function retryReads<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (!(error instanceof MissingChunksError) || attempt >= READ_ATTEMPTS) throw error;
    }
  }
}
