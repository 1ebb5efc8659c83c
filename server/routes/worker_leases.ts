/**
 * `GET /v1/workers`: the workers holding leases and the attempts they hold,
 * read from the attempt store (a worker is known by its leases: one that
 * holds none is not listed). For operators watching the worker plane; the
 * routes workers call are in `workers.ts`.
 *
 * @module
 */

import { z } from "zod";
import type { AttemptRecord } from "../../kernel/mod.ts";
import type { ApiDeps } from "../api.ts";
import { iso, isoOrNull } from "../response_builders.ts";
import { route, type RouteDef } from "../route.ts";
import { NoQuery } from "../schemas.ts";

/** How many leased attempts one answer reads at most. */
export const MAX_LEASES_LISTED = 1000;

const Time = z.iso.datetime();

/** One leased attempt, as `GET /v1/workers` shows it. */
const Lease = z.object({
  attempt_id: z.string(),
  thread_id: z.string(),
  attempt_no: z.int(),
  fencing_token: z.int().nullable(),
  started_at: Time.nullable().describe("When the attempt was first dispatched"),
  lease_expires_at: Time.nullable(),
  expired: z.boolean().describe("Whether the lease ended without renewal (it is taken back soon)"),
  tenant_id: z.string().nullable(),
});

/** `GET /v1/workers`: the workers holding leases, and their leases. */
export const WorkerList = z.object({
  workers: z.array(z.object({
    worker_id: z.string(),
    leases: z.array(Lease).describe("Oldest first"),
  })).describe("By worker id"),
  leases: z.int().describe("How many leased attempts were read"),
  truncated: z.boolean().describe(
    `Whether there were more than ${MAX_LEASES_LISTED} leased attempts (the rest are not listed)`,
  ),
  at: Time.describe("The server's time, which lease_expires_at compares with"),
});

/**
 * The worker listing route.
 *
 * @param deps The store (its attempts) and the clock.
 * @returns The route.
 */
export function workerLeaseRoutes(deps: ApiDeps): RouteDef[] {
  return [
    route({
      method: "GET",
      path: "/v1/workers",
      summary: "The workers holding leases, and the attempts they hold",
      query: NoQuery,
      response: WorkerList,
      async handler() {
        const now = deps.now();
        const leased = await deps.store.attempts.listAttempts({
          status: "leased",
          limit: MAX_LEASES_LISTED,
        });
        const byWorker = new Map<string, AttemptRecord[]>();
        for (const attempt of leased) {
          const worker = attempt.workerId ?? "(unknown)";
          if (!byWorker.has(worker)) byWorker.set(worker, []);
          byWorker.get(worker)!.push(attempt);
        }
        const workers = [...byWorker.keys()].sort().map((workerId) => ({
          worker_id: workerId,
          leases: byWorker.get(workerId)!.map((attempt) => ({
            attempt_id: attempt.attemptId,
            thread_id: attempt.threadId,
            attempt_no: attempt.attemptNo,
            fencing_token: attempt.fencingToken,
            started_at: isoOrNull(attempt.startedAt),
            lease_expires_at: isoOrNull(attempt.leaseExpiresAt),
            expired: attempt.leaseExpiresAt !== null && attempt.leaseExpiresAt <= now,
            tenant_id: attempt.tenantId,
          })),
        }));
        return {
          workers,
          leases: leased.length,
          truncated: leased.length >= MAX_LEASES_LISTED,
          at: iso(now),
        };
      },
    }),
  ];
}
