/**
 * `/v1/jobs`: run, list, inspect, resume, replay and cancel runs, their
 * history, timeline and checkpoints, and a server-sent event stream.
 *
 * @module
 */

import type { Context } from "hono";
import { internalsOf } from "../../actors/mod.ts";
import { streamSSE } from "hono/streaming";
import type { z } from "zod";
import {
  checkIdempotencyKey,
  ConflictError,
  foldAll,
  type Json,
  NotFoundError,
  parseCheckpointId,
  parseThreadId,
  payloadHash,
  type RunEvent,
  type RunSnapshot,
  type RunSummary,
  type StoredEvent,
} from "../../kernel/mod.ts";
import {
  type ApiDeps,
  DEFAULT_WAIT_MS,
  graphInput,
  requestState,
  requireRun,
  runResponse,
  traceBlock,
  waitBounded,
} from "../api.ts";
import { route, type RouteDef } from "../route.ts";
import {
  CancelJobBody,
  HistoryQuery,
  ListJobsQuery,
  NoQuery,
  ReplayJobBody,
  ResumeJobBody,
  RunJobBody,
  RunJobQuery,
  StreamJobQuery,
} from "../schemas.ts";

/** RFC 3339 time of epoch ms. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function summaryJson(summary: RunSummary): Record<string, unknown> {
  return {
    thread_id: summary.threadId,
    status: summary.status,
    graph: summary.graph,
    version: summary.version,
    created_at: iso(summary.createdAt),
    updated_at: iso(summary.updatedAt),
  };
}

function ensureNotCancelled(run: RunSnapshot | null, threadId: string): void {
  if (run?.status === "cancelled") {
    throw new ConflictError(`thread '${threadId}' is cancelled`, {
      details: { thread_id: threadId },
    });
  }
}

/** The node of a journal task path (`<step>:<node>[#<send>][~<attempt>]`). */
function nodeOfTaskPath(path: string): string {
  return path.replace(/^\d+:/, "").replace(/~\d+$/, "").replace(/#\d+$/, "");
}

/** One line of a run's timeline: its real event log. */
export function timelineEntry(item: StoredEvent): Record<string, unknown> {
  const event: RunEvent = item.event;
  const entry: Record<string, unknown> = {
    seq: item.seq,
    event_type: event.type,
    at: iso(event.at),
  };
  switch (event.type) {
    case "step.committed":
      entry.step = event.step;
      entry.checkpoint_id = event.checkpointId;
      entry.nodes = event.tasks.map((task) => task.node);
      break;
    case "state.updated":
      entry.step = event.step;
      entry.checkpoint_id = event.checkpointId;
      entry.node = event.asNode;
      break;
    case "effect.recorded":
      entry.step = event.step;
      entry.node = nodeOfTaskPath(event.node);
      entry.task_path = event.node;
      entry.effect = event.name;
      entry.ok = event.ok;
      break;
    case "interrupt.raised":
      entry.step = event.step;
      entry.interrupt_ids = event.interrupts.map((record) => record.id);
      entry.nodes = event.interrupts.map((record) => record.node);
      break;
    case "run.resumed":
      entry.interrupt_ids = Object.keys(event.values);
      break;
    case "run.started":
      entry.attempt_id = event.attemptId;
      break;
    case "run.failed":
      entry.error = event.error;
      break;
    case "run.cancelled":
    case "run.paused":
      entry.reason = event.reason;
      break;
  }
  return entry;
}

async function events(deps: ApiDeps, threadId: string): Promise<StoredEvent[]> {
  const id = parseThreadId(threadId);
  const log = await deps.store.readEvents(id, 1);
  if (log.length === 0) {
    throw new NotFoundError("run", threadId, { details: { thread_id: threadId } });
  }
  return log;
}

async function history(
  deps: ApiDeps,
  threadId: string,
  limit: number,
): Promise<Record<string, unknown>[]> {
  const page = await deps.store.listCheckpoints(parseThreadId(threadId), { limit });
  return page.items.map((record) => ({
    checkpoint_id: record.checkpointId,
    parent_checkpoint_id: record.parentCheckpointId,
    step: record.step,
    version: record.version,
    created_at: iso(record.createdAt),
  }));
}

function runJson(run: RunSnapshot): Record<string, unknown> {
  return {
    thread_id: run.threadId,
    graph: run.graph,
    status: run.status,
    checkpoint_id: run.checkpointId,
    step: run.step,
    version: run.version,
    values: run.state,
    next: run.next.map((task) => task.node),
    created_at: iso(run.createdAt),
    updated_at: iso(run.updatedAt),
  };
}

async function runJob(
  c: Context,
  deps: ApiDeps,
  body: z.infer<typeof RunJobBody>,
  query: z.infer<typeof RunJobQuery>,
): Promise<unknown> {
  const { runtime, store } = deps;
  const graph = body.graph ?? deps.defaultGraph;
  const input = graphInput(runtime, graph, body.input as Json | undefined);
  const threadId = body.thread_id;
  const trace = traceBlock(c);
  const waitMs = body.wait_ms ?? DEFAULT_WAIT_MS;
  const key = body.idempotency_key === undefined ? null : checkIdempotencyKey(body.idempotency_key);
  if (key !== null) {
    const hash = payloadHash({
      thread_id: threadId,
      graph,
      input: (body.input ?? null) as Json,
      priority: body.priority ?? 0,
      tenant_id: body.tenant_id ?? null,
      timeout_policy: body.timeout_policy ?? null,
    });
    const claim = await store.claimIdempotency({
      key,
      operation: "job.run",
      threadId,
      payloadHash: hash,
      response: null,
      createdAt: deps.now(),
    });
    if (!claim.claimed) {
      if (claim.record.operation !== "job.run" || claim.record.payloadHash !== hash) {
        throw new ConflictError(`idempotency_key "${key}" was used with a different payload`, {
          details: { idempotency_key: key, operation: claim.record.operation },
        });
      }
      if (claim.record.response !== null) {
        return { ...(claim.record.response as Record<string, unknown>), idempotent_replay: true };
      }
      // The first request is still running: answer with the run as it settles.
      const run = await settleOrCurrent(deps, threadId, waitMs);
      return runResponse(run, { idempotencyKey: key, replay: true, trace });
    }
  }
  try {
    ensureNotCancelled(await runtime.get(threadId), threadId);
    const options = {
      threadId,
      parentContext: requestState(c).trace.context,
      metadata: {
        priority: body.priority ?? 0,
        tenant_id: body.tenant_id ?? null,
        timeout_policy: body.timeout_policy ?? null,
      },
      ...(body.timeout_policy === undefined ? {} : {
        deadline: {
          ms: body.timeout_policy.timeout_ms,
          status: body.timeout_policy.on_timeout_status,
        },
      }),
    };
    const result = query.wait === "false"
      ? await runtime.start(graph, input, options)
      : await waitBounded(runtime, threadId, runtime.invoke(graph, input, options), waitMs);
    const data = runResponse(result, { idempotencyKey: key, replay: false, trace });
    if (key !== null) await store.completeIdempotency(key, data as Json);
    return data;
  } catch (error) {
    if (key !== null) await store.releaseIdempotency(key).catch(() => {});
    throw error;
  }
}

/** The run once it comes to rest (within `waitMs`), or as it is; waits for it to exist. */
async function settleOrCurrent(deps: ApiDeps, threadId: string, waitMs: number) {
  const deadline = deps.now() + waitMs;
  for (;;) {
    const run = await deps.runtime.get(threadId);
    if (run !== null) {
      return await waitBounded(
        deps.runtime,
        threadId,
        deps.runtime.wait(threadId),
        Math.max(0, deadline - deps.now()),
      );
    }
    if (deps.now() >= deadline) throw new NotFoundError("run", threadId);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The `/v1/jobs` routes.
 *
 * @param deps The runtime and store.
 * @returns The routes.
 */
export function jobRoutes(deps: ApiDeps): RouteDef[] {
  const { runtime, store } = deps;
  const run = route({
    method: "POST",
    path: "/v1/jobs/run",
    summary: "Run a job: create (idempotently) and execute a run of a graph",
    body: RunJobBody,
    query: RunJobQuery,
    audit: { action: "job.run", resourceType: "thread", resourceParam: "thread_id" },
    handler: (c, { body, query }) => runJob(c, deps, body, query),
  });
  return [
    run,
    { ...run, path: "/v1/jobs", summary: "Run a job (alias of POST /v1/jobs/run)" },
    route({
      method: "GET",
      path: "/v1/jobs",
      summary: "List jobs, most recently updated first",
      query: ListJobsQuery,
      async handler(_c, { query }) {
        const wanted = query.offset + query.limit;
        const items: RunSummary[] = [];
        let cursor: string | null = null;
        let more = false;
        do {
          const page = await store.listRuns({
            ...(query.status === undefined ? {} : { status: query.status as RunSummary["status"] }),
            limit: Math.min(1000, wanted + 1 - items.length),
            cursor,
          });
          items.push(...page.items);
          cursor = page.nextCursor;
          more = cursor !== null || items.length > wanted;
        } while (cursor !== null && items.length <= wanted);
        const jobs = items.slice(query.offset, wanted).map(summaryJson);
        return {
          jobs,
          limit: query.limit,
          offset: query.offset,
          next_offset: more && items.length > wanted ? wanted : null,
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id",
      summary: "A job: status, state and latest checkpoint",
      query: NoQuery,
      handler: async (_c, { params }) => runJson(await requireRun(runtime, params.thread_id!)),
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/detail",
      summary: "Drill-down: status, attempts, checkpoint, pending interrupts, history, values",
      query: NoQuery,
      async handler(_c, { params }) {
        const threadId = params.thread_id!;
        const current = await requireRun(runtime, threadId);
        const log = await events(deps, threadId);
        const attempts = log.flatMap((item) =>
          item.event.type === "run.started"
            ? [{ attempt_id: item.event.attemptId, started_at: iso(item.event.at), seq: item.seq }]
            : []
        );
        const pending = current.status === "interrupted"
          ? current.interrupts.map((record) => ({
            interrupt_id: record.id,
            node: record.node,
            step: record.step,
            value: record.value,
          }))
          : [];
        const created = log[0]!.event;
        return {
          ...runJson(current),
          metadata: created.type === "run.created" ? created.metadata ?? {} : {},
          attempts,
          pending_interrupt: pending[0] ?? null,
          pending_interrupts: pending,
          history: await history(deps, threadId, 100),
          error: current.status === "failed" ? current.error : null,
          reason: current.status === "cancelled" || current.status === "paused"
            ? current.reason
            : null,
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/history",
      summary: "A job's checkpoints, newest first",
      query: HistoryQuery,
      async handler(_c, { params, query }) {
        await requireRun(runtime, params.thread_id!);
        return {
          thread_id: params.thread_id,
          history: await history(deps, params.thread_id!, query.limit),
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/timeline",
      summary: "A job's event log: seq, event type, time, node, checkpoint",
      query: NoQuery,
      async handler(_c, { params }) {
        const log = await events(deps, params.thread_id!);
        return { thread_id: params.thread_id, timeline: log.map(timelineEntry) };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/timeline/export",
      summary: "A job's full record for audit: status, checkpoints, timeline and raw events",
      query: NoQuery,
      async handler(_c, { params }) {
        const threadId = params.thread_id!;
        const log = await events(deps, threadId);
        const current = foldAll(null, log)!;
        return {
          thread_id: threadId,
          graph: current.graph,
          status: current.status,
          exported_at: iso(deps.now()),
          history: await history(deps, threadId, 1000),
          timeline: log.map(timelineEntry),
          events: log,
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/checkpoints/:checkpoint_id",
      summary: "A job's state at one checkpoint",
      query: NoQuery,
      async handler(_c, { params }) {
        const threadId = parseThreadId(params.thread_id);
        const checkpointId = parseCheckpointId(params.checkpoint_id);
        const record = await store.getCheckpoint(threadId, checkpointId);
        if (record === null) {
          throw new NotFoundError("checkpoint", checkpointId, { details: { thread_id: threadId } });
        }
        const at = foldAll(null, await store.readEvents(threadId, 1, { limit: record.version }))!;
        return {
          thread_id: threadId,
          checkpoint_id: record.checkpointId,
          parent_checkpoint_id: record.parentCheckpointId,
          step: record.step,
          version: record.version,
          created_at: iso(record.createdAt),
          values: at.state,
          next: at.next.map((task) => task.node),
        };
      },
    }),
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/resume",
      summary: "Resume an interrupted job with a value (or a map by interrupt id)",
      body: ResumeJobBody,
      query: NoQuery,
      audit: { action: "job.resume", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        const threadId = params.thread_id!;
        const current = await requireRun(runtime, threadId);
        ensureNotCancelled(current, threadId);
        if (body.checkpoint_id !== undefined && body.checkpoint_id !== current.checkpointId) {
          throw new ConflictError(
            `Cannot resume thread '${threadId}': checkpoint "${body.checkpoint_id}" is not its latest`,
            {
              details: {
                thread_id: threadId,
                checkpoint_id: body.checkpoint_id,
                latest: current.checkpointId,
              },
            },
          );
        }
        const result = await waitBounded(
          runtime,
          threadId,
          runtime.resume(threadId, body.value, { parentContext: requestState(c).trace.context }),
          body.wait_ms ?? DEFAULT_WAIT_MS,
        );
        return runResponse(result, { idempotencyKey: null, replay: false, trace: traceBlock(c) });
      },
    }),
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/replay",
      summary: "Verify a job by deterministic replay (never runs effects, never writes)",
      body: ReplayJobBody,
      query: NoQuery,
      audit: { action: "job.replay", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        const report = await runtime.replay(
          params.thread_id!,
          body.checkpoint_id === undefined ? {} : { checkpointId: body.checkpoint_id },
        );
        return {
          thread_id: report.threadId,
          ok: report.ok,
          steps: report.steps,
          from_checkpoint_id: report.fromCheckpointId,
          trace: traceBlock(c),
        };
      },
    }),
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/cancel",
      summary: "Cancel a job: running nodes are aborted, the run ends cancelled",
      body: CancelJobBody,
      query: NoQuery,
      audit: { action: "job.cancel", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        const threadId = params.thread_id!;
        await requireRun(runtime, threadId);
        const run = await runtime.cancel(threadId, body.reason ?? null);
        return {
          thread_id: run.threadId,
          status: run.status,
          reason: run.status === "cancelled" ? run.reason : null,
          trace: traceBlock(c),
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/stream",
      summary: "Server-sent events of a job's log (resumable with Last-Event-ID)",
      query: StreamJobQuery,
      handler: (c, { params, query }) => streamJob(c, deps, params.thread_id!, query.from_seq),
    }),
  ];
}

/**
 * Streams a run's events as server-sent events: `id` is the event's seq,
 * `event` its type, `data` the stored event. Starts after `Last-Event-ID`
 * (or at `from_seq`), sends what is stored, then live events until the run
 * comes to rest, then an `end` event.
 */
async function streamJob(
  c: Context,
  deps: ApiDeps,
  threadId: string,
  fromSeq?: number,
): Promise<Response> {
  const id = parseThreadId(threadId);
  await requireRun(deps.runtime, id);
  const lastEventId = c.req.header("last-event-id");
  const start = lastEventId !== undefined && /^\d+$/.test(lastEventId)
    ? Number(lastEventId) + 1
    : fromSeq ?? 1;
  return streamSSE(c, async (stream) => {
    let sent = start - 1;
    const pending: StoredEvent[] = [];
    let wake: (() => void) | null = null;
    let rest = false;
    const stop = await internalsOf(deps.runtime).listen(id, (event) => {
      if (event.kind === "committed") {
        const first = event.run.version - event.events.length + 1;
        event.events.forEach((item, i) => pending.push({ seq: first + i, event: item }));
      } else if (event.kind === "rest") {
        rest = true;
      }
      wake?.();
    });
    const send = async (item: StoredEvent) => {
      if (item.seq <= sent) return;
      await stream.writeSSE({
        id: String(item.seq),
        event: item.event.type,
        data: JSON.stringify(item),
      });
      sent = item.seq;
    };
    try {
      for (const item of await deps.store.readEvents(id, start)) await send(item);
      const now = await deps.runtime.get(id);
      rest = rest || (now !== null && now.status !== "running" && now.status !== "queued");
      while (!stream.aborted) {
        while (pending.length > 0) await send(pending.shift()!);
        if (rest) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      const final = await deps.runtime.get(id);
      await stream.writeSSE({
        event: "end",
        data: JSON.stringify({ thread_id: id, status: final?.status, seq: sent }),
      });
    } finally {
      stop();
    }
  });
}
