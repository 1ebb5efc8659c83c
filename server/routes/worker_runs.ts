/**
 * What a remote worker reads and writes of the runs it holds, beside poll,
 * heartbeat, report-step and ack (`workers.ts`): `release` (a run at rest
 * goes back to the queue), the run and its log, its journaled effects, and
 * its durable mailbox, under `/v1/workers/:worker_id/...` (role `worker`).
 * Each needs the run's live lease held by the worker (409 otherwise); each
 * write also its current fencing token, and is audited. The work is the
 * {@linkcode WorkerAccess}'s.
 *
 * @module
 */

import {
  type EffectRecord,
  InvalidArgumentError,
  type Json,
  type MailAnswer,
  type SerializedError,
  type StoredEvent,
} from "../../kernel/mod.ts";
import { WorkerAccess, type WorkerPlaneObserver } from "../../actors/mod.ts";
import type { ApiDeps } from "../api.ts";
import { traceBlock } from "../response_builders.ts";
import { route, type RouteDef } from "../route.ts";
import {
  AnswerMailBody,
  NoQuery,
  RecordEffectBody,
  ReleaseBody,
  WorkerEffectsQuery,
  WorkerEventsQuery,
} from "../schemas.ts";
import {
  AnswerMailResponse,
  effectView,
  RecordEffectResponse,
  ReleaseResponse,
  WorkerEffectsResponse,
  WorkerEventsResponse,
  WorkerMailResponse,
  WorkerRunResponse,
} from "../worker_responses.ts";

/** An event of the log as the worker endpoints send it. */
function wire(stored: StoredEvent): { seq: number; event: Json } {
  return { seq: stored.seq, event: stored.event as unknown as Json };
}

/**
 * The routes of a worker's access to the runs it holds.
 *
 * @param deps The store and clock.
 * @param observer Where the plane's metrics go.
 * @returns The routes.
 */
export function workerRunRoutes(deps: ApiDeps, observer: WorkerPlaneObserver): RouteDef[] {
  const access = new WorkerAccess({ store: deps.store, now: deps.now, observer });
  const RUN = "/v1/workers/:worker_id/runs/:thread_id";
  return [
    route({
      method: "POST",
      path: "/v1/workers/:worker_id/release",
      summary:
        "Release the lease of a run at rest: its attempt is queued again (mail waiting: the worker keeps it)",
      body: ReleaseBody,
      query: NoQuery,
      response: ReleaseResponse,
      audit: { action: "worker.release", resourceType: "lease", resourceParam: "lease_id" },
      async handler(c, { params, body }) {
        const outcome = await access.release(params.worker_id!, body.lease_id);
        return {
          worker_id: params.worker_id!,
          lease_id: body.lease_id,
          outcome,
          trace: traceBlock(c),
        };
      },
    }),
    route({
      method: "GET",
      path: RUN,
      summary: "A run the worker holds, as stored: its latest snapshot and the events after it",
      query: NoQuery,
      response: WorkerRunResponse,
      async handler(_c, { params }) {
        const loaded = await access.load(params.worker_id!, params.thread_id!);
        return { snapshot: loaded.snapshot as unknown as Json, events: loaded.events.map(wire) };
      },
    }),
    route({
      method: "GET",
      path: `${RUN}/events`,
      summary: "The log of a run the worker holds, from a seq",
      query: WorkerEventsQuery,
      response: WorkerEventsResponse,
      async handler(_c, { params, query }) {
        const events = await access.events(
          params.worker_id!,
          params.thread_id!,
          query.from_seq ?? 1,
          query.limit,
        );
        return { events: events.map(wire) };
      },
    }),
    route({
      method: "GET",
      path: `${RUN}/effects`,
      summary: "The journaled effects of a run the worker holds (of one step)",
      query: WorkerEffectsQuery,
      response: WorkerEffectsResponse,
      async handler(_c, { params, query }) {
        const effects = await access.effects(params.worker_id!, params.thread_id!, query.step);
        return { effects: effects.map(effectView) };
      },
    }),
    route({
      method: "POST",
      path: `${RUN}/effects`,
      summary:
        "Journal an effect of a run the worker holds, under its fencing token (the first record wins)",
      body: RecordEffectBody,
      query: NoQuery,
      response: RecordEffectResponse,
      audit: { action: "worker.record_effect", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        const record: EffectRecord = {
          threadId: params.thread_id! as EffectRecord["threadId"],
          step: body.step,
          node: body.node,
          index: body.index,
          name: body.name,
          result: body.result as EffectRecord["result"],
          ...(body.started_at === undefined ? {} : { startedAt: body.started_at }),
          recordedAt: body.recorded_at,
        };
        const stored = await access.recordEffect(params.worker_id!, record, body.fencing_token);
        return { effect: effectView(stored), trace: traceBlock(c) };
      },
    }),
    route({
      method: "GET",
      path: `${RUN}/mail`,
      summary: "The mailbox messages of a run the worker holds that wait for an answer, in order",
      query: NoQuery,
      response: WorkerMailResponse,
      async handler(_c, { params }) {
        const pending = await access.mail(params.worker_id!, params.thread_id!);
        return {
          messages: pending.map((record) => ({
            seq: record.seq,
            message: record.message as unknown as Json,
            status: record.status,
            posted_at: record.postedAt,
          })),
        };
      },
    }),
    route({
      method: "POST",
      path: `${RUN}/mail/:seq/answer`,
      summary:
        "Answer a mailbox message the worker handled without a commit (applied, or refused with its error)",
      body: AnswerMailBody,
      query: NoQuery,
      response: AnswerMailResponse,
      audit: { action: "worker.answer_mail", resourceType: "thread", resourceParam: "thread_id" },
      async handler(c, { params, body }) {
        if (!/^[1-9][0-9]{0,14}$/.test(params.seq!)) {
          throw new InvalidArgumentError("Invalid path: seq must be a whole number from 1", {
            field: "seq",
          });
        }
        const seq = Number(params.seq);
        const answer: MailAnswer = body.status === "applied"
          ? { status: "applied" }
          : { status: "refused", error: body.error as unknown as SerializedError };
        await access.answer(params.worker_id!, params.thread_id!, seq, answer, body.fencing_token);
        return {
          thread_id: params.thread_id!,
          seq,
          status: body.status,
          trace: traceBlock(c),
        };
      },
    }),
  ];
}
