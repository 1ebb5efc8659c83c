/**
 * The worker plane: what `/v1/workers/*` does, over the store's leases
 * (`OwnershipStore`) and attempts (`AttemptStore`).
 *
 * - **poll** first tends the plane ({@linkcode WorkerPlane.tend}: attempts
 *   whose lease expired go back to `queued`, attempts that ran past their
 *   run's execution timeout end, retries that are due go back to `queued`),
 *   then refuses a worker at its cap (`backpressure`/`worker_limit`), then
 *   claims one run of the worker's graphs through `claimRuns` (priority, age,
 *   tenant cap): the run's open attempt, or a new one, becomes `leased` by
 *   the worker with the lease's fencing token. Nothing to claim is `noop`,
 *   or `backpressure`/`tenant_limit` when a queued run waits only for its
 *   tenant's cap.
 * - **heartbeat** renews a lease the worker holds and that has not expired.
 * - **report-step** appends a worker's events under its fencing token, once
 *   they fold onto the run (the kernel refuses an illegal transition), once:
 *   a repeat finds its events in the run's log (`worker_reports.ts`).
 * - **ack** ends the worker's attempt: completed, cancelled, or failed, then
 *   retried after a backoff (the run keeps its commits) or dead-lettered
 *   (the run, if not ended, is paused until the dead letter is replayed).
 *
 * A retry waiting for its time keeps its run out of every claim (the store's
 * `claimRuns` skips it, for workers and embedded runtimes alike); a dead-lettered
 * run is paused, so no runtime claims it either.
 *
 * @module
 */

import {
  type AttemptRecord,
  type AttemptRetryPolicy,
  type AttemptTerminalStatus,
  ConflictError,
  type DeadLetterRecord,
  type IdGenerator,
  InvalidArgumentError,
  isAttemptEnded,
  isTerminal,
  type Json,
  type Logger,
  NotFoundError,
  parseLeaseId,
  type RunEvent,
  type RunSnapshot,
  scheduleRetry,
  schedulingOf,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";
import {
  commitEvents,
  endedOrQueued,
  leaseLost,
  loadRun,
  ownerConflict,
  tenantLeases,
  tenantWaiting,
} from "./worker_runs.ts";
import type { WorkerPlaneObserver } from "./worker_runs.ts";
import { type ReportOutcome, type StepReport, WorkerReports } from "./worker_reports.ts";

export type { ReportOutcome, StepReport } from "./worker_reports.ts";

/** The default cap of a worker's live leases. */
export const DEFAULT_MAX_ACTIVE_LEASES = 8;
/** How long a lease lasts unless renewed, by default (s). */
export const DEFAULT_LEASE_TTL_SECONDS = 30;

/** A poll. */
export interface PollRequest {
  /** The worker. */
  workerId: string;
  /** The graphs it can run (default: the server's). */
  graphs: readonly string[];
  /** Its cap of live leases. */
  maxActiveLeases: number;
  /** The cap of live leases per tenant, if any. */
  tenantMaxActiveLeases?: number;
  /** Its lease ttl (s). */
  leaseTtlSeconds: number;
  /** Runs not to dispatch (those the worker holds or is releasing). */
  exclude?: readonly string[];
}

/** What a poll answers. */
export type PollResult =
  | {
    decision: "dispatched";
    attempt: AttemptRecord;
    run: RunSnapshot;
    input: Json;
    /** Messages wait in the run's mailbox: the worker applies them first. */
    mail: boolean;
    workerActiveLeases: number;
    tenantActiveLeases: number | null;
  }
  | { decision: "noop"; workerActiveLeases: number }
  | {
    decision: "backpressure";
    reason: "worker_limit" | "tenant_limit";
    workerActiveLeases: number;
    tenantId?: string;
    tenantActiveLeases?: number;
  };

/** What an ack answers. */
export interface AckResult {
  /** The attempt as stored. */
  attempt: AttemptRecord;
  /** `retry_scheduled`, or the terminal status. */
  status: AttemptTerminalStatus | "retry_scheduled";
}

/** What {@linkcode WorkerPlane} needs. */
export interface WorkerPlaneDeps {
  /** The store. */
  store: Store;
  /** The clock (ms). */
  now(): number;
  /** Makes attempt ids. */
  ids: Pick<IdGenerator, "attemptId">;
  /** Where failures the plane cannot return are logged. */
  logger: Logger;
  /** Where its metrics go. */
  observer: WorkerPlaneObserver;
}

/** The worker plane; see the module doc. */
export class WorkerPlane {
  #deps: WorkerPlaneDeps;
  #reports: WorkerReports;

  /** @param deps The store, clock, ids and logger. */
  constructor(deps: WorkerPlaneDeps) {
    this.#deps = deps;
    this.#reports = new WorkerReports(deps.store);
  }

  /** An attempt, or 404. */
  async requireAttempt(attemptId: string): Promise<AttemptRecord> {
    const attempt = await this.#deps.store.attempts.getAttempt(attemptId);
    if (attempt === null) {
      throw new NotFoundError("attempt", attemptId, { details: { attempt_id: attemptId } });
    }
    return attempt;
  }

  /**
   * Tends the plane: requeues attempts whose lease expired, ends those past
   * their timeout, requeues retries that are due.
   *
   * @returns How many attempts changed.
   */
  async tend(): Promise<number> {
    const { store } = this.#deps;
    let changed = 0;
    for (const attempt of await store.attempts.listAttempts({ status: "leased", limit: 200 })) {
      const now = this.#deps.now();
      try {
        if (
          attempt.timeoutMs !== null && attempt.startedAt !== null &&
          attempt.startedAt + attempt.timeoutMs <= now
        ) {
          await this.#timeOut(attempt, now);
          changed++;
        } else if (attempt.leaseExpiresAt !== null && attempt.leaseExpiresAt <= now) {
          const lease = await store.getLease(attempt.threadId as ThreadId);
          if (lease !== null && lease.token === attempt.fencingToken && lease.expiresAt > now) {
            continue; // Renewed meanwhile.
          }
          // Its worker stopped: the run waits for another, unless it ended before the ack.
          const status = await endedOrQueued(store, attempt.threadId);
          await store.attempts.saveAttempt({ ...attempt, status, updatedAt: now });
          this.#deps.observer.leaseOperation("expire");
          changed++;
        }
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    const due = await store.attempts.listAttempts({ status: "retry_backoff", limit: 200 });
    for (const attempt of due) {
      const now = this.#deps.now();
      if (attempt.nextRetryAt === null || attempt.nextRetryAt > now) continue;
      try {
        await store.attempts.saveAttempt({ ...attempt, status: "queued", updatedAt: now });
        changed++;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    return changed;
  }

  async #timeOut(attempt: AttemptRecord, now: number): Promise<void> {
    const status = attempt.onTimeoutStatus ?? "failed";
    const run = await this.#load(attempt.threadId);
    if (run !== null && !isTerminal(run.status)) {
      const text =
        `Run "${run.threadId}" did not finish within its timeout of ${attempt.timeoutMs} ms`;
      const event: RunEvent = status === "failed"
        ? { type: "run.failed", v: 1, at: now, error: { code: "timeout", message: text } }
        : { type: "run.cancelled", v: 1, at: now, reason: text };
      await this.#commit(run, [event], attempt.fencingToken);
    }
    const ended: AttemptRecord = { ...attempt, status, leaseExpiresAt: null, updatedAt: now };
    await this.#deps.store.attempts.saveAttempt(
      ended,
      status === "failed" ? await this.#letter(ended, "execution_timeout", now) : undefined,
    );
    await this.#release(attempt);
  }

  /** The runs a worker holds live leases of (its `leased` attempts not expired). */
  async #held(workerId: string): Promise<string[]> {
    const now = this.#deps.now();
    const leased = await this.#deps.store.attempts.listAttempts({
      status: "leased",
      workerId,
      limit: 1000,
    });
    return leased.filter((attempt) => (attempt.leaseExpiresAt ?? 0) > now).map((a) => a.threadId);
  }

  /**
   * Polls for one run; see the module doc.
   *
   * @param request The worker, its graphs and caps.
   * @returns The decision.
   */
  async poll(request: PollRequest): Promise<PollResult> {
    const { store } = this.#deps;
    await this.tend();
    const held = await this.#held(request.workerId);
    const active = held.length;
    if (active >= request.maxActiveLeases) {
      this.#deps.observer.backpressure("worker_limit");
      return { decision: "backpressure", reason: "worker_limit", workerActiveLeases: active };
    }
    const claims = await store.claimRuns({
      owner: request.workerId,
      ttlMs: request.leaseTtlSeconds * 1000,
      limit: 1,
      graphs: request.graphs,
      exclude: [...held, ...request.exclude ?? []],
      ...(request.tenantMaxActiveLeases === undefined
        ? {}
        : { tenantMaxActive: request.tenantMaxActiveLeases }),
    });
    const claim = claims[0];
    if (claim === undefined) {
      const waiting = await tenantWaiting(store, this.#deps.now(), request);
      if (waiting === null) return { decision: "noop", workerActiveLeases: active };
      this.#deps.observer.backpressure("tenant_limit");
      return {
        decision: "backpressure",
        reason: "tenant_limit",
        workerActiveLeases: active,
        tenantId: waiting.tenantId,
        tenantActiveLeases: waiting.live,
      };
    }
    const created = (await store.readEvents(claim.threadId, 1, { limit: 1 }))[0]?.event;
    const { tenantId } = schedulingOf(
      created?.type === "run.created" ? created.metadata : undefined,
    );
    const run = await this.#load(claim.threadId);
    if (run === null) throw new NotFoundError("run", claim.threadId);
    const now = this.#deps.now();
    const lease = {
      status: "leased" as const,
      workerId: request.workerId,
      fencingToken: claim.token,
      leaseExpiresAt: claim.expiresAt,
      nextRetryAt: null,
      updatedAt: now,
    };
    const open = await store.attempts.openAttempt(claim.threadId);
    const recovery = open?.status === "queued" && open.leaseExpiresAt !== null;
    const since = open === null
      ? run.createdAt
      : recovery
      ? open.leaseExpiresAt!
      : open.nextRetryAt ?? open.updatedAt;
    let attempt: AttemptRecord;
    if (open !== null) {
      attempt = await store.attempts.saveAttempt({
        ...open,
        ...lease,
        startedAt: open.startedAt ?? now,
      });
    } else {
      const deadline = run.deadline?.scope === "execution" ? run.deadline : undefined;
      const fresh: AttemptRecord = {
        attemptId: this.#deps.ids.attemptId(),
        threadId: claim.threadId,
        attemptNo: 1,
        ...lease,
        startedAt: now,
        tenantId,
        timeoutMs: deadline?.ms ?? null,
        onTimeoutStatus: deadline?.status ?? null,
        retryPolicy: null,
        retries: [],
        version: 1,
        createdAt: now,
      };
      if (!await store.attempts.createAttempt(fresh)) {
        await this.#release(fresh);
        throw new ConflictError(
          `Run "${claim.threadId}" got another attempt meanwhile: poll again`,
        );
      }
      attempt = fresh;
    }
    this.#deps.observer.leaseOperation("dispatch");
    this.#deps.observer.dispatched(now - since, recovery);
    return {
      decision: "dispatched",
      attempt,
      run,
      input: created?.type === "run.created" ? created.input : null,
      mail: claim.mail,
      workerActiveLeases: active + 1,
      tenantActiveLeases: tenantId === null ? null : await tenantLeases(store, now, tenantId),
    };
  }

  /**
   * The attempt a worker names, checked: it exists (404), the worker holds
   * it (409 naming both workers), and its lease is live (409).
   */
  async #owned(workerId: string, attemptId: string, token?: number): Promise<AttemptRecord> {
    try {
      return await this.#check(workerId, attemptId, token);
    } catch (error) {
      if (error instanceof ConflictError) this.#deps.observer.leaseConflict();
      throw error;
    }
  }

  async #check(workerId: string, attemptId: string, token?: number): Promise<AttemptRecord> {
    const attempt = await this.requireAttempt(attemptId);
    if (attempt.workerId !== workerId) throw ownerConflict(attempt, workerId);
    if (attempt.status !== "leased") throw leaseLost(attempt, `the attempt is ${attempt.status}`);
    if (token !== undefined && token !== attempt.fencingToken) {
      throw leaseLost(attempt, `fencing token ${token} is stale (current ${attempt.fencingToken})`);
    }
    if ((attempt.leaseExpiresAt ?? 0) <= this.#deps.now()) {
      throw leaseLost(attempt, "the lease expired");
    }
    return attempt;
  }

  /**
   * Renews a worker's lease.
   *
   * @param workerId The worker.
   * @param leaseId The lease.
   * @param ttlSeconds For how long from now.
   * @returns The attempt with its new expiry, and whether mail waits for the run.
   */
  async heartbeat(
    workerId: string,
    leaseId: string,
    ttlSeconds: number,
  ): Promise<{ attempt: AttemptRecord; mail: boolean }> {
    const ref = parseLeaseId(leaseId);
    const known = ref === null ? null : await this.#deps.store.attempts.getAttempt(ref.attemptId);
    if (ref === null || known === null) {
      throw new NotFoundError("lease", leaseId, { details: { lease_id: leaseId } });
    }
    const attempt = await this.#owned(workerId, ref.attemptId, ref.token);
    const [renewed] = await this.#deps.store.renewLeases(workerId, [{
      threadId: attempt.threadId as ThreadId,
      token: ref.token,
    }], ttlSeconds * 1000);
    if (renewed === undefined) {
      this.#deps.observer.leaseConflict();
      throw leaseLost(attempt, "another holder took the run");
    }
    this.#deps.observer.leaseOperation("renew");
    const saved = await this.#deps.store.attempts.saveAttempt({
      ...attempt,
      leaseExpiresAt: renewed.expiresAt,
      updatedAt: this.#deps.now(),
    });
    return { attempt: saved, mail: renewed.mail };
  }

  /**
   * Appends a worker's step under its fencing token, once (see
   * `worker_reports.ts`).
   *
   * @param workerId The worker.
   * @param report The step.
   * @returns The run's version after it, whether it was a repeat, and the attempt.
   */
  async reportStep(
    workerId: string,
    report: StepReport,
  ): Promise<ReportOutcome & { attempt: AttemptRecord }> {
    const ref = parseLeaseId(report.leaseId);
    if (ref === null || ref.attemptId !== report.attemptId || ref.token !== report.fencingToken) {
      throw new InvalidArgumentError(
        "lease_id must be the lease of the attempt with this fencing token",
        { field: "lease_id" },
      );
    }
    const attempt = await this.#owned(workerId, report.attemptId, report.fencingToken);
    return { ...await this.#reports.report(attempt, report), attempt };
  }

  /**
   * Ends a worker's attempt; see the module doc. Idempotent: the same ack
   * again answers the same.
   *
   * @param workerId The worker.
   * @param attemptId The attempt.
   * @param status How it ended.
   * @param policy The retry policy of a failure (default: the attempt's last).
   * @returns The attempt as stored and what became of it.
   */
  async ack(
    workerId: string,
    attemptId: string,
    status: AttemptTerminalStatus,
    policy: AttemptRetryPolicy | undefined,
  ): Promise<AckResult> {
    const found = await this.requireAttempt(attemptId);
    if (found.workerId !== workerId) {
      this.#deps.observer.leaseConflict();
      throw ownerConflict(found, workerId);
    }
    const repeat = this.#repeatedAck(found, status);
    if (repeat !== null) return repeat;
    const attempt = await this.#owned(workerId, attemptId);
    const now = this.#deps.now();
    const { store } = this.#deps;
    const run = await this.#load(attempt.threadId);
    if (status === "failed") {
      const retryPolicy = policy ?? attempt.retryPolicy;
      const retried = run !== null && !isTerminal(run.status) && retryPolicy !== null
        ? scheduleRetry(attempt, retryPolicy, now)
        : null;
      if (retried !== null) {
        const saved = await store.attempts.saveAttempt(retried);
        await this.#release(attempt);
        this.#deps.observer.terminalAck("retry_scheduled");
        return { attempt: saved, status: "retry_scheduled" };
      }
    }
    if (run !== null && !isTerminal(run.status) && status !== "completed") {
      const event: RunEvent = status === "cancelled"
        ? { type: "run.cancelled", v: 1, at: now, reason: `attempt "${attemptId}" was cancelled` }
        : {
          type: "run.paused",
          v: 1,
          at: now,
          reason: `attempt "${attemptId}" failed: dead letter (replay it to continue)`,
        };
      await this.#commit(run, [event], attempt.fencingToken);
    }
    const ended: AttemptRecord = {
      ...attempt,
      status,
      leaseExpiresAt: null,
      ...(policy === undefined ? {} : { retryPolicy: policy }),
      updatedAt: now,
    };
    const saved = await store.attempts.saveAttempt(
      ended,
      status === "failed" ? await this.#letter(ended, "terminal_failed", now) : undefined,
    );
    await this.#release(attempt);
    this.#deps.observer.terminalAck(status);
    return { attempt: saved, status };
  }

  #repeatedAck(attempt: AttemptRecord, status: AttemptTerminalStatus): AckResult | null {
    if (isAttemptEnded(attempt.status)) {
      if (attempt.status === status) return { attempt, status };
      throw new ConflictError(
        `Attempt "${attempt.attemptId}" ended ${attempt.status}, not ${status}`,
        { details: { attempt_id: attempt.attemptId, status: attempt.status } },
      );
    }
    if (attempt.status === "retry_backoff" && status === "failed") {
      return { attempt, status: "retry_scheduled" };
    }
    return null;
  }

  /**
   * Replays a dead letter once: its attempt is queued again and its run, if
   * the dead letter paused it, continues.
   *
   * @param attemptId The attempt.
   * @returns The dead letter as stored.
   */
  async replay(attemptId: string): Promise<DeadLetterRecord> {
    const { store } = this.#deps;
    const letter = await store.attempts.getDeadLetter(attemptId);
    if (letter === null) {
      throw new NotFoundError("dead letter", attemptId, { details: { attempt_id: attemptId } });
    }
    const run = await this.#load(letter.threadId);
    if (letter.replayStatus === "pending" && (run === null || isTerminal(run.status))) {
      throw new ConflictError(
        `Cannot replay dead letter "${attemptId}": run "${letter.threadId}" is ${
          run?.status ?? "gone"
        } (fork it to run it again)`,
        { details: { attempt_id: attemptId, thread_id: letter.threadId, status: run?.status } },
      );
    }
    const { deadLetter } = await store.attempts.replayDeadLetter(attemptId, this.#deps.now());
    if (run !== null && run.status === "paused") {
      await this.#commit(run, [{ type: "run.resumed", v: 1, at: this.#deps.now(), values: {} }]);
    }
    await store.notify({ kind: "work" });
    return deadLetter;
  }

  async #letter(
    attempt: AttemptRecord,
    reason: DeadLetterRecord["reason"],
    now: number,
  ): Promise<DeadLetterRecord> {
    const before = await this.#deps.store.attempts.getDeadLetter(attempt.attemptId);
    return {
      attemptId: attempt.attemptId,
      threadId: attempt.threadId,
      attemptNo: attempt.attemptNo,
      terminalStatus: "failed",
      reason,
      deadAt: now,
      replayStatus: "pending",
      replayCount: before?.replayCount ?? 0,
      lastReplayedAt: before?.lastReplayedAt ?? null,
    };
  }

  #load(threadId: string): Promise<RunSnapshot | null> {
    return loadRun(this.#deps.store, threadId);
  }

  #commit(run: RunSnapshot, events: readonly RunEvent[], fence?: number | null): Promise<number> {
    return commitEvents(this.#deps.store, run, events, fence);
  }

  async #release(attempt: AttemptRecord): Promise<void> {
    this.#reports.forget(attempt.attemptId);
    if (attempt.workerId === null || attempt.fencingToken === null) return;
    const outcome = await this.#deps.store.releaseLease(attempt.workerId, {
      threadId: attempt.threadId as ThreadId,
      token: attempt.fencingToken,
    });
    if (outcome === "released") this.#deps.observer.leaseOperation("release");
    if (outcome === "mail") {
      // Messages wait for the run: the lease stays until it expires, then another holder applies them.
      this.#deps.logger.info("lease kept for the run's mailbox", { thread_id: attempt.threadId });
    }
  }
}
