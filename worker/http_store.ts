/**
 * The store of a remote worker's runtime: a `Store` whose run data, effect
 * journal, leases and mailbox are the server's, reached through the
 * `/v1/workers/*` endpoints, so that the run actors execute on a worker
 * exactly as they do in the server, without knowing they are remote.
 *
 * | Store                          | endpoint                                                   |
 * | ------------------------------ | ---------------------------------------------------------- |
 * | `claimRuns`                    | `POST /v1/workers/poll` (one per run, `graphs`, `exclude`) |
 * | `renewLeases`                  | `POST /v1/workers/:worker_id/heartbeat` (each lease)       |
 * | `releaseLease`                 | `POST /v1/workers/:worker_id/release`                      |
 * | `append`                       | `POST /v1/workers/:worker_id/report-step` (then `ack` when the run ended) |
 * | `load`, `readEvents`           | `GET /v1/workers/:worker_id/runs/:thread_id` (`/events`)   |
 * | `recordEffect`, `listEffects`  | `POST`/`GET /v1/workers/:worker_id/runs/:thread_id/effects` |
 * | `pendingMessages`, `answerMessage` | `/v1/workers/:worker_id/runs/:thread_id/mail`          |
 *
 * A worker sees only the runs it holds: it creates no runs, lists none, and
 * keeps no control records (those calls are refused). Signals are local
 * (a run of this worker at rest wakes its claim loop); the worker polls.
 *
 * Polls back off when idle (no run to dispatch, or the server cannot be
 * reached): from `pollIntervalMs`, doubling up to `maxPollIntervalMs`, with
 * jitter; a dispatch polls again at once. Writes that are safe to repeat
 * (report-step, whose repeat finds its events in the run's log; effects whose first record wins; the
 * mailbox's answers, ack, release) are retried while the server is down,
 * within the lease's ttl; after that the lease is lost and another worker
 * continues the run from its last reported step.
 *
 * @module
 */

import {
  type AppendOptions,
  type AppendResult,
  type AttemptStore,
  type CheckpointRecord,
  type Claim,
  type ClaimRequest,
  type ControlStore,
  type CreateRunResult,
  decodeSnapshot,
  type EffectKey,
  type EffectRecord,
  isTerminal,
  type Lease,
  LeaseLostError,
  type LeaseRef,
  type LoadedRun,
  type Logger,
  type MailAnswer,
  type MailMessage,
  type MailRecord,
  OrisError,
  type Page,
  type PostResult,
  type QueueStats,
  type ReadEventsOptions,
  type RecordEffectOptions,
  type ReleaseOutcome,
  type RunEvent,
  type RunSnapshot,
  type Store,
  type StoredEvent,
  type StoreSignal,
  type ThreadId,
  VersionConflictError,
} from "../kernel/mod.ts";
import { backoff, type RetryPolicy, transient, type WorkerClient } from "./_client.ts";
import { decodeStored, effectOf, isVersion, type WireEffect } from "./_wire.ts";

/** What the store needs. @internal */
export interface HttpStoreOptions {
  /** The client of the server. */
  client: WorkerClient;
  /** The worker's id (its runtime's owner id). */
  workerId: string;
  /** Its cap of live leases (sent with each poll). */
  maxActiveLeases: number;
  /** The first delay between idle polls (ms). */
  pollIntervalMs: number;
  /** The longest delay between idle polls (ms). */
  maxPollIntervalMs: number;
  /** Random numbers in [0, 1), for jitter. */
  random(): number;
  /** Where it logs. */
  logger: Logger;
}

/** A run the worker holds: its attempt and lease as the poll gave them. */
interface Held {
  attemptId: string;
  leaseId: string;
  token: number;
  ttlMs: number;
  /** The run's trace (poll's `run.traceparent`): this run's requests join it. */
  traceparent?: string;
  /** The run ended and its attempt was acked: the server released the lease. */
  acked?: boolean;
}

/** What a poll answers (the fields the store uses). */
interface PollData {
  decision: "dispatched" | "noop" | "backpressure";
  attempt_id?: string;
  lease_id?: string;
  lease_expires_at?: string;
  fencing_token?: number;
  run?: { thread_id: string; traceparent?: string };
  mail?: boolean;
}

function unsupported(what: string): OrisError {
  return new OrisError(
    "invalid_argument",
    `Cannot ${what} in a worker: a worker executes the runs the server dispatches to it`,
  );
}

/** The worker's store; see the module doc. @internal */
export class HttpStore implements Store {
  #options: HttpStoreOptions;
  #client: WorkerClient;
  #held = new Map<string, Held>();
  #listeners = new Set<(signal: StoreSignal) => void>();
  #idlePolls = 0;
  #nextPollAt = 0;
  #closed = false;

  constructor(options: HttpStoreOptions) {
    this.#options = options;
    this.#client = options.client;
  }

  /** How many runs this worker holds leases of. */
  get held(): number {
    return this.#held.size;
  }

  #path(suffix: string): string {
    return `/v1/workers/${encodeURIComponent(this.#options.workerId)}${suffix}`;
  }

  #runPath(threadId: string, suffix = ""): string {
    return this.#path(`/runs/${encodeURIComponent(threadId)}${suffix}`);
  }

  /** How a request about a held run is sent: retried within its lease, in the run's trace. */
  #policy(held: Held, retry = true): RetryPolicy {
    return {
      retry,
      ...(retry ? { withinMs: held.ttlMs } : {}),
      ...(held.traceparent === undefined ? {} : { traceparent: held.traceparent }),
    };
  }

  #require(threadId: string, fence: number | undefined): Held {
    const held = this.#held.get(threadId);
    if (held === undefined || (fence !== undefined && fence !== held.token)) {
      throw new LeaseLostError(threadId, fence ?? 0, held?.token ?? null);
    }
    return held;
  }

  // ---------------------------------------------------------------- ownership

  /** Polls for runs (see the module doc). */
  async claimRuns(request: ClaimRequest): Promise<Claim[]> {
    if (this.#closed || Date.now() < this.#nextPollAt) return [];
    const claims: Claim[] = [];
    const exclude = [...request.exclude ?? []];
    // The runtime holds (or acquires, or releases) exactly these: any other lease was lost.
    const kept = new Set<string>(exclude);
    for (const threadId of [...this.#held.keys()]) {
      if (!kept.has(threadId)) this.#held.delete(threadId);
    }
    const ttlSeconds = Math.max(1, Math.ceil(request.ttlMs / 1000));
    while (claims.length < request.limit && !this.#closed) {
      let data: PollData;
      try {
        data = await this.#client.request<PollData>("POST", "/v1/workers/poll", {
          worker_id: this.#options.workerId,
          graphs: request.graphs,
          max_active_leases: this.#options.maxActiveLeases,
          lease_ttl_seconds: ttlSeconds,
          exclude,
          ...(request.tenantMaxActive === undefined
            ? {}
            : { tenant_max_active_leases: request.tenantMaxActive }),
        }, { retry: false });
      } catch (error) {
        this.#idle();
        if (claims.length > 0) return claims;
        throw error;
      }
      if (data.decision !== "dispatched") {
        this.#idle();
        break;
      }
      this.#idlePolls = 0;
      this.#nextPollAt = 0;
      const threadId = data.run!.thread_id as ThreadId;
      this.#held.set(threadId, {
        attemptId: data.attempt_id!,
        leaseId: data.lease_id!,
        token: data.fencing_token!,
        ttlMs: ttlSeconds * 1000,
        ...(data.run!.traceparent === undefined ? {} : { traceparent: data.run!.traceparent }),
      });
      exclude.push(threadId);
      claims.push({
        threadId,
        owner: this.#options.workerId,
        token: data.fencing_token!,
        expiresAt: Date.parse(data.lease_expires_at!),
        mail: data.mail === true,
      });
    }
    return claims;
  }

  /** Nothing to do (or no server): the next poll waits longer, with jitter. */
  #idle(): void {
    const { pollIntervalMs, maxPollIntervalMs, random } = this.#options;
    this.#nextPollAt = Date.now() +
      backoff(this.#idlePolls, pollIntervalMs, maxPollIntervalMs, random);
    this.#idlePolls++;
  }

  /** Heartbeats each lease; a lease the server refuses is lost. */
  async renewLeases(_owner: string, leases: readonly LeaseRef[], ttlMs: number): Promise<Claim[]> {
    let failure: unknown = null;
    const renewed = await Promise.all(leases.map(async (ref): Promise<Claim | null> => {
      const held = this.#held.get(ref.threadId);
      if (held === undefined || held.token !== ref.token) return null;
      const claim = { threadId: ref.threadId, owner: this.#options.workerId, token: ref.token };
      // Acked: the run ended, nothing more is written under it; it goes at its release.
      if (held.acked) return { ...claim, expiresAt: Date.now() + ttlMs, mail: false };
      try {
        const data = await this.#client.request<{ lease_expires_at: string; mail: boolean }>(
          "POST",
          this.#path("/heartbeat"),
          { lease_id: held.leaseId, lease_ttl_seconds: Math.max(1, Math.ceil(ttlMs / 1000)) },
          this.#policy(held, false),
        );
        return { ...claim, expiresAt: Date.parse(data.lease_expires_at), mail: data.mail };
      } catch (error) {
        if (transient(error)) failure = error;
        return null;
      }
    }));
    if (failure !== null) throw failure;
    return renewed.filter((claim) => claim !== null);
  }

  /** Releases a lease (its attempt is queued again), unless mail waits. */
  async releaseLease(_owner: string, lease: LeaseRef): Promise<ReleaseOutcome> {
    const held = this.#held.get(lease.threadId);
    if (held === undefined || held.token !== lease.token) return "lost";
    if (held.acked) {
      // The ack released it on the server.
      this.#held.delete(lease.threadId);
      return "released";
    }
    let outcome: ReleaseOutcome;
    try {
      ({ outcome } = await this.#client.request<{ outcome: ReleaseOutcome }>(
        "POST",
        this.#path("/release"),
        { lease_id: held.leaseId },
        this.#policy(held),
      ));
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
      outcome = "lost";
    }
    if (outcome !== "mail" && this.#held.get(lease.threadId) === held) {
      this.#held.delete(lease.threadId);
    }
    return outcome;
  }

  /** The lease of a run this worker holds, or `null`. */
  getLease(threadId: ThreadId): Promise<Lease | null> {
    const held = this.#held.get(threadId);
    return Promise.resolve(
      held === undefined ? null : {
        threadId,
        owner: this.#options.workerId,
        token: held.token,
        expiresAt: Infinity,
      },
    );
  }

  /** A worker takes runs only by polling: never by acquiring one. */
  acquireLease(): Promise<Claim | null> {
    return Promise.resolve(null);
  }

  /** The mailbox's messages waiting for a run this worker holds. */
  async pendingMessages(threadId: ThreadId): Promise<MailRecord[]> {
    const held = this.#held.get(threadId);
    // Released or acked meanwhile (the run came to rest): its mail is for whoever takes it next.
    if (held === undefined || held.acked) return [];
    const data = await this.#client.request<{
      messages: { seq: number; message: MailMessage; status: "pending"; posted_at: number }[];
    }>("GET", this.#runPath(threadId, "/mail"), undefined, this.#policy(held));
    return data.messages.map((record) => ({
      threadId,
      seq: record.seq,
      message: record.message,
      status: record.status,
      error: null,
      version: null,
      postedAt: record.posted_at,
      answeredAt: null,
    }));
  }

  /** Answers a message handled without a commit. */
  async answerMessage(
    threadId: ThreadId,
    seq: number,
    answer: MailAnswer,
    fence: number,
  ): Promise<void> {
    const held = this.#require(threadId, fence);
    await this.#client.request("POST", this.#runPath(threadId, `/mail/${seq}/answer`), {
      fencing_token: fence,
      status: answer.status,
      ...(answer.status === "refused" ? { error: answer.error } : {}),
    }, this.#policy(held));
  }

  postMessage(): Promise<PostResult> {
    return Promise.reject(unsupported("post a message"));
  }

  getMessage(): Promise<MailRecord | null> {
    return Promise.reject(unsupported("read a message"));
  }

  queueStats(): Promise<QueueStats> {
    return Promise.resolve({ depth: 0, oldestCreatedAt: null });
  }

  /** Signals stay in this worker (a run at rest frees a place: claim again). */
  notify(signal: StoreSignal): Promise<void> {
    for (const listener of this.#listeners) queueMicrotask(() => listener(signal));
    return Promise.resolve();
  }

  subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>> {
    this.#listeners.add(listener);
    return Promise.resolve(() => {
      this.#listeners.delete(listener);
      return Promise.resolve();
    });
  }

  // ---------------------------------------------------------------- run data

  /**
   * Reports a step under the lease's fencing token (retried while the server
   * cannot be reached: a repeat whose first try committed finds its events in
   * the run's log and answers as such), then acks
   * the attempt when the run ended.
   */
  async append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    const held = this.#require(threadId, options.fence);
    const mail = options.ack;
    let version: number;
    let mailWaits = false;
    try {
      ({ version, mail: mailWaits = false } = await this.#client.request<
        { version: number; mail?: boolean }
      >(
        "POST",
        this.#path("/report-step"),
        {
          attempt_id: held.attemptId,
          lease_id: held.leaseId,
          fencing_token: held.token,
          expected_version: expectedVersion,
          events,
          ...(mail === undefined ? {} : { mail_seq: mail }),
        },
        this.#policy(held),
      ));
    } catch (error) {
      if (error instanceof LeaseLostError) {
        throw new LeaseLostError(threadId, held.token, error.currentToken);
      }
      if (error instanceof OrisError && error.code === "conflict" && !isVersion(error)) {
        // The same step is being reported by a request the server has not answered (it
        // restarted meanwhile): the run is what the server holds; reload it.
        throw new VersionConflictError(threadId, expectedVersion, null);
      }
      throw error;
    }
    if (isTerminal(snapshot.status)) await this.#ack(threadId, held, snapshot.status);
    // Mail waits (a cancel, a pause): the runtime applies it before the next step.
    else if (mailWaits) void this.notify({ kind: "mail", threadId });
    return { version };
  }

  /** Ends the attempt of a run that ended (the release ends it too, should this fail). */
  async #ack(threadId: string, held: Held, status: RunSnapshot["status"]): Promise<void> {
    try {
      for (let tries = 1;; tries++) {
        try {
          await this.#client.request("POST", this.#path("/ack"), {
            attempt_id: held.attemptId,
            terminal_status: status,
          }, this.#policy(held));
          break;
        } catch (error) {
          // The attempt changed under the ack (a heartbeat saved it): ack again.
          const changed = error instanceof OrisError && error.code === "conflict" &&
            !(error instanceof LeaseLostError);
          if (!changed || tries >= 3) throw error;
        }
      }
      held.acked = true;
    } catch (error) {
      this.#options.logger.warn("Cannot ack a run's attempt; its release ends it", {
        thread_id: threadId,
        attempt_id: held.attemptId,
        error,
      });
    }
  }

  /** The run as the server holds it (the worker must hold its lease). */
  async load(threadId: ThreadId): Promise<LoadedRun | null> {
    const held = this.#require(threadId, undefined);
    const data = await this.#client.request<{ snapshot: unknown; events: StoredEvent[] }>(
      "GET",
      this.#runPath(threadId),
      undefined,
      this.#policy(held),
    );
    return { snapshot: decodeSnapshot(data.snapshot), events: data.events.map(decodeStored) };
  }

  async readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options: ReadEventsOptions = {},
  ): Promise<StoredEvent[]> {
    const held = this.#require(threadId, undefined);
    const query = new URLSearchParams({ from_seq: String(fromSeq) });
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    const data = await this.#client.request<{ events: StoredEvent[] }>(
      "GET",
      this.#runPath(threadId, `/events?${query}`),
      undefined,
      this.#policy(held),
    );
    return data.events.map(decodeStored);
  }

  createRun(): Promise<CreateRunResult> {
    return Promise.reject(unsupported("create a run (a subgraph, a fork)"));
  }

  getCheckpoint(): Promise<CheckpointRecord | null> {
    return Promise.reject(unsupported("read checkpoints"));
  }

  listCheckpoints(): Promise<Page<CheckpointRecord>> {
    return Promise.reject(unsupported("read checkpoints"));
  }

  /** A worker lists no runs (it sees those it holds). */
  listRuns(): Promise<Page<never>> {
    return Promise.resolve({ items: [], nextCursor: null });
  }

  // ---------------------------------------------------------------- effects

  /** Journals an effect on the server (the first record of its key wins). */
  async recordEffect(
    record: EffectRecord,
    options: RecordEffectOptions = {},
  ): Promise<EffectRecord> {
    const held = this.#require(record.threadId, options.fence);
    const data = await this.#client.request<{ effect: WireEffect }>(
      "POST",
      this.#runPath(record.threadId, "/effects"),
      {
        fencing_token: held.token,
        step: record.step,
        node: record.node,
        index: record.index,
        name: record.name,
        result: record.result,
        ...(record.startedAt === undefined ? {} : { started_at: record.startedAt }),
        recorded_at: record.recordedAt,
      },
      this.#policy(held),
    );
    return effectOf(data.effect);
  }

  async getEffect(key: EffectKey): Promise<EffectRecord | null> {
    const effects = await this.listEffects(key.threadId, key.step);
    return effects.find((e) => e.node === key.node && e.index === key.index) ?? null;
  }

  async listEffects(threadId: ThreadId, step?: number): Promise<EffectRecord[]> {
    const held = this.#require(threadId, undefined);
    const query = step === undefined ? "" : `?step=${step}`;
    const data = await this.#client.request<{ effects: WireEffect[] }>(
      "GET",
      this.#runPath(threadId, `/effects${query}`),
      undefined,
      this.#policy(held),
    );
    return data.effects.map(effectOf);
  }

  // ---------------------------------------------------------------- the rest

  /** The worker plane's records live on the server. */
  readonly attempts: AttemptStore = new Proxy({} as AttemptStore, {
    get: () => () => Promise.reject(unsupported("read attempts")),
  });

  claimIdempotency: ControlStore["claimIdempotency"] = () =>
    Promise.reject(unsupported("keep idempotency keys"));
  completeIdempotency: ControlStore["completeIdempotency"] = () =>
    Promise.reject(unsupported("keep idempotency keys"));
  releaseIdempotency: ControlStore["releaseIdempotency"] = () =>
    Promise.reject(unsupported("keep idempotency keys"));
  getInterrupt: ControlStore["getInterrupt"] = () => Promise.reject(unsupported("read interrupts"));
  listInterrupts: ControlStore["listInterrupts"] = () =>
    Promise.reject(unsupported("read interrupts"));
  appendAudit: ControlStore["appendAudit"] = () => Promise.reject(unsupported("audit"));
  listAudit: ControlStore["listAudit"] = () => Promise.reject(unsupported("read the audit log"));
  putApiKey: ControlStore["putApiKey"] = () => Promise.reject(unsupported("keep API keys"));
  createApiKey: ControlStore["createApiKey"] = () => Promise.reject(unsupported("keep API keys"));
  getApiKey: ControlStore["getApiKey"] = () => Promise.reject(unsupported("keep API keys"));
  listApiKeys: ControlStore["listApiKeys"] = () => Promise.reject(unsupported("keep API keys"));
  countApiKeys: ControlStore["countApiKeys"] = () => Promise.reject(unsupported("keep API keys"));

  /** Checks that the server answers (and accepts the credentials). */
  async ping(): Promise<void> {
    await this.#client.request("GET", "/v1/whoami", undefined, { retry: false });
  }

  /** Stops polling. Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
