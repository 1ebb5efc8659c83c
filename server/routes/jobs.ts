/**
 * `/v1/jobs`: run, list, inspect, resume, replay and cancel runs, their
 * history, timeline and checkpoints, and a server-sent event stream.
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import {
  checkIdempotencyKey,
  ConflictError,
  type Json,
  type JsonObject,
  NotFoundError,
  parseThreadId,
  type RunSnapshot,
  type RunSummary,
  type StoredEvent,
} from "../../kernel/mod.ts";
import {
  type ApiDeps,
  DEFAULT_WAIT_MS,
  graphInput,
  requireRun,
  settledRun,
  waitBounded,
} from "../api.ts";
import type { ServerEnv } from "../env.ts";
import {
  checkpointView,
  iso,
  jobSummary,
  jobView,
  runResponse,
  storedEvents,
  timelineEntry,
  traceBlock,
} from "../response_builders.ts";
import {
  CancelResponse,
  CheckpointState,
  EventStream,
  Job,
  JobDetail,
  JobExport,
  JobHistory,
  JobList,
  JobTimeline,
  ReplayResponse,
  RunResponse,
} from "../responses.ts";
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
import { streamJob } from "./job_stream.ts";
import { jobResumeAnswers, resumeById, resumeOnce } from "../resume.ts";

/** A resume's `checkpoint_id` must be the run's latest. */
function checkLatest(run: RunSnapshot, threadId: string, checkpointId: string | undefined): void {
  if (checkpointId !== undefined && checkpointId !== run.checkpointId) {
    throw new ConflictError(
      `Cannot resume thread '${threadId}': checkpoint "${checkpointId}" is not its latest`,
      { details: { thread_id: threadId, checkpoint_id: checkpointId, latest: run.checkpointId } },
    );
  }
}

type ResumeBody = Parameters<typeof jobResumeAnswers>[2];

function ensureNotCancelled(run: RunSnapshot | null, threadId: string): void {
  if (run?.status === "cancelled") {
    throw new ConflictError(`thread '${threadId}' is cancelled`, {
      details: { thread_id: threadId },
    });
  }
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
): Promise<z.infer<typeof JobHistory>["history"]> {
  const page = await deps.store.listCheckpoints(parseThreadId(threadId), { limit });
  return page.items.map(checkpointView);
}

async function runJob(
  c: Context<ServerEnv>,
  deps: ApiDeps,
  body: z.infer<typeof RunJobBody>,
  query: z.infer<typeof RunJobQuery>,
): Promise<z.infer<typeof RunResponse>> {
  const { runtime } = deps;
  const graph = body.graph ?? deps.defaultGraph;
  const input = graphInput(runtime, graph, body.input as Json | undefined);
  const threadId = body.thread_id;
  const trace = traceBlock(c);
  const waitMs = body.wait_ms ?? DEFAULT_WAIT_MS;
  const key = body.idempotency_key === undefined ? null : checkIdempotencyKey(body.idempotency_key);
  const run = async () => {
    ensureNotCancelled(await runtime.get(threadId), threadId);
    const options = {
      threadId,
      parentContext: c.var.trace.context,
      metadata: {
        priority: body.priority ?? 0,
        tenant_id: body.tenant_id ?? null,
        timeout_policy: (body.timeout_policy ?? null) as Json,
      },
      ...(body.timeout_policy === undefined ? {} : {
        deadline: {
          ms: body.timeout_policy.timeout_ms,
          status: body.timeout_policy.on_timeout_status,
          scope: body.timeout_policy.scope ?? "execution",
        },
      }),
    };
    const result = query.wait === "false"
      ? await runtime.start(graph, input, options)
      : await waitBounded(deps, threadId, runtime.invoke(graph, input, options), waitMs);
    return runResponse(result, { idempotencyKey: key, replay: false, trace });
  };
  if (key === null) return await run();
  return await deps.idempotency.once({
    key,
    operation: "job.run",
    threadId,
    payload: {
      thread_id: threadId,
      graph,
      input: (body.input ?? null) as Json,
      priority: body.priority ?? 0,
      tenant_id: body.tenant_id ?? null,
      timeout_policy: (body.timeout_policy ?? null) as Json,
    },
    conflict: (record) =>
      new ConflictError(`idempotency_key "${key}" was used with a different payload`, {
        details: { idempotency_key: key, operation: record.operation },
      }),
    replay: (stored) => ({ ...stored, idempotent_replay: true }),
    // The first request runs in another process: answer with the run as it settles.
    elsewhere: async () =>
      runResponse(await settledRun(deps, threadId, waitMs), {
        idempotencyKey: key,
        replay: true,
        trace,
      }),
  }, run);
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
    response: RunResponse,
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
      response: JobList,
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
        const jobs = items.slice(query.offset, wanted).map(jobSummary);
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
      response: Job,
      handler: async (_c, { params }) => jobView(await requireRun(runtime, params.thread_id!)),
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/detail",
      summary: "Drill-down: status, attempts, checkpoint, pending interrupts, history, values",
      query: NoQuery,
      response: JobDetail,
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
          ...jobView(current),
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
      response: JobHistory,
      async handler(_c, { params, query }) {
        await requireRun(runtime, params.thread_id!);
        return {
          thread_id: params.thread_id!,
          history: await history(deps, params.thread_id!, query.limit),
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/timeline",
      summary: "A job's event log: seq, event type, time, node, checkpoint",
      query: NoQuery,
      response: JobTimeline,
      async handler(_c, { params }) {
        const log = await events(deps, params.thread_id!);
        return { thread_id: params.thread_id!, timeline: log.map(timelineEntry) };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/timeline/export",
      summary: "A job's full record for audit: status, checkpoints, timeline and raw events",
      query: NoQuery,
      response: JobExport,
      async handler(_c, { params }) {
        const threadId = params.thread_id!;
        const log = await events(deps, threadId);
        const current = await requireRun(runtime, threadId);
        return {
          thread_id: threadId,
          graph: current.graph,
          status: current.status,
          exported_at: iso(deps.now()),
          history: await history(deps, threadId, 1000),
          timeline: log.map(timelineEntry),
          events: storedEvents(log),
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/checkpoints/:checkpoint_id",
      summary: "A job's state at one checkpoint",
      query: NoQuery,
      response: CheckpointState,
      async handler(_c, { params }) {
        const state = await runtime.getState(params.thread_id!, {
          checkpointId: params.checkpoint_id!,
        });
        return {
          thread_id: state.threadId,
          checkpoint_id: state.checkpointId!,
          parent_checkpoint_id: state.parentCheckpointId,
          step: state.step,
          version: state.version,
          created_at: iso(state.createdAt),
          values: state.values as JsonObject,
          next: state.next,
        };
      },
    }),
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/resume",
      summary:
        "Resume an interrupted job: value answers its only pending interrupt, values answers by id",
      body: ResumeJobBody,
      query: NoQuery,
      response: RunResponse,
      audit: { action: "job.resume", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        const threadId = params.thread_id!;
        const current = await requireRun(runtime, threadId);
        const resume = async () => {
          ensureNotCancelled(current, threadId);
          checkLatest(current, threadId, body.checkpoint_id);
          const result = await waitBounded(
            deps,
            threadId,
            runtime.resume(threadId, body.value, { parentContext: c.var.trace.context }),
            body.wait_ms ?? DEFAULT_WAIT_MS,
          );
          return runResponse(result, { idempotencyKey: null, replay: false, trace: traceBlock(c) });
        };
        // An answer to known interrupts is idempotent, as through /v1/interrupts.
        const answers = await jobResumeAnswers(deps, current, body as ResumeBody);
        if (answers === null) return await resume();
        return await resumeOnce(c, deps, threadId, answers, () => {
          ensureNotCancelled(current, threadId);
          checkLatest(current, threadId, body.checkpoint_id);
          return resumeById(c, deps, threadId, answers, body.wait_ms);
        });
      },
    }),
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/replay",
      summary: "Verify a job by deterministic replay (never runs effects, never writes)",
      body: ReplayJobBody,
      query: NoQuery,
      response: ReplayResponse,
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
      response: CancelResponse,
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
      response: EventStream,
      mediaType: "text/event-stream",
      handler: (c, { params, query }) => streamJob(c, deps, params.thread_id!, query.from_seq),
    }),
  ];
}
