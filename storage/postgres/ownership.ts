/**
 * Run ownership on PostgreSQL, for {@linkcode PostgresStore}: leases with
 * fencing tokens on the run's row, claims by priority then age with
 * `FOR UPDATE SKIP LOCKED`, tenant caps enforced by the database for every
 * process at once (under a transaction-scoped advisory lock per tenant, so
 * that two claims of one tenant count each other's leases), the durable
 * mailbox, and signals through `LISTEN`/`NOTIFY` on the schema's channel.
 * See `_ownership_sql.ts` for the statements.
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
  type StoreSignal,
  type ThreadId,
} from "../../kernel/mod.ts";
import type { Parameter, PostgresContext } from "./_context.ts";

/** The first key of the advisory locks of tenant caps (`'Oten'` in ASCII). */
const TENANT_LOCK_CLASS = 0x4f74656e;
/** How many candidates a claim under a tenant cap considers per run it may take. */
const CANDIDATES_PER_CLAIM = 4;

interface LeaseRow {
  thread_id: string;
  lease_owner: string;
  lease_token: number;
  lease_expires_at: number;
}

/** A lease row as the statements return it, and whether mail waits. @internal */
export interface ClaimRow extends LeaseRow {
  mail: boolean;
}

interface MailRow {
  thread_id: string;
  seq: number;
  message: string;
  status: MailRecord["status"];
  error: string | null;
  version: number | null;
  posted_at: number;
  answered_at: number | null;
}

type Query = <R>(text: string, parameters: Parameter[]) => Promise<R[]>;

/**
 * Acquires a run's lease; see `OwnershipStore.acquireLease`.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param request The owner, ttl and tenant cap.
 * @returns The claim, or `null`.
 */
export function acquireLease(
  context: PostgresContext,
  threadId: ThreadId,
  request: LeaseRequest,
): Promise<Claim | null> {
  return context.io(`acquire the lease of run "${threadId}"`, async () => {
    parseThreadId(threadId);
    checkLeaseRequest(request);
    const s = context.ownership;
    const acquire = async (query: Query) => {
      const [row] = await query<ClaimRow>(s.acquire, [threadId, request.owner, request.ttlMs]);
      if (row !== undefined) return toClaim(row);
      const [found] = await query(context.ownership.runTenant, [threadId]);
      if (found === undefined) throw new NotFoundError("run", threadId);
      return null;
    };
    if (request.tenantMaxActive === undefined) return await acquire(bound(context));
    const cap = request.tenantMaxActive;
    return await context.transaction(async (query) => {
      const [run] = await query<{ tenant_id: string | null }>(s.runTenant, [threadId]);
      if (run === undefined) throw new NotFoundError("run", threadId);
      if (run.tenant_id !== null) {
        const live = await lockTenants(context, query, [run.tenant_id], [threadId]);
        if ((live.get(run.tenant_id) ?? 0) >= cap) return null;
      }
      return await acquire(query);
    });
  });
}

/**
 * Claims runnable runs; see `OwnershipStore.claimRuns`.
 *
 * @param context The store's shared state.
 * @param request The owner, ttl, limit, graphs, exclusions and tenant cap.
 * @returns The claims.
 */
export function claimRuns(context: PostgresContext, request: ClaimRequest): Promise<Claim[]> {
  return context.io("claim runs", async () => {
    checkClaimRequest(request);
    const s = context.ownership;
    const { owner, ttlMs, limit } = request;
    const graphs = [...request.graphs];
    const exclude = [...(request.exclude ?? [])];
    if (request.tenantMaxActive === undefined) {
      const rows = await context.query<ClaimRow>(s.claim, [owner, graphs, exclude, limit, ttlMs]);
      return rows.map(toClaim);
    }
    const cap = request.tenantMaxActive;
    return await context.transaction(async (query) => {
      const found = await query<{ thread_id: string; tenant_id: string | null }>(
        s.candidates,
        [owner, graphs, exclude, limit * CANDIDATES_PER_CLAIM],
      );
      const tenants = [
        ...new Set(found.flatMap((row) => row.tenant_id === null ? [] : [row.tenant_id])),
      ];
      const ids = found.map((row) => row.thread_id);
      const live = await lockTenants(context, query, tenants, ids);
      const chosen: string[] = [];
      for (const row of found) {
        if (chosen.length >= limit) break;
        if (row.tenant_id !== null) {
          const count = live.get(row.tenant_id) ?? 0;
          if (count >= cap) continue;
          live.set(row.tenant_id, count + 1);
        }
        chosen.push(row.thread_id);
      }
      if (chosen.length === 0) return [];
      const rows = await query<ClaimRow>(s.grant, [owner, ttlMs, chosen]);
      return rows.map(toClaim);
    });
  });
}

/**
 * Takes the tenants' advisory locks (in a fixed order, so that claims do not
 * deadlock), then counts their live leases, leaving `exclude` out: a fresh
 * statement, so it sees every lease committed by whoever held a lock before.
 */
async function lockTenants(
  context: PostgresContext,
  query: Query,
  tenants: string[],
  exclude: string[],
): Promise<Map<string, number>> {
  const live = new Map<string, number>();
  if (tenants.length === 0) return live;
  for (const tenant of [...tenants].sort()) {
    await query(context.ownership.tenantLock, [TENANT_LOCK_CLASS, `${context.schema}:${tenant}`]);
  }
  const rows = await query<{ tenant_id: string; live: number }>(
    context.ownership.tenantLive,
    [tenants, exclude],
  );
  for (const row of rows) live.set(row.tenant_id, row.live);
  return live;
}

/**
 * Renews leases; see `OwnershipStore.renewLeases`.
 *
 * @param context The store's shared state.
 * @param owner The holder.
 * @param leases Its leases.
 * @param ttlMs The new ttl.
 * @returns The leases renewed.
 */
export function renewLeases(
  context: PostgresContext,
  owner: string,
  leases: readonly LeaseRef[],
  ttlMs: number,
): Promise<Claim[]> {
  return context.io("renew leases", async () => {
    checkOwner(owner);
    checkLeaseRefs(leases);
    checkLeaseRequest({ owner, ttlMs });
    if (leases.length === 0) return [];
    // In the order of the runs, as appends lock them, so the two do not deadlock.
    const sorted = [...leases].sort((a, b) => a.threadId < b.threadId ? -1 : 1);
    const rows = await context.query<ClaimRow>(context.ownership.renew, [
      owner,
      sorted.map((lease) => lease.threadId),
      sorted.map((lease) => lease.token),
      ttlMs,
    ]);
    return rows.map(toClaim);
  });
}

/**
 * Releases a lease; see `OwnershipStore.releaseLease`. Releases of
 * different runs are group committed (`_releases.ts`).
 *
 * @param context The store's shared state.
 * @param owner The holder.
 * @param lease The lease.
 * @returns What happened.
 */
export function releaseLease(
  context: PostgresContext,
  owner: string,
  lease: LeaseRef,
): Promise<ReleaseOutcome> {
  return context.io(`release the lease of run "${lease?.threadId}"`, async () => {
    checkOwner(owner);
    checkLeaseRefs([lease]);
    return await context.releases.submit({ owner, lease });
  });
}

/**
 * A run's lease; see `OwnershipStore.getLease`.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @returns The lease, or `null`.
 */
export function getLease(context: PostgresContext, threadId: ThreadId): Promise<Lease | null> {
  return context.read(`get the lease of run "${threadId}"`, async () => {
    const [row] = await context.query<LeaseRow>(context.ownership.getLease, [
      parseThreadId(threadId),
    ]);
    return row === undefined ? null : toLease(row);
  });
}

/**
 * Posts a control message; see `OwnershipStore.postMessage`.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param message The message.
 * @returns Its seq and the run's live lease.
 */
export function postMessage(
  context: PostgresContext,
  threadId: ThreadId,
  message: MailMessage,
): Promise<PostResult> {
  return context.io(`post a message to run "${threadId}"`, async () => {
    parseThreadId(threadId);
    const json = encodeMailMessage(message);
    const payload = JSON.stringify({ kind: "mail", threadId } satisfies StoreSignal);
    const [row] = await context.query<LeaseRow & { seq: number; live: boolean }>(
      context.ownership.post,
      [threadId, json, context.channel, payload],
    );
    if (row === undefined) throw new NotFoundError("run", threadId);
    return { seq: row.seq, lease: row.live ? toLease(row) : null };
  });
}

/**
 * A run's pending messages; see `OwnershipStore.pendingMessages`.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @returns The messages, in order.
 */
export function pendingMessages(
  context: PostgresContext,
  threadId: ThreadId,
): Promise<MailRecord[]> {
  return context.read(`read the mailbox of run "${threadId}"`, async () => {
    const rows = await context.query<MailRow>(context.ownership.pending, [
      parseThreadId(threadId),
    ]);
    return rows.map(toMail);
  });
}

/**
 * A message; see `OwnershipStore.getMessage`.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param seq The message.
 * @returns The message, or `null`.
 */
export function getMessage(
  context: PostgresContext,
  threadId: ThreadId,
  seq: number,
): Promise<MailRecord | null> {
  return context.read(`read a message of run "${threadId}"`, async () => {
    const [row] = await context.query<MailRow>(context.ownership.getMessage, [
      parseThreadId(threadId),
      checkToken(seq, "seq"),
    ]);
    return row === undefined ? null : toMail(row);
  });
}

/**
 * Answers a message; see `OwnershipStore.answerMessage`.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param seq The message.
 * @param answer Applied, or refused with an error.
 * @param fence The holder's token.
 */
export function answerMessage(
  context: PostgresContext,
  threadId: ThreadId,
  seq: number,
  answer: MailAnswer,
  fence: number,
): Promise<void> {
  return context.io(`answer a message of run "${threadId}"`, async () => {
    parseThreadId(threadId);
    checkToken(seq, "seq");
    checkToken(fence, "fence");
    const error = checkMailAnswer(answer);
    const [row] = await context.query<{ fenced: number; answered: number }>(
      context.ownership.answer,
      [threadId, seq, answer.status, error, fence],
    );
    if (row?.fenced === 0) {
      const [message] = await context.query(context.ownership.getMessage, [threadId, seq]);
      if (message === undefined) throw new NotFoundError("message", `${threadId}#${seq}`);
      const [lease] = await context.query<{ lease_token: number }>(context.ownership.leaseOf, [
        threadId,
      ]);
      throw new LeaseLostError(threadId, fence, lease?.lease_token ?? null);
    }
    if (row?.answered === 1) await signal(context, { kind: "answer", threadId, seq });
  });
}

/**
 * The queue of runs waiting to start; see `OwnershipStore.queueStats`.
 *
 * @param context The store's shared state.
 * @returns Its depth and the creation time of its oldest run.
 */
export function queueStats(context: PostgresContext): Promise<QueueStats> {
  return context.read("read the queue", async () => {
    const [row] = await context.query<{ depth: number; oldest: number | null }>(
      context.ownership.queueStats,
      [],
    );
    return { depth: row?.depth ?? 0, oldestCreatedAt: row?.oldest ?? null };
  });
}

/**
 * Sends a signal on the schema's channel.
 *
 * @param context The store's shared state.
 * @param message The signal.
 */
export async function signal(context: PostgresContext, message: StoreSignal): Promise<void> {
  await context.query(context.ownership.notify, [context.channel, JSON.stringify(message)]);
}

/**
 * Receives the schema's signals; see `OwnershipStore.subscribe`.
 *
 * @param context The store's shared state.
 * @param listener Receives each signal.
 * @returns A function that stops receiving.
 */
export function subscribe(
  context: PostgresContext,
  listener: (signal: StoreSignal) => void,
): Promise<() => Promise<void>> {
  return context.io("subscribe to signals", () =>
    context.listen(context.channel, (payload) => {
      let parsed: StoreSignal;
      try {
        parsed = JSON.parse(payload) as StoreSignal;
      } catch {
        return; // Not ours.
      }
      listener(parsed);
    }));
}

function bound(context: PostgresContext): Query {
  return (text, parameters) => context.query(text, parameters);
}

function toLease(row: LeaseRow): Lease {
  return {
    threadId: row.thread_id as ThreadId,
    owner: row.lease_owner,
    token: row.lease_token,
    expiresAt: row.lease_expires_at,
  };
}

/** The claim of a row. @internal */
export function toClaim(row: ClaimRow): Claim {
  return { ...toLease(row), mail: row.mail };
}

function toMail(row: MailRow): MailRecord {
  return {
    threadId: row.thread_id as ThreadId,
    seq: row.seq,
    message: JSON.parse(row.message) as MailMessage,
    status: row.status,
    error: row.error === null ? null : JSON.parse(row.error),
    version: row.version,
    postedAt: row.posted_at,
    answeredAt: row.answered_at,
  };
}
