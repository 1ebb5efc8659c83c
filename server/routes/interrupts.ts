/**
 * `/v1/interrupts`: list and inspect interrupts, resume one with a value
 * (idempotent: the same value gets the identical response, another value a
 * 409), or reject one (the run ends `cancelled`).
 *
 * @module
 */

import {
  ConflictError,
  type InterruptRow,
  type InterruptStatus,
  type Json,
  NotFoundError,
  parseInterruptId,
  payloadHash,
} from "../../kernel/mod.ts";
import {
  type ApiDeps,
  DEFAULT_WAIT_MS,
  requestState,
  runResponse,
  traceBlock,
  waitBounded,
} from "../api.ts";
import { route, type RouteDef } from "../route.ts";
import {
  ListInterruptsQuery,
  NoQuery,
  RejectInterruptBody,
  ResumeInterruptBody,
} from "../schemas.ts";
import { iso } from "./jobs.ts";

function rowJson(row: InterruptRow): Record<string, unknown> {
  return {
    interrupt_id: row.interruptId,
    thread_id: row.threadId,
    run_id: row.threadId,
    node: row.node,
    step: row.step,
    value: row.value,
    status: row.status,
    resume_value: row.resumeValue,
    created_at: iso(row.createdAt),
    resolved_at: row.resolvedAt === null ? null : iso(row.resolvedAt),
  };
}

async function requireInterrupt(deps: ApiDeps, interruptId: string): Promise<InterruptRow> {
  const row = await deps.store.getInterrupt(parseInterruptId(interruptId));
  if (row === null) {
    throw new NotFoundError("interrupt", interruptId, { details: { interrupt_id: interruptId } });
  }
  return row;
}

/**
 * The `/v1/interrupts` routes.
 *
 * @param deps The runtime and store.
 * @returns The routes.
 */
export function interruptRoutes(deps: ApiDeps): RouteDef[] {
  const { runtime, store } = deps;
  return [
    route({
      method: "GET",
      path: "/v1/interrupts",
      summary: "List interrupts, newest first",
      query: ListInterruptsQuery,
      async handler(_c, { query }) {
        const page = await store.listInterrupts({
          ...(query.status === undefined ? {} : { status: query.status as InterruptStatus }),
          ...(query.run_id === undefined ? {} : { threadId: query.run_id }),
          limit: query.limit,
        });
        return { interrupts: page.items.map(rowJson) };
      },
    }),
    route({
      method: "GET",
      path: "/v1/interrupts/:interrupt_id",
      summary: "One interrupt",
      query: NoQuery,
      async handler(_c, { params }) {
        const row = await requireInterrupt(deps, params.interrupt_id!);
        const run = await runtime.get(row.threadId);
        return { ...rowJson(row), attempt_id: run?.attemptId ?? null };
      },
    }),
    route({
      method: "POST",
      path: "/v1/interrupts/:interrupt_id/resume",
      summary: "Resume a pending interrupt with a value (idempotent per value)",
      body: ResumeInterruptBody,
      query: NoQuery,
      audit: {
        action: "interrupt.resume",
        resourceType: "interrupt",
        resourceParam: "interrupt_id",
      },
      async handler(c, { params, body }) {
        const row = await requireInterrupt(deps, params.interrupt_id!);
        const key = `interrupt:${row.interruptId}`;
        const hash = payloadHash({ value: body.value as Json });
        const claim = await store.claimIdempotency({
          key,
          operation: "interrupt.resume",
          threadId: row.threadId,
          payloadHash: hash,
          response: null,
          createdAt: deps.now(),
        });
        if (!claim.claimed) {
          if (claim.record.payloadHash !== hash) {
            throw new ConflictError(
              `Interrupt "${row.interruptId}" was already resumed with another value`,
              {
                details: { interrupt_id: row.interruptId, thread_id: row.threadId },
              },
            );
          }
          if (claim.record.response !== null) return claim.record.response;
          const current = await waitBounded(
            runtime,
            row.threadId,
            runtime.wait(row.threadId),
            DEFAULT_WAIT_MS,
          );
          return runResponse(current, { idempotencyKey: null, replay: true, trace: traceBlock(c) });
        }
        try {
          if (row.status !== "pending") {
            throw new ConflictError(
              `Interrupt "${row.interruptId}" is ${row.status}, not pending`,
              {
                details: {
                  interrupt_id: row.interruptId,
                  status: row.status,
                  thread_id: row.threadId,
                },
              },
            );
          }
          const result = await waitBounded(
            runtime,
            row.threadId,
            runtime.resumeById(row.threadId, { [row.interruptId]: body.value }, {
              parentContext: requestState(c).trace.context,
            }),
            body.wait_ms ?? DEFAULT_WAIT_MS,
          );
          const data = runResponse(result, {
            idempotencyKey: null,
            replay: false,
            trace: traceBlock(c),
          });
          await store.completeIdempotency(key, data as Json);
          return data;
        } catch (error) {
          await store.releaseIdempotency(key).catch(() => {});
          throw error;
        }
      },
    }),
    route({
      method: "POST",
      path: "/v1/interrupts/:interrupt_id/reject",
      summary: "Reject a pending interrupt: the run ends cancelled",
      body: RejectInterruptBody,
      query: NoQuery,
      audit: {
        action: "interrupt.reject",
        resourceType: "interrupt",
        resourceParam: "interrupt_id",
      },
      async handler(c, { params, body }) {
        const row = await requireInterrupt(deps, params.interrupt_id!);
        if (row.status !== "pending") {
          throw new ConflictError(`Interrupt "${row.interruptId}" is ${row.status}, not pending`, {
            details: { interrupt_id: row.interruptId, status: row.status, thread_id: row.threadId },
          });
        }
        const reason = body.reason ?? "interrupt rejected";
        const run = await runtime.reject(row.threadId, row.interruptId, reason);
        return {
          thread_id: run.threadId,
          interrupt_id: row.interruptId,
          status: run.status,
          reason,
          trace: traceBlock(c),
        };
      },
    }),
  ];
}
