/**
 * What a remote worker reads and writes of a run whose lease it holds,
 * beside its steps (`report-step`, see `worker_plane.ts`): the run as
 * stored and its log, the run's journaled effects (recorded on the server,
 * so that a run moved to another worker never repeats them), its durable
 * mailbox, and the release of its lease when the run comes to rest.
 *
 * Every read needs the run's live lease held by the worker; every write also
 * needs the lease's current fencing token, checked by the store in the same
 * atomic operation as the write.
 *
 * @module
 */

import {
  type AttemptRecord,
  ConflictError,
  type EffectRecord,
  type Lease,
  LeaseLostError,
  type LoadedRun,
  type MailAnswer,
  type MailRecord,
  NotFoundError,
  parseLeaseId,
  type ReleaseOutcome,
  type Store,
  type StoredEvent,
  type ThreadId,
} from "../kernel/mod.ts";
import { endedOrQueued, ownerConflict, type WorkerPlaneObserver } from "./worker_runs.ts";

/** What {@linkcode WorkerAccess} needs. */
export interface WorkerAccessDeps {
  /** The store. */
  store: Store;
  /** The clock (ms). */
  now(): number;
  /** Where its metrics go. */
  observer: WorkerPlaneObserver;
}

/** A worker's access to the runs it holds; see the module doc. */
export class WorkerAccess {
  #deps: WorkerAccessDeps;

  /** @param deps The store, clock and observer. */
  constructor(deps: WorkerAccessDeps) {
    this.#deps = deps;
  }

  /**
   * The run's lease, held by the worker: live, or, for a write, with this
   * fencing token still the run's current one (nobody took the run since).
   *
   * @throws {NotFoundError} for an unknown run.
   * @throws {LeaseLostError} when the worker does not hold it (another does, it expired, or the token is stale).
   */
  async holder(workerId: string, threadId: string, token?: number): Promise<Lease> {
    const id = threadId as ThreadId;
    const lease = await this.#deps.store.getLease(id);
    // The fencing token guards writes: a holder whose lease ran out while nobody took the run
    // (the server was down, say) may still journal what it did, which is the truth.
    const live = lease !== null && lease.owner === workerId &&
      (token === undefined ? lease.expiresAt > this.#deps.now() : lease.token === token);
    if (live) return lease;
    if (lease === null && await this.#deps.store.load(id) === null) {
      throw new NotFoundError("run", threadId, { details: { thread_id: threadId } });
    }
    this.#deps.observer.leaseConflict();
    throw new LeaseLostError(threadId, token ?? 0, lease?.token ?? null);
  }

  /** The run as stored (its latest snapshot and the events after it). */
  async load(workerId: string, threadId: string): Promise<LoadedRun> {
    await this.holder(workerId, threadId);
    const loaded = await this.#deps.store.load(threadId as ThreadId);
    if (loaded === null) throw new NotFoundError("run", threadId);
    return loaded;
  }

  /** The run's events from `fromSeq`. */
  async events(
    workerId: string,
    threadId: string,
    fromSeq: number,
    limit?: number,
  ): Promise<StoredEvent[]> {
    await this.holder(workerId, threadId);
    return await this.#deps.store.readEvents(
      threadId as ThreadId,
      fromSeq,
      limit === undefined ? {} : { limit },
    );
  }

  /** The run's journaled effects (of one step, if given). */
  async effects(workerId: string, threadId: string, step?: number): Promise<EffectRecord[]> {
    await this.holder(workerId, threadId);
    return await this.#deps.store.listEffects(threadId as ThreadId, step);
  }

  /** Journals an effect under the fencing token; the first record of a key wins and is returned. */
  async recordEffect(workerId: string, record: EffectRecord, token: number): Promise<EffectRecord> {
    await this.holder(workerId, record.threadId, token);
    return await this.#deps.store.recordEffect(record, { fence: token });
  }

  /** The run's mailbox messages not answered yet, in order. */
  async mail(workerId: string, threadId: string): Promise<MailRecord[]> {
    await this.holder(workerId, threadId);
    return await this.#deps.store.pendingMessages(threadId as ThreadId);
  }

  /** Answers a mailbox message the worker handled without a commit. */
  async answer(
    workerId: string,
    threadId: string,
    seq: number,
    answer: MailAnswer,
    token: number,
  ): Promise<void> {
    await this.holder(workerId, threadId, token);
    await this.#deps.store.answerMessage(threadId as ThreadId, seq, answer, token);
  }

  /**
   * Releases the lease of a run at rest. `released`: its attempt goes back
   * to `queued` (a later message, such as a resume, dispatches it again; a
   * run that ended ends its attempt with the run's status); `mail`: messages
   * wait, the worker keeps the lease and applies them; `lost`: the worker
   * held it no more (nothing changed).
   *
   * @throws {NotFoundError} for an unknown lease.
   * @throws {ConflictError} for another worker's lease.
   */
  async release(workerId: string, leaseId: string): Promise<ReleaseOutcome> {
    const { store } = this.#deps;
    const ref = parseLeaseId(leaseId);
    const attempt = ref === null ? null : await store.attempts.getAttempt(ref.attemptId);
    if (ref === null || attempt === null) {
      throw new NotFoundError("lease", leaseId, { details: { lease_id: leaseId } });
    }
    if (attempt.workerId !== workerId) {
      this.#deps.observer.leaseConflict();
      throw ownerConflict(attempt, workerId);
    }
    const outcome = await store.releaseLease(workerId, {
      threadId: attempt.threadId as ThreadId,
      token: ref.token,
    });
    if (outcome !== "released") return outcome;
    this.#deps.observer.leaseOperation("release");
    if (attempt.status === "leased" && attempt.fencingToken === ref.token) {
      await this.#rest(attempt);
    }
    return outcome;
  }

  /** The attempt of a run that came to rest: queued again, or ended with the run. */
  async #rest(attempt: AttemptRecord): Promise<void> {
    const status = await endedOrQueued(this.#deps.store, attempt.threadId);
    try {
      await this.#deps.store.attempts.saveAttempt({
        ...attempt,
        status,
        leaseExpiresAt: null,
        updatedAt: this.#deps.now(),
      });
    } catch (error) {
      // Tended, acked or polled meanwhile: that change stands.
      if (!(error instanceof ConflictError)) throw error;
    }
  }
}
