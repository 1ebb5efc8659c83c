/**
 * The lease keeper: the leases one runtime holds on its store's runs.
 *
 * A run executes only in the runtime that holds its lease. The keeper
 * acquires leases (one at a time per run, never twice: an acquisition by the
 * same owner would hand out a new fencing token under the feet of the actor
 * using the old one), claims runnable runs, renews every lease it holds in
 * one `renewLeases` call every third of the ttl, and releases them. A lease
 * it cannot renew in time, because another runtime took it or the store is
 * down, is lost before it ends: the keeper drops it and tells the runtime,
 * which stops the run's actor at once.
 *
 * Each held lease is the run actor's {@linkcode Fence}: every commit and
 * effect record of the run carries its token, which it refuses to give once
 * the lease is lost or past its local deadline.
 *
 * @module
 */

import {
  type Claim,
  type CreateRunResult,
  LeaseLostError,
  type LeaseRequest,
  type Logger,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";

/** What a run actor's writes carry: the fencing token of its run's lease. @internal */
export interface Fence {
  /**
   * The fencing token for a write.
   *
   * @throws {LeaseLostError} once the lease is lost (no write may be made).
   */
  token(): number;
  /** A write was refused with this error: the lease is lost. */
  lost(error: LeaseLostError): void;
}

/** A lease the keeper holds. @internal */
export class HeldLease implements Fence {
  readonly threadId: ThreadId;
  readonly tokenValue: number;
  /** After this (runtime clock, ms) no write is made under the lease unless it is renewed. */
  deadline: number;
  #keeper: LeaseKeeper;
  #lost: LeaseLostError | null = null;

  constructor(keeper: LeaseKeeper, claim: Claim, deadline: number) {
    this.#keeper = keeper;
    this.threadId = claim.threadId;
    this.tokenValue = claim.token;
    this.deadline = deadline;
  }

  /** Whether the lease is lost. */
  get isLost(): boolean {
    return this.#lost !== null;
  }

  token(): number {
    if (this.#lost === null && this.#keeper.now() >= this.deadline) {
      this.#keeper.lose(this, new LeaseLostError(this.threadId, this.tokenValue, null), "expired");
    }
    if (this.#lost !== null) throw this.#lost;
    return this.tokenValue;
  }

  lost(error: LeaseLostError): void {
    this.#keeper.lose(this, error, "refused");
  }

  /** @internal Marks the lease lost (by its keeper). */
  markLost(error: LeaseLostError): boolean {
    if (this.#lost !== null) return false;
    this.#lost = error;
    return true;
  }
}

/** What a {@linkcode LeaseKeeper} works with. @internal */
export interface LeaseKeeperOptions {
  store: Store;
  owner: string;
  ttlMs: number;
  tenantMaxActive: number | undefined;
  now: () => number;
  logger: Logger;
  /** A lease was lost: stop executing its run at once. */
  onLost(lease: HeldLease, error: LeaseLostError): void;
  /** Messages wait in the mailbox of a run whose lease is held: apply them. */
  onMail(threadId: ThreadId): void;
}

/** The leases one runtime holds; see the module doc. @internal */
export class LeaseKeeper {
  readonly owner: string;
  readonly ttlMs: number;
  #options: LeaseKeeperOptions;
  #held = new Map<string, HeldLease>();
  #acquiring = new Map<string, Promise<HeldLease | null>>();
  #releasing = new Map<string, Promise<unknown>>();
  #claiming: Promise<unknown> | null = null;
  /**
   * Renews every third of the ttl. Made at the first lease and kept until
   * {@linkcode LeaseKeeper.close}, referenced only while leases are held (a
   * keeper that holds none does not keep the process alive): one run at a
   * time would otherwise make and clear it for every run.
   */
  #timer: ReturnType<typeof setInterval> | undefined;
  /**
   * Fires at or before the earliest deadline of the leases held (at
   * `#expiryAt`, runtime clock), and then again at the next one. A lease
   * whose deadline is later than it leaves it as it is; one that is dropped
   * leaves it too (it fires early and finds nothing expired).
   */
  #expiry: ReturnType<typeof setTimeout> | undefined;
  #expiryAt = Infinity;
  /** Whether the timers keep the process alive (they do while leases are held). */
  #referenced = true;
  #renewing = false;
  #renewFailed = false;
  #closed = false;

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
    this.owner = options.owner;
    this.ttlMs = options.ttlMs;
  }

  /** The runtime's clock. */
  now(): number {
    return this.#options.now();
  }

  /**
   * How many runs execute under its leases: those it holds or is acquiring,
   * not those whose lease it is releasing (their runs are at rest; a release
   * may wait for a group commit, and must not hold a place meanwhile).
   */
  get size(): number {
    return this.#held.size - this.#releasing.size + this.#acquiring.size;
  }

  /** The live lease of a run it holds, if any. */
  get(threadId: string): HeldLease | undefined {
    const lease = this.#held.get(threadId);
    return lease === undefined || lease.isLost ? undefined : lease;
  }

  /**
   * The lease of a run: the one it holds, or a new one from the store.
   *
   * @returns The lease, or `null` when another live runtime holds it (or its tenant is at its cap).
   */
  acquire(threadId: ThreadId): Promise<HeldLease | null> {
    const held = this.get(threadId);
    if (held !== undefined && !this.#releasing.has(threadId)) return Promise.resolve(held);
    let pending = this.#acquiring.get(threadId);
    if (pending === undefined) {
      pending = this.#acquire(threadId).finally(() => this.#acquiring.delete(threadId));
      this.#acquiring.set(threadId, pending);
    }
    return pending;
  }

  async #acquire(threadId: ThreadId): Promise<HeldLease | null> {
    // Never two acquisitions of one run at once: after its release, and after a
    // claim (that may take it), unless the claim hangs (the store is down).
    await this.#releasing.get(threadId)?.catch(() => {});
    if (this.#claiming !== null) await within(this.#claiming, Math.floor(this.ttlMs / 3));
    const held = this.get(threadId);
    if (held !== undefined) return held;
    const sentAt = this.now();
    const claim = await this.#options.store.acquireLease(threadId, this.#request());
    return claim === null ? null : this.#adopt(claim, sentAt, "debug");
  }

  /** Whether {@linkcode LeaseKeeper.create} may ask for a run's lease at its creation. */
  canCreateLeased(threadId: string): boolean {
    return !this.#closed && !this.#held.has(threadId) && !this.#acquiring.has(threadId) &&
      !this.#releasing.has(threadId);
  }

  /**
   * Creates a run through `make`, which asks the store for the run's first
   * lease in the same operation (`OwnershipStore.createLeasedRun`): the
   * acquisition's round trip is saved. Meanwhile the run counts as being
   * acquired: claims exclude it, and acquisitions of it wait for this one.
   * When the store grants no lease (the run existed, or a tenant cap), the
   * lease is acquired as by {@linkcode LeaseKeeper.acquire}.
   *
   * @returns What `make` returned, and the lease, or `null` when another live runtime holds it.
   */
  async create<T extends CreateRunResult>(
    threadId: ThreadId,
    make: (request: LeaseRequest) => Promise<T & { lease?: Claim | null }>,
  ): Promise<{ result: T; lease: HeldLease | null }> {
    const gate = Promise.withResolvers<HeldLease | null>();
    const pending = gate.promise.finally(() => this.#acquiring.delete(threadId));
    pending.catch(() => {});
    this.#acquiring.set(threadId, pending);
    const sentAt = this.now();
    let result: T & { lease?: Claim | null };
    try {
      result = await make(this.#request());
    } catch (error) {
      gate.resolve(null);
      throw error;
    }
    const claim = result.lease ?? null;
    if (claim === null) gate.resolve(this.#acquire(threadId));
    else {
      // A claim in flight may have taken the run (as for an acquisition): its lease is the newer.
      if (this.#claiming !== null) await within(this.#claiming, Math.floor(this.ttlMs / 3));
      gate.resolve(this.get(threadId) ?? this.#adopt(claim, sentAt, "debug"));
    }
    return { result, lease: await pending };
  }

  /**
   * Claims runnable runs of the given graphs (see `OwnershipStore.claimRuns`).
   *
   * @param limit How many at most.
   * @param graphs The graphs this runtime can execute.
   * @returns The claims, with their leases held.
   */
  async claim(limit: number, graphs: readonly string[]): Promise<Claim[]> {
    while (this.#claiming !== null) await this.#claiming.catch(() => {});
    if (this.#closed || limit <= 0 || graphs.length === 0) return [];
    const sentAt = this.now();
    const claiming = this.#options.store.claimRuns({
      ...this.#request(),
      limit,
      graphs,
      exclude: [...this.#held.keys(), ...this.#acquiring.keys(), ...this.#releasing.keys()],
    });
    this.#claiming = claiming;
    try {
      const adopted: Claim[] = [];
      for (const claim of await claiming) {
        // An acquisition that did not wait for this claim got the run first
        // and its holder uses that lease: this newer one is not used (the
        // older one's writes are refused; the run is claimed again once it expires).
        if (this.#held.has(claim.threadId)) continue;
        // Runs picked up from the queue or from a dead owner: worth a line.
        this.#adopt(claim, sentAt, "info");
        adopted.push(claim);
      }
      return adopted;
    } finally {
      this.#claiming = null;
    }
  }

  /**
   * Releases the lease of a run at rest. When mail waits, it keeps the lease
   * and asks for the mail to be applied.
   */
  release(threadId: string): Promise<unknown> {
    const lease = this.#held.get(threadId);
    if (lease === undefined || this.#releasing.has(threadId)) {
      return this.#releasing.get(threadId) ?? Promise.resolve();
    }
    const releasing = this.#release(lease).finally(() => this.#releasing.delete(threadId));
    this.#releasing.set(threadId, releasing);
    return releasing;
  }

  async #release(lease: HeldLease): Promise<void> {
    try {
      const outcome = await this.#options.store.releaseLease(this.owner, {
        threadId: lease.threadId,
        token: lease.tokenValue,
      });
      if (outcome === "mail" && !lease.isLost) {
        queueMicrotask(() => this.#options.onMail(lease.threadId));
        return;
      }
    } catch (error) {
      // It ends at its expiry; nothing runs under it meanwhile.
      this.#options.logger.warn("Cannot release a run's lease; it ends at its expiry", {
        thread_id: lease.threadId,
        owner: this.owner,
        error,
      });
    }
    this.#drop(lease);
    this.#options.logger.debug("lease released", {
      thread_id: lease.threadId,
      owner: this.owner,
      token: lease.tokenValue,
    });
  }

  /** Marks a lease lost, drops it and tells the runtime (once). */
  lose(lease: HeldLease, error: LeaseLostError, why: "expired" | "refused" | "taken"): void {
    if (!lease.markLost(error)) return;
    this.#drop(lease);
    this.#options.logger.warn("lease lost", {
      thread_id: lease.threadId,
      owner: this.owner,
      token: lease.tokenValue,
      reason: why,
    });
    this.#options.onLost(lease, error);
  }

  /** Releases every lease it holds and stops renewing. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopTimer();
    await Promise.allSettled([...this.#acquiring.values()]);
    await Promise.allSettled([...this.#held.keys()].map((threadId) => this.release(threadId)));
    this.#stopTimer();
  }

  #request(): LeaseRequest {
    const tenantMaxActive = this.#options.tenantMaxActive;
    return {
      owner: this.owner,
      ttlMs: this.ttlMs,
      ...(tenantMaxActive === undefined ? {} : { tenantMaxActive }),
    };
  }

  #adopt(claim: Claim, sentAt: number, level: "debug" | "info"): HeldLease {
    const lease = new HeldLease(this, claim, this.#deadlineFrom(sentAt));
    this.#held.set(claim.threadId, lease);
    this.#options.logger[level]("lease acquired", {
      thread_id: claim.threadId,
      owner: this.owner,
      token: claim.token,
    });
    this.#startTimer(lease.deadline);
    return lease;
  }

  #drop(lease: HeldLease): void {
    if (this.#held.get(lease.threadId) === lease) this.#held.delete(lease.threadId);
    if (this.#held.size === 0) this.#reference(false);
  }

  /**
   * Writes stop a tenth of the ttl before the lease would end unrenewed: the
   * store counts the ttl from when it renewed, which is after `sentAt`.
   */
  #deadlineFrom(sentAt: number): number {
    return sentAt + this.ttlMs - Math.max(1, Math.floor(this.ttlMs / 10));
  }

  /** A lease with this deadline is held: renewals run, and expiry fires by then. */
  #startTimer(deadline: number): void {
    if (this.#closed) return;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), Math.max(1, Math.floor(this.ttlMs / 3)));
      if (!this.#referenced) Deno.unrefTimer(this.#timer);
    }
    if (this.#expiry === undefined || deadline < this.#expiryAt) this.#armExpiry();
    this.#reference(true);
  }

  #stopTimer(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    this.#expiryAt = Infinity;
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Lets the timers keep the process alive, or not (no lease held). */
  #reference(on: boolean): void {
    if (this.#referenced === on) return;
    this.#referenced = on;
    for (const timer of [this.#timer, this.#expiry]) {
      if (timer === undefined) continue;
      if (on) Deno.refTimer(timer);
      else Deno.unrefTimer(timer);
    }
  }

  /** Loses, at their deadline, the leases that were not renewed in time (the runs stop at once). */
  #armExpiry(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    this.#expiryAt = Infinity;
    if (this.#closed || this.#held.size === 0) return;
    let earliest = Infinity;
    for (const lease of this.#held.values()) earliest = Math.min(earliest, lease.deadline);
    this.#expiryAt = earliest;
    this.#expiry = setTimeout(() => {
      this.#expiry = undefined;
      this.#expiryAt = Infinity;
      this.#loseExpired();
      this.#armExpiry();
    }, Math.max(0, earliest - this.now()));
    if (!this.#referenced) Deno.unrefTimer(this.#expiry);
  }

  #loseExpired(): void {
    const now = this.now();
    for (const lease of [...this.#held.values()]) {
      if (now >= lease.deadline) {
        this.lose(lease, new LeaseLostError(lease.threadId, lease.tokenValue, null), "expired");
      }
    }
  }

  #tick(): void {
    this.#loseExpired();
    if (!this.#renewing && this.#held.size > 0) void this.#renew();
  }

  async #renew(): Promise<void> {
    this.#renewing = true;
    const leases = [...this.#held.values()];
    const sentAt = this.now();
    try {
      const renewed = await this.#options.store.renewLeases(
        this.owner,
        leases.map((lease) => ({ threadId: lease.threadId, token: lease.tokenValue })),
        this.ttlMs,
      );
      if (this.#renewFailed) {
        this.#renewFailed = false;
        this.#options.logger.info("leases renewed again", { owner: this.owner });
      }
      const byThread = new Map(renewed.map((claim) => [claim.threadId as string, claim]));
      for (const lease of leases) {
        const claim = byThread.get(lease.threadId);
        if (claim === undefined || claim.token !== lease.tokenValue) {
          const current = claim?.token ?? null;
          this.lose(lease, new LeaseLostError(lease.threadId, lease.tokenValue, current), "taken");
          continue;
        }
        lease.deadline = this.#deadlineFrom(sentAt);
        if (claim.mail && !lease.isLost) this.#options.onMail(lease.threadId);
      }
    } catch (error) {
      if (!this.#renewFailed) {
        this.#renewFailed = true;
        this.#options.logger.warn("Cannot renew leases; runs stop before their leases end", {
          owner: this.owner,
          count: leases.length,
          error,
        });
      }
    } finally {
      this.#renewing = false;
      // Renewals only move deadlines later: an expiry timer armed stays early enough.
      if (this.#expiry === undefined) this.#armExpiry();
    }
  }
}

/** Waits for `promise` (settled either way), at most `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  try {
    await Promise.race([promise.then(() => {}, () => {}), bound]);
  } finally {
    clearTimeout(timer);
  }
}
