/**
 * The ownership of runs in one process, shared by the in-process stores
 * (memory, and Deno KV, whose leases and mailbox live in the process that
 * opened it): leases with fencing tokens, claims by priority and age within
 * tenant caps, the mailbox and signals, over an index of the runs' statuses
 * and scheduling that the store keeps up to date as it writes.
 *
 * A fenced write is checked against the run's current token when it starts
 * and counted as in flight until it settles; an acquisition waits until no
 * write of the run is in flight (a claim skips such runs), so no write made
 * under an old token can land after a new token was handed out.
 *
 * @module
 */

import {
  checkClaimRequest,
  checkLeaseRefs,
  checkLeaseRequest,
  checkMailAnswer,
  checkOwner,
  checkToken,
  type Claim,
  type ClaimRequest,
  encodeMailMessage,
  type JsonObject,
  type Lease,
  LeaseLostError,
  type LeaseRef,
  type LeaseRequest,
  type MailAnswer,
  type MailMessage,
  type MailRecord,
  NotFoundError,
  parseThreadId,
  type PostResult,
  type QueueStats,
  type ReleaseOutcome,
  type RunSnapshot,
  type RunStatus,
  type Scheduling,
  schedulingOf,
  type StoreSignal,
  type ThreadId,
  wakeAtOf,
} from "../kernel/mod.ts";

/** What the index knows of a run. */
export interface RunInfo extends Scheduling {
  /** The run. */
  threadId: string;
  /** Its graph. */
  graph: string;
  /** Its status. */
  status: RunStatus;
  /** When it was created (ms). */
  createdAt: number;
  /** When it needs a runtime although no message comes (`wakeAtOf`), or `null`. */
  wakeAt: number | null;
}

/** Where a {@linkcode LocalOwnership} finds runs its index does not hold. */
export interface LocalOwnershipOptions {
  /** The clock (ms). */
  now?: () => number;
  /** Every run that is `queued` or `running` in the store, read once before the index is first used. */
  seed?: () => Promise<RunInfo[]>;
  /** A run written by someone else (or not seeded), or `null` when there is none. */
  lookup?: (threadId: string) => Promise<RunInfo | null>;
  /**
   * The runs that wait for an attempt's retry (their open attempt is in
   * `retry_backoff` until after `now`): no claim takes them before then.
   */
  waitingForRetry?: (now: number) => Promise<Set<string>>;
}

interface StoredMail {
  seq: number;
  json: string;
  status: MailRecord["status"];
  error: string | null;
  version: number | null;
  postedAt: number;
  answeredAt: number | null;
}

interface Mailbox {
  messages: StoredMail[];
  /** The highest seq answered. */
  done: number;
}

/** Leases, claims, mailbox and signals in one process; see the module doc. */
export class LocalOwnership {
  #now: () => number;
  #seed: (() => Promise<RunInfo[]>) | undefined;
  #seeded: Promise<void> | null = null;
  #lookup: ((threadId: string) => Promise<RunInfo | null>) | undefined;
  #waitingForRetry: ((now: number) => Promise<Set<string>>) | undefined;
  #runs = new Map<string, RunInfo>();
  /** Runs that are `queued` or `running`. */
  #runnable = new Set<string>();
  /** Runs with a wake-up time. */
  #waking = new Set<string>();
  #leases = new Map<string, Lease>();
  /** The last token handed out per run (kept after release). */
  #tokens = new Map<string, number>();
  #inFlight = new Map<string, { count: number; settled: PromiseWithResolvers<void> }>();
  #mail = new Map<string, Mailbox>();
  #listeners = new Set<(signal: StoreSignal) => void>();

  /** @param options The clock, and where to find runs the index does not hold. */
  constructor(options: LocalOwnershipOptions = {}) {
    this.#now = options.now ?? (() => Date.now());
    this.#seed = options.seed;
    this.#lookup = options.lookup;
    this.#waitingForRetry = options.waitingForRetry;
  }

  /**
   * Notes a run the store created (or found).
   *
   * @param info The run.
   */
  noteRun(info: RunInfo): void {
    this.#runs.set(info.threadId, { ...info });
    this.#noteRunnable(info.threadId, info.status, info.wakeAt);
  }

  /**
   * Notes a run's new status and wake-up time (`wakeAtOf`) after an append landed.
   *
   * @param threadId The run.
   * @param run The run after the append.
   */
  noteStatus(threadId: string, run: Pick<RunSnapshot, "status" | "createdAt" | "deadline">): void {
    const info = this.#runs.get(threadId);
    if (info === undefined) return;
    info.status = run.status;
    info.wakeAt = wakeAtOf(run);
    this.#noteRunnable(threadId, info.status, info.wakeAt);
  }

  #noteRunnable(threadId: string, status: RunStatus, wakeAt: number | null): void {
    if (status === "queued" || status === "running") this.#runnable.add(threadId);
    else this.#runnable.delete(threadId);
    if (wakeAt === null) this.#waking.delete(threadId);
    else this.#waking.add(threadId);
  }

  /**
   * Throws unless `fence` is the run's current token (no fence: no check).
   *
   * @param threadId The run.
   * @param fence The writer's token.
   * @throws {LeaseLostError} when it is not.
   */
  checkFence(threadId: string, fence: number | undefined): void {
    if (fence === undefined) return;
    checkToken(fence, "fence");
    const current = this.#tokens.get(threadId) ?? 0;
    if (current !== fence) throw new LeaseLostError(threadId, fence, current);
  }

  /**
   * Runs a write of a run under its fence: checked first, in flight until it settles.
   *
   * @param threadId The run.
   * @param fence The writer's token (none: not checked, not counted).
   * @param write The write.
   * @returns What the write returns.
   */
  async fenced<T>(
    threadId: string,
    fence: number | undefined,
    write: () => Promise<T>,
  ): Promise<T> {
    if (fence === undefined) return await write();
    this.checkFence(threadId, fence);
    let entry = this.#inFlight.get(threadId);
    if (entry === undefined) {
      entry = { count: 0, settled: Promise.withResolvers<void>() };
      this.#inFlight.set(threadId, entry);
    }
    entry.count++;
    try {
      return await write();
    } finally {
      if (--entry.count === 0) {
        this.#inFlight.delete(threadId);
        entry.settled.resolve();
      }
    }
  }

  /**
   * Marks a message applied by an append that landed.
   *
   * @param threadId The run.
   * @param seq The message.
   * @param version The run's version after the append.
   */
  applied(threadId: string, seq: number, version: number): void {
    const mailbox = this.#mail.get(threadId);
    const record = mailbox?.messages.find((message) => message.seq === seq);
    if (mailbox === undefined || record === undefined || record.status !== "pending") return;
    record.status = "applied";
    record.version = version;
    record.answeredAt = this.#now();
    mailbox.done = Math.max(mailbox.done, seq);
    this.#emit({ kind: "answer", threadId, seq });
  }

  /** See `OwnershipStore.acquireLease`. */
  async acquire(threadId: ThreadId, request: LeaseRequest): Promise<Claim | null> {
    checkLeaseRequest(request);
    const info = await this.#info(parseThreadId(threadId));
    for (;;) {
      const entry = this.#inFlight.get(threadId);
      if (entry !== undefined) {
        await entry.settled.promise;
        continue;
      }
      const now = this.#now();
      const lease = this.#leases.get(threadId);
      if (lease !== undefined && lease.expiresAt > now && lease.owner !== request.owner) {
        return null;
      }
      if (!this.#withinCap(info, request, now)) return null;
      return this.#grant(threadId, request, now);
    }
  }

  /**
   * Grants the first lease of a run the store just created and noted (see
   * `OwnershipStore.createLeasedRun`), within the tenant cap; synchronous, so
   * nothing comes between the creation and the grant.
   *
   * @param threadId The run.
   * @param request The owner, ttl and tenant cap (checked by the caller).
   * @returns The claim, or `null` when the run is not noted, has a lease already, or its tenant is at its cap.
   */
  grantCreated(threadId: ThreadId, request: LeaseRequest): Claim | null {
    const info = this.#runs.get(threadId);
    if (info === undefined || this.#leases.has(threadId) || this.#inFlight.has(threadId)) {
      return null;
    }
    const now = this.#now();
    return this.#withinCap(info, request, now) ? this.#grant(threadId, request, now) : null;
  }

  /** See `OwnershipStore.claimRuns`. */
  async claim(request: ClaimRequest): Promise<Claim[]> {
    checkClaimRequest(request);
    await this.#ensureSeeded();
    const retrying = await this.#waitingForRetry?.(this.#now());
    // From here on, no await: a claim sees and grants as one step.
    const now = this.#now();
    const graphs = new Set(request.graphs);
    const exclude = new Set([...request.exclude ?? [], ...retrying ?? []]);
    const candidates: RunInfo[] = [];
    const ids = new Set([...this.#runnable, ...this.#withMail(), ...this.#due(now)]);
    for (const threadId of ids) {
      const info = this.#runs.get(threadId);
      if (info === undefined || !graphs.has(info.graph) || exclude.has(threadId)) continue;
      if (this.#inFlight.has(threadId)) continue; // As a locked row: skipped.
      const lease = this.#leases.get(threadId);
      if (lease !== undefined && lease.expiresAt > now && lease.owner !== request.owner) continue;
      candidates.push(info);
    }
    candidates.sort(compareSchedule);
    const claimed: Claim[] = [];
    for (const info of candidates) {
      if (claimed.length >= request.limit) break;
      // Each grant counts at once among the tenant's live leases.
      if (!this.#withinCap(info, request, now)) continue;
      claimed.push(this.#grant(info.threadId as ThreadId, request, now));
    }
    return claimed;
  }

  /** See `OwnershipStore.renewLeases`. */
  renew(owner: string, leases: readonly LeaseRef[], ttlMs: number): Claim[] {
    checkOwner(owner);
    checkLeaseRefs(leases);
    checkLeaseRequest({ owner, ttlMs });
    const renewed: Claim[] = [];
    const now = this.#now();
    for (const ref of leases) {
      const lease = this.#leases.get(ref.threadId);
      if (lease === undefined || lease.owner !== owner || lease.token !== ref.token) continue;
      lease.expiresAt = now + ttlMs;
      renewed.push({ ...lease, mail: this.#hasMail(ref.threadId) });
    }
    return renewed;
  }

  /** See `OwnershipStore.releaseLease`. */
  release(owner: string, ref: LeaseRef): ReleaseOutcome {
    checkOwner(owner);
    checkLeaseRefs([ref]);
    const lease = this.#leases.get(ref.threadId);
    if (lease === undefined || lease.owner !== owner || lease.token !== ref.token) return "lost";
    if (this.#hasMail(ref.threadId)) return "mail";
    this.#leases.delete(ref.threadId);
    return "released";
  }

  /** See `OwnershipStore.getLease`. */
  get(threadId: ThreadId): Lease | null {
    const lease = this.#leases.get(parseThreadId(threadId));
    return lease === undefined ? null : { ...lease };
  }

  /** See `OwnershipStore.postMessage`. */
  async post(threadId: ThreadId, message: MailMessage): Promise<PostResult> {
    const json = encodeMailMessage(message);
    await this.#info(parseThreadId(threadId));
    let mailbox = this.#mail.get(threadId);
    if (mailbox === undefined) {
      mailbox = { messages: [], done: 0 };
      this.#mail.set(threadId, mailbox);
    }
    const now = this.#now();
    const seq = (mailbox.messages.at(-1)?.seq ?? 0) + 1;
    mailbox.messages.push({
      seq,
      json,
      status: "pending",
      error: null,
      version: null,
      postedAt: now,
      answeredAt: null,
    });
    const lease = this.#leases.get(threadId);
    this.#emit({ kind: "mail", threadId });
    return { seq, lease: lease !== undefined && lease.expiresAt > now ? { ...lease } : null };
  }

  /** See `OwnershipStore.pendingMessages`. */
  pending(threadId: ThreadId): MailRecord[] {
    const mailbox = this.#mail.get(parseThreadId(threadId));
    return (mailbox?.messages ?? [])
      .filter((message) => message.status === "pending")
      .map((message) => toRecord(threadId, message));
  }

  /** See `OwnershipStore.getMessage`. */
  message(threadId: ThreadId, seq: number): MailRecord | null {
    checkToken(seq, "seq");
    const found = this.#mail.get(parseThreadId(threadId))?.messages.find((m) => m.seq === seq);
    return found === undefined ? null : toRecord(threadId, found);
  }

  /** See `OwnershipStore.answerMessage`. */
  answer(threadId: ThreadId, seq: number, answer: MailAnswer, fence: number): void {
    checkToken(seq, "seq");
    checkToken(fence, "fence");
    const error = checkMailAnswer(answer);
    this.checkFence(parseThreadId(threadId), fence);
    const mailbox = this.#mail.get(threadId);
    const record = mailbox?.messages.find((message) => message.seq === seq);
    if (mailbox === undefined || record === undefined) {
      throw new NotFoundError("message", `${threadId}#${seq}`);
    }
    if (record.status !== "pending") return;
    record.status = answer.status;
    record.error = error;
    record.answeredAt = this.#now();
    mailbox.done = Math.max(mailbox.done, seq);
    this.#emit({ kind: "answer", threadId, seq });
  }

  /** See `OwnershipStore.queueStats`. */
  async stats(): Promise<QueueStats> {
    await this.#ensureSeeded();
    let depth = 0;
    let oldest: number | null = null;
    for (const threadId of this.#runnable) {
      const info = this.#runs.get(threadId)!;
      if (info.status !== "queued") continue;
      depth++;
      if (oldest === null || info.createdAt < oldest) oldest = info.createdAt;
    }
    return { depth, oldestCreatedAt: oldest };
  }

  /** See `OwnershipStore.notify`. */
  notify(signal: StoreSignal): void {
    this.#emit(signal);
  }

  /** See `OwnershipStore.subscribe`. */
  subscribe(listener: (signal: StoreSignal) => void): () => Promise<void> {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      return Promise.resolve();
    };
  }

  #emit(signal: StoreSignal): void {
    for (const listener of [...this.#listeners]) {
      queueMicrotask(() => listener(signal));
    }
  }

  #grant(threadId: ThreadId, request: LeaseRequest, now: number): Claim {
    const token = (this.#tokens.get(threadId) ?? 0) + 1;
    this.#tokens.set(threadId, token);
    const lease: Lease = { threadId, owner: request.owner, token, expiresAt: now + request.ttlMs };
    this.#leases.set(threadId, lease);
    return { ...lease, mail: this.#hasMail(threadId) };
  }

  /** Whether one more live lease of the run's tenant stays within the cap. */
  #withinCap(info: RunInfo, request: LeaseRequest, now: number): boolean {
    const cap = request.tenantMaxActive;
    if (cap === undefined || info.tenantId === null) return true;
    let live = 0;
    for (const lease of this.#leases.values()) {
      if (lease.threadId === info.threadId || lease.expiresAt <= now) continue;
      if (this.#runs.get(lease.threadId)?.tenantId === info.tenantId) live++;
    }
    return live < cap;
  }

  #hasMail(threadId: string): boolean {
    const mailbox = this.#mail.get(threadId);
    return mailbox !== undefined && (mailbox.messages.at(-1)?.seq ?? 0) > mailbox.done;
  }

  /** The runs whose wake-up time has come. */
  #due(now: number): string[] {
    return [...this.#waking].filter((threadId) => this.#runs.get(threadId)!.wakeAt! <= now);
  }

  #withMail(): string[] {
    return [...this.#mail.keys()].filter((threadId) => this.#hasMail(threadId));
  }

  async #info(threadId: string): Promise<RunInfo> {
    await this.#ensureSeeded();
    let info = this.#runs.get(threadId);
    if (info === undefined && this.#lookup !== undefined) {
      const found = await this.#lookup(threadId);
      if (found !== null) {
        info = this.#runs.get(threadId) ?? found;
        if (!this.#runs.has(threadId)) this.noteRun(found);
      }
    }
    if (info === undefined) throw new NotFoundError("run", threadId);
    return info;
  }

  #ensureSeeded(): Promise<void> {
    if (this.#seed === undefined) return Promise.resolve();
    this.#seeded ??= this.#seed().then((runs) => {
      // What this store wrote while the seed was read is newer.
      for (const info of runs) if (!this.#runs.has(info.threadId)) this.noteRun(info);
    }).catch((error) => {
      this.#seeded = null;
      throw error;
    });
    return this.#seeded;
  }
}

/** Higher priority first, then older, then by thread id. */
function compareSchedule(a: RunInfo, b: RunInfo): number {
  return b.priority - a.priority || a.createdAt - b.createdAt ||
    (a.threadId < b.threadId ? -1 : a.threadId > b.threadId ? 1 : 0);
}

function toRecord(threadId: ThreadId, stored: StoredMail): MailRecord {
  return {
    threadId,
    seq: stored.seq,
    message: JSON.parse(stored.json) as MailMessage,
    status: stored.status,
    error: stored.error === null ? null : JSON.parse(stored.error),
    version: stored.version,
    postedAt: stored.postedAt,
    answeredAt: stored.answeredAt,
  };
}

/**
 * What the index notes of a run just created.
 *
 * @param run The run's id, status, graph, creation time and deadline.
 * @param metadata Its `run.created` metadata (priority, tenant).
 * @returns The index entry.
 */
export function runInfoOf(
  run: Pick<RunSnapshot, "threadId" | "status" | "graph" | "createdAt" | "deadline">,
  metadata: JsonObject | undefined,
): RunInfo {
  const { threadId, status, graph, createdAt } = run;
  return { threadId, status, graph, createdAt, wakeAt: wakeAtOf(run), ...schedulingOf(metadata) };
}
