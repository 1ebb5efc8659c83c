/**
 * The worker plane's routes: `/v1/workers/*` (role `worker`: poll,
 * heartbeat, extend-lease, report-step, ack), `/v1/attempts/:attempt_id/retries`
 * and `/v1/dlq*` (operator and admin: read attempts and dead letters, replay
 * one). Every change is audited. The work is the {@linkcode WorkerPlane}'s.
 *
 * @module
 */

import type { z } from "zod";
import {
  type AttemptRetryPolicy,
  createIdGenerator,
  NotFoundError,
  type RunEvent,
  type ThreadId,
} from "../../kernel/mod.ts";
import type { ApiDeps } from "../api.ts";
import { iso, traceBlock } from "../response_builders.ts";
import { route, type RouteDef } from "../route.ts";
import { recordRunSpan } from "../trace.ts";
import {
  AckBody,
  HeartbeatBody,
  ListDlqQuery,
  NoQuery,
  PollBody,
  ReportStepBody,
} from "../schemas.ts";
import {
  contextOfTraceparent,
  DEFAULT_LEASE_TTL_SECONDS,
  DEFAULT_MAX_ACTIVE_LEASES,
  WorkerPlane,
  type WorkerPlaneObserver,
} from "../../actors/mod.ts";
import {
  AckResponse,
  AttemptRetries,
  DeadLetter,
  DeadLetterList,
  deadLetterView,
  HeartbeatResponse,
  PollResponse,
  ReplayDeadLetterResponse,
  ReportStepResponse,
  retriesView,
} from "../worker_responses.ts";

function policyOf(body: z.infer<typeof AckBody>["retry_policy"]): AttemptRetryPolicy | undefined {
  if (body === undefined) return undefined;
  return {
    strategy: body.strategy,
    backoffMs: body.backoff_ms,
    maxBackoffMs: body.max_backoff_ms ?? null,
    multiplier: body.multiplier ?? 2,
    maxRetries: body.max_retries,
  };
}

/**
 * The worker plane's routes.
 *
 * @param deps The runtime (its graphs are a poll's default), store, clock and logger.
 * @param observer Where the plane's metrics go.
 * @returns The routes.
 */
export function workerRoutes(deps: ApiDeps, observer: WorkerPlaneObserver): RouteDef[] {
  const ids = createIdGenerator({
    now: deps.now,
    randomBytes: (bytes) => crypto.getRandomValues(bytes),
  });
  const plane = new WorkerPlane({
    store: deps.store,
    now: deps.now,
    ids,
    logger: deps.logger,
    observer,
  });

  const heartbeat = (path: string, action: "worker.heartbeat" | "worker.extend_lease") =>
    route({
      method: "POST",
      path,
      summary: "Renew a lease the worker holds (409 when another worker holds it or it expired)",
      body: HeartbeatBody,
      query: NoQuery,
      response: HeartbeatResponse,
      audit: { action, resourceType: "lease", resourceParam: "lease_id" },
      async handler(c, { params, body }) {
        const { attempt, mail } = await plane.heartbeat(
          params.worker_id!,
          body.lease_id,
          body.lease_ttl_seconds ?? DEFAULT_LEASE_TTL_SECONDS,
        );
        return {
          worker_id: params.worker_id!,
          lease_id: body.lease_id,
          lease_expires_at: iso(attempt.leaseExpiresAt!),
          mail,
          trace: traceBlock(c),
        };
      },
    });

  return [
    route({
      method: "POST",
      path: "/v1/workers/poll",
      summary: "Take one run to execute: dispatched, noop, or backpressure (worker or tenant cap)",
      body: PollBody,
      query: NoQuery,
      response: PollResponse,
      audit: {
        action: "worker.poll",
        resourceType: "worker",
        resourceParam: "worker_id",
        // A poll that took no run (noop, backpressure) changed nothing: not recorded.
        idle: (data) => (data as { decision: string }).decision !== "dispatched",
      },
      async handler(c, { body }) {
        const limit = body.max_active_leases ?? DEFAULT_MAX_ACTIVE_LEASES;
        const result = await plane.poll({
          workerId: body.worker_id,
          graphs: body.graphs ?? deps.runtime.graphNames(),
          maxActiveLeases: limit,
          leaseTtlSeconds: body.lease_ttl_seconds ?? DEFAULT_LEASE_TTL_SECONDS,
          ...(body.exclude === undefined ? {} : { exclude: body.exclude }),
          ...(body.tenant_max_active_leases === undefined
            ? {}
            : { tenantMaxActiveLeases: body.tenant_max_active_leases }),
        });
        const trace = traceBlock(c);
        const tenantLimit = body.tenant_max_active_leases ?? null;
        if (result.decision === "noop") {
          return {
            decision: "noop" as const,
            worker_active_leases: result.workerActiveLeases,
            worker_limit: limit,
            trace,
          };
        }
        if (result.decision === "backpressure") {
          return {
            decision: "backpressure" as const,
            reason: result.reason,
            worker_active_leases: result.workerActiveLeases,
            worker_limit: limit,
            ...(result.tenantId === undefined ? {} : {
              tenant_id: result.tenantId,
              tenant_active_leases: result.tenantActiveLeases ?? null,
              tenant_limit: tenantLimit,
            }),
            trace,
          };
        }
        const { attempt, run } = result;
        const leaseId = `${attempt.attemptId}:${attempt.fencingToken}`;
        recordRunSpan(
          "oris.worker.dispatch",
          contextOfTraceparent(run.traceparent),
          c.get("trace"),
          {
            "oris.thread_id": run.threadId,
            "oris.worker_id": body.worker_id,
            "oris.attempt_id": attempt.attemptId,
            "oris.attempt_no": attempt.attemptNo,
            "oris.lease_id": leaseId,
          },
        );
        return {
          decision: "dispatched" as const,
          attempt_id: attempt.attemptId,
          attempt_no: attempt.attemptNo,
          lease_id: leaseId,
          lease_expires_at: iso(attempt.leaseExpiresAt!),
          fencing_token: attempt.fencingToken!,
          run: {
            thread_id: run.threadId,
            graph: run.graph,
            status: run.status,
            version: run.version,
            input: result.input,
            ...(run.traceparent === undefined ? {} : { traceparent: run.traceparent }),
          },
          mail: result.mail,
          worker_active_leases: result.workerActiveLeases,
          worker_limit: limit,
          tenant_id: attempt.tenantId,
          tenant_active_leases: result.tenantActiveLeases,
          tenant_limit: tenantLimit,
          trace,
        };
      },
    }),
    heartbeat("/v1/workers/:worker_id/heartbeat", "worker.heartbeat"),
    heartbeat("/v1/workers/:worker_id/extend-lease", "worker.extend_lease"),
    route({
      method: "POST",
      path: "/v1/workers/:worker_id/report-step",
      summary:
        "Append the worker's step under its fencing token, once it folds onto the run (a repeat whose events the run already has answers reported_idempotent)",
      body: ReportStepBody,
      query: NoQuery,
      response: ReportStepResponse,
      audit: {
        action: "worker.report_step",
        resourceType: "attempt",
        resourceParam: "attempt_id",
      },
      async handler(c, { params, body }) {
        const workerId = params.worker_id!;
        const trace = traceBlock(c);
        const outcome = await plane.reportStep(workerId, {
          attemptId: body.attempt_id,
          leaseId: body.lease_id,
          fencingToken: body.fencing_token,
          expectedVersion: body.expected_version,
          events: body.events as unknown as RunEvent[],
          ...(body.mail_seq === undefined ? {} : { mailSeq: body.mail_seq }),
        });
        // Mail for the run (a cancel, say) reaches its worker between two steps.
        const threadId = outcome.attempt.threadId as ThreadId;
        const mail = (await deps.store.pendingMessages(threadId)).length > 0;
        return {
          attempt_id: body.attempt_id,
          status: outcome.repeated ? "reported_idempotent" as const : "reported" as const,
          version: outcome.version,
          mail,
          next_retry_at: null,
          next_attempt_no: null,
          trace,
        };
      },
    }),
    route({
      method: "POST",
      path: "/v1/workers/:worker_id/ack",
      summary:
        "End the worker's attempt: completed, cancelled, or failed (retried per its policy, else dead-lettered); idempotent",
      body: AckBody,
      query: NoQuery,
      response: AckResponse,
      audit: { action: "worker.ack", resourceType: "attempt", resourceParam: "attempt_id" },
      async handler(c, { params, body }) {
        const { attempt, status } = await plane.ack(
          params.worker_id!,
          body.attempt_id,
          body.terminal_status,
          policyOf(body.retry_policy),
        );
        return {
          attempt_id: attempt.attemptId,
          status,
          next_retry_at: attempt.nextRetryAt === null || status !== "retry_scheduled"
            ? null
            : iso(attempt.nextRetryAt),
          next_attempt_no: attempt.attemptNo,
          trace: traceBlock(c),
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/attempts/:attempt_id/retries",
      summary: "An attempt's current number and status, and its retries",
      query: NoQuery,
      response: AttemptRetries,
      async handler(_c, { params }) {
        return retriesView(await plane.requireAttempt(params.attempt_id!));
      },
    }),
    route({
      method: "GET",
      path: "/v1/dlq",
      summary: "Dead letters, newest first (paged by cursor)",
      query: ListDlqQuery,
      response: DeadLetterList,
      async handler(_c, { query }) {
        const page = await deps.store.attempts.listDeadLetters({
          ...(query.status === undefined ? {} : { status: query.status }),
          limit: query.limit,
          cursor: query.cursor ?? null,
        });
        return { entries: page.items.map(deadLetterView), next_cursor: page.nextCursor };
      },
    }),
    route({
      method: "GET",
      path: "/v1/dlq/:attempt_id",
      summary: "One dead letter",
      query: NoQuery,
      response: DeadLetter,
      async handler(_c, { params }) {
        const letter = await deps.store.attempts.getDeadLetter(params.attempt_id!);
        if (letter === null) {
          throw new NotFoundError("dead letter", params.attempt_id!, {
            details: { attempt_id: params.attempt_id! },
          });
        }
        return deadLetterView(letter);
      },
    }),
    route({
      method: "POST",
      path: "/v1/dlq/:attempt_id/replay",
      summary: "Requeue a dead letter's attempt, once (again: 409)",
      query: NoQuery,
      response: ReplayDeadLetterResponse,
      audit: { action: "dlq.replay", resourceType: "attempt", resourceParam: "attempt_id" },
      async handler(c, { params }) {
        const letter = await plane.replay(params.attempt_id!);
        return {
          attempt_id: letter.attemptId,
          status: "requeued" as const,
          replay_count: letter.replayCount,
          trace: traceBlock(c),
        };
      },
    }),
  ];
}
