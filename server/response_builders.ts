/**
 * The builders of the v1 responses: each turns a kernel record (a run, a
 * checkpoint, an event, an interrupt row, an audit record) into its wire
 * shape, typed by the zod schema of `responses.ts` that documents it.
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import type { RunResult } from "../actors/mod.ts";
import type {
  ApiKeyRecord,
  AuditRecord,
  CheckpointRecord,
  InterruptRow,
  RunEvent,
  RunSnapshot,
  RunSummary,
  StoredEvent,
} from "../kernel/mod.ts";
import type { ServerEnv } from "./env.ts";
import type {
  ApiKey,
  AuditLog,
  Checkpoint,
  Interrupt,
  Job,
  JobExport,
  JobSummary,
  RunResponse,
  TimelineEntry,
  TraceBlock,
} from "./responses.ts";

/**
 * RFC 3339 time of epoch ms.
 *
 * @param ms Milliseconds since the Unix epoch.
 * @returns The time, e.g. `1970-01-01T00:00:00.000Z`.
 */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * RFC 3339 time of epoch ms, or null for a time not reached yet.
 *
 * @param ms Milliseconds since the Unix epoch, or null.
 * @returns The time or null.
 */
export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

/**
 * The trace block of responses: the request's own span.
 *
 * @param c The Hono context (after `traceContext()`).
 * @returns The block.
 */
export function traceBlock(c: Context<ServerEnv>): z.infer<typeof TraceBlock> {
  const trace = c.get("trace");
  return { trace_id: trace.traceId, span_id: trace.spanId, traceparent: trace.traceparent };
}

/**
 * The v1 run response: `{ thread_id, status, interrupts, pending_interrupts,
 * checkpoint_id, values, idempotency_key, idempotent_replay, trace, error? }`.
 * `values` is the run's state as it is when the response is made.
 * `interrupts` holds the pending interrupts' values, as in the original
 * contract; `pending_interrupts` adds their ids and nodes.
 *
 * @param run The run, as a result or a snapshot.
 * @param extras The idempotency key, whether this is a replay, and the trace.
 * @returns The response data.
 */
export function runResponse(
  run: RunResult | RunSnapshot,
  extras: { idempotencyKey: string | null; replay: boolean; trace: z.infer<typeof TraceBlock> },
): z.infer<typeof RunResponse> {
  const pending =
    "interrupts" in run && Array.isArray(run.interrupts) && run.status === "interrupted"
      ? run.interrupts.map((item) => ({
        interrupt_id: item.id,
        node: item.node,
        value: item.value,
      }))
      : [];
  const data: z.infer<typeof RunResponse> = {
    thread_id: run.threadId,
    status: run.status,
    interrupts: pending.map((item) => item.value),
    pending_interrupts: pending,
    checkpoint_id: run.checkpointId,
    values: run.state as z.infer<typeof RunResponse>["values"],
    idempotency_key: extras.idempotencyKey,
    idempotent_replay: extras.replay,
    trace: extras.trace,
  };
  if (run.status === "failed") data.error = "error" in run ? run.error : null;
  return data;
}

/**
 * One job of a listing.
 *
 * @param summary The run's summary.
 * @returns The job.
 */
export function jobSummary(summary: RunSummary): z.infer<typeof JobSummary> {
  return {
    thread_id: summary.threadId,
    status: summary.status,
    graph: summary.graph,
    version: summary.version,
    created_at: iso(summary.createdAt),
    updated_at: iso(summary.updatedAt),
    tenant_id: summary.tenantId,
    priority: summary.priority,
  };
}

/**
 * A job: status, state and latest checkpoint.
 *
 * @param run The run now.
 * @returns The job.
 */
export function jobView(run: RunSnapshot): z.infer<typeof Job> {
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

/**
 * One checkpoint of a job's history.
 *
 * @param record The checkpoint.
 * @returns Its wire shape.
 */
export function checkpointView(record: CheckpointRecord): z.infer<typeof Checkpoint> {
  return {
    checkpoint_id: record.checkpointId,
    parent_checkpoint_id: record.parentCheckpointId,
    step: record.step,
    version: record.version,
    created_at: iso(record.createdAt),
  };
}

/**
 * The node of a journal task path (`<step>:<node>[#<send>][~<attempt>]`).
 *
 * @param path The task path.
 * @returns The node's name.
 */
export function nodeOfTaskPath(path: string): string {
  return path.replace(/^\d+:/, "").replace(/~\d+$/, "").replace(/#\d+$/, "");
}

/** The task id and attempt of a journal task path (`<task id>[~<attempt>]`). */
function taskOfTaskPath(path: string): { taskId: string; attempt: number } {
  const match = /^(.*)~(\d+)$/.exec(path);
  return match === null
    ? { taskId: path, attempt: 1 }
    : { taskId: match[1]!, attempt: Number(match[2]) };
}

/**
 * One line of a run's timeline: its real event log.
 *
 * @param item A stored event.
 * @returns The line: seq, event type and time, and what the event names.
 */
export function timelineEntry(item: StoredEvent): z.infer<typeof TimelineEntry> {
  const event: RunEvent = item.event;
  const entry: z.infer<typeof TimelineEntry> = {
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

/**
 * A stored event on the wire (the event stream and the timeline export): as
 * stored, except that `effect.recorded` names its task as `interrupt.raised`
 * and the tasks of `step.committed` do: `taskId` (e.g. `3:act`) and `node`
 * (the node's name, `act`), plus the task's `attempt`, where the stored
 * event has the journal's task path (`3:act`, `3:act~2` for a retry) in
 * `node`. Mapped here rather than in the kernel's event, so that events
 * already stored keep decoding as they are.
 *
 * @param item A stored event.
 * @returns Its wire form.
 */
export function wireEvent(item: StoredEvent): z.infer<typeof JobExport>["events"][number] {
  const event: RunEvent = item.event;
  if (event.type !== "effect.recorded") {
    // A RunEvent is one of the kernel's event interfaces; on the wire it is an object with its type.
    return item as unknown as z.infer<typeof JobExport>["events"][number];
  }
  const { node: path, ...rest } = event;
  const { taskId, attempt } = taskOfTaskPath(path);
  const { index, name, ok, ...head } = rest;
  return {
    seq: item.seq,
    event: { ...head, taskId, node: nodeOfTaskPath(path), attempt, index, name, ok },
  };
}

/**
 * The events of a timeline export, in their wire form ({@linkcode wireEvent}).
 *
 * @param log The run's events.
 * @returns The events (their fields depend on their type).
 */
export function storedEvents(log: readonly StoredEvent[]): z.infer<typeof JobExport>["events"] {
  return log.map(wireEvent);
}

/**
 * One interrupt of the index.
 *
 * @param row The row.
 * @returns Its wire shape (`run_id` repeats `thread_id`, as in the original contract).
 */
export function interruptView(row: InterruptRow): z.infer<typeof Interrupt> {
  return {
    interrupt_id: row.interruptId,
    thread_id: row.threadId,
    run_id: row.threadId,
    node: row.node,
    step: row.step,
    value: row.value,
    status: row.status,
    resume_value: row.resumeValue,
    created_at: iso(row.createdAt),
    resolved_at: isoOrNull(row.resolvedAt),
  };
}

/**
 * One audit log entry.
 *
 * @param record The record.
 * @returns Its wire shape.
 */
export function auditView(record: AuditRecord): z.infer<typeof AuditLog> {
  return {
    audit_id: record.auditId,
    actor_type: record.actorType,
    actor_id: record.actorId,
    actor_role: record.actorRole,
    action: record.action,
    resource_type: record.resourceType,
    resource_id: record.resourceId,
    result: record.result,
    request_id: record.requestId,
    details: record.details,
    created_at: iso(record.createdAt),
  };
}

/**
 * A stored API key as `GET /v1/keys` lists it: never its secret, nor its hash.
 *
 * @param record The stored key.
 * @returns The key's wire shape.
 */
export function apiKeyView(record: ApiKeyRecord): z.infer<typeof ApiKey> {
  return {
    key_id: record.keyId,
    role: record.role,
    status: record.status,
    created_at: iso(record.createdAt),
    updated_at: iso(record.updatedAt),
    revoked_at: record.status === "disabled" ? iso(record.updatedAt) : null,
  };
}
