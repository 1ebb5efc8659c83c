/**
 * Observability of the v1 API over HTTP (`app.request()`, no network), on
 * memory, Deno KV and PostgreSQL.
 *
 * - W3C trace context: a valid `traceparent` continues its trace (the
 *   response's `trace` names the request's own span), a higher version read
 *   by its first four fields; an invalid one never fails a request (health
 *   probes included): a new trace starts and the log notes it; without one,
 *   every request starts a new trace;
 * - spans: with a small recording tracer provider registered through
 *   `@opentelemetry/api` (no SDK), the request span is the child of the
 *   caller's span, `oris.run` is the child of the request span, and
 *   `oris.step` / `oris.node` spans carry their node and checkpoint;
 * - `GET /metrics`: Prometheus text with the run, step, queue, active-run
 *   and HTTP series, whose values move as jobs run;
 * - `GET /v1/openapi.json`: OpenAPI 3.1 with every route, whose request
 *   bodies are the JSON Schema of the same zod schemas that validate requests;
 * - `/healthz` and `/readyz` (503 `unavailable` with the envelope and
 *   `Retry-After` once the store is closed).
 */

import assert from "node:assert/strict";
import { SpanKind } from "@opentelemetry/api";
import type { z } from "zod";
import { openApiSchema } from "../server/openapi.ts";
import { createRuntime } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import {
  AckBody,
  AnswerMailBody,
  CancelJobBody,
  CreateKeyBody,
  DiffQuery,
  ForkJobBody,
  HeartbeatBody,
  HistoryQuery,
  ListAuditQuery,
  ListDlqQuery,
  ListInterruptsQuery,
  ListJobsQuery,
  ListKeysQuery,
  PauseJobBody,
  PollBody,
  RecordEffectBody,
  RejectInterruptBody,
  ReleaseBody,
  ReplayJobBody,
  ReportStepBody,
  ResumeInterruptBody,
  ResumeJobBody,
  RunJobBody,
  RunJobQuery,
  StreamJobQuery,
  TimelineQuery,
  UpdateStateBody,
  WorkerEffectsQuery,
  WorkerEventsQuery,
} from "../server/schemas.ts";
import { collectingLogger } from "./_helpers.ts";
import { provider, withRecorder } from "./_tracing.ts";
import {
  assertError,
  assertOk,
  type Body,
  compileBoom,
  type Harness,
  serverTest,
} from "./_server.ts";
import { freshLocation, openStoreAt } from "./_stores.ts";

// ---------------------------------------------------------------------------
// Helpers

const TRACE_ID = "0123456789abcdef0123456789abcdef";
const PARENT = "1111111111111111";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT}-01`;

function runJob(h: Harness, body: unknown, headers: Record<string, string> = {}) {
  return h.request("POST", "/v1/jobs/run", { body, headers });
}

function assertTraceBlock(block: Body): void {
  assert.deepEqual(Object.keys(block).sort(), ["span_id", "trace_id", "traceparent"]);
  assert.match(block.trace_id, /^[0-9a-f]{32}$/);
  assert.match(block.span_id, /^[0-9a-f]{16}$/);
  assert.notEqual(block.trace_id, "0".repeat(32));
  assert.notEqual(block.span_id, "0".repeat(16));
  assert.match(block.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  assert.ok(block.traceparent.startsWith(`00-${block.trace_id}-${block.span_id}-`));
}

/** Prometheus samples by series (`name{labels}`). */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    map.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return map;
}

async function scrape(h: Harness): Promise<{ text: string; values: Map<string, number> }> {
  const response = await h.server.app.request("/metrics");
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, values: samples(text) };
}

const METRICS: [string, string][] = [
  ["oris_steps_total", "counter"],
  ["oris_step_duration_ms", "histogram"],
  ["oris_run_status_changes_total", "counter"],
  ["oris_runtime_queue_depth", "gauge"],
  ["oris_active_runs", "gauge"],
  ["oris_http_requests_total", "counter"],
  ["oris_http_request_duration_ms", "histogram"],
  ["oris_runtime_lease_operations_total", "counter"],
  ["oris_runtime_lease_conflicts_total", "counter"],
  ["oris_runtime_backpressure_total", "counter"],
  ["oris_runtime_terminal_acks_total", "counter"],
  ["oris_runtime_dispatch_latency_ms", "histogram"],
  ["oris_runtime_recovery_latency_ms", "histogram"],
];

// ---------------------------------------------------------------------------
// Trace context

serverTest("a valid traceparent continues its trace in the response's trace block", async (h) => {
  const response = await runJob(h, { thread_id: "tp-1", input: "hi" }, {
    traceparent: TRACEPARENT,
  });
  const data = assertOk(response);
  assertTraceBlock(data.trace);
  assert.equal(data.trace.trace_id, TRACE_ID);
  assert.notEqual(data.trace.span_id, PARENT, "the request has its own span");
  assert.equal(data.trace.traceparent, `00-${TRACE_ID}-${data.trace.span_id}-01`);

  // Not sampled stays not sampled; other routes that answer with a trace continue it too.
  const other = "00-abcdefabcdefabcdefabcdefabcdef01-2222222222222222-00";
  const approval = assertOk(
    await runJob(h, { thread_id: "tp-2", graph: "approval", input: {} }, { traceparent: other }),
  );
  assert.equal(approval.trace.trace_id, "abcdefabcdefabcdefabcdefabcdef01");
  assert.equal(
    approval.trace.traceparent,
    `00-${approval.trace.trace_id}-${approval.trace.span_id}-00`,
  );
  const id = approval.pending_interrupts[0].interrupt_id;
  const rejected = assertOk(
    await h.request("POST", `/v1/interrupts/${id}/reject`, {
      body: {},
      headers: { traceparent: TRACEPARENT },
    }),
  );
  assert.equal(rejected.trace.trace_id, TRACE_ID);
  assert.notEqual(rejected.trace.span_id, PARENT);
  assert.notEqual(rejected.trace.span_id, data.trace.span_id);
});

serverTest("without a traceparent every request starts a fresh trace", async (h) => {
  const traces = [];
  for (let i = 0; i < 5; i++) {
    const data = assertOk(await runJob(h, { thread_id: `fresh-${i}`, input: "hi" }));
    assertTraceBlock(data.trace);
    assert.ok(data.trace.traceparent.endsWith("-01"));
    traces.push(data.trace);
  }
  assert.equal(new Set(traces.map((t) => t.trace_id)).size, 5);
  assert.equal(new Set(traces.map((t) => t.span_id)).size, 5);
});

const traceLog = collectingLogger();

serverTest(
  "an invalid traceparent never fails a request: a new trace starts and the log notes it",
  async (h) => {
    const invalid = [
      "00-invalid",
      "invalid",
      "",
      `00-${"0".repeat(32)}-${PARENT}-01`,
      `00-${TRACE_ID}-${"0".repeat(16)}-01`,
      `00-${TRACE_ID.slice(1)}-${PARENT}-01`,
      `00-${TRACE_ID}0-${PARENT}-01`,
      `00-${TRACE_ID}-${PARENT.slice(1)}-01`,
      `00-${TRACE_ID}-${PARENT}1-01`,
      `00-${TRACE_ID}-${PARENT}-1`,
      `00-${TRACE_ID}-${PARENT}-001`,
      `00-0123456789ABCDEF0123456789ABCDEF-${PARENT}-01`,
      `00-${TRACE_ID}-AAAAAAAAAAAAAAAA-01`,
      `00-${TRACE_ID}-${PARENT}-0G`,
      `0-${TRACE_ID}-${PARENT}-01`,
      `00_${TRACE_ID}_${PARENT}_01`,
      // Version 00 has exactly four fields.
      `00-${TRACE_ID}-${PARENT}-01-extra`,
      `${TRACE_ID}-${PARENT}-01`,
      // Version ff is invalid; a higher version's extra fields follow a "-".
      `ff-${TRACE_ID}-${PARENT}-01`,
      `01-${TRACE_ID}-${PARENT}-01x`,
      `cc-${TRACE_ID}-${PARENT}-01.extra`,
      // Two headers arrive joined by a comma.
      `${TRACEPARENT}, 00-${TRACE_ID}-2222222222222222-01`,
    ];
    const seen = new Set<string>();
    for (const [i, traceparent] of invalid.entries()) {
      const requestId = `tp-bad-${h.kind}-${i}`;
      const data = assertOk(
        await runJob(h, { thread_id: `tp-bad-${i}`, input: "hi" }, {
          traceparent,
          "x-request-id": requestId,
        }),
      );
      assert.equal(data.status, "completed", traceparent);
      assertTraceBlock(data.trace);
      assert.notEqual(data.trace.trace_id, TRACE_ID, `a new trace for ${traceparent}`);
      seen.add(data.trace.trace_id);
      const noted = traceLog.entries.filter((entry) => entry.fields.request_id === requestId);
      assert.equal(noted.length, 1, traceparent);
      assert.equal(noted[0]!.level, "info");
      assert.match(noted[0]!.message, /invalid traceparent ignored/);
      assert.equal(noted[0]!.fields.traceparent, traceparent);
      assert.equal(noted[0]!.fields.trace_id, data.trace.trace_id);
      assert.equal(typeof noted[0]!.fields.reason, "string");
      // Health probes, lists and control actions are never refused for it.
      for (const path of ["/healthz", "/readyz", "/v1/jobs", `/v1/jobs/tp-bad-${i}`]) {
        const response = await h.request("GET", path, { headers: { traceparent } });
        assert.equal(response.status, 200, `${path} with ${traceparent}: ${response.text}`);
      }
    }
    assert.equal(seen.size, invalid.length, "each request started its own trace");
    const seeded = assertOk(await runJob(h, { thread_id: "tp-seed", graph: "approval" }));
    const resumed = assertOk(
      await h.request(
        "POST",
        `/v1/interrupts/${seeded.pending_interrupts[0].interrupt_id}/resume`,
        {
          body: { value: true },
          headers: { traceparent: invalid[0]! },
        },
      ),
    );
    assert.equal(resumed.status, "completed");
    assertTraceBlock(resumed.trace);
  },
  { logger: traceLog.logger },
);

serverTest(
  "a traceparent of a higher version is read by its first four fields, extra fields ignored",
  async (h) => {
    for (
      const [i, [traceparent, sampled]] of ([
        [`01-${TRACE_ID}-${PARENT}-01`, "01"],
        [`cc-${TRACE_ID}-${PARENT}-00-what-the-future-holds`, "00"],
        [`fe-${TRACE_ID}-${PARENT}-09-`, "01"],
      ] as const).entries()
    ) {
      const data = assertOk(
        await runJob(h, { thread_id: `tp-v-${i}`, input: "hi" }, { traceparent }),
      );
      assertTraceBlock(data.trace);
      assert.equal(data.trace.trace_id, TRACE_ID, traceparent);
      assert.notEqual(data.trace.span_id, PARENT);
      // The server speaks version 00.
      assert.equal(data.trace.traceparent, `00-${TRACE_ID}-${data.trace.span_id}-${sampled}`);
    }
  },
);

// ---------------------------------------------------------------------------
// Spans

serverTest(
  "spans: the caller's span parents the request span, which parents oris.run, oris.step and oris.node",
  (h) =>
    withRecorder(async () => {
      const data = assertOk(
        await runJob(h, { thread_id: "span-1", graph: "approval", input: { request: "x" } }, {
          traceparent: TRACEPARENT,
        }),
      );
      assert.equal(data.status, "interrupted");
      const interruptId = data.pending_interrupts[0].interrupt_id;

      const request = provider.spans.filter((span) => span.spanId === data.trace.span_id);
      assert.equal(request.length, 1, "the response names the recorded request span");
      assert.equal(request[0]!.name, "POST /v1/jobs/run");
      assert.equal(request[0]!.kind, SpanKind.SERVER);
      assert.equal(request[0]!.traceId, TRACE_ID);
      assert.equal(request[0]!.parentSpanId, PARENT);
      assert.equal(request[0]!.ended, true);

      const runs = provider.spans.filter((span) => span.name === "oris.run");
      assert.equal(runs.length, 1);
      const run = runs[0]!;
      assert.equal(run.parentSpanId, data.trace.span_id, "oris.run is a child of the request");
      assert.equal(run.traceId, TRACE_ID);
      assert.equal(run.attributes["oris.thread_id"], "span-1");
      assert.equal(run.attributes["oris.status"], "interrupted");
      assert.equal(run.ended, true);

      const steps = provider.spans.filter((span) => span.name === "oris.step");
      assert.deepEqual(steps.map((span) => span.parentSpanId), steps.map(() => run.spanId));
      assert.ok(steps.every((span) => span.traceId === TRACE_ID && span.ended));
      assert.ok(steps.every((span) => span.attributes["oris.thread_id"] === "span-1"));
      const history = assertOk(await h.request("GET", "/v1/jobs/span-1/history")).history;
      assert.equal(history.length, 1);
      assert.deepEqual(
        steps.map((span) => [span.attributes["oris.step"], span.attributes["oris.checkpoint_id"]]),
        [[1, history[0].checkpoint_id], [2, undefined]],
      );
      assert.equal(steps[1]!.attributes["oris.interrupted"], 1);

      const nodes = provider.spans.filter((span) => span.name === "oris.node");
      assert.deepEqual(nodes.map((span) => span.attributes["oris.node"]), ["prepare", "approve"]);
      assert.deepEqual(nodes.map((span) => span.parentSpanId), steps.map((span) => span.spanId));
      assert.ok(nodes.every((span) => span.traceId === TRACE_ID && span.ended));
      assert.equal(nodes[1]!.attributes["oris.interrupt_id"], interruptId);

      // The resume's spans belong to the resume request's trace.
      provider.spans = [];
      const resumeParent = "00-fedcba9876543210fedcba9876543210-2222222222222222-01";
      const resumed = assertOk(
        await h.request("POST", `/v1/interrupts/${interruptId}/resume`, {
          body: { value: true },
          headers: { traceparent: resumeParent },
        }),
      );
      assert.equal(resumed.status, "completed");
      assert.equal(resumed.trace.trace_id, "fedcba9876543210fedcba9876543210");
      const request2 = provider.spans.find((span) => span.spanId === resumed.trace.span_id)!;
      assert.equal(request2.name, "POST /v1/interrupts/:interrupt_id/resume");
      assert.equal(request2.parentSpanId, "2222222222222222");
      const run2 = provider.spans.filter((span) => span.name === "oris.run");
      assert.equal(run2.length, 1);
      assert.equal(run2[0]!.parentSpanId, resumed.trace.span_id);
      assert.equal(run2[0]!.attributes["oris.thread_id"], "span-1");
      assert.equal(run2[0]!.attributes["oris.status"], "completed");
      assert.equal(run2[0]!.attributes["oris.checkpoint_id"], resumed.checkpoint_id);
      const steps2 = provider.spans.filter((span) => span.name === "oris.step");
      const full = assertOk(await h.request("GET", "/v1/jobs/span-1/history")).history;
      assert.deepEqual(
        steps2.map((span) => [
          span.parentSpanId,
          span.attributes["oris.step"],
          span.attributes["oris.checkpoint_id"],
        ]),
        [
          [run2[0]!.spanId, 2, full[1].checkpoint_id],
          [run2[0]!.spanId, 3, full[0].checkpoint_id],
        ],
      );
      const nodes2 = provider.spans.filter((span) => span.name === "oris.node");
      assert.deepEqual(nodes2.map((span) => span.attributes["oris.node"]), ["approve", "act"]);
      assert.deepEqual(nodes2.map((span) => span.parentSpanId), steps2.map((span) => span.spanId));
      assert.ok(
        provider.spans
          .filter((span) => !span.name.startsWith("GET "))
          .every((span) => span.traceId === "fedcba9876543210fedcba9876543210"),
      );

      // Without a traceparent the request span is a root, still parenting the run.
      provider.spans = [];
      const fresh = assertOk(await runJob(h, { thread_id: "span-2", input: "hi" }));
      const root = provider.spans.find((span) => span.spanId === fresh.trace.span_id)!;
      assert.equal(root.parentSpanId, null);
      assert.equal(root.traceId, fresh.trace.trace_id);
      const run3 = provider.spans.find((span) => span.name === "oris.run")!;
      assert.equal(run3.parentSpanId, root.spanId);
      const node3 = provider.spans.find((span) => span.name === "oris.node")!;
      assert.equal(node3.attributes["oris.node"], "mock_llm");
      const step3 = provider.spans.find((span) => span.name === "oris.step")!;
      assert.equal(step3.attributes["oris.checkpoint_id"], fresh.checkpoint_id);
    }),
);

// ---------------------------------------------------------------------------
// Metrics

serverTest("GET /metrics is Prometheus text whose values move as jobs run", async (h) => {
  compileBoom(h.runtime);

  const before = await scrape(h);
  for (const [name, type] of METRICS) {
    assert.match(before.text, new RegExp(`^# HELP ${name} \\S`, "m"), name);
    assert.match(before.text, new RegExp(`^# TYPE ${name} ${type}$`, "m"), name);
  }
  // No worker has done anything: the worker plane's labelled counters have no series yet.
  assert.doesNotMatch(
    before.text,
    /^oris_runtime_(lease_operations_total|backpressure_total|terminal_acks_total)\{/m,
  );
  assert.equal(before.values.get("oris_runtime_lease_conflicts_total"), 0);
  assert.equal(before.values.get("oris_runtime_queue_depth"), 0);
  assert.equal(before.values.get("oris_active_runs"), 0);
  assert.equal(before.values.get('oris_step_duration_ms_bucket{le="+Inf"}'), 0);
  assert.equal(before.values.get("oris_step_duration_ms_count"), 0);
  assert.equal(before.values.get('oris_steps_total{outcome="committed"}'), undefined);

  // hello: one step; approval: prepare, an interrupt, then approve and act.
  assertOk(await runJob(h, { thread_id: "m-1", input: "hi" }));
  const approval = assertOk(await runJob(h, { thread_id: "m-2", graph: "approval", input: {} }));
  assertOk(
    await h.request(
      "POST",
      `/v1/interrupts/${approval.pending_interrupts[0].interrupt_id}/resume`,
      {
        body: { value: true },
      },
    ),
  );
  const failed = assertOk(await runJob(h, { thread_id: "m-3", graph: "boom" }));
  assert.equal(failed.status, "failed");
  assertError(await runJob(h, { thread_id: "bad id" }), 400, "invalid_argument");

  const after = await scrape(h);
  const v = after.values;
  assert.equal(v.get('oris_steps_total{outcome="committed"}'), 4);
  assert.equal(v.get('oris_steps_total{outcome="interrupted"}'), 1);
  assert.equal(v.get('oris_steps_total{outcome="failed"}'), 1);
  assert.equal(v.get("oris_step_duration_ms_count"), 6);
  assert.equal(v.get('oris_step_duration_ms_bucket{le="+Inf"}'), 6);
  assert.ok(v.get("oris_step_duration_ms_sum")! >= 0);
  const buckets = [...v.entries()].filter(([key]) =>
    key.startsWith("oris_step_duration_ms_bucket")
  );
  assert.ok(buckets.length > 1);
  const counts = buckets.map(([, value]) => value);
  assert.deepEqual(counts, [...counts].sort((a, b) => a - b), "buckets are cumulative");
  // Status changes: m-1 and m-2 start, m-2 interrupts and resumes, m-3 fails.
  assert.equal(v.get('oris_run_status_changes_total{status="running"}'), 4);
  assert.equal(v.get('oris_run_status_changes_total{status="interrupted"}'), 1);
  assert.equal(v.get('oris_run_status_changes_total{status="completed"}'), 2);
  assert.equal(v.get('oris_run_status_changes_total{status="failed"}'), 1);
  assert.equal(
    v.get('oris_http_requests_total{method="POST",route="/v1/jobs/run",status="200"}'),
    3,
  );
  assert.equal(
    v.get('oris_http_requests_total{method="POST",route="/v1/jobs/run",status="400"}'),
    1,
  );
  assert.equal(
    v.get(
      'oris_http_requests_total{method="POST",route="/v1/interrupts/:interrupt_id/resume",status="200"}',
    ),
    1,
  );
  assert.equal(v.get('oris_http_requests_total{method="GET",route="/metrics",status="200"}'), 1);
  assert.equal(v.get('oris_http_request_duration_ms_count{route="/v1/jobs/run"}'), 4);
  assert.equal(v.get("oris_runtime_queue_depth"), 0);

  // A run blocked in its node is an active run.
  const blocked = h.block("m-5");
  assertOk(
    await h.request("POST", "/v1/jobs/run?wait=false", {
      body: { thread_id: "m-5", graph: "gate" },
    }),
  );
  await blocked.entered;
  const during = await scrape(h);
  assert.equal(during.values.get("oris_active_runs"), 1);
  assert.equal(during.values.get("oris_runtime_queue_depth"), 0);
  blocked.release();
  const settled = assertOk(await runJob(h, { thread_id: "m-5", graph: "gate" }));
  assert.equal(settled.status, "completed");
  const end = await scrape(h);
  assert.equal(
    end.values.get('oris_http_requests_total{method="GET",route="/metrics",status="200"}'),
    3,
  );
  assert.equal(end.values.get('oris_steps_total{outcome="committed"}'), 5);
});

// ---------------------------------------------------------------------------
// OpenAPI

const BODIES: Record<string, z.ZodType> = {
  "POST /v1/jobs/run": RunJobBody,
  "POST /v1/jobs": RunJobBody,
  "POST /v1/jobs/:thread_id/resume": ResumeJobBody,
  "POST /v1/jobs/:thread_id/replay": ReplayJobBody,
  "POST /v1/jobs/:thread_id/cancel": CancelJobBody,
  "POST /v1/jobs/:thread_id/fork": ForkJobBody,
  "POST /v1/jobs/:thread_id/state": UpdateStateBody,
  "POST /v1/jobs/:thread_id/pause": PauseJobBody,
  "POST /v1/interrupts/:interrupt_id/resume": ResumeInterruptBody,
  "POST /v1/interrupts/:interrupt_id/reject": RejectInterruptBody,
  "POST /v1/keys": CreateKeyBody,
  "POST /v1/workers/poll": PollBody,
  "POST /v1/workers/:worker_id/heartbeat": HeartbeatBody,
  "POST /v1/workers/:worker_id/extend-lease": HeartbeatBody,
  "POST /v1/workers/:worker_id/report-step": ReportStepBody,
  "POST /v1/workers/:worker_id/ack": AckBody,
  "POST /v1/workers/:worker_id/release": ReleaseBody,
  "POST /v1/workers/:worker_id/runs/:thread_id/effects": RecordEffectBody,
  "POST /v1/workers/:worker_id/runs/:thread_id/mail/:seq/answer": AnswerMailBody,
};

const QUERIES: Record<string, z.ZodType> = {
  "POST /v1/jobs/run": RunJobQuery,
  "POST /v1/jobs": RunJobQuery,
  "GET /v1/jobs": ListJobsQuery,
  "GET /v1/jobs/:thread_id/history": HistoryQuery,
  "GET /v1/jobs/:thread_id/stream": StreamJobQuery,
  "GET /v1/interrupts": ListInterruptsQuery,
  "GET /v1/audit/logs": ListAuditQuery,
  "GET /v1/keys": ListKeysQuery,
  "GET /v1/jobs/:thread_id/timeline": TimelineQuery,
  "GET /v1/dlq": ListDlqQuery,
  "GET /v1/jobs/:thread_id/diff": DiffQuery,
  "GET /v1/workers/:worker_id/runs/:thread_id/events": WorkerEventsQuery,
  "GET /v1/workers/:worker_id/runs/:thread_id/effects": WorkerEffectsQuery,
};

/** The JSON Schema of a request schema, as the document embeds it. */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  return openApiSchema(schema).schema;
}

serverTest(
  "GET /v1/openapi.json is OpenAPI 3.1 with every route, generated from the validating zod schemas",
  async (h) => {
    const response = await h.server.app.request("/v1/openapi.json");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /application\/json/);
    assert.ok(response.headers.get("x-request-id"));
    const doc = await response.json();
    assert.equal(doc.openapi, "3.1.0");
    // Every $ref resolves inside the document.
    const refs: string[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (value !== null && typeof value === "object") {
        for (const [key, item] of Object.entries(value)) {
          if (key === "$ref" && typeof item === "string") refs.push(item);
          else walk(item);
        }
      }
    };
    walk(doc);
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.match(ref, /^#\/components\/schemas\//, ref);
      assert.ok(doc.components.schemas[ref.split("/").pop()!] !== undefined, ref);
    }
    assert.equal(typeof doc.info.title, "string");
    assert.equal(typeof doc.info.version, "string");

    const routes = h.server.routes;
    assert.ok(routes.length >= 20, `${routes.length} routes`);
    const operations = new Set<string>();
    for (const route of routes) {
      const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
      const operation = doc.paths[path]?.[route.method.toLowerCase()];
      const key = `${route.method} ${route.path}`;
      assert.ok(operation !== undefined, `${key} is in the document`);
      operations.add(`${route.method.toLowerCase()} ${path}`);
      assert.equal(operation.summary, route.summary, key);
      assert.equal(operation["x-oris-audit-action"], route.audit?.action, key);
      assert.ok(operation.responses["200"], key);
      assert.ok(operation.responses["400"], key);
      const isPublic = ["/healthz", "/readyz", "/metrics"].includes(route.path);
      assert.equal(operation.security === undefined, isPublic, key);
      assert.equal(operation.responses["401"] === undefined, isPublic, key);

      // Path parameters.
      const params = [...route.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]);
      const inPath = operation.parameters.filter((p: Body) => p.in === "path");
      assert.deepEqual(inPath.map((p: Body) => p.name), params, key);
      assert.ok(inPath.every((p: Body) => p.required === true), key);

      // Query parameters: the query schema's properties.
      const inQuery = operation.parameters.filter((p: Body) => p.in === "query");
      const query = QUERIES[key];
      if (query === undefined) {
        assert.deepEqual(inQuery, [], key);
      } else {
        const schema = jsonSchema(query) as {
          properties: Record<string, unknown>;
          required?: string[];
        };
        assert.deepEqual(
          inQuery,
          Object.entries(schema.properties).map(([name, property]) => ({
            name,
            in: "query",
            required: schema.required?.includes(name) ?? false,
            schema: property,
          })),
          key,
        );
      }

      // Request bodies: the JSON Schema of the zod schema that validates them.
      const body = BODIES[key];
      if (body === undefined) {
        assert.equal(operation.requestBody, undefined, key);
      } else {
        // The run body adds the registered graphs' inputs (`oneOf`, see server_openapi_test.ts).
        const { oneOf: _graphs, ...schema } = operation.requestBody.content["application/json"]
          .schema;
        assert.deepEqual(schema, jsonSchema(body), key);
      }
    }
    // Nothing else is documented, and every body-taking route is covered.
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods as object).map((method) => `${method} ${path}`)
    );
    assert.deepEqual(documented.sort(), [...operations].sort());
    for (const key of Object.keys(BODIES)) {
      assert.ok(routes.some((route) => `${route.method} ${route.path}` === key), key);
    }
    for (const key of ["POST /v1/jobs/run", "GET /v1/interrupts", "GET /v1/audit/logs"]) {
      assert.ok(routes.some((route) => `${route.method} ${route.path}` === key), key);
    }

    // The document's limits are the ones requests are held to.
    const run = doc.paths["/v1/jobs/run"].post.requestBody.content["application/json"].schema;
    assert.equal(run.properties.thread_id.maxLength, 128);
    assert.equal(run.properties.thread_id.minLength, 1);
    assert.deepEqual(run.required, ["thread_id"]);
    assert.equal(run.additionalProperties, false);
    assert.equal(run.properties.priority.maximum, 100);
    const longest = "t".repeat(128);
    assert.equal(assertOk(await runJob(h, { thread_id: longest, input: "hi" })).thread_id, longest);
    const tooLong = assertError(
      await runJob(h, { thread_id: "t".repeat(129), input: "hi" }),
      400,
      "invalid_argument",
    );
    assert.equal(tooLong.details.field, "thread_id");
    assertError(await runJob(h, { thread_id: "", input: "hi" }), 400, "invalid_argument");
    assertError(
      await runJob(h, { thread_id: "p-1", input: "hi", priority: 101 }),
      400,
      "invalid_argument",
    );
    assertOk(await runJob(h, { thread_id: "p-2", input: "hi", priority: 100 }));
    assertError(
      await runJob(h, { thread_id: "p-3", input: "hi", surprise: 1 }),
      400,
      "invalid_argument",
    );
    assert.deepEqual(
      (await h.allRuns()).map((r) => r.threadId).sort(),
      ["p-2", longest].sort(),
      "refused requests created nothing",
    );
    const reject = doc.paths["/v1/interrupts/{interrupt_id}/reject"].post.requestBody
      .content["application/json"].schema;
    assert.equal(reject.properties.reason.maxLength, 1000);
    const limit = doc.paths["/v1/interrupts"].get.parameters.find((p: Body) => p.name === "limit");
    assert.equal(limit.required, false);
  },
);

// ---------------------------------------------------------------------------
// Health

serverTest(
  "/healthz is 200; /readyz is 200, and 503 with the envelope once the store is closed",
  async (h) => {
    assert.deepEqual(assertOk(await h.request("GET", "/healthz")), { status: "ok" });
    assert.deepEqual(assertOk(await h.request("GET", "/readyz")), { status: "ready" });
    const { location, cleanup } = await freshLocation(h.kind);
    try {
      const store = await openStoreAt(location);
      const runtime = createRuntime({ store });
      registerExamples(runtime);
      const server = await createServer({ runtime });
      try {
        const request = async (path: string) => {
          const response = await server.app.request(path, {
            headers: { "x-request-id": "ready-1" },
          });
          const text = await response.text();
          return {
            status: response.status,
            headers: response.headers,
            body: JSON.parse(text),
            text,
          };
        };
        assert.deepEqual(assertOk(await request("/readyz")), { status: "ready" });
        await store.close();
        const down = await request("/readyz");
        const error = assertError(down, 503, "unavailable");
        assert.equal(down.headers.get("retry-after"), "1");
        assert.equal(down.body.request_id, "ready-1");
        assert.equal(typeof error.details.cause, "string");
        assert.match(error.message, /store/);
        // Liveness does not depend on the store.
        assert.deepEqual(assertOk(await request("/healthz")), { status: "ok" });
      } finally {
        await server.close();
        await runtime.close().catch(() => {});
        await store.close();
      }
    } finally {
      await cleanup();
    }
    // The shared server is unaffected.
    assert.deepEqual(assertOk(await h.request("GET", "/readyz")), { status: "ready" });
  },
);
