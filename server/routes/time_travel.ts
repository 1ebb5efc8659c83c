/**
 * Time travel and control of a job over HTTP: fork a new run from a
 * checkpoint, update a run's state, pause a run (`POST
 * /v1/jobs/:thread_id/resume` with an empty body continues it), and rerun a
 * run from a checkpoint (`POST /v1/jobs/:thread_id/replay` with `mode:
 * "rerun"`). Each is a call of the runtime; every one is audited.
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import { internalsOf, rerun, rerunThreadId } from "../../actors/mod.ts";
import { ConflictError, parseThreadId } from "../../kernel/mod.ts";
import {
  type ApiDeps,
  boundedRunResponse,
  DEFAULT_WAIT_MS,
  requireRun,
  waitBounded,
} from "../api.ts";
import type { ServerEnv } from "../env.ts";
import { jobView, runResponse, traceBlock } from "../response_builders.ts";
import { CancelResponse, Job, type ReplayResponse, RunResponse } from "../responses.ts";
import { route, type RouteDef } from "../route.ts";
import { ForkJobBody, NoQuery, PauseJobBody, UpdateStateBody } from "../schemas.ts";

/** A change of a run's state applies only while `checkpointId` is its latest. */
function checkLatest(latest: string | null, threadId: string, checkpointId?: string): void {
  if (checkpointId !== undefined && checkpointId !== latest) {
    throw new ConflictError(
      `Cannot update the state of thread '${threadId}': checkpoint "${checkpointId}" is not its latest`,
      { details: { thread_id: threadId, checkpoint_id: checkpointId, latest } },
    );
  }
}

/**
 * `POST /v1/jobs/:thread_id/replay` with `mode: "rerun"`: the new run,
 * within the default wait.
 *
 * @param c The request's context.
 * @param deps The runtime.
 * @param threadId The run.
 * @param from The checkpoint to rerun from (none: from the input).
 * @returns The replay response of a rerun.
 */
export async function rerunJob(
  c: Context<ServerEnv>,
  deps: ApiDeps,
  threadId: string,
  from: { checkpointId?: string },
): Promise<z.infer<typeof ReplayResponse>> {
  await requireRun(deps.runtime, threadId);
  const target = rerunThreadId(threadId, from.checkpointId);
  const result = await waitBounded(
    deps,
    target,
    rerun(deps.runtime, threadId, { ...from, newThreadId: target }),
    DEFAULT_WAIT_MS,
  );
  const trace = traceBlock(c);
  return {
    thread_id: threadId,
    mode: "rerun",
    from_checkpoint_id: from.checkpointId ?? null,
    run: runResponse(result, { idempotencyKey: null, replay: false, trace }),
    trace,
  };
}

/**
 * Pauses or cancels a run (404 when there is none), answered with its status
 * and, when it stopped that way, the reason.
 *
 * @param c The request.
 * @param runtime The runtime.
 * @param threadId The run.
 * @param how Pause (between two steps) or cancel.
 * @param reason Why, if given.
 * @returns The cancel response.
 */
export async function stopJob(
  c: Context<ServerEnv>,
  runtime: ApiDeps["runtime"],
  threadId: string,
  how: "pause" | "cancel",
  reason: string | null,
): Promise<z.infer<typeof CancelResponse>> {
  await requireRun(runtime, threadId);
  const run = how === "pause"
    ? await runtime.pause(threadId, reason)
    : await runtime.cancel(threadId, reason);
  return {
    thread_id: run.threadId,
    status: run.status,
    reason: (how === "pause" && run.status === "paused") ||
        (how === "cancel" && run.status === "cancelled")
      ? run.reason
      : null,
    trace: traceBlock(c),
  };
}

/**
 * The time-travel and control routes of `/v1/jobs/:thread_id`.
 *
 * @param deps The runtime.
 * @returns The routes.
 */
export function timeTravelRoutes(deps: ApiDeps): RouteDef[] {
  const { runtime } = deps;
  return [
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/fork",
      summary: "Start a new run from a checkpoint of a job (default: its latest)",
      body: ForkJobBody,
      query: NoQuery,
      response: RunResponse,
      audit: { action: "job.fork", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        const threadId = params.thread_id!;
        const current = await requireRun(runtime, threadId);
        const checkpointId = body.checkpoint_id ?? current.checkpointId;
        if (checkpointId === null) {
          throw new ConflictError(
            `Cannot fork thread '${threadId}': it has no checkpoint yet`,
            { details: { thread_id: threadId } },
          );
        }
        const newThreadId = body.thread_id ??
          internalsOf(runtime).newThreadId(`${parseThreadId(threadId).slice(0, 90)}-fork`);
        return await boundedRunResponse(
          c,
          deps,
          newThreadId,
          runtime.fork(threadId, { checkpointId, newThreadId }),
          body.wait_ms,
        );
      },
    }),
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/state",
      summary:
        "Update a job's state as if a node returned the values (a new checkpoint); with as_node the run continues from that node's edges",
      body: UpdateStateBody,
      query: NoQuery,
      response: Job,
      audit: { action: "job.state", resourceType: "thread", resourceParam: "thread_id" },
      async handler(_c, { params, body }) {
        const threadId = params.thread_id!;
        const current = await requireRun(runtime, threadId);
        checkLatest(current.checkpointId, threadId, body.checkpoint_id);
        const run = await runtime.updateState(
          threadId,
          body.values,
          body.as_node === undefined ? {} : { asNode: body.as_node },
        );
        return jobView(run);
      },
    }),
    route({
      method: "POST",
      path: "/v1/jobs/:thread_id/pause",
      summary:
        "Pause a job between two steps; POST /v1/jobs/:thread_id/resume with an empty body continues it",
      body: PauseJobBody,
      query: NoQuery,
      response: CancelResponse,
      audit: { action: "job.pause", resourceType: "thread", resourceParam: "thread_id" },
      handler: (c, { params, body }) =>
        stopJob(c, runtime, params.thread_id!, "pause", body.reason ?? null),
    }),
  ];
}
