/**
 * Runs owned by another runtime: a message for such a run goes to its durable
 * mailbox (the store's), and the sender waits on the run's log and the
 * message's answer (woken by the store's signals, polling when a signal is
 * lost), never on the other process, so it gets the answer it would get on
 * one process. When no live runtime holds the run's lease any more (its owner
 * released it, or died and its lease expired), the sender's runtime takes the
 * run over, applying its mailbox first.
 *
 * @module
 */

import {
  currentSnapshot,
  deserializeError,
  isTerminal,
  type MailMessage,
  type MailRecord,
  NotFoundError,
  OrisError,
  type RunSnapshot,
  type Store,
  type StoreSignal,
  type ThreadId,
} from "../kernel/mod.ts";
import { type ActorEvent, atRest } from "./run_actor.ts";
import { recordCall, type RunResult } from "./run_result.ts";
import type { InternalRunOptions, ResumeOptions } from "./runtime_api.ts";

/** Thrown inside the runtime when another live runtime holds a run's lease. @internal */
export class OwnedElsewhere extends Error {
  /** The run. */
  readonly threadId: ThreadId;
  override name = "OwnedElsewhere";

  constructor(threadId: ThreadId) {
    super(`Run "${threadId}" executes in another runtime`);
    this.threadId = threadId;
  }
}

/** What {@linkcode Remote} needs from its runtime. @internal */
export interface RemoteDeps {
  store: Store;
  pollIntervalMs: number;
  /**
   * Takes the run here (applying its mailbox first) unless another live
   * runtime holds its lease.
   *
   * @returns Whether this runtime holds it now.
   */
  takeOver(threadId: ThreadId): Promise<boolean>;
  /** Resolves when the run's actor in this runtime comes to rest, or `undefined` when it has none. */
  localRest(threadId: ThreadId): Promise<RunSnapshot | undefined> | undefined;
}

/** Messages and waits for runs owned elsewhere; see the module doc. @internal */
export class Remote {
  #deps: RemoteDeps;
  #waiters = new Map<string, Set<() => void>>();
  #closed = new AbortController();

  constructor(deps: RemoteDeps) {
    this.#deps = deps;
  }

  /** Wakes whoever waits on the run a signal names. */
  signal(signal: StoreSignal): void {
    if (signal.kind === "work") return;
    for (const wake of this.#waiters.get(signal.threadId) ?? []) wake();
  }

  /** Stops every wait (the runtime is closing). */
  close(): void {
    this.#closed.abort();
  }

  /**
   * Posts a control message to a run's mailbox and waits for its answer.
   *
   * @returns The message, applied.
   * @throws the error the owner refused it with.
   */
  async send(threadId: ThreadId, message: MailMessage): Promise<MailRecord> {
    const { seq, lease } = await this.#deps.store.postMessage(threadId, message);
    let owned = lease !== null;
    for (;;) {
      this.#checkOpen();
      const record = await this.#deps.store.getMessage(threadId, seq);
      if (record === null) throw new NotFoundError("message", `${threadId}#${seq}`);
      if (record.status === "applied") return record;
      if (record.status === "refused") {
        throw record.error === null
          ? new OrisError("internal", "The message was refused")
          : deserializeError(record.error);
      }
      // No live owner (any more): take the run here; its mail, ours included, is applied first.
      if (!owned && await this.#deps.takeOver(threadId)) continue;
      await this.wait(threadId);
      owned = false;
    }
  }

  /**
   * Follows a run's log from `fromSeq` until it comes to rest, telling
   * `listener` of each commit (as its actor would).
   *
   * @returns The run at rest, at `minVersion` or later.
   */
  async rest(
    threadId: ThreadId,
    fromSeq: number,
    listener?: (event: ActorEvent) => void,
  ): Promise<RunSnapshot> {
    let next = fromSeq;
    for (;;) {
      const local = await this.#deps.localRest(threadId);
      const run = local ?? await this.#load(threadId);
      next = await this.#replay(threadId, next, run.version, listener);
      if (atRest(run)) {
        listener?.({ kind: "rest", run });
        return run;
      }
      if (local === undefined && !await this.#deps.takeOver(threadId)) await this.wait(threadId);
    }
  }

  /**
   * Follows a run another runtime executes from `fromSeq` until it comes to
   * rest, and makes the caller's result (trace and span as for a run here).
   */
  async result(
    threadId: ThreadId,
    fromSeq: number,
    options: ResumeOptions & Pick<InternalRunOptions, "listener">,
  ): Promise<RunResult> {
    const call = recordCall(threadId, options.parentContext, options.listener);
    return await call.finish(() => this.rest(threadId, fromSeq, call.observe));
  }

  /**
   * Follows a run's log from its current version until `signal` aborts or it
   * ends (a stream of a run executing elsewhere).
   *
   * @returns The function that stops following, once the version it follows
   * from is read (so no commit after the call is missed).
   */
  async follow(
    threadId: ThreadId,
    listener: (event: ActorEvent) => void,
  ): Promise<() => void> {
    const stop = new AbortController();
    let next = (await this.#load(threadId)).version + 1;
    void (async () => {
      while (!stop.signal.aborted && !this.#closed.signal.aborted) {
        await this.wait(threadId, stop.signal);
        if (stop.signal.aborted) return;
        const run = await this.#load(threadId);
        next = await this.#replay(threadId, next, run.version, listener);
        if (atRest(run)) listener({ kind: "rest", run });
        if (isTerminal(run.status)) return;
      }
    })().catch(() => stop.abort());
    return () => stop.abort();
  }

  /** Resolves on a signal for the run, after the poll interval, or when `signal` aborts. */
  wait(threadId: string, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(threadId);
      if (waiters === undefined) {
        waiters = new Set();
        this.#waiters.set(threadId, waiters);
      }
      const wake = () => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(threadId) === waiters) {
          this.#waiters.delete(threadId);
        }
        signal?.removeEventListener("abort", wake);
        this.#closed.signal.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, this.#deps.pollIntervalMs);
      waiters.add(wake);
      signal?.addEventListener("abort", wake, { once: true });
      this.#closed.signal.addEventListener("abort", wake, { once: true });
      if (this.#closed.signal.aborted || signal?.aborted) wake();
    });
  }

  #checkOpen(): void {
    if (this.#closed.signal.aborted) {
      throw new OrisError("unavailable", "Cannot use the runtime: it is closed");
    }
  }

  async #load(threadId: ThreadId): Promise<RunSnapshot> {
    this.#checkOpen();
    const loaded = await this.#deps.store.load(threadId);
    if (loaded === null) throw new NotFoundError("run", threadId);
    return currentSnapshot(loaded);
  }

  /** Tells `listener` of the events from `from` through `to` as commits; returns the next seq. */
  async #replay(
    threadId: ThreadId,
    from: number,
    to: number,
    listener: ((event: ActorEvent) => void) | undefined,
  ): Promise<number> {
    if (listener === undefined || from > to) return Math.max(from, to + 1);
    const events = (await this.#deps.store.readEvents(threadId, from)).filter((e) => e.seq <= to);
    if (events.length === 0) return from;
    const last = events.at(-1)!.seq;
    const run = await this.#load(threadId);
    listener({
      kind: "committed",
      events: events.map((stored) => stored.event),
      run: { ...run, version: last },
    });
    return last + 1;
  }
}
