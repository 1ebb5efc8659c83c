/**
 * `/v1/jobs`: run, list, inspect, resume, replay and cancel runs, their
 * history, timeline and checkpoints, and a server-sent event stream.
 *
 * @module
 */

import type { Context } from "hono";
import { internalsOf, threadCancelled } from "../../actors/mod.ts";
import type { z } from "zod";
import {
  checkIdempotencyKey,
  ConflictError,
  decodeVersionCursor,
  encodeCursor,
  graphFingerprint,
  InvalidArgumentError,
  type Json,
  type JsonObject,
  NotFoundError,
  parseThreadId,
  type RunSnapshot,
  type RunSummary,
  type StoredEvent,
  versionPosition,
} from "../../kernel/mod.ts";
import {
  type ApiDeps,
  boundedRunResponse,
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
  TimelineQuery,
} from "../schemas.ts";
import { streamJob } from "./job_stream.ts";
import { rerunJob, stopJob } from "./time_travel.ts";
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
  if (run?.status === "cancelled") throw threadCancelled(threadId);
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
  cursor: string | null = null,
): Promise<Omit<z.infer<typeof JobHistory>, "thread_id">> {
  const page = await deps.store.listCheckpoints(parseThreadId(threadId), { limit, cursor });
  return { history: page.items.map(checkpointView), next_cursor: page.nextCursor };
}

/** Every checkpoint of a run, newest first (all pages). */
async function fullHistory(
  deps: ApiDeps,
  threadId: string,
): Promise<z.infer<typeof JobHistory>["history"]> {
  const all: z.infer<typeof JobHistory>["history"] = [];
  let cursor: string | null = null;
  do {
    const page = await history(deps, threadId, 1000, cursor);
    all.push(...page.history);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return all;
}

/**
 * `GET /v1/jobs/:thread_id/timeline`: the whole log, or with a `limit` or a
 * `cursor`, a page of it (ascending by seq, which never changes).
 */
async function timeline(
  deps: ApiDeps,
  threadId: string,
  query: z.infer<typeof TimelineQuery>,
): Promise<z.infer<typeof JobTimeline>> {
  const after = decodeVersionCursor(query.cursor, "events");
  if (after === null && query.limit === undefined) {
    const log = await events(deps, threadId);
    return { thread_id: threadId, timeline: log.map(timelineEntry), next_cursor: null };
  }
  const run = await requireRun(deps.runtime, threadId);
  const log = await deps.store.readEvents(
    parseThreadId(threadId),
    (after ?? 0) + 1,
    query.limit === undefined ? {} : { limit: query.limit },
  );
  const last = log.at(-1)?.seq ?? null;
  return {
    thread_id: threadId,
    timeline: log.map(timelineEntry),
    next_cursor: last !== null && last < run.version
      ? encodeCursor(versionPosition(last, "events"))
      : null,
  };
}

/**
 * A page of `GET /v1/jobs`: from the cursor, or after skipping `offset`
 * jobs from the start (read page by page, as a client would).
 */
async function listJobs(
  deps: ApiDeps,
  query: z.infer<typeof ListJobsQuery>,
): Promise<z.infer<typeof JobList>> {
  const status = query.status as RunSummary["status"] | undefined;
  const filter = {
    ...(status === undefined ? {} : { status }),
    ...(query.graph === undefined ? {} : { graph: query.graph }),
  };
  const offset = query.offset ?? 0;
  let cursor = query.cursor ?? null;
  for (let skip = offset; skip > 0;) {
    const skipped = await deps.store.listRuns({ ...filter, limit: Math.min(1000, skip), cursor });
    skip -= skipped.items.length;
    cursor = skipped.nextCursor;
    if (cursor === null) {
      return { jobs: [], limit: query.limit, offset, next_offset: null, next_cursor: null };
    }
  }
  const page = await deps.store.listRuns({ ...filter, limit: query.limit, cursor });
  const more = page.nextCursor !== null;
  return {
    jobs: page.items.map(jobSummary),
    limit: query.limit,
    offset,
    next_offset: more && query.cursor === undefined ? offset + page.items.length : null,
    next_cursor: page.nextCursor,
  };
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
    const options = {
      threadId,
      // A cancelled thread never runs again: refused in the creation, which answers with the run.
      refuseCancelled: true,
      parentContext: c.get("trace").context,
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
    const internals = internalsOf(runtime);
    const result = query.wait === "false"
      ? await internals.start(graph, input, options)
      : await waitBounded(deps, threadId, internals.invoke(graph, input, options), waitMs);
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

/** Options of {@linkcode jobRoutes}. */
export interface JobRoutesOptions {
  /** How often a followed event stream sends a keep-alive comment, in ms. */
  keepAliveMs: number;
}

/**
 * The `/v1/jobs` routes.
 *
 * @param deps The runtime and store.
 * @param options The event stream's keep-alive interval.
 * @returns The routes.
 */
export function jobRoutes(deps: ApiDeps, options: JobRoutesOptions): RouteDef[] {
  const { runtime } = deps;
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
      summary: "List jobs, newest first (paged by cursor)",
      query: ListJobsQuery,
      response: JobList,
      handler: (_c, { query }) => listJobs(deps, query),
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
          history: (await history(deps, threadId, 100)).history,
          error: current.status === "failed" ? current.error : null,
          reason: current.status === "cancelled" || current.status === "paused"
            ? current.reason
            : null,
          graph_fingerprint: current.graphFingerprint ?? null,
          graph_changed: current.graphFingerprint !== undefined &&
            runtime.graphNames().includes(current.graph) &&
            graphFingerprint(runtime.graph(current.graph).spec) !== current.graphFingerprint,
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/history",
      summary: "A job's checkpoints, newest first (paged by cursor)",
      query: HistoryQuery,
      response: JobHistory,
      async handler(_c, { params, query }) {
        await requireRun(runtime, params.thread_id!);
        return {
          thread_id: params.thread_id!,
          ...await history(deps, params.thread_id!, query.limit, query.cursor ?? null),
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/timeline",
      summary: "A job's event log: seq, event type, time, node, checkpoint (all, or paged)",
      query: TimelineQuery,
      response: JobTimeline,
      handler: (_c, { params, query }) => timeline(deps, params.thread_id!, query),
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
          history: await fullHistory(deps, threadId),
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
        if (body.value === undefined && body.values === undefined) {
          // No answer: continue a paused run.
          if (current.status !== "paused") {
            throw new InvalidArgumentError(
              "Invalid body: value is required: the answer to the run's only pending interrupt " +
                "(any JSON value), or values: answers by interrupt id (an empty body continues " +
                "a paused run)",
              { field: "value", details: { status: current.status } },
            );
          }
          checkLatest(current, threadId, body.checkpoint_id);
          return await boundedRunResponse(
            c,
            deps,
            threadId,
            runtime.resume(threadId, undefined, { parentContext: c.get("trace").context }),
            body.wait_ms,
          );
        }
        const resume = async () => {
          ensureNotCancelled(current, threadId);
          checkLatest(current, threadId, body.checkpoint_id);
          return await boundedRunResponse(
            c,
            deps,
            threadId,
            runtime.resume(threadId, body.value, { parentContext: c.get("trace").context }),
            body.wait_ms,
          );
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
      summary:
        "Replay a job: verify (never runs effects, never writes), or rerun as a new run from a checkpoint",
      body: ReplayJobBody,
      query: NoQuery,
      response: ReplayResponse,
      audit: { action: "job.replay", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        const from = body.checkpoint_id === undefined ? {} : { checkpointId: body.checkpoint_id };
        if (body.mode === "rerun") return await rerunJob(c, deps, params.thread_id!, from);
        const report = await runtime.replay(params.thread_id!, from);
        return {
          thread_id: report.threadId,
          mode: "verify" as const,
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
      handler: (c, { params, body }) =>
        stopJob(c, runtime, params.thread_id!, "cancel", body.reason ?? null),
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/stream",
      summary:
        "Server-sent events of a job's log (resumable with Last-Event-ID; follow=true: until terminal)",
      query: StreamJobQuery,
      response: EventStream,
      mediaType: "text/event-stream",
      handler: (c, { params, query }) =>
        streamJob(c, deps, params.thread_id!, {
          ...(query.from_seq === undefined ? {} : { fromSeq: query.from_seq }),
          follow: query.follow === "true",
          keepAliveMs: options.keepAliveMs,
        }),
    }),
  ];
}
