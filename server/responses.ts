/**
 * The zod schemas of every response of the v1 API, beside the request
 * schemas of `schemas.ts`: the success and error envelopes, and the `data`
 * of each route. The builders in `response_builders.ts` return their
 * `z.infer` types, the route table names each route's schema, and the
 * OpenAPI document's `responses` are their JSON Schema: one definition for
 * the three.
 *
 * Shared shapes are registered in {@linkcode responseComponents}, so the
 * document names them once under `components.schemas`.
 *
 * @module
 */

import { z } from "zod";
import {
  INTERRUPT_STATUSES,
  type InterruptStatus,
  type Role,
  ROLES,
  RUN_STATUSES,
  type RunStatus,
} from "../kernel/mod.ts";
import { type ApiErrorCode, ERROR_STATUS } from "./error_codes.ts";

/**
 * A registry of our own (no ids in zod's global registry, which every user
 * of zod shares) that also reads the global one, where `.describe()` puts
 * descriptions.
 */
class ComponentRegistry extends z.core.$ZodRegistry<z.core.GlobalMeta> {
  override get<S extends z.core.$ZodType>(schema: S): z.core.GlobalMeta | undefined {
    const own = super.get(schema);
    const shared = z.globalRegistry.get(schema);
    return own === undefined ? shared : { ...shared, ...own };
  }
}

/**
 * The shapes the OpenAPI document lists under `components.schemas`, by name;
 * pass it as `metadata` to `z.toJSONSchema`.
 */
export const responseComponents: z.core.$ZodRegistry<z.core.GlobalMeta> = new ComponentRegistry();

function component<T extends z.ZodType>(id: string, schema: T): T {
  responseComponents.add(schema, { id });
  return schema;
}

/** A JSON value of any shape (state, interrupt values, details). */
const JsonValue = z.json();
/** A JSON object (a run's state, metadata). */
const JsonObject = z.record(z.string(), JsonValue);
/** An RFC 3339 time, e.g. `2025-01-31T12:00:00.000Z`. */
const Time = z.iso.datetime();
const RunStatusSchema = z.enum(RUN_STATUSES as [RunStatus, ...RunStatus[]]);
const InterruptStatusSchema = z.enum(INTERRUPT_STATUSES as [InterruptStatus, ...InterruptStatus[]]);

// ---------------------------------------------------------------------------
// Envelopes

/** The v1 error codes, in the order of the status table. */
const API_ERROR_CODES = [...new Set(Object.values(ERROR_STATUS).map((entry) => entry.code))] as [
  ApiErrorCode,
  ...ApiErrorCode[],
];

/** The error envelope: `{ request_id, error: { code, message, details } }`. */
export const ErrorEnvelope = component(
  "ErrorEnvelope",
  z.object({
    request_id: z.string(),
    error: z.object({
      code: z.enum(API_ERROR_CODES),
      message: z.string(),
      details: z.record(z.string(), JsonValue).nullable(),
    }),
  }),
);

/** The `meta` block of every success envelope. */
const Meta = z.object({ status: z.literal("ok"), api_version: z.literal("v1") });

/** The schema of a success envelope around some data. */
export type SuccessEnvelopeSchema<T extends z.ZodType> = z.ZodObject<
  { meta: typeof Meta; request_id: z.ZodString; data: T }
>;

/**
 * The success envelope around a route's data: `{ meta: { status: "ok",
 * api_version: "v1" }, request_id, data }`.
 *
 * @param data The schema of the route's data.
 * @returns The schema of the whole body.
 *
 * @example
 * ```ts
 * import { HealthResponse, successEnvelope } from "./responses.ts";
 * import assert from "node:assert/strict";
 *
 * const body = { meta: { status: "ok", api_version: "v1" }, request_id: "r-1", data: { status: "ok" } };
 * assert.deepEqual(successEnvelope(HealthResponse).parse(body), body);
 * ```
 */
export function successEnvelope<T extends z.ZodType>(data: T): SuccessEnvelopeSchema<T> {
  return z.object({ meta: Meta, request_id: z.string(), data });
}

// ---------------------------------------------------------------------------
// Runs

/** The trace block of responses: the request's own span in the caller's trace. */
export const TraceBlock = component(
  "TraceBlock",
  z.object({ trace_id: z.string(), span_id: z.string(), traceparent: z.string() }),
);

/** Why a run failed. */
const ErrorInfo = component(
  "ErrorInfo",
  z.object({
    code: z.string(),
    message: z.string(),
    node: z.string().optional(),
    step: z.int().optional(),
  }),
);

/**
 * What `POST /v1/jobs/run` and the resume routes answer: the run as it is
 * once it came to rest (or when the wait bound passed).
 */
export const RunResponse = component(
  "RunResponse",
  z.object({
    thread_id: z.string(),
    status: RunStatusSchema,
    interrupts: z.array(JsonValue).describe("The pending interrupts' values"),
    pending_interrupts: z.array(
      z.object({ interrupt_id: z.string(), node: z.string(), value: JsonValue }),
    ),
    checkpoint_id: z.string().nullable(),
    values: JsonObject.describe(
      "The run's state when the response was made: the final values of a completed run",
    ),
    idempotency_key: z.string().nullable(),
    idempotent_replay: z.boolean(),
    trace: TraceBlock,
    error: ErrorInfo.nullable().optional().describe("Why the run failed (only when failed)"),
  }),
);

/** One job of `GET /v1/jobs`. */
export const JobSummary = component(
  "JobSummary",
  z.object({
    thread_id: z.string(),
    status: RunStatusSchema,
    graph: z.string(),
    version: z.int(),
    created_at: Time,
    updated_at: Time,
    tenant_id: z.string().nullable().describe("The tenant_id it was submitted with, or null"),
    priority: z.int().describe("The priority it was submitted with (default 0)"),
  }),
);

/** Where the next page of a listing starts: pass it as `cursor`; `null` on the last page. */
const NextCursor = z.string().nullable().describe(
  "Pass as cursor to get the next page; null on the last page",
);

/** `GET /v1/jobs`: a page of jobs, newest first (by creation). */
export const JobList = z.object({
  jobs: z.array(JobSummary),
  limit: z.int(),
  offset: z.int(),
  next_offset: z.int().nullable(),
  next_cursor: NextCursor,
});

/** `GET /v1/jobs/:thread_id`: a job's status, state and latest checkpoint. */
export const Job = component(
  "Job",
  z.object({
    thread_id: z.string(),
    graph: z.string(),
    status: RunStatusSchema,
    checkpoint_id: z.string().nullable(),
    step: z.int(),
    version: z.int(),
    values: JsonObject,
    next: z.array(z.string()).describe("The nodes of the next superstep"),
    created_at: Time,
    updated_at: Time,
  }),
);

/** One checkpoint of a job's history. */
export const Checkpoint = component(
  "Checkpoint",
  z.object({
    checkpoint_id: z.string(),
    parent_checkpoint_id: z.string().nullable(),
    step: z.int(),
    version: z.int(),
    created_at: Time,
  }),
);

/** A pending interrupt with its step. */
const PendingInterrupt = z.object({
  interrupt_id: z.string(),
  node: z.string(),
  step: z.int(),
  value: JsonValue,
});

/** `GET /v1/jobs/:thread_id/detail`: the job, its attempts, interrupts and history. */
export const JobDetail = Job.extend({
  metadata: JsonObject,
  attempts: z.array(z.object({ attempt_id: z.string(), started_at: Time, seq: z.int() })),
  pending_interrupt: PendingInterrupt.nullable(),
  pending_interrupts: z.array(PendingInterrupt),
  history: z.array(Checkpoint),
  error: ErrorInfo.nullable(),
  reason: z.string().nullable(),
  graph_fingerprint: z.string().nullable().describe(
    "The structural fingerprint of the graph that created the run (null for runs created before fingerprints)",
  ),
  graph_changed: z.boolean().describe(
    "Whether the graph this server serves under the run's graph name has another fingerprint",
  ),
});

/** `GET /v1/jobs/:thread_id/history`. */
export const JobHistory = z.object({
  thread_id: z.string(),
  history: z.array(Checkpoint),
  next_cursor: NextCursor,
});

/** One line of a job's timeline (its event log); the optional fields depend on the event type. */
export const TimelineEntry = component(
  "TimelineEntry",
  z.object({
    seq: z.int(),
    event_type: z.string(),
    at: Time,
    step: z.int().optional(),
    checkpoint_id: z.string().optional(),
    nodes: z.array(z.string()).optional(),
    node: z.string().nullable().optional(),
    task_path: z.string().optional(),
    effect: z.string().optional(),
    ok: z.boolean().optional(),
    interrupt_ids: z.array(z.string()).optional(),
    attempt_id: z.string().optional(),
    error: ErrorInfo.optional(),
    reason: z.string().nullable().optional(),
  }),
);

/** `GET /v1/jobs/:thread_id/timeline`. */
export const JobTimeline = z.object({
  thread_id: z.string(),
  timeline: z.array(TimelineEntry),
  next_cursor: NextCursor,
});

/** A stored event: its seq and the event (whose fields depend on its type). */
const StoredEvent = z.object({
  seq: z.int(),
  event: z.looseObject({ type: z.string(), v: z.int(), at: z.number() }),
});

/** `GET /v1/jobs/:thread_id/timeline/export`: a job's full record for audit. */
export const JobExport = z.object({
  thread_id: z.string(),
  graph: z.string(),
  status: RunStatusSchema,
  exported_at: Time,
  history: z.array(Checkpoint),
  timeline: z.array(TimelineEntry),
  events: z.array(StoredEvent),
});

/** `GET /v1/jobs/:thread_id/checkpoints/:checkpoint_id`: the state at one checkpoint. */
export const CheckpointState = Checkpoint.extend({
  thread_id: z.string(),
  values: JsonObject,
  next: z.array(z.string()),
});

/**
 * `POST /v1/jobs/:thread_id/replay`: `verify`: the replay verified every
 * step; `rerun`: the new run re-executed from the checkpoint.
 */
export const ReplayResponse = z.union([
  z.object({
    thread_id: z.string(),
    mode: z.literal("verify"),
    ok: z.literal(true),
    steps: z.int(),
    from_checkpoint_id: z.string().nullable(),
    trace: TraceBlock,
  }),
  z.object({
    thread_id: z.string().describe("The job that was rerun"),
    mode: z.literal("rerun"),
    from_checkpoint_id: z.string().nullable(),
    run: RunResponse.describe("The new run: <thread_id>-rerun-<checkpoint_id or input>"),
    trace: TraceBlock,
  }),
]);

/** `POST /v1/jobs/:thread_id/cancel`. */
export const CancelResponse = z.object({
  thread_id: z.string(),
  status: RunStatusSchema,
  reason: z.string().nullable(),
  trace: TraceBlock,
});

/** `GET /v1/jobs/:thread_id/stream`: `text/event-stream`. */
export const EventStream = z.string().describe(
  "Server-sent events: id = seq, event = the event type, data = the stored event; then an end event",
);

// ---------------------------------------------------------------------------
// Interrupts

/** One interrupt of the index. */
export const Interrupt = component(
  "Interrupt",
  z.object({
    interrupt_id: z.string(),
    thread_id: z.string(),
    run_id: z.string(),
    node: z.string(),
    step: z.int(),
    value: JsonValue,
    status: InterruptStatusSchema,
    resume_value: JsonValue,
    created_at: Time,
    resolved_at: Time.nullable(),
  }),
);

/** `GET /v1/interrupts`. */
export const InterruptList = z.object({ interrupts: z.array(Interrupt), next_cursor: NextCursor });

/** `GET /v1/interrupts/:interrupt_id`: the interrupt and its run's attempt. */
export const InterruptDetail = Interrupt.extend({ attempt_id: z.string().nullable() });

/** `POST /v1/interrupts/:interrupt_id/reject`. */
export const RejectResponse = z.object({
  thread_id: z.string(),
  interrupt_id: z.string(),
  status: RunStatusSchema,
  reason: z.string(),
  trace: TraceBlock,
});

// ---------------------------------------------------------------------------
// Audit and operations

/** One audit log entry. */
export const AuditLog = component(
  "AuditLog",
  z.object({
    audit_id: z.string(),
    actor_type: z.enum(["bearer", "api_key", "anonymous"]),
    actor_id: z.string().nullable(),
    actor_role: z.string().nullable(),
    action: z.string(),
    resource_type: z.string(),
    resource_id: z.string().nullable(),
    result: z.enum(["success", "error"]),
    request_id: z.string(),
    details: JsonObject,
    created_at: Time,
  }),
);

/** `GET /v1/audit/logs`. */
export const AuditLogList = z.object({ logs: z.array(AuditLog), next_cursor: NextCursor });

/** A stored API key, as listed (never its secret, nor its hash). */
export const ApiKey = component(
  "ApiKey",
  z.object({
    key_id: z.string(),
    role: z.enum(ROLES as [Role, ...Role[]]),
    status: z.enum(["active", "disabled"]).describe("disabled: revoked, it authenticates nothing"),
    created_at: Time,
    updated_at: Time,
    revoked_at: Time.nullable().describe("When it was disabled (null while active)"),
  }),
);

/** `GET /v1/keys`: stored API keys, by key id. */
export const ApiKeyList = z.object({ keys: z.array(ApiKey), next_cursor: NextCursor });

/** `POST /v1/keys`: the new key, with its secret (shown this once). */
export const CreatedApiKey = ApiKey.extend({
  secret: z.string().describe("Send as x-api-key with x-api-key-id; it is not shown again"),
});

/** One change between two states (`GET /v1/jobs/:thread_id/diff`). */
const StateChange = z.object({
  path: z.array(z.union([z.string(), z.int()])).describe("Keys and indexes from the state's root"),
  op: z.enum(["add", "remove", "replace"]),
  before: JsonValue.optional().describe("The value before (not for add)"),
  after: JsonValue.optional().describe("The value after (not for remove)"),
});

/** `GET /v1/jobs/:thread_id/diff`: what changed from one checkpoint's state to another's. */
export const JobDiff = z.object({
  thread_id: z.string(),
  from_checkpoint_id: z.string().nullable().describe("null: compared with the empty state"),
  to_checkpoint_id: z.string(),
  changes: z.array(StateChange),
});

/** `GET /v1/jobs/:thread_id/effects`: the run's journaled effects and their results. */
export const JobEffects = z.object({
  thread_id: z.string(),
  effects: z.array(z.object({
    step: z.int(),
    node: z.string(),
    task_path: z.string().describe("The journal's task path, e.g. 3:act (3:act~2 for a retry)"),
    index: z.int().describe("The call's index within the node's execution, from 0"),
    name: z.string(),
    ok: z.boolean().describe("Whether it returned (true) or threw (false)"),
    value: JsonValue.optional().describe("What it returned (when ok)"),
    error: z.object({ name: z.string(), message: z.string(), code: z.string().optional() })
      .optional().describe("What it threw (when not ok)"),
    started_at: Time.nullable().describe(
      "When its function began (null for records journaled before start times were kept)",
    ),
    recorded_at: Time.describe("When it returned or threw"),
    duration_ms: z.number().nullable().describe(
      "recorded_at - started_at in ms (null without a start)",
    ),
  })),
});

/** A served graph's structure (`GET /v1/graphs`): what a console draws. */
export const Graph = component(
  "Graph",
  z.object({
    name: z.string(),
    default: z.boolean().describe("Whether a job that names no graph runs this one"),
    fingerprint: z.string().describe("Its structural fingerprint (see the job detail's)"),
    nodes: z.array(z.string()).describe("Node names, in the order they were added"),
    edges: z.array(z.object({ from: z.string(), to: z.string() })).describe(
      "Static edges; __start__ and __end__ are the entry and the exit",
    ),
    branches: z.array(z.object({
      source: z.string(),
      targets: z.array(z.string()).nullable().describe("null: the router may go to any node"),
    })).describe("Conditional edges"),
    ends: z.record(z.string(), z.array(z.string())).describe(
      "Where a node's Command may go, for nodes that declare it",
    ),
  }),
);

/** `GET /v1/graphs`: the graphs this server serves, by name. */
export const GraphList = z.object({ graphs: z.array(Graph) });

/** `GET /v1/whoami`: the caller, and the routes it may call. */
export const Whoami = z.object({
  auth_enabled: z.boolean(),
  actor_type: z.enum(["bearer", "api_key", "anonymous"]).describe("anonymous when auth is off"),
  actor_id: z.string().nullable().describe("The API key id, if any"),
  role: z.enum(ROLES as [Role, ...Role[]]).nullable().describe("null when auth is off"),
  routes: z.array(z.string()).describe(
    "The v1 routes the caller may call, as `METHOD /path` with the route's parameters",
  ),
});

/** `GET /healthz`. */
export const HealthResponse = z.object({ status: z.literal("ok") });

/** `GET /readyz`. */
export const ReadyResponse = z.object({ status: z.literal("ready") });

/** `GET /v1/openapi.json`: the document itself (no envelope). */
export const OpenApiDocument = z.looseObject({
  openapi: z.literal("3.1.0"),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.record(z.string(), z.unknown())),
});

/** `GET /metrics`: Prometheus text (no envelope). */
export const MetricsText = z.string().describe("Prometheus text exposition format 0.0.4");

/** The data of a run response (see {@linkcode RunResponse}). */
export type RunResponseData = z.infer<typeof RunResponse>;
