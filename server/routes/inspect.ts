/**
 * Looking into a run beyond its log: `GET /v1/jobs/:thread_id/diff` (what
 * changed between two checkpoints' states, e.g. what one step changed) and
 * `GET /v1/jobs/:thread_id/effects` (the journal: each effect's name, task
 * and result).
 *
 * @module
 */

import type { Json } from "../../kernel/mod.ts";
import { parseThreadId } from "../../kernel/mod.ts";
import { type ApiDeps, requireRun } from "../api.ts";
import { jsonChanges } from "../json_changes.ts";
import { iso, nodeOfTaskPath } from "../response_builders.ts";
import { JobDiff, JobEffects } from "../responses.ts";
import { route, type RouteDef } from "../route.ts";
import { DiffQuery, NoQuery } from "../schemas.ts";

/**
 * The inspection routes.
 *
 * @param deps The runtime and its store.
 * @returns The routes.
 */
export function inspectRoutes(deps: ApiDeps): RouteDef[] {
  const { runtime } = deps;
  return [
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/diff",
      summary:
        "What changed between two checkpoints' states (default: a checkpoint and its parent)",
      query: DiffQuery,
      response: JobDiff,
      async handler(_c, { params, query }) {
        const threadId = params.thread_id!;
        const to = await runtime.getState(threadId, { checkpointId: query.to });
        const fromId = query.from ?? to.parentCheckpointId;
        const before: Json = fromId === null
          ? {}
          : (await runtime.getState(threadId, { checkpointId: fromId })).values as Json;
        return {
          thread_id: threadId,
          from_checkpoint_id: fromId,
          to_checkpoint_id: query.to,
          changes: jsonChanges(before, to.values as Json),
        };
      },
    }),
    route({
      method: "GET",
      path: "/v1/jobs/:thread_id/effects",
      summary: "A job's journaled effects and their results, by step, task and call",
      query: NoQuery,
      response: JobEffects,
      async handler(_c, { params }) {
        const threadId = params.thread_id!;
        await requireRun(runtime, threadId);
        const records = await deps.store.listEffects(parseThreadId(threadId));
        return {
          thread_id: threadId,
          effects: records.map((record) => ({
            step: record.step,
            node: nodeOfTaskPath(record.node),
            task_path: record.node,
            index: record.index,
            name: record.name,
            ok: record.result.ok,
            ...(record.result.ok ? { value: record.result.value } : {
              error: {
                name: record.result.error.name,
                message: record.result.error.message,
                ...(record.result.error.code === undefined
                  ? {}
                  : { code: record.result.error.code }),
              },
            }),
            started_at: record.startedAt === undefined ? null : iso(record.startedAt),
            recorded_at: iso(record.recordedAt),
            duration_ms: record.startedAt === undefined
              ? null
              : Math.max(0, record.recordedAt - record.startedAt),
          })),
        };
      },
    }),
  ];
}
