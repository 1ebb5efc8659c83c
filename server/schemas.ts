/**
 * The zod schemas of every request body and query of the v1 API. They
 * validate requests and generate `GET /v1/openapi.json`: one definition for
 * both.
 *
 * Their messages are sentences about the field, which `validate()` names
 * first: `thread_id is required`, `priority must be a whole number from 0 to
 * 100`. A bound's message gives the whole range, so every value outside it
 * gets the same message (`limit=-1` and `limit=0` alike); the limits are
 * listed in docs/api.md.
 *
 * @module
 */

import { z } from "zod";
import {
  ID_PATTERN,
  INTERRUPT_STATUSES,
  isValidId,
  type Role,
  ROLES,
  RUN_EVENT_TYPES,
  RUN_STATUSES,
} from "../kernel/mod.ts";
import { AUDIT_ACTIONS } from "./route.ts";

/** "is required" for a missing value, `otherwise` for one of another type. */
function typeError(otherwise: string): (issue: { input?: unknown }) => string {
  return (issue) => issue.input === undefined ? "is required" : otherwise;
}

/**
 * A caller-given id (the kernel's {@linkcode ID_PATTERN}). A too long id
 * stops at its length issue (the pattern's length bound would repeat it).
 */
function id() {
  return z.string({ error: typeError("must be a string") })
    .min(1, { error: "must not be empty" })
    .max(128, { error: "must be at most 128 characters", abort: true })
    .regex(ID_PATTERN, { error: (issue) => idPatternMessage(issue.input) });
}

/** Why a value of the right length is not an id (one message for bodies, queries and paths). */
export function idPatternMessage(value: unknown): string {
  return typeof value === "string" && /^\.+$/.test(value)
    ? "must not be made only of dots"
    : 'may contain only letters, digits and "-_.:"';
}

/**
 * The literal segments of `/v1/jobs` routes where other routes have
 * `:thread_id` (`POST /v1/jobs/run`): such a word in a path is the route,
 * so it cannot be a thread id created through the API.
 */
export const RESERVED_THREAD_IDS: readonly string[] = ["run"];

/** A whole number from `min` to `max` in a body: one message for every value outside. */
function wholeNumber(min: number, max: number) {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.int({ error: typeError(error) }).min(min, { error }).max(max, { error });
}

/** A string of `min` to `max` characters. */
function text(min: number, max: number) {
  const error = min === 0
    ? `must be at most ${max} characters`
    : `must be ${min} to ${max} characters`;
  return z.string({ error: typeError("must be a string") }).min(min, { error }).max(max, {
    error,
  });
}

/** The longest `wait_ms`: 5 minutes. */
const MAX_WAIT_MS = 300_000;

/** A JSON value of any shape. */
const JsonValue = z.json();

/** `POST /v1/jobs/run` and `POST /v1/jobs`. */
export const RunJobBody = z.strictObject({
  thread_id: id().refine((value) => !RESERVED_THREAD_IDS.includes(value), {
    error: (issue) => `${JSON.stringify(issue.input)} is reserved: it is a route word of /v1/jobs`,
  }),
  graph: id().optional().describe("The registered graph to run (default: hello)"),
  input: JsonValue.optional().describe(
    "The graph's input: an object of channels, or a string (a human message for graphs with messages)",
  ),
  idempotency_key: text(1, 256).optional(),
  priority: wholeNumber(0, 100).optional(),
  tenant_id: id().optional(),
  timeout_policy: z.strictObject({
    timeout_ms: wholeNumber(1, 7 * 24 * 3600 * 1000),
    on_timeout_status: z.enum(["failed", "cancelled"]),
    scope: z.enum(["execution", "total"]).optional().describe(
      "execution (default): each stretch of execution, from the run or a resume until the run comes to rest, time waiting at an interrupt excluded; total: from the run's creation until it finishes, time waiting included",
    ),
  }).optional(),
  wait_ms: wholeNumber(0, MAX_WAIT_MS).optional().describe(
    "How long to wait for the run to come to rest (default 30000)",
  ),
});

/** `POST /v1/jobs/:thread_id/resume`. */
export const ResumeJobBody = z.strictObject({
  value: JsonValue.optional().describe("The answer to the run's only pending interrupt"),
  values: z.record(z.string(), JsonValue).optional().describe(
    "Answers by interrupt id (for several pending interrupts); instead of value",
  ),
  checkpoint_id: id().optional().describe(
    "Resume only if this is still the latest checkpoint",
  ),
  wait_ms: wholeNumber(0, MAX_WAIT_MS).optional(),
}).superRefine((body, ctx) => {
  // Neither: continue a paused run (the handler refuses it for a run that is not paused).
  if (body.value !== undefined && body.values !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["value"],
      message: "and values cannot both be given: value answers the only pending interrupt",
    });
  }
});

/** `POST /v1/jobs/:thread_id/replay`. */
export const ReplayJobBody = z.strictObject({
  checkpoint_id: id().optional().describe(
    "verify: check only the steps after it; rerun: re-execute from it (default: from the input)",
  ),
  mode: z.enum(["verify", "rerun"]).optional().describe(
    "verify (default): re-execute and compare with the log, writing nothing; rerun: re-execute as a new run, effects served from the journal",
  ),
});

/** `POST /v1/jobs/:thread_id/fork`. */
export const ForkJobBody = z.strictObject({
  checkpoint_id: id().optional().describe("The checkpoint to start from (default: the latest)"),
  thread_id: id().refine((value) => !RESERVED_THREAD_IDS.includes(value), {
    error: (issue) => `${JSON.stringify(issue.input)} is reserved: it is a route word of /v1/jobs`,
  }).optional().describe("The new run's id (default: <thread_id>-fork-<id>)"),
  wait_ms: wholeNumber(0, MAX_WAIT_MS).optional().describe(
    "How long to wait for the new run to come to rest (default 30000)",
  ),
});

/** `POST /v1/jobs/:thread_id/state`. */
export const UpdateStateBody = z.strictObject({
  values: z.record(z.string(), JsonValue, { error: typeError("must be an object") }).describe(
    "An update of the state's channels, merged through their reducers",
  ),
  as_node: text(1, 256).optional().describe(
    "The node the update is attributed to: the run continues from its edges",
  ),
  checkpoint_id: id().optional().describe("Update only if this is still the latest checkpoint"),
});

/** `POST /v1/jobs/:thread_id/pause`. */
export const PauseJobBody = z.strictObject({
  reason: text(0, 1000).optional(),
});

/** `POST /v1/jobs/:thread_id/cancel`. */
export const CancelJobBody = z.strictObject({
  reason: text(0, 1000).optional(),
});

/** `POST /v1/interrupts/:interrupt_id/resume`. */
export const ResumeInterruptBody = z.strictObject({
  value: JsonValue.describe("The answer (any JSON value, null included)"),
  wait_ms: wholeNumber(0, MAX_WAIT_MS).optional(),
});

/** `POST /v1/interrupts/:interrupt_id/reject`. */
export const RejectInterruptBody = z.strictObject({
  reason: text(0, 1000).optional(),
});

/**
 * A whole number in a query string: decimal digits only (no `0x10`, no empty
 * value), from `min` to `max`, with one message for every value outside.
 */
function queryInt(min: number, max: number) {
  const error = max === Number.MAX_SAFE_INTEGER
    ? `must be a whole number, ${min} or more`
    : `must be a whole number from ${min} to ${max}`;
  return z.string().regex(/^\d{1,15}$/, { error }).transform(Number).pipe(
    z.int().min(min, { error }).max(max, { error }),
  );
}

const limit = (max: number, fallback: number) => queryInt(1, max).default(fallback);

/**
 * The `cursor` of a listing: a previous page's `next_cursor`, as it was
 * (URL-safe base64). The store reads it and refuses one of another listing.
 */
const cursor = z.string().regex(/^[A-Za-z0-9_-]{1,2048}$/, {
  error: "is not valid: pass a next_cursor as it was returned",
}).optional().describe("The next_cursor of the previous page");

/** `GET /v1/jobs`. */
export const ListJobsQuery = z.strictObject({
  status: z.enum(RUN_STATUSES as [string, ...string[]]).optional(),
  graph: id().optional().describe("Only jobs of this graph"),
  limit: limit(200, 50),
  offset: queryInt(0, 100_000).optional().describe(
    "Skip this many jobs from the start of the listing (positional: prefer cursor)",
  ),
  cursor,
}).refine((query) => query.cursor === undefined || query.offset === undefined, {
  error: "cannot be given with cursor: give cursor or offset, not both",
  path: ["offset"],
});

const SEQ_RULE = `must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER}`;

/**
 * A seq of a run's log given by a client: `?from_seq` and the
 * `Last-Event-ID` header of the event stream (one validator for both).
 */
export const Seq = z.string().regex(/^\d{1,16}$/, { error: SEQ_RULE }).transform(Number).pipe(
  z.int({ error: SEQ_RULE }).min(1, { error: SEQ_RULE }).max(Number.MAX_SAFE_INTEGER, {
    error: SEQ_RULE,
  }),
);

/** `GET /v1/jobs/:thread_id/stream`. */
export const StreamJobQuery = z.strictObject({
  from_seq: Seq.optional().describe("The first seq to send (default 1; Last-Event-ID wins)"),
  follow: z.enum(["true", "false"]).optional().describe(
    "Stay open across interrupts until the run is completed, failed or cancelled",
  ),
});

/** `POST /v1/jobs/run?wait=false`. */
export const RunJobQuery = z.strictObject({
  wait: z.enum(["true", "false"]).optional(),
});

/** `GET /v1/interrupts`. */
export const ListInterruptsQuery = z.strictObject({
  status: z.enum(INTERRUPT_STATUSES as [string, ...string[]]).optional(),
  run_id: id().optional(),
  limit: limit(200, 50),
  cursor,
});

/** `GET /v1/audit/logs`. */
export const ListAuditQuery = z.strictObject({
  // Exactly what `x-request-id` keeps (the same check), so every recorded request id can be asked for.
  request_id: z.string().refine(isValidId, {
    error: 'must be 1 to 128 of letters, digits and "-_.:" (as x-request-id)',
  }).optional(),
  action: z.enum(AUDIT_ACTIONS, {
    error: (issue) =>
      `must be one of ${AUDIT_ACTIONS.join(", ")}, got ${JSON.stringify(issue.input)}`,
  }).optional(),
  from_ms: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  to_ms: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: limit(500, 100),
  cursor,
}).refine(
  (query) =>
    query.from_ms === undefined || query.to_ms === undefined || query.from_ms <= query.to_ms,
  {
    error: "must not be after to_ms",
    path: ["from_ms"],
  },
);

/** `GET /v1/jobs/:thread_id/history`. */
export const HistoryQuery = z.strictObject({
  limit: limit(1000, 100),
  cursor,
});

/** `GET /v1/jobs/:thread_id/timeline` (no limit and no cursor: the whole log). */
export const TimelineQuery = z.strictObject({
  limit: queryInt(1, 1000).optional().describe("At most this many events (default: all)"),
  cursor,
});

/** `GET /v1/jobs/:thread_id/diff`. */
export const DiffQuery = z.strictObject({
  to: id().describe("The checkpoint whose state is compared"),
  from: id().optional().describe("The checkpoint it is compared with (default: the parent of to)"),
});

/** `GET /v1/keys`. */
export const ListKeysQuery = z.strictObject({
  limit: limit(1000, 100),
  cursor,
});

/** `POST /v1/keys`: the new key's id and role. */
export const CreateKeyBody = z.strictObject({
  key_id: id().describe("The key's id, sent as x-api-key-id"),
  role: z.enum(ROLES as [Role, ...Role[]], {
    error: (issue) => `must be one of ${ROLES.join(", ")}, got ${JSON.stringify(issue.input)}`,
  }).optional().describe("What it may do (default: operator)"),
});

/** A query with no parameters. */
export const NoQuery = z.strictObject({});

// ---------------------------------------------------------------------------
// The worker plane (`/v1/workers/*`, `/v1/attempts/*`, `/v1/dlq*`)

/** A lease id as poll returns it. */
const leaseId = text(1, 200).describe("The lease, as poll returned it");

/** `POST /v1/workers/poll`. */
export const PollBody = z.strictObject({
  worker_id: id().describe("The worker (unique among live workers)"),
  limit: wholeNumber(1, 100).optional().describe(
    "How many runs to consider (one is dispatched per poll)",
  ),
  max_active_leases: wholeNumber(1, 10_000).optional().describe(
    "The worker's cap of live leases (default 8): at it, the poll answers backpressure",
  ),
  tenant_max_active_leases: wholeNumber(1, 10_000).optional().describe(
    "The cap of live leases per tenant, across workers",
  ),
  graphs: z.array(id(), { error: typeError("must be a list of graph names") }).max(1000, {
    error: "must list at most 1000 graphs",
  }).optional().describe("The graphs the worker can run (default: the server's)"),
  lease_ttl_seconds: wholeNumber(1, 3600).optional().describe(
    "How long the lease lasts unless renewed (default 30)",
  ),
  exclude: z.array(id(), { error: typeError("must be a list of thread ids") }).max(10_000, {
    error: "must list at most 10000 thread ids",
  }).optional().describe("Runs not to dispatch (those the worker holds or is releasing)"),
});

/** `POST /v1/workers/:worker_id/heartbeat` and `/extend-lease`. */
export const HeartbeatBody = z.strictObject({
  lease_id: leaseId,
  lease_ttl_seconds: wholeNumber(1, 3600).optional().describe(
    "How long from now the lease lasts (default 30)",
  ),
});

/** An event a worker reports: a run event of a known type (the kernel folds it onto the run). */
const ReportedEvent = z.looseObject({
  type: z.enum(RUN_EVENT_TYPES as unknown as [string, ...string[]], {
    error: (issue) => `must be a run event type, got ${JSON.stringify(issue.input)}`,
  }),
  v: z.literal(1, { error: "must be 1 (the event format)" }),
  at: z.number({ error: typeError("must be a time in ms") }).finite({
    error: "must be a time in ms",
  }),
});

/** `POST /v1/workers/:worker_id/report-step`. */
export const ReportStepBody = z.strictObject({
  attempt_id: id(),
  lease_id: leaseId,
  fencing_token: wholeNumber(1, Number.MAX_SAFE_INTEGER),
  dedupe_token: text(1, 100).optional().describe(
    "Optional, accepted for older workers: a repeat is recognised by the run's log (its events after expected_version are the reported ones), not by this token",
  ),
  expected_version: wholeNumber(1, Number.MAX_SAFE_INTEGER).describe(
    "The run's version the events follow",
  ),
  events: z.array(ReportedEvent, { error: typeError("must be a list of run events") }).min(1, {
    error: "must not be empty",
  }).max(1000, { error: "must be at most 1000 events" }),
  mail_seq: wholeNumber(1, Number.MAX_SAFE_INTEGER).optional().describe(
    "The mailbox message the events apply (marked applied in the same commit)",
  ),
});

/** `POST /v1/workers/:worker_id/release`. */
export const ReleaseBody = z.strictObject({ lease_id: leaseId });

/** `GET /v1/workers/:worker_id/runs/:thread_id/events`. */
export const WorkerEventsQuery = z.strictObject({
  from_seq: Seq.optional().describe("The first seq (default 1)"),
  limit: queryInt(1, 100_000).optional().describe("At most this many events (default: all)"),
});

/** `GET /v1/workers/:worker_id/runs/:thread_id/effects`. */
export const WorkerEffectsQuery = z.strictObject({
  step: queryInt(0, Number.MAX_SAFE_INTEGER).optional().describe("Only this step's effects"),
});

/** A journaled effect's outcome. */
const EffectResultBody = z.union([
  z.strictObject({ ok: z.literal(true), value: JsonValue }),
  z.strictObject({
    ok: z.literal(false),
    error: z.looseObject({ name: text(0, 200), message: text(0, 100_000) }),
  }),
], { error: "must be { ok: true, value } or { ok: false, error: { name, message } }" });

/** `POST /v1/workers/:worker_id/runs/:thread_id/effects`. */
export const RecordEffectBody = z.strictObject({
  fencing_token: wholeNumber(1, Number.MAX_SAFE_INTEGER),
  step: wholeNumber(0, Number.MAX_SAFE_INTEGER),
  node: text(1, 512),
  index: wholeNumber(0, Number.MAX_SAFE_INTEGER),
  name: text(1, 200),
  result: EffectResultBody,
  started_at: z.number({ error: typeError("must be a time in ms") }).finite({
    error: "must be a time in ms",
  }).optional().describe("When the effect's function began (ms)"),
  recorded_at: z.number({ error: typeError("must be a time in ms") }).finite({
    error: "must be a time in ms",
  }),
});

/** `POST /v1/workers/:worker_id/runs/:thread_id/mail/:seq/answer`. */
export const AnswerMailBody = z.strictObject({
  fencing_token: wholeNumber(1, Number.MAX_SAFE_INTEGER),
  status: z.enum(["applied", "refused"]),
  error: z.looseObject({ name: text(0, 200), message: text(0, 100_000) }).optional().describe(
    "Why it was refused (with refused)",
  ),
}).refine((body) => body.status === "applied" || body.error !== undefined, {
  error: "is required with status refused",
  path: ["error"],
});

/** A retry policy of `ack`. */
const RetryPolicyBody = z.strictObject({
  strategy: z.enum(["fixed", "exponential"]),
  backoff_ms: wholeNumber(1, 86_400_000),
  max_backoff_ms: wholeNumber(1, 86_400_000).optional(),
  multiplier: z.number({ error: typeError("must be a number above 1") }).gt(1, {
    error: "must be a number above 1",
  }).max(100, { error: "must be at most 100" }).optional().describe("default 2"),
  max_retries: wholeNumber(0, 1000),
}).refine(
  (policy) => policy.max_backoff_ms === undefined || policy.max_backoff_ms >= policy.backoff_ms,
  { error: "must be at least backoff_ms", path: ["max_backoff_ms"] },
);

/** `POST /v1/workers/:worker_id/ack`. */
export const AckBody = z.strictObject({
  attempt_id: id(),
  terminal_status: z.enum(["completed", "failed", "cancelled"]),
  retry_policy: RetryPolicyBody.optional().describe(
    "How a failure is retried (default: the attempt's last policy; none: dead letter)",
  ),
});

/** `GET /v1/dlq`. */
export const ListDlqQuery = z.strictObject({
  status: z.enum(["pending", "replayed"]).optional(),
  limit: limit(500, 100),
  cursor,
});
