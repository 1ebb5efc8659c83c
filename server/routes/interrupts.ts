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
} from "../../kernel/mod.ts";
import type { ApiDeps } from "../api.ts";
import { resumeById, resumeOnce } from "../resume.ts";
import { interruptView, traceBlock } from "../response_builders.ts";
import { InterruptDetail, InterruptList, RejectResponse, RunResponse } from "../responses.ts";
import { route, type RouteDef } from "../route.ts";
import {
  ListInterruptsQuery,
  NoQuery,
  RejectInterruptBody,
  ResumeInterruptBody,
} from "../schemas.ts";

function notPending(row: InterruptRow): ConflictError {
  return new ConflictError(`Interrupt "${row.interruptId}" is ${row.status}, not pending`, {
    details: { interrupt_id: row.interruptId, status: row.status, thread_id: row.threadId },
  });
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
      summary: "List interrupts, newest first (paged by cursor)",
      query: ListInterruptsQuery,
      response: InterruptList,
      async handler(_c, { query }) {
        const page = await store.listInterrupts({
          ...(query.status === undefined ? {} : { status: query.status as InterruptStatus }),
          ...(query.run_id === undefined ? {} : { threadId: query.run_id }),
          limit: query.limit,
          cursor: query.cursor ?? null,
        });
        return { interrupts: page.items.map(interruptView), next_cursor: page.nextCursor };
      },
    }),
    route({
      method: "GET",
      path: "/v1/interrupts/:interrupt_id",
      summary: "One interrupt",
      query: NoQuery,
      response: InterruptDetail,
      async handler(_c, { params }) {
        const row = await requireInterrupt(deps, params.interrupt_id!);
        const run = await runtime.get(row.threadId);
        return { ...interruptView(row), attempt_id: run?.attemptId ?? null };
      },
    }),
    route({
      method: "POST",
      path: "/v1/interrupts/:interrupt_id/resume",
      summary: "Resume a pending interrupt with a value (idempotent per value)",
      body: ResumeInterruptBody,
      query: NoQuery,
      response: RunResponse,
      audit: {
        action: "interrupt.resume",
        resourceType: "interrupt",
        resourceParam: "interrupt_id",
      },
      async handler(c, { params, body }) {
        const row = await requireInterrupt(deps, params.interrupt_id!);
        const answers = { [row.interruptId]: body.value as Json };
        return await resumeOnce(c, deps, row.threadId, answers, () => {
          if (row.status !== "pending") throw notPending(row);
          return resumeById(c, deps, row.threadId, answers, body.wait_ms);
        });
      },
    }),
    route({
      method: "POST",
      path: "/v1/interrupts/:interrupt_id/reject",
      summary: "Reject a pending interrupt: the run ends cancelled",
      body: RejectInterruptBody,
      query: NoQuery,
      response: RejectResponse,
      audit: {
        action: "interrupt.reject",
        resourceType: "interrupt",
        resourceParam: "interrupt_id",
      },
      async handler(c, { params, body }) {
        const row = await requireInterrupt(deps, params.interrupt_id!);
        if (row.status !== "pending") throw notPending(row);
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
