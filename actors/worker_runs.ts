/**
 * What the worker plane does to runs: load one as it is now, and commit
 * events onto it (folded first, so the kernel refuses an illegal
 * transition; appended under a fencing token); and the plane's conflicts
 * (another worker's lease, a lost lease).
 *
 * @module
 */

import {
  type AttemptRecord,
  type AttemptTerminalStatus,
  ConflictError,
  currentSnapshot,
  fold,
  InvalidArgumentError,
  isTerminal,
  OrisError,
  type RunEvent,
  type RunSnapshot,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";

/**
 * A run as it is now, or `null`.
 *
 * @param store The store.
 * @param threadId The run.
 * @returns The run.
 */
export async function loadRun(store: Store, threadId: string): Promise<RunSnapshot | null> {
  const loaded = await store.load(threadId as ThreadId);
  return loaded === null ? null : currentSnapshot(loaded);
}

/**
 * Folds events onto a run (the kernel refuses illegal ones) and appends them
 * at its version, under the fence when given.
 *
 * @param store The store.
 * @param run The run as it is.
 * @param events The events.
 * @param fence The lease's fencing token, if any.
 * @param ack The mailbox message the events apply, if any (marked applied in the same commit).
 * @returns The run's version after them.
 * @throws {ConflictError} for an illegal transition, another version or a lost lease.
 * @throws {InvalidArgumentError} for events that are not run events.
 */
export async function commitEvents(
  store: Store,
  run: RunSnapshot,
  events: readonly RunEvent[],
  fence?: number | null,
  ack?: number,
): Promise<number> {
  return (await commitFolded(store, run, events, fence, ack)).version;
}

/**
 * {@linkcode commitEvents}, answering the run as it is after the events.
 *
 * @param store The store.
 * @param run The run as it is.
 * @param events The events.
 * @param fence The lease's fencing token, if any.
 * @param ack The mailbox message the events apply, if any.
 * @returns The run folded over the events, at the version the store gave them.
 * @throws {ConflictError} for an illegal transition, another version or a lost lease.
 * @throws {InvalidArgumentError} for events that are not run events.
 */
export async function commitFolded(
  store: Store,
  run: RunSnapshot,
  events: readonly RunEvent[],
  fence?: number | null,
  ack?: number,
): Promise<RunSnapshot> {
  let next = run;
  for (const [i, event] of events.entries()) {
    try {
      next = fold(next, event);
    } catch (error) {
      if (error instanceof OrisError) throw error;
      throw new InvalidArgumentError(
        `events[${i}] does not fold onto run "${run.threadId}": ${(error as Error).message}`,
        { field: "events", cause: error },
      );
    }
  }
  const { version } = await store.append(
    run.threadId,
    run.version,
    events,
    next,
    {
      ...(fence === null || fence === undefined ? {} : { fence }),
      ...(ack === undefined ? {} : { ack }),
    },
  );
  await store.notify({ kind: "rest", threadId: run.threadId });
  return next.version === version ? next : { ...next, version };
}

/**
 * The conflict of a worker naming an attempt another worker holds.
 *
 * @param attempt The attempt.
 * @param workerId The worker that named it.
 * @returns The error (details `expected_worker_id`, `actual_worker_id`).
 */
export function ownerConflict(attempt: AttemptRecord, workerId: string): ConflictError {
  return new ConflictError("lease ownership mismatch", {
    details: {
      attempt_id: attempt.attemptId,
      expected_worker_id: attempt.workerId,
      actual_worker_id: workerId,
    },
  });
}

/**
 * The conflict of a worker whose lease is lost (expired, taken over, ended).
 *
 * @param attempt The attempt.
 * @param reason Why.
 * @returns The error.
 */
export function leaseLost(attempt: AttemptRecord, reason: string): ConflictError {
  return new ConflictError(`The lease of attempt "${attempt.attemptId}" is lost: ${reason}`, {
    details: { attempt_id: attempt.attemptId, status: attempt.status, reason },
  });
}

/**
 * What the attempt of a run its worker left becomes: the run's status if it
 * ended (the worker stopped before its ack), else `queued` for another worker.
 *
 * @param store The store.
 * @param threadId The run.
 * @returns The attempt's status.
 */
export async function endedOrQueued(
  store: Store,
  threadId: string,
): Promise<AttemptTerminalStatus | "queued"> {
  const run = await loadRun(store, threadId);
  return run !== null && isTerminal(run.status) ? run.status as AttemptTerminalStatus : "queued";
}

/**
 * How many live leases a tenant's runs hold.
 *
 * @param store The store.
 * @param now The clock's time (ms).
 * @param tenantId The tenant.
 * @returns The count.
 */
export async function tenantLeases(store: Store, now: number, tenantId: string): Promise<number> {
  const leased = await store.attempts.listAttempts({ status: "leased", limit: 1000 });
  return leased.filter((attempt) =>
    attempt.tenantId === tenantId && (attempt.leaseExpiresAt ?? 0) > now
  ).length;
}

/** How many queued runs of a graph a noop poll looks at for a tenant at its cap. */
const TENANT_SCAN = 200;

/**
 * A tenant at its cap whose queued run of the worker's graphs waits for it,
 * or `null` (no cap, or no such run).
 *
 * @param store The store.
 * @param now The clock's time (ms).
 * @param request The poll's graphs and tenant cap.
 * @returns The tenant and its live leases.
 */
export async function tenantWaiting(
  store: Store,
  now: number,
  request: { graphs: readonly string[]; tenantMaxActiveLeases?: number },
): Promise<{ tenantId: string; live: number } | null> {
  const cap = request.tenantMaxActiveLeases;
  if (cap === undefined) return null;
  // The oldest queued runs of each of the worker's graphs (a page each), by their tenants.
  const live = new Map<string, number>();
  for (const graph of request.graphs) {
    const queued = await store.listRuns({ status: "queued", graph, limit: TENANT_SCAN });
    for (const { tenantId } of queued.items) {
      if (tenantId === null || live.has(tenantId)) continue;
      const count = await tenantLeases(store, now, tenantId);
      if (count >= cap) return { tenantId, live: count };
      live.set(tenantId, count);
    }
  }
  return null;
}

/** What the worker plane reports as it works (the server's metrics implement it). */
export interface WorkerPlaneObserver {
  /** A lease was granted (`dispatch`), renewed, released or found expired. */
  leaseOperation(operation: "dispatch" | "renew" | "release" | "expire"): void;
  /** A worker named a lease it does not hold (another's, expired, stale token). */
  leaseConflict(): void;
  /** A poll answered backpressure. */
  backpressure(reason: "worker_limit" | "tenant_limit"): void;
  /** An ack ended an attempt (or scheduled its retry: `retry_scheduled`). */
  terminalAck(status: string): void;
  /** A run was dispatched `waitedMs` after it was queued; `recovery`: after its lease expired. */
  dispatched(waitedMs: number, recovery: boolean): void;
}
