/**
 * The responses of the worker plane (`/v1/workers/*`, `/v1/attempts/*`,
 * `/v1/dlq*`): their zod schemas (registered with the other responses'
 * components, see `responses.ts`) and the builders that make them from the
 * store's records. Field names and status values are the original
 * contract's.
 *
 * @module
 */

import { z } from "zod";
import {
  ATTEMPT_STATUSES,
  type AttemptRecord,
  type DeadLetterRecord,
  type EffectRecord,
  type Json,
} from "../kernel/mod.ts";
import { iso, isoOrNull } from "./response_builders.ts";
import { responseComponents, TraceBlock } from "./responses.ts";

function component<T extends z.ZodType>(id: string, schema: T): T {
  responseComponents.add(schema, { id });
  return schema;
}

const Time = z.iso.datetime();
const AttemptStatusSchema = z.enum(ATTEMPT_STATUSES as [string, ...string[]]);

/** The run a poll dispatches. */
const DispatchedRun = component(
  "DispatchedRun",
  z.object({
    thread_id: z.string(),
    graph: z.string(),
    status: z.string(),
    version: z.int(),
    input: z.json(),
    traceparent: z.string().optional().describe(
      "The run's trace: send it as `traceparent` on this run's requests so their spans join it",
    ),
  }),
);

/** `POST /v1/workers/poll`. */
export const PollResponse = z.object({
  decision: z.enum(["dispatched", "noop", "backpressure"]),
  reason: z.enum(["worker_limit", "tenant_limit"]).optional(),
  attempt_id: z.string().optional(),
  attempt_no: z.int().optional(),
  lease_id: z.string().optional(),
  lease_expires_at: Time.optional(),
  fencing_token: z.int().optional(),
  run: DispatchedRun.optional(),
  mail: z.boolean().optional().describe("Messages wait in the run's mailbox: apply them first"),
  worker_active_leases: z.int(),
  worker_limit: z.int(),
  tenant_id: z.string().nullable().optional(),
  tenant_active_leases: z.int().nullable().optional(),
  tenant_limit: z.int().nullable().optional(),
  trace: TraceBlock,
});

/** `POST /v1/workers/:worker_id/heartbeat` and `/extend-lease`. */
export const HeartbeatResponse = z.object({
  worker_id: z.string(),
  lease_id: z.string(),
  lease_expires_at: Time,
  mail: z.boolean().describe("Messages wait in the run's mailbox: apply them"),
  trace: TraceBlock,
});

/** `POST /v1/workers/:worker_id/release`. */
export const ReleaseResponse = z.object({
  worker_id: z.string(),
  lease_id: z.string(),
  outcome: z.enum(["released", "mail", "lost"]).describe(
    "released; mail (messages wait: the worker keeps the lease and applies them); lost",
  ),
  trace: TraceBlock,
});

/** An event of a run's log, as stored. */
const WorkerEvent = component(
  "WorkerEvent",
  z.object({ seq: z.int(), event: z.json() }),
);

/** `GET /v1/workers/:worker_id/runs/:thread_id`. */
export const WorkerRunResponse = z.object({
  snapshot: z.json().describe("The run's latest stored snapshot (the store's format)"),
  events: z.array(WorkerEvent).describe("The events after it"),
});

/** `GET /v1/workers/:worker_id/runs/:thread_id/events`. */
export const WorkerEventsResponse = z.object({ events: z.array(WorkerEvent) });

/** A journaled effect. */
const WorkerEffect = component(
  "WorkerEffect",
  z.object({
    thread_id: z.string(),
    step: z.int(),
    node: z.string(),
    index: z.int(),
    name: z.string(),
    result: z.json(),
    started_at: z.number().optional().describe("When its function began (ms), if recorded"),
    recorded_at: z.number(),
  }),
);

/** `GET /v1/workers/:worker_id/runs/:thread_id/effects`. */
export const WorkerEffectsResponse = z.object({ effects: z.array(WorkerEffect) });

/** `POST /v1/workers/:worker_id/runs/:thread_id/effects`. */
export const RecordEffectResponse = z.object({
  effect: WorkerEffect.describe("The effect as journaled (the first record of its key wins)"),
  trace: TraceBlock,
});

/** `GET /v1/workers/:worker_id/runs/:thread_id/mail`. */
export const WorkerMailResponse = z.object({
  messages: z.array(z.object({
    seq: z.int(),
    message: z.json(),
    status: z.enum(["pending", "applied", "refused"]),
    posted_at: z.number(),
  })),
});

/** `POST /v1/workers/:worker_id/runs/:thread_id/mail/:seq/answer`. */
export const AnswerMailResponse = z.object({
  thread_id: z.string(),
  seq: z.int(),
  status: z.enum(["applied", "refused"]),
  trace: TraceBlock,
});

/**
 * A journaled effect as the worker endpoints show it.
 *
 * @param record The effect.
 * @returns Its view.
 */
export function effectView(record: EffectRecord): z.infer<typeof WorkerEffect> {
  return {
    thread_id: record.threadId,
    step: record.step,
    node: record.node,
    index: record.index,
    name: record.name,
    result: record.result as unknown as Json,
    ...(record.startedAt === undefined ? {} : { started_at: record.startedAt }),
    recorded_at: record.recordedAt,
  };
}

/** `POST /v1/workers/:worker_id/report-step`. */
export const ReportStepResponse = z.object({
  attempt_id: z.string(),
  status: z.enum(["reported", "reported_idempotent"]),
  version: z.int().describe("The run's version after the events"),
  mail: z.boolean().optional().describe("Messages wait in the run's mailbox: apply them now"),
  next_retry_at: z.null(),
  next_attempt_no: z.null(),
  trace: TraceBlock,
});

/** `POST /v1/workers/:worker_id/ack`. */
export const AckResponse = z.object({
  attempt_id: z.string(),
  status: z.enum(["completed", "failed", "cancelled", "retry_scheduled"]),
  next_retry_at: Time.nullable(),
  next_attempt_no: z.int(),
  trace: TraceBlock,
});

/** One retry of an attempt. */
const RetryEntry = component(
  "RetryEntry",
  z.object({
    retry_no: z.int(),
    attempt_no: z.int(),
    strategy: z.enum(["fixed", "exponential"]),
    backoff_ms: z.int(),
    max_retries: z.int(),
    scheduled_at: Time,
    next_retry_at: Time,
  }),
);

/** `GET /v1/attempts/:attempt_id/retries`. */
export const AttemptRetries = z.object({
  attempt_id: z.string(),
  thread_id: z.string(),
  current_attempt_no: z.int(),
  current_status: AttemptStatusSchema,
  next_retry_at: Time.nullable(),
  history: z.array(RetryEntry),
});

/** A dead letter. */
export const DeadLetter = component(
  "DeadLetter",
  z.object({
    attempt_id: z.string(),
    run_id: z.string(),
    attempt_no: z.int(),
    terminal_status: z.enum(["completed", "failed", "cancelled"]),
    reason: z.enum(["terminal_failed", "execution_timeout"]),
    dead_at: Time,
    replay_status: z.enum(["pending", "replayed"]),
    replay_count: z.int(),
    last_replayed_at: Time.nullable(),
  }),
);

/** `GET /v1/dlq`. */
export const DeadLetterList = z.object({
  entries: z.array(DeadLetter),
  next_cursor: z.string().nullable(),
});

/** `POST /v1/dlq/:attempt_id/replay`. */
export const ReplayDeadLetterResponse = z.object({
  attempt_id: z.string(),
  status: z.literal("requeued"),
  replay_count: z.int(),
  trace: TraceBlock,
});

/**
 * A dead letter as the API shows it.
 *
 * @param letter The record.
 * @returns The view.
 */
export function deadLetterView(letter: DeadLetterRecord): z.infer<typeof DeadLetter> {
  return {
    attempt_id: letter.attemptId,
    run_id: letter.threadId,
    attempt_no: letter.attemptNo,
    terminal_status: letter.terminalStatus,
    reason: letter.reason,
    dead_at: iso(letter.deadAt),
    replay_status: letter.replayStatus,
    replay_count: letter.replayCount,
    last_replayed_at: isoOrNull(letter.lastReplayedAt),
  };
}

/**
 * An attempt's retries as the API shows them.
 *
 * @param attempt The record.
 * @returns The view.
 */
export function retriesView(attempt: AttemptRecord): z.infer<typeof AttemptRetries> {
  return {
    attempt_id: attempt.attemptId,
    thread_id: attempt.threadId,
    current_attempt_no: attempt.attemptNo,
    current_status: attempt.status,
    next_retry_at: isoOrNull(attempt.nextRetryAt),
    history: attempt.retries.map((retry) => ({
      retry_no: retry.retryNo,
      attempt_no: retry.attemptNo,
      strategy: retry.strategy,
      backoff_ms: retry.backoffMs,
      max_retries: retry.maxRetries,
      scheduled_at: iso(retry.scheduledAt),
      next_retry_at: iso(retry.retryAt),
    })),
  };
}
