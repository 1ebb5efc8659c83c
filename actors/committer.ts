/**
 * Committers: how a run actor's commits reach the store, one per durability
 * mode. The actor hands each commit (the events and the run they make) to its
 * committer and later asks it to `flush` (make sure everything landed):
 *
 * - `sync`: each commit is written before `commit` resolves;
 * - `async`: commits are written in order in the background, overlapping the
 *   next step; a failure aborts the run's execution and surfaces at `flush`;
 * - `exit`: commits are kept and written as one append at `flush`, when the
 *   run comes to rest.
 *
 * @module
 */

import type { Fence } from "./leases.ts";
import {
  LeaseLostError,
  type RunEvent,
  type RunSnapshot,
  type Store,
  type ThreadId,
  VersionConflictError,
} from "../kernel/mod.ts";

/**
 * When a run's steps are committed:
 * - `sync` (default): each superstep is committed before the next one starts;
 * - `async`: the commit of a step overlaps the next step (commits stay in
 *   order, and all have landed when the run comes to rest);
 * - `exit`: everything is committed at once when the run comes to rest
 *   (interrupted, paused, completed, failed or cancelled).
 */
export type Durability = "sync" | "async" | "exit";

/**
 * What `flush` found: everything `landed`, or the store holds another
 * version of the run (`conflict`: another writer changed it; reload it).
 */
export type FlushResult = "landed" | "conflict";

/** How a run actor's commits reach the store. @internal */
export interface Committer {
  /**
   * Commits `events`, which take the run from `base` to `next`; `ack` is the
   * mailbox message they apply, marked applied in the same append.
   *
   * @throws {VersionConflictError} (sync) when another writer changed the run.
   * @throws {LeaseLostError} (sync) when the run's lease is lost.
   */
  commit(base: RunSnapshot, events: RunEvent[], next: RunSnapshot, ack?: number): Promise<unknown>;
  /**
   * Makes sure every commit so far has landed.
   *
   * @throws the store's error when a commit failed for another reason than a conflict.
   */
  flush(): Promise<FlushResult>;
  /** Whether a commit has not landed yet. */
  readonly pending: boolean;
}

/** What a committer writes to, and whom it tells of a failure in the background. @internal */
export interface CommitterDeps {
  /** The store. */
  store: Store;
  /** The run. */
  threadId: ThreadId;
  /** The run's lease: every append carries its fencing token. */
  fence: Fence;
  /** A background commit failed (async mode): stop executing the run. */
  onBackgroundFailure(error: unknown): void;
}

/** Appends under the run's lease; a refusal for a lost lease tells the lease. */
async function append(
  deps: CommitterDeps,
  base: RunSnapshot,
  events: readonly RunEvent[],
  next: RunSnapshot,
  ack: number | undefined,
): Promise<unknown> {
  const fence = deps.fence.token();
  try {
    return await deps.store.append(deps.threadId, base.version, events, next, {
      fence,
      ...(ack === undefined ? {} : { ack }),
    });
  } catch (error) {
    if (error instanceof LeaseLostError) deps.fence.lost(error);
    throw error;
  }
}

/**
 * Makes the committer of a durability mode.
 *
 * @internal Used by the run actor.
 * @param mode The durability mode.
 * @param deps The store, the run and the failure callback.
 * @returns The committer.
 */
export function createCommitter(mode: Durability, deps: CommitterDeps): Committer {
  switch (mode) {
    case "sync":
      return new SyncCommitter(deps);
    case "async":
      return new AsyncCommitter(deps);
    case "exit":
      return new ExitCommitter(deps);
  }
}

class SyncCommitter implements Committer {
  readonly pending = false;
  #deps: CommitterDeps;

  constructor(deps: CommitterDeps) {
    this.#deps = deps;
  }

  commit(base: RunSnapshot, events: RunEvent[], next: RunSnapshot, ack?: number): Promise<unknown> {
    return append(this.#deps, base, events, next, ack);
  }

  flush(): Promise<FlushResult> {
    return Promise.resolve("landed");
  }
}

class AsyncCommitter implements Committer {
  #deps: CommitterDeps;
  #chain: Promise<void> = Promise.resolve();
  #inFlight = 0;
  #error: { error: unknown } | null = null;

  constructor(deps: CommitterDeps) {
    this.#deps = deps;
  }

  get pending(): boolean {
    return this.#inFlight > 0;
  }

  commit(base: RunSnapshot, events: RunEvent[], next: RunSnapshot, ack?: number): Promise<unknown> {
    this.#inFlight++;
    this.#chain = this.#chain.then(async () => {
      try {
        if (this.#error !== null) return;
        await append(this.#deps, base, events, next, ack);
      } catch (error) {
        this.#error = { error };
        if (!(error instanceof VersionConflictError)) this.#deps.onBackgroundFailure(error);
      } finally {
        this.#inFlight--;
      }
    });
    return Promise.resolve();
  }

  async flush(): Promise<FlushResult> {
    await this.#chain;
    const failure = this.#error;
    if (failure === null) return "landed";
    this.#error = null;
    if (failure.error instanceof VersionConflictError) return "conflict";
    throw failure.error;
  }
}

class ExitCommitter implements Committer {
  #deps: CommitterDeps;
  /** The run as the store last had it, and the events and run since. */
  #base: RunSnapshot | null = null;
  #events: RunEvent[] = [];
  #next: RunSnapshot | null = null;
  #ack: number | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(deps: CommitterDeps) {
    this.#deps = deps;
  }

  get pending(): boolean {
    return this.#events.length > 0;
  }

  commit(base: RunSnapshot, events: RunEvent[], next: RunSnapshot, ack?: number): Promise<unknown> {
    this.#base ??= base;
    this.#events.push(...events);
    this.#next = next;
    // The actor lands its commits after each message, so one append applies one message at most.
    if (ack !== undefined) this.#ack = ack;
    return Promise.resolve();
  }

  flush(): Promise<FlushResult> {
    // One append at a time: a second flush waits for the first, then writes what is left.
    const result = this.#flushing.then(() => this.#flushOnce());
    this.#flushing = result.then(() => {}, () => {});
    return result;
  }

  async #flushOnce(): Promise<FlushResult> {
    if (this.#events.length === 0) return "landed";
    const base = this.#base!;
    const events = this.#events;
    const next = this.#next!;
    const ack = this.#ack;
    this.#clear();
    try {
      await append(this.#deps, base, events, next, ack);
    } catch (error) {
      if (error instanceof VersionConflictError) return "conflict";
      throw error; // The commits are lost with the run as the actor held it: the store keeps the truth.
    }
    return "landed";
  }

  #clear(): void {
    this.#base = null;
    this.#events = [];
    this.#next = null;
    this.#ack = undefined;
  }
}
