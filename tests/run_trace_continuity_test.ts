/**
 * Guarantee: a run keeps the trace it was created in, wherever it executes.
 * The `traceparent` of the creating call is kept in `run.created`; an
 * execution no caller waits on (a runtime that claims a queued run, a
 * takeover, a remote worker) starts its `oris.run` span in that trace, with
 * the lease's fencing token; the worker plane's dispatch is a span of the
 * run's trace carrying the attempt and lease ids, the poll answers the run's
 * `traceparent`, and a worker's heartbeat and ack sent with it continue it.
 * Spans are recorded by a small tracer provider (`_tracing.ts`, no SDK).
 */

import assert from "node:assert/strict";
import { defineState, END, START, type ThreadId } from "../kernel/mod.ts";
import { createRuntime, StateGraph } from "../preset.ts";
import { contextOfTraceparent } from "../actors/mod.ts";
import type { Runtime } from "../actors/runtime_api.ts";
import { MemoryStore } from "../storage/memory/mod.ts";
import { createServer } from "../server/mod.ts";
import { createWorker } from "../worker/mod.ts";
import { collectingLogger } from "./_helpers.ts";
import { assertOk, createQueuedRun, serverTest } from "./_server.ts";
import { provider, withRecorder } from "./_tracing.ts";

const TRACE_ID = "0123456789abcdef0123456789abcdef";
const PARENT = "1111111111111111";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT}-01`;
const WORKER_TRACEPARENT = "00-abcdefabcdefabcdefabcdefabcdef01-2222222222222222-01";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

function twoSteps(runtime: Runtime): void {
  new StateGraph(State)
    .addNode("a", () => ({ log: ["a"] }))
    .addNode("b", () => ({ log: ["b"] }))
    .addEdge(START, "a").addEdge("a", "b").addEdge("b", END)
    .compile({ runtime, name: "g" });
}

Deno.test("a run created in a trace and executed by another runtime's claim continues that trace, with the lease's fencing token", async () => {
  await withRecorder(async () => {
    const store = new MemoryStore();
    const logger = collectingLogger().logger;
    await using front = createRuntime({ store, ownerId: "front", execution: "none", logger });
    twoSteps(front);
    const queued = await front.start("g", {}, {
      threadId: "traced-1",
      parentContext: contextOfTraceparent(TRACEPARENT)!,
    });
    assert.equal(queued.status, "queued");
    assert.equal(queued.traceparent, TRACEPARENT, "run.created keeps the creator's trace");
    const created = (await store.readEvents("traced-1" as ThreadId, 1, { limit: 1 }))[0]!.event;
    assert.equal(created.type === "run.created" && created.traceparent, TRACEPARENT);

    provider.spans = [];
    await using back = createRuntime({ store, ownerId: "back", pollIntervalMs: 20, logger });
    twoSteps(back);
    assert.deepEqual((await back.recover()).recovered, ["traced-1"]);
    assert.equal((await front.wait("traced-1")).status, "completed");

    const runs = provider.spans.filter((span) => span.name === "oris.run" && span.ended);
    const taken = runs.find((span) => span.attributes["oris.taken_up"] === 1);
    assert.ok(taken !== undefined, `no taken-up oris.run among ${JSON.stringify(runs)}`);
    assert.equal(taken.traceId, TRACE_ID);
    assert.equal(taken.parentSpanId, PARENT);
    assert.equal(taken.attributes["oris.thread_id"], "traced-1");
    assert.equal(taken.attributes["oris.status"], "completed");
    assert.equal(typeof taken.attributes["oris.fencing_token"], "number");
    const steps = provider.spans.filter((span) =>
      span.name === "oris.step" && span.parentSpanId === taken.spanId
    );
    assert.equal(steps.length, 2, "both steps are children of the taken-up run span");
  });
});

serverTest(
  "worker plane: the dispatch is a span of the run's trace with the attempt and lease ids; poll answers the run's traceparent; heartbeat and ack sent with it continue the run's trace",
  (h) =>
    withRecorder(async () => {
      await createQueuedRun(h.store, "traced-w", { traceparent: TRACEPARENT });
      provider.spans = [];
      const polled = assertOk(
        await h.request("POST", "/v1/workers/poll", {
          body: { worker_id: "w-1", graphs: ["gate"] },
          headers: { traceparent: WORKER_TRACEPARENT },
        }),
      );
      assert.equal(polled.decision, "dispatched");
      // The poll itself belongs to the worker's own trace ...
      assert.equal(polled.trace.trace_id, WORKER_TRACEPARENT.slice(3, 35));
      // ... and answers the run's.
      assert.equal(polled.run.traceparent, TRACEPARENT);
      const dispatch = provider.spans.filter((span) => span.name === "oris.worker.dispatch");
      assert.equal(dispatch.length, 1);
      assert.equal(dispatch[0]!.traceId, TRACE_ID);
      assert.equal(dispatch[0]!.parentSpanId, PARENT);
      assert.deepEqual(
        [
          dispatch[0]!.attributes["oris.thread_id"],
          dispatch[0]!.attributes["oris.worker_id"],
          dispatch[0]!.attributes["oris.attempt_id"],
          dispatch[0]!.attributes["oris.lease_id"],
        ],
        ["traced-w", "w-1", polled.attempt_id, polled.lease_id],
      );

      const headers = { traceparent: polled.run.traceparent };
      const beat = assertOk(
        await h.request("POST", "/v1/workers/w-1/heartbeat", {
          body: { lease_id: polled.lease_id },
          headers,
        }),
      );
      const acked = assertOk(
        await h.request("POST", "/v1/workers/w-1/ack", {
          body: { attempt_id: polled.attempt_id, terminal_status: "cancelled" },
          headers,
        }),
      );
      for (const data of [beat, acked]) {
        assert.equal(data.trace.trace_id, TRACE_ID);
        const request = provider.spans.find((span) => span.spanId === data.trace.span_id);
        assert.equal(request?.parentSpanId, PARENT, "the request span is a child of the run's");
      }
    }),
);

Deno.test("a remote worker executes a run in the trace it was created in: its oris.run span, report-step and ack all join that trace", async () => {
  await withRecorder(async () => {
    const logger = collectingLogger().logger;
    const graph = (runtime?: Runtime) => {
      const built = new StateGraph(State)
        .addNode("a", () => ({ log: ["a"] }))
        .addNode("b", () => ({ log: ["b"] }))
        .addEdge(START, "a").addEdge("a", "b").addEdge("b", END);
      return runtime === undefined ? built.compile() : built.compile({ runtime, name: "g" });
    };
    await using runtime = createRuntime({ store: new MemoryStore(), execution: "none", logger });
    graph(runtime);
    const server = await createServer({ runtime, logger });
    const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, server.app.fetch);
    const sent: { path: string; traceparent: string | null }[] = [];
    const worker = createWorker({
      server: `http://127.0.0.1:${http.addr.port}`,
      graphs: { g: graph() },
      workerId: "w-traced",
      pollIntervalMs: 20,
      maxPollIntervalMs: 50,
      logger,
      fetch: (input, init) => {
        const path = new URL(String(input)).pathname;
        sent.push({ path, traceparent: new Headers(init?.headers).get("traceparent") });
        return fetch(input, init);
      },
    });
    try {
      const created = await fetch(`http://127.0.0.1:${http.addr.port}/v1/jobs`, {
        method: "POST",
        headers: { traceparent: TRACEPARENT, "content-type": "application/json" },
        body: JSON.stringify({ thread_id: "traced-remote", graph: "g", input: {} }),
      });
      assert.ok(created.ok, await created.clone().text());
      const creator = (await created.json()).data.trace.span_id;
      assert.equal((await runtime.wait("traced-remote")).status, "completed");
      await worker.stop();

      for (const op of ["/report-step", "/ack"]) {
        const requests = sent.filter((request) => request.path.endsWith(op));
        assert.ok(requests.length > 0, `no ${op} request`);
        for (const request of requests) {
          assert.equal(request.traceparent?.slice(3, 35), TRACE_ID, `${op} in the run's trace`);
        }
      }
      const run = provider.spans.find((span) =>
        span.name === "oris.run" && span.attributes["oris.taken_up"] === 1 &&
        span.attributes["oris.thread_id"] === "traced-remote"
      );
      assert.ok(run !== undefined, "the worker traced its execution");
      assert.equal(run.traceId, TRACE_ID);
      assert.equal(run.parentSpanId, creator, "a child of the request that created the run");
      assert.equal(run.attributes["oris.status"], "completed");
    } finally {
      await worker.stop();
      await http.shutdown();
      await server.close();
    }
  });
});
