/**
 * The zod schemas of every request body and query of the v1 API. They
 * validate requests and generate `GET /v1/openapi.json`: one definition for
 * both.
 *
 * @module
 */

import { z } from "zod";
import { ID_PATTERN, INTERRUPT_STATUSES, RUN_STATUSES } from "../kernel/mod.ts";

/**
 * A caller-given id (the kernel's {@linkcode ID_PATTERN}). A too long id
 * stops at its length issue (the pattern's length bound would repeat it).
 */
function id(field: string) {
  return z.string({ error: `${field} must be a string` })
    .min(1, { error: `${field} must not be empty` })
    .max(128, { error: `${field} must be at most 128 characters`, abort: true })
    .regex(ID_PATTERN, { error: `${field} may contain only letters, digits and "-_.:"` });
}

/** A JSON value of any shape. */
const JsonValue = z.json();

/** `POST /v1/jobs/run` and `POST /v1/jobs`. */
export const RunJobBody = z.strictObject({
  thread_id: id("thread_id"),
  graph: id("graph").optional().describe("The registered graph to run (default: hello)"),
  input: JsonValue.optional().describe(
    "The graph's input: an object of channels, or a string (a human message for graphs with messages)",
  ),
  idempotency_key: z.string().min(1).max(256).optional(),
  priority: z.int().min(0).max(100).optional(),
  tenant_id: id("tenant_id").optional(),
  timeout_policy: z.strictObject({
    timeout_ms: z.int().min(1).max(7 * 24 * 3600 * 1000),
    on_timeout_status: z.enum(["failed", "cancelled"]),
    scope: z.enum(["execution", "total"]).optional().describe(
      "execution (default): each stretch of execution, from the run or a resume until the run comes to rest, time waiting at an interrupt excluded; total: from the run's creation until it finishes, time waiting included",
    ),
  }).optional(),
  wait_ms: z.int().min(0).max(300_000).optional().describe(
    "How long to wait for the run to come to rest (default 30000)",
  ),
});

/** `POST /v1/jobs/:thread_id/resume`. */
export const ResumeJobBody = z.strictObject({
  value: JsonValue.optional().describe("The answer to the run's only pending interrupt"),
  values: z.record(z.string(), JsonValue).optional().describe(
    "Answers by interrupt id (for several pending interrupts); instead of value",
  ),
  checkpoint_id: id("checkpoint_id").optional().describe(
    "Resume only if this is still the latest checkpoint",
  ),
  wait_ms: z.int().min(0).max(300_000).optional(),
}).superRefine((body, ctx) => {
  if ((body.value === undefined) === (body.values === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["value"],
      message: "give value (the answer) or values (answers by interrupt id), not both",
    });
  }
});

/** `POST /v1/jobs/:thread_id/replay`. */
export const ReplayJobBody = z.strictObject({
  checkpoint_id: id("checkpoint_id").optional(),
});

/** `POST /v1/jobs/:thread_id/cancel`. */
export const CancelJobBody = z.strictObject({
  reason: z.string().max(1000).optional(),
});

/** `POST /v1/interrupts/:interrupt_id/resume`. */
export const ResumeInterruptBody = z.strictObject({
  value: JsonValue,
  wait_ms: z.int().min(0).max(300_000).optional(),
});

/** `POST /v1/interrupts/:interrupt_id/reject`. */
export const RejectInterruptBody = z.strictObject({
  reason: z.string().max(1000).optional(),
});

/** A whole number in a query string: decimal digits only (no `0x10`, no empty value). */
function queryInt(min: number, max: number) {
  return z.string().regex(/^\d{1,15}$/, { error: "must be a whole number" }).transform(Number).pipe(
    z.int().min(min).max(max),
  );
}

const limit = (max: number, fallback: number) => queryInt(1, max).default(fallback);

/** `GET /v1/jobs`. */
export const ListJobsQuery = z.strictObject({
  status: z.enum(RUN_STATUSES as [string, ...string[]]).optional(),
  limit: limit(200, 50),
  offset: queryInt(0, 100_000).default(0),
});

/** `GET /v1/jobs/:thread_id/stream`. */
export const StreamJobQuery = z.strictObject({
  from_seq: queryInt(1, Number.MAX_SAFE_INTEGER).optional(),
});

/** `POST /v1/jobs/run?wait=false`. */
export const RunJobQuery = z.strictObject({
  wait: z.enum(["true", "false"]).optional(),
});

/** `GET /v1/interrupts`. */
export const ListInterruptsQuery = z.strictObject({
  status: z.enum(INTERRUPT_STATUSES as [string, ...string[]]).optional(),
  run_id: id("run_id").optional(),
  limit: limit(200, 50),
});

/** `GET /v1/audit/logs`. */
export const ListAuditQuery = z.strictObject({
  request_id: z.string().min(1).max(128).optional(),
  action: z.string().min(1).max(64).optional(),
  from_ms: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  to_ms: queryInt(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: limit(500, 100),
}).refine(
  (query) =>
    query.from_ms === undefined || query.to_ms === undefined || query.from_ms <= query.to_ms,
  {
    error: "from_ms must not be after to_ms",
    path: ["from_ms"],
  },
);

/** `GET /v1/jobs/:thread_id/history`. */
export const HistoryQuery = z.strictObject({
  limit: limit(1000, 100),
});

/** A query with no parameters. */
export const NoQuery = z.strictObject({});
