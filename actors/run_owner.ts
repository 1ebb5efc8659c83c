/**
 * The runtime's side of run ownership: which runs it executes (those whose
 * lease it holds), the claim loop that takes up runnable runs (queued runs,
 * runs whose owner died, runs with mail and no owner) within its
 * `maxActiveRuns` and the store's tenant caps, the delivery of the durable
 * mailbox to the actors of runs it holds, and `recover()`.
 *
 * The claim loop starts with `recover()`, or when a run this runtime was
 * asked to start could not start here (another runtime holds it, or a cap):
 * it then claims on every signal of the store and every `pollIntervalMs`.
 * A runtime that does not execute (`execution: "none"`) never takes a lease:
 * every run is held elsewhere, and it only listens to the store's signals.
 *
 * @module
 */

import type {
  Claim,
  CreateRunResult,
  LeaseLostError,
  LeaseRequest,
  Logger,
  RunSummary,
  Store,
  StoreSignal,
  ThreadId,
} from "../kernel/mod.ts";
import type { ActorRegistry } from "./actor_registry.ts";
import { type HeldLease, LeaseKeeper } from "./leases.ts";
import { OwnedElsewhere, Remote } from "./remote.ts";
import { atRest, type RunActor } from "./run_actor.ts";
import type { RecoverReport } from "./runtime_api.ts";
import type { ResolvedOwnership } from "./runtime_settings.ts";

/** What a {@linkcode RunOwner} needs from its runtime. @internal */
export interface RunOwnerDeps {
  store: Store;
  logger: Logger;
  now: () => number;
  settings: ResolvedOwnership;
  registry: ActorRegistry;
  /** The graphs this runtime can execute. */
  graphNames(): string[];
  /** Executes a run taken up here (its caller holds a pin on the actor until this returns). */
  execute(actor: RunActor): void;
}

/** The runs one runtime owns; see the module doc. @internal */
export class RunOwner {
  readonly keeper: LeaseKeeper;
  readonly remote: Remote;
  #deps: RunOwnerDeps;
  #draining = new Map<string, Promise<void>>();
  #subscription: Promise<(() => Promise<void>) | null> | null = null;
  #claiming: Promise<Claim[]> | null = null;
  #claimAgain = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #scheduling = false;
  #claimFailed = false;
  #closed = false;

  constructor(deps: RunOwnerDeps) {
    this.#deps = deps;
    const { settings } = deps;
    this.keeper = new LeaseKeeper({
      store: deps.store,
      owner: settings.ownerId,
      ttlMs: settings.leaseTtlMs,
      tenantMaxActive: settings.tenantMaxActiveRuns,
      now: deps.now,
      logger: deps.logger,
      onLost: (lease, error) => this.#lost(lease, error),
      onMail: (threadId) => void this.drainMail(threadId),
    });
    this.remote = new Remote({
      store: deps.store,
      pollIntervalMs: settings.pollIntervalMs,
      takeOver: (threadId) => this.takeOver(threadId),
      localRest: (threadId) => {
        const entry = deps.registry.peek(threadId);
        return entry?.then((actor) => actor.rest()).catch(() => undefined);
      },
    });
  }

  /**
   * The lease of a run for an actor about to be made here.
   *
   * @param threadId The run.
   * @param nested A child run (subgraph) of a run executing here: not counted against `maxActiveRuns`.
   * @returns The lease, or `null` when the run cannot execute here now.
   */
  async leaseFor(threadId: ThreadId, nested = false): Promise<HeldLease | null> {
    if (!this.#executes) {
      // Another runtime executes it: follow it through the store's signals.
      this.#subscribe();
      return null;
    }
    const held = this.keeper.get(threadId);
    if (held !== undefined) return await this.keeper.acquire(threadId);
    if (!nested && this.keeper.size >= this.#deps.settings.maxActiveRuns) {
      this.startClaiming();
      return null;
    }
    const lease = await this.keeper.acquire(threadId);
    if (lease === null) this.startClaiming();
    else this.#subscribe();
    return lease;
  }

  /**
   * Creates a run through `make` and gets its lease: at its creation, in the
   * same store operation, when the store can grant it (`make` is given the
   * lease request) and this runtime executes runs and has room for this one; otherwise `make` is
   * given `null` and the lease is left to {@linkcode RunOwner.leaseFor}.
   *
   * @param threadId The run.
   * @param nested A child run (subgraph): not counted against `maxActiveRuns`.
   * @param make Creates the run (`createRun`, or `createLeasedRun` with the request).
   * @returns What `make` returned, and the lease (`null`: the run cannot execute here now;
   * `undefined`: not asked for).
   */
  async create<T extends CreateRunResult>(
    threadId: ThreadId,
    nested: boolean,
    make: (request: LeaseRequest | null) => Promise<T & { lease?: Claim | null }>,
  ): Promise<{ result: T; lease: HeldLease | null | undefined }> {
    const keeper = this.keeper;
    const roomy = nested || keeper.size < this.#deps.settings.maxActiveRuns;
    const leasable = this.#executes && this.#deps.store.createLeasedRun !== undefined;
    if (!roomy || !leasable || !keeper.canCreateLeased(threadId)) {
      return { result: await make(null), lease: undefined };
    }
    const { result, lease } = await keeper.create(threadId, make);
    if (lease === null) this.startClaiming();
    else this.#subscribe();
    return { result, lease };
  }

  /**
   * An actor was dropped (passivated or broken): its lease is released. A run
   * whose actor broke mid-way (its store failed under it) is claimed again
   * once the store answers: the claim loop starts if it was not running.
   */
  dropped(actor: RunActor): void {
    const lease = this.keeper.get(actor.threadId);
    if (lease === undefined || lease !== actor.fence) return;
    if (actor.broken && !atRest(actor.run)) this.startClaiming();
    void this.keeper.release(actor.threadId).then(async () => {
      if (this.#closed) return;
      // Senders on other runtimes wait for this run; claimers for a free place.
      if (actor.handledMail) await this.#notify({ kind: "rest", threadId: actor.threadId });
      if (this.#scheduling) await this.#notify({ kind: "work" });
    });
  }

  /**
   * Takes a run here unless another live runtime holds it, applying its mail
   * first and continuing it if it was executing.
   *
   * @returns Whether this runtime holds it now.
   */
  async takeOver(threadId: ThreadId): Promise<boolean> {
    let actor: RunActor;
    try {
      actor = await this.#deps.registry.acquire(threadId);
    } catch (error) {
      if (error instanceof OwnedElsewhere) return false;
      throw error;
    }
    try {
      // An actor that lost the run's lease (someone still holds it) cannot take it: wait for its drop.
      if (actor.broken) return false;
      await this.drainMail(threadId);
      if (!atRest(actor.run)) this.#deps.execute(actor);
      return true;
    } finally {
      this.#deps.registry.release(actor);
    }
  }

  /** Applies the messages waiting in the mailbox of a run held here, in order (one drain at a time). */
  drainMail(threadId: ThreadId): Promise<void> {
    const previous = this.#draining.get(threadId) ?? Promise.resolve();
    const next = previous.then(() => this.#drain(threadId)).catch((error) => {
      if (error instanceof OwnedElsewhere) return;
      this.#deps.logger.error("Cannot apply a run's mail", { thread_id: threadId, error });
    }).finally(() => {
      if (this.#draining.get(threadId) === next) this.#draining.delete(threadId);
    });
    this.#draining.set(threadId, next);
    return next;
  }

  async #drain(threadId: ThreadId): Promise<void> {
    if (this.#closed || this.keeper.get(threadId) === undefined) return;
    const { registry, store } = this.#deps;
    const actor = await registry.acquire(threadId);
    try {
      for (;;) {
        const pending = await store.pendingMessages(threadId);
        if (pending.length === 0 || actor.broken) return;
        for (const record of pending) await actor.deliver(record);
        if (actor.broken || this.keeper.get(threadId) !== actor.fence) return;
      }
    } finally {
      registry.release(actor);
    }
  }

  /**
   * Claims what is runnable, unowned or expired, and starts the claim loop.
   *
   * @returns The runs taken up and those that could not be (their graph is not registered here).
   */
  async recover(): Promise<RecoverReport> {
    const report: RecoverReport = { recovered: [], failed: [] };
    if (!this.#executes) {
      this.#subscribe();
      return report;
    }
    await this.#unknownGraphs(report);
    this.startClaiming();
    const claims = await this.#claim();
    for (const claim of claims) report.recovered.push(claim.threadId);
    for (const failure of report.failed) {
      this.#deps.logger.warn("Cannot recover a run; it is left as it is", {
        thread_id: failure.threadId,
        graph: failure.graph,
        code: failure.code,
        error: failure.message,
      });
    }
    return report;
  }

  /** Starts the claim loop (once). */
  startClaiming(): void {
    if (this.#scheduling || this.#closed || !this.#executes) return;
    this.#scheduling = true;
    this.#subscribe();
    this.#wake();
  }

  /** Whether this runtime executes runs (`execution` is not `none`). */
  get #executes(): boolean {
    return this.#deps.settings.execution !== "none";
  }

  /** Stops the claim loop, the waits, and lets the leases go. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.remote.close();
    await this.#claiming?.catch(() => {});
    await Promise.allSettled([...this.#draining.values()]);
  }

  /** Releases every lease and stops listening to the store (after the actors drained). */
  async release(): Promise<void> {
    await this.keeper.close();
    const unsubscribe = await this.#subscription?.catch(() => null);
    await unsubscribe?.().catch((error) =>
      this.#deps.logger.warn("Cannot stop listening to the store", { error })
    );
  }

  #wake(): void {
    if (!this.#scheduling || this.#closed) return;
    if (this.#claiming !== null) {
      this.#claimAgain = true;
      return;
    }
    void this.#claim().catch(() => {});
  }

  /** One round of claims; schedules the next. */
  #claim(): Promise<Claim[]> {
    if (this.#claiming !== null) return this.#claiming;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const claiming = this.#claimRound().finally(() => {
      this.#claiming = null;
      if (this.#closed || !this.#scheduling) return;
      if (this.#claimAgain) {
        this.#claimAgain = false;
        this.#wake();
      } else {
        this.#timer = setTimeout(() => this.#wake(), this.#deps.settings.pollIntervalMs);
      }
    });
    this.#claiming = claiming;
    return claiming;
  }

  async #claimRound(): Promise<Claim[]> {
    const taken: Claim[] = [];
    try {
      for (;;) {
        const limit = this.#deps.settings.maxActiveRuns - this.keeper.size;
        if (limit <= 0 || this.#closed) break;
        const claims = await this.keeper.claim(limit, this.#deps.graphNames());
        await Promise.all(claims.map((claim) => this.#take(claim)));
        taken.push(...claims);
        if (claims.length < limit) break;
      }
      if (this.#claimFailed) {
        this.#claimFailed = false;
        this.#deps.logger.info("claiming runs again", { owner: this.keeper.owner });
      }
    } catch (error) {
      if (!this.#claimFailed) {
        this.#claimFailed = true;
        this.#deps.logger.warn("Cannot claim runs; trying again", {
          owner: this.keeper.owner,
          error,
        });
      }
    }
    return taken;
  }

  /** Loads the actor of a claimed run, applies its mail, and continues it. */
  async #take(claim: Claim): Promise<void> {
    const { registry, logger } = this.#deps;
    let actor: RunActor;
    try {
      actor = await registry.acquire(claim.threadId);
    } catch (error) {
      logger.error("Cannot take up a claimed run", { thread_id: claim.threadId, error });
      void this.keeper.release(claim.threadId);
      return;
    }
    try {
      if (actor.run.status === "running" && claim.token > 1) {
        logger.info("run taken over", {
          thread_id: claim.threadId,
          owner: this.keeper.owner,
          token: claim.token,
        });
      }
      if (claim.mail) await this.drainMail(claim.threadId);
      if (!atRest(actor.run)) this.#deps.execute(actor);
    } finally {
      registry.release(actor);
    }
  }

  /** Reports the queued and running runs of graphs this runtime does not have. */
  async #unknownGraphs(report: RecoverReport): Promise<void> {
    const known = new Set(this.#deps.graphNames());
    const found: RunSummary[] = [];
    for (const status of ["running", "queued"] as const) {
      let cursor: string | null = null;
      do {
        const page = await this.#deps.store.listRuns({ status, limit: 500, cursor });
        found.push(...page.items.filter((run) => !known.has(run.graph)));
        cursor = page.nextCursor;
      } while (cursor !== null);
    }
    for (const run of found) {
      report.failed.push({
        threadId: run.threadId,
        graph: run.graph,
        code: "not_found",
        message: `Graph "${run.graph}" is not registered in this runtime`,
      });
    }
  }

  #lost(lease: HeldLease, error: LeaseLostError): void {
    this.#deps.registry.peek(lease.threadId)?.then((actor) => {
      if (actor.fence === lease) actor.lose(error);
    }, () => {});
  }

  #subscribe(): void {
    if (this.#subscription !== null || this.#closed) return;
    this.#subscription = this.#deps.store.subscribe((signal) => this.#signal(signal)).catch(
      (error) => {
        this.#deps.logger.warn("Cannot listen to the store's signals; polling", { error });
        return null;
      },
    );
  }

  #signal(signal: StoreSignal): void {
    if (this.#closed) return;
    this.remote.signal(signal);
    if (signal.kind === "mail" && this.keeper.get(signal.threadId) !== undefined) {
      void this.drainMail(signal.threadId as ThreadId);
    }
    if (signal.kind === "work" || signal.kind === "rest" || signal.kind === "mail") this.#wake();
  }

  async #notify(signal: StoreSignal): Promise<void> {
    try {
      await this.#deps.store.notify(signal);
    } catch (error) {
      this.#deps.logger.warn("Cannot signal other runtimes", { signal: signal.kind, error });
    }
  }
}
