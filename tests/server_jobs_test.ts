/**
 * `/v1/jobs` over HTTP (`app.request()`, no network), on memory, Deno KV and
 * PostgreSQL: every endpoint, its envelope and its errors.
 *
 * - run (`POST /v1/jobs/run` and `POST /v1/jobs`): `hello` with a string,
 *   `approval` with an object (interrupted, with pending interrupt ids);
 *   `?wait=false` and a `wait_ms` bound return the current status of a run
 *   whose node is blocked on a promise the test controls;
 * - list (status filter, default limit 50, max 200, offset paging; cursor
 *   paging in server_paging_test.ts), get,
 *   detail, history, timeline (the real event log), export, checkpoints;
 * - resume (value, checkpoint mismatch, not interrupted), replay (report, and
 *   a nondeterministic node as a 409 naming step, node and both values),
 *   cancel (aborts a running node; persisted across a restart), timeouts;
 * - the SSE stream (ids are seqs, event names are event types,
 *   `Last-Event-ID`, live events until the run comes to rest, `end`);
 * - idempotency: replays run nothing (node executions are counted), another
 *   payload is a 409, concurrent duplicates make one run, and interrupt
 *   resume is idempotent per value.
 *
 * Nothing waits on time: blocked nodes end only when the test releases them
 * or the run's signal aborts, and no assertion is on a duration.
 */

import assert from "node:assert/strict";
import {
  type ApiResponse,
  assertError,
  assertOk,
  type Body,
  type Harness,
  serverTest,
} from "./_server.ts";
import { parseSse, type SseEvent, sseReader } from "./_sse.ts";

// ---------------------------------------------------------------------------
// Helpers

function run(h: Harness, body: Record<string, unknown>, query = ""): Promise<ApiResponse> {
  return h.request("POST", `/v1/jobs/run${query}`, { body });
}

/** Waits until a run comes to rest, through the API: its stream ends when it does. */
async function settle(h: Harness, threadId: string): Promise<Body> {
  const response = await h.server.app.request(`/v1/jobs/${threadId}/stream`);
  assert.equal(response.status, 200);
  const events = parseSse(await response.text());
  const end = events.at(-1)!;
  assert.equal(end.event, "end");
  return JSON.parse(end.data);
}

/** Asserts the stream's events are the store's log from `fromSeq`, then `end`. */
async function assertStreamIsLog(
  h: Harness,
  threadId: string,
  events: SseEvent[],
  fromSeq: number,
  status: string,
): Promise<void> {
  const log = (await h.events(threadId)).filter((item) => item.seq >= fromSeq);
  assert.ok(log.length > 0);
  const body = events.slice(0, -1);
  assert.deepEqual(body.map((event) => event.id), log.map((item) => String(item.seq)));
  assert.deepEqual(body.map((event) => event.event), log.map((item) => item.event.type));
  assert.deepEqual(
    body.map((event) => JSON.parse(event.data)),
    JSON.parse(JSON.stringify(log)),
  );
  const end = events.at(-1)!;
  assert.equal(end.event, "end");
  assert.equal(end.id, undefined);
  assert.deepEqual(JSON.parse(end.data), {
    thread_id: threadId,
    status,
    seq: log.at(-1)!.seq,
  });
}

const APPROVAL_TYPES = [
  "run.created",
  "run.started",
  "step.committed",
  "interrupt.raised",
  "run.resumed",
  "step.committed",
  "effect.recorded",
  "step.committed",
  "run.completed",
];

/** Runs `approval` to its interrupt and returns the run response's data. */
async function approvalToInterrupt(h: Harness, threadId: string, request = "deploy v2") {
  const data = assertOk(
    await run(h, { thread_id: threadId, graph: "approval", input: { request } }),
  );
  assert.equal(data.status, "interrupted");
  return data;
}

// ---------------------------------------------------------------------------
// Run

serverTest("POST /v1/jobs/run runs hello with a string input in the v1 envelope", async (h) => {
  const response = await h.request("POST", "/v1/jobs/run", {
    body: { thread_id: "hello-1", input: "hi" },
    headers: { "x-request-id": "req-1:a_b.c" },
  });
  const data = assertOk(response);
  assert.equal(response.body.request_id, "req-1:a_b.c", "a valid x-request-id is echoed");
  assert.match(response.headers.get("content-type")!, /application\/json/);
  assert.deepEqual(Object.keys(data).sort(), [
    "checkpoint_id",
    "idempotency_key",
    "idempotent_replay",
    "interrupts",
    "pending_interrupts",
    "status",
    "thread_id",
    "trace",
    "values",
  ]);
  assert.equal(data.thread_id, "hello-1");
  assert.equal(data.status, "completed");
  assert.deepEqual(data.interrupts, []);
  assert.deepEqual(data.pending_interrupts, []);
  assert.match(data.checkpoint_id, /^cp_/);
  assert.equal(data.idempotency_key, null);
  assert.equal(data.idempotent_replay, false);
  assert.match(data.trace.trace_id, /^[0-9a-f]{32}$/);
  assert.match(data.trace.span_id, /^[0-9a-f]{16}$/);
  assert.equal(data.trace.traceparent, `00-${data.trace.trace_id}-${data.trace.span_id}-01`);

  // The default graph is hello; the run is readable.
  const job = assertOk(await h.request("GET", "/v1/jobs/hello-1"));
  assert.equal(job.graph, "hello");
  assert.equal(job.status, "completed");
  assert.equal(job.checkpoint_id, data.checkpoint_id);
  assert.deepEqual(
    job.values.messages.map((m: Body) => [m.type, m.content]),
    [["human", "hi"], ["ai", "hello world"]],
  );
  assert.deepEqual(job.next, []);
  assert.deepEqual(data.values, job.values, "the run response carries the final values");

  // An invalid x-request-id is replaced by a generated one.
  const replaced = await h.request("GET", "/v1/jobs/hello-1", {
    headers: { "x-request-id": "no spaces allowed" },
  });
  assertOk(replaced);
  assert.notEqual(replaced.body.request_id, "no spaces allowed");
  assert.match(replaced.body.request_id, /^[A-Za-z0-9\-_.:]{1,128}$/);

  // The same thread with the same input is the same run; another input is a 409.
  const again = assertOk(await run(h, { thread_id: "hello-1", input: "hi" }));
  assert.equal(again.status, "completed");
  assert.equal(again.checkpoint_id, data.checkpoint_id);
  const events = await h.events("hello-1");
  const conflict = assertError(
    await run(h, { thread_id: "hello-1", input: "something else" }),
    409,
    "conflict",
  );
  assert.match(conflict.message, /hello-1/);
  assert.deepEqual(await h.events("hello-1"), events, "the conflicting request wrote nothing");
  assert.deepEqual((await h.allRuns()).map((r) => r.threadId), ["hello-1"]);
});

serverTest(
  "POST /v1/jobs runs approval with an object input and reports its pending interrupts",
  async (h) => {
    const data = assertOk(
      await h.request("POST", "/v1/jobs", {
        body: { thread_id: "approve-1", graph: "approval", input: { request: "deploy v2" } },
      }),
    );
    assert.equal(data.thread_id, "approve-1");
    assert.equal(data.status, "interrupted");
    const question = {
      question: "Approve this action?",
      action: { kind: "execute", request: "deploy v2" },
    };
    assert.deepEqual(data.interrupts, [question]);
    assert.equal(data.pending_interrupts.length, 1);
    const pending = data.pending_interrupts[0];
    assert.match(pending.interrupt_id, /^in_[0-9a-f]+$/);
    assert.equal(pending.node, "approve");
    assert.deepEqual(pending.value, question);

    // The interrupt is indexed under the same id.
    const interrupt = assertOk(await h.request("GET", `/v1/interrupts/${pending.interrupt_id}`));
    assert.equal(interrupt.thread_id, "approve-1");
    assert.equal(interrupt.status, "pending");

    // detail: status, attempts, latest checkpoint, pending interrupt, values.
    const detail = assertOk(await h.request("GET", "/v1/jobs/approve-1/detail"));
    assert.equal(detail.thread_id, "approve-1");
    assert.equal(detail.graph, "approval");
    assert.equal(detail.status, "interrupted");
    assert.equal(detail.checkpoint_id, data.checkpoint_id);
    const log = await h.events("approve-1");
    const started = log.filter((item) => item.event.type === "run.started");
    assert.equal(started.length, 1);
    assert.deepEqual(
      detail.attempts.map((a: Body) => [a.attempt_id, a.seq]),
      started.map((item) => [(item.event as { attemptId: string }).attemptId, item.seq]),
    );
    assert.equal(detail.pending_interrupt.interrupt_id, pending.interrupt_id);
    assert.equal(detail.pending_interrupt.node, "approve");
    assert.deepEqual(detail.pending_interrupt.value, question);
    assert.deepEqual(detail.pending_interrupts, [detail.pending_interrupt]);
    assert.deepEqual(detail.values, {
      request: "deploy v2",
      action: { kind: "execute", request: "deploy v2" },
      approved: null,
      result: null,
      log: ["prepared"],
    });
    assert.deepEqual(detail.next, ["approve"]);
    assert.equal(detail.error, null);
    assert.equal(detail.history.length, 1);
    assert.equal(detail.history[0].checkpoint_id, data.checkpoint_id);
  },
);

serverTest("POST /v1/jobs/run?wait=false returns at once with queued or running", async (h) => {
  const gate = h.block("nowait-1");
  const data = assertOk(await run(h, { thread_id: "nowait-1", graph: "gate" }, "?wait=false"));
  assert.equal(data.thread_id, "nowait-1");
  assert.ok(["queued", "running"].includes(data.status), `got ${data.status}`);
  assert.deepEqual(data.interrupts, []);
  await gate.entered;
  const job = assertOk(await h.request("GET", "/v1/jobs/nowait-1"));
  assert.equal(job.status, "running");
  gate.release();
  const end = await settle(h, "nowait-1");
  assert.equal(end.status, "completed");
  const done = assertOk(await h.request("GET", "/v1/jobs/nowait-1"));
  assert.equal(done.status, "completed");
  assert.deepEqual(done.values, { log: ["worked"] });
  assert.equal(h.calls("nowait-1"), 1);

  // wait=true is the default and explicit `wait=true` waits too.
  const waited = assertOk(await run(h, { thread_id: "wait-1", graph: "gate" }, "?wait=true"));
  assert.equal(waited.status, "completed");
});

serverTest("POST /v1/jobs/run returns the current status when wait_ms passes", async (h) => {
  const gate = h.block("bound-1");
  const data = assertOk(await run(h, { thread_id: "bound-1", graph: "gate", wait_ms: 0 }));
  assert.ok(["queued", "running"].includes(data.status), `got ${data.status}`);
  assert.equal(data.checkpoint_id, null);
  await gate.entered;
  // The run goes on after the response: a second bounded call sees it running.
  const still = assertOk(await run(h, { thread_id: "bound-1", graph: "gate", wait_ms: 0 }));
  assert.equal(still.status, "running");
  gate.release();
  // The same request without a bound waits for the end (and runs nothing again).
  const done = assertOk(await run(h, { thread_id: "bound-1", graph: "gate" }));
  assert.equal(done.status, "completed");
  assert.equal(h.calls("bound-1"), 1);
});

// ---------------------------------------------------------------------------
// List

serverTest("GET /v1/jobs filters by status and pages with limit and offset", async (h) => {
  const hello = Array.from({ length: 51 }, (_, i) => `list-${String(i).padStart(2, "0")}`);
  for (const threadId of hello) {
    assert.equal(assertOk(await run(h, { thread_id: threadId, input: "hi" })).status, "completed");
  }
  await approvalToInterrupt(h, "list-approval-1");
  await approvalToInterrupt(h, "list-approval-2");
  const all = [...hello, "list-approval-1", "list-approval-2"].sort();

  // Default limit 50.
  const first = assertOk(await h.request("GET", "/v1/jobs"));
  assert.equal(first.limit, 50);
  assert.equal(first.offset, 0);
  assert.equal(first.jobs.length, 50);
  assert.equal(first.next_offset, 50);
  assert.deepEqual(Object.keys(first.jobs[0]).sort(), [
    "created_at",
    "graph",
    "priority",
    "status",
    "tenant_id",
    "thread_id",
    "updated_at",
    "version",
  ]);
  const created = first.jobs.map((job: Body) => Date.parse(job.created_at));
  assert.deepEqual(created, [...created].sort((a, b) => b - a), "newest first");

  // Max 200 returns everything.
  const max = assertOk(await h.request("GET", "/v1/jobs?limit=200"));
  assert.equal(max.limit, 200);
  assert.equal(max.next_offset, null);
  assert.deepEqual(max.jobs.map((job: Body) => job.thread_id).sort(), all);

  // Offset paging: every run exactly once.
  const seen: string[] = [];
  let offset: number | null = 0;
  let pages = 0;
  while (offset !== null) {
    const page = assertOk(await h.request("GET", `/v1/jobs?limit=7&offset=${offset}`));
    assert.equal(page.offset, offset);
    assert.ok(page.jobs.length <= 7);
    seen.push(...page.jobs.map((job: Body) => job.thread_id));
    offset = page.next_offset;
    pages++;
  }
  assert.equal(pages, Math.ceil(all.length / 7));
  assert.equal(new Set(seen).size, seen.length, "no duplicates across pages");
  assert.deepEqual([...seen].sort(), all);
  const past = assertOk(await h.request("GET", "/v1/jobs?offset=1000"));
  assert.deepEqual(past.jobs, []);
  assert.equal(past.next_offset, null);

  // Status filter.
  const interrupted = assertOk(await h.request("GET", "/v1/jobs?status=interrupted"));
  assert.deepEqual(
    interrupted.jobs.map((job: Body) => job.thread_id).sort(),
    ["list-approval-1", "list-approval-2"],
  );
  assert.ok(interrupted.jobs.every((job: Body) => job.status === "interrupted"));
  assert.equal(interrupted.jobs[0].graph, "approval");
  const completed = assertOk(await h.request("GET", "/v1/jobs?status=completed&limit=200"));
  assert.deepEqual(completed.jobs.map((job: Body) => job.thread_id).sort(), hello);
  const failed = assertOk(await h.request("GET", "/v1/jobs?status=failed"));
  assert.deepEqual(failed.jobs, []);
  assertError(await h.request("GET", "/v1/jobs?status=sleeping"), 400, "invalid_argument");
});

// ---------------------------------------------------------------------------
// Resume, history, timeline, export, checkpoints

serverTest(
  "POST /v1/jobs/:thread_id/resume answers the interrupt; a stale checkpoint or a run at rest is a 409",
  async (h) => {
    const first = await approvalToInterrupt(h, "resume-1");
    const before = await h.events("resume-1");

    // A checkpoint that is not the latest: 409, nothing written.
    const stale = assertError(
      await h.request("POST", "/v1/jobs/resume-1/resume", {
        body: { value: true, checkpoint_id: "cp_00000000000000000000000000" },
      }),
      409,
      "conflict",
    );
    assert.equal(stale.details.checkpoint_id, "cp_00000000000000000000000000");
    assert.equal(stale.details.latest, first.checkpoint_id);
    assert.deepEqual(await h.events("resume-1"), before);

    // The latest checkpoint: resumes.
    const done = assertOk(
      await h.request("POST", "/v1/jobs/resume-1/resume", {
        body: { value: true, checkpoint_id: first.checkpoint_id },
      }),
    );
    assert.equal(done.thread_id, "resume-1");
    assert.equal(done.status, "completed");
    assert.deepEqual(done.interrupts, []);
    assert.deepEqual(done.pending_interrupts, []);
    assert.equal(done.idempotent_replay, false);
    const job = assertOk(await h.request("GET", "/v1/jobs/resume-1"));
    assert.deepEqual(job.values.result, { performed: { kind: "execute", request: "deploy v2" } });
    assert.deepEqual(job.values.log, ["prepared", "approved", "performed"]);
    const effects = await h.store.listEffects("resume-1" as never);
    assert.deepEqual(effects.map((effect) => effect.name), ["perform_action"]);

    // Not interrupted any more: the same answer again is a repeat (its
    // response), another one a 409; nothing written.
    const after = await h.events("resume-1");
    assert.deepEqual(
      assertOk(await h.request("POST", "/v1/jobs/resume-1/resume", { body: { value: true } })),
      done,
    );
    const conflict = assertError(
      await h.request("POST", "/v1/jobs/resume-1/resume", { body: { value: false } }),
      409,
      "conflict",
    );
    assert.match(conflict.message, /already resumed with another value/);
    assert.equal(conflict.details.thread_id, "resume-1");
    assert.deepEqual(await h.events("resume-1"), after);

    // A run that was never interrupted has no answer to repeat: 409.
    assertOk(
      await h.request("POST", "/v1/jobs/run", { body: { thread_id: "resume-0", input: "hi" } }),
    );
    const never = assertError(
      await h.request("POST", "/v1/jobs/resume-0/resume", { body: { value: true } }),
      409,
      "conflict",
    );
    assert.match(never.message, /not interrupted/);
    assert.equal(never.details.status, "completed");

    // A rejection takes the other branch.
    await approvalToInterrupt(h, "resume-2");
    const rejected = assertOk(
      await h.request("POST", "/v1/jobs/resume-2/resume", { body: { value: false } }),
    );
    assert.equal(rejected.status, "completed");
    const job2 = assertOk(await h.request("GET", "/v1/jobs/resume-2"));
    assert.deepEqual(job2.values.result, { rejected: true });
    assert.deepEqual(await h.store.listEffects("resume-2" as never), []);
  },
);

serverTest(
  "GET history, timeline, timeline/export and checkpoints show the run's real log",
  async (h) => {
    const interrupted = await approvalToInterrupt(h, "log-1");
    assertOk(await h.request("POST", "/v1/jobs/log-1/resume", { body: { value: true } }));
    const log = await h.events("log-1");

    // Timeline: the event log, seq by seq.
    const timeline = assertOk(await h.request("GET", "/v1/jobs/log-1/timeline"));
    assert.equal(timeline.thread_id, "log-1");
    assert.deepEqual(
      timeline.timeline.map((entry: Body) => entry.seq),
      log.map((_, i) => i + 1),
    );
    assert.deepEqual(timeline.timeline.map((entry: Body) => entry.event_type), APPROVAL_TYPES);
    assert.deepEqual(
      timeline.timeline.map((entry: Body) => entry.at),
      log.map((item) => new Date(item.event.at).toISOString()),
    );
    const committed = timeline.timeline.filter((e: Body) => e.event_type === "step.committed");
    assert.deepEqual(committed.map((e: Body) => e.nodes), [["prepare"], ["approve"], ["act"]]);
    assert.deepEqual(committed.map((e: Body) => e.step), [1, 2, 3]);
    const raised = timeline.timeline.find((e: Body) => e.event_type === "interrupt.raised");
    assert.deepEqual(raised.interrupt_ids, [interrupted.pending_interrupts[0].interrupt_id]);
    assert.deepEqual(raised.nodes, ["approve"]);
    const resumed = timeline.timeline.find((e: Body) => e.event_type === "run.resumed");
    assert.deepEqual(resumed.interrupt_ids, raised.interrupt_ids);
    const effect = timeline.timeline.find((e: Body) => e.event_type === "effect.recorded");
    // The effect's `node` is its task path (`<step>:<node>`), as the event records it.
    assert.equal(effect.node, "act");
    assert.equal(effect.task_path, "3:act");
    assert.equal(effect.step, 3);
    assert.equal(effect.effect, "perform_action");
    assert.equal(effect.ok, true);

    // History: the checkpoints, newest first.
    const history = assertOk(await h.request("GET", "/v1/jobs/log-1/history"));
    assert.equal(history.thread_id, "log-1");
    assert.deepEqual(
      history.history.map((c: Body) => c.checkpoint_id),
      committed.map((e: Body) => e.checkpoint_id).reverse(),
    );
    assert.deepEqual(history.history.map((c: Body) => c.step), [3, 2, 1]);
    assert.equal(history.history[2].parent_checkpoint_id, null);
    assert.equal(history.history[0].parent_checkpoint_id, history.history[1].checkpoint_id);
    const one = assertOk(await h.request("GET", "/v1/jobs/log-1/history?limit=1"));
    assert.deepEqual(one.history, [history.history[0]]);

    // Export: status, checkpoints, timeline and the raw events.
    const exported = assertOk(await h.request("GET", "/v1/jobs/log-1/timeline/export"));
    assert.equal(exported.thread_id, "log-1");
    assert.equal(exported.graph, "approval");
    assert.equal(exported.status, "completed");
    assert.ok(!Number.isNaN(Date.parse(exported.exported_at)));
    assert.deepEqual(exported.history, history.history);
    assert.deepEqual(exported.timeline, timeline.timeline);
    // The raw events, in their wire form: `effect.recorded` names its task as
    // `interrupt.raised` does (`taskId` + `node`), where the store has the task path in `node`.
    const wire = JSON.parse(JSON.stringify(log)).map((item: Body) =>
      item.event.type === "effect.recorded"
        ? { ...item, event: { ...item.event, taskId: "3:act", node: "act", attempt: 1 } }
        : item
    );
    assert.equal(log.filter((item) => item.event.type === "effect.recorded").length, 1);
    assert.deepEqual(exported.events, wire);

    // Checkpoints: the values at each one.
    const [third, second, firstCp] = history.history;
    const atFirst = assertOk(
      await h.request("GET", `/v1/jobs/log-1/checkpoints/${firstCp.checkpoint_id}`),
    );
    assert.equal(atFirst.thread_id, "log-1");
    assert.equal(atFirst.checkpoint_id, firstCp.checkpoint_id);
    assert.equal(atFirst.step, 1);
    assert.equal(atFirst.parent_checkpoint_id, null);
    assert.deepEqual(atFirst.values, {
      request: "deploy v2",
      action: { kind: "execute", request: "deploy v2" },
      approved: null,
      result: null,
      log: ["prepared"],
    });
    assert.deepEqual(atFirst.next, ["approve"]);
    const atSecond = assertOk(
      await h.request("GET", `/v1/jobs/log-1/checkpoints/${second.checkpoint_id}`),
    );
    assert.equal(atSecond.values.approved, true);
    assert.deepEqual(atSecond.values.log, ["prepared", "approved"]);
    assert.equal(atSecond.values.result, null);
    assert.deepEqual(atSecond.next, ["act"]);
    const atThird = assertOk(
      await h.request("GET", `/v1/jobs/log-1/checkpoints/${third.checkpoint_id}`),
    );
    const job = assertOk(await h.request("GET", "/v1/jobs/log-1"));
    assert.deepEqual(atThird.values, job.values);
    assert.deepEqual(atThird.next, []);

    // An unknown checkpoint, or a checkpoint of another run: 404.
    const unknown = assertError(
      await h.request("GET", "/v1/jobs/log-1/checkpoints/cp_00000000000000000000000000"),
      404,
      "not_found",
    );
    assert.equal(unknown.details.thread_id, "log-1");
    await approvalToInterrupt(h, "log-2");
    assertError(
      await h.request("GET", `/v1/jobs/log-2/checkpoints/${third.checkpoint_id}`),
      404,
      "not_found",
    );
  },
);

serverTest("every /v1/jobs/:thread_id endpoint answers 404 for an unknown thread", async (h) => {
  const cases: [string, string, unknown?][] = [
    ["GET", "/v1/jobs/ghost"],
    ["GET", "/v1/jobs/ghost/detail"],
    ["GET", "/v1/jobs/ghost/history"],
    ["GET", "/v1/jobs/ghost/timeline"],
    ["GET", "/v1/jobs/ghost/timeline/export"],
    ["GET", "/v1/jobs/ghost/checkpoints/cp_00000000000000000000000000"],
    ["GET", "/v1/jobs/ghost/stream"],
    ["POST", "/v1/jobs/ghost/resume", { value: true }],
    ["POST", "/v1/jobs/ghost/replay", {}],
    ["POST", "/v1/jobs/ghost/cancel", {}],
  ];
  for (const [method, path, body] of cases) {
    const error = assertError(await h.request(method, path, { body }), 404, "not_found");
    // The missing resource is named (replay names it `id`, the others `thread_id`).
    assert.equal(
      error.details.thread_id ?? error.details.id,
      "ghost",
      `${method} ${path}: ${JSON.stringify(error)}`,
    );
  }
  assert.deepEqual(await h.allRuns(), [], "nothing was created");
});

// ---------------------------------------------------------------------------
// Replay

serverTest("POST /v1/jobs/:thread_id/replay verifies a run and writes nothing", async (h) => {
  const interrupted = await approvalToInterrupt(h, "replay-1");
  assertOk(await h.request("POST", "/v1/jobs/replay-1/resume", { body: { value: true } }));
  const log = await h.events("replay-1");
  const report = assertOk(await h.request("POST", "/v1/jobs/replay-1/replay", { body: {} }));
  assert.equal(report.thread_id, "replay-1");
  assert.equal(report.ok, true);
  assert.equal(report.steps, 3);
  assert.equal(report.from_checkpoint_id, null);
  assert.match(report.trace.trace_id, /^[0-9a-f]{32}$/);
  // Also with no body at all, and from a checkpoint.
  const empty = assertOk(await h.request("POST", "/v1/jobs/replay-1/replay"));
  assert.equal(empty.ok, true);
  const from = assertOk(
    await h.request("POST", "/v1/jobs/replay-1/replay", {
      body: { checkpoint_id: interrupted.checkpoint_id },
    }),
  );
  assert.equal(from.from_checkpoint_id, interrupted.checkpoint_id);
  assert.equal(from.steps, 2);
  assertError(
    await h.request("POST", "/v1/jobs/replay-1/replay", {
      body: { checkpoint_id: "cp_00000000000000000000000000" },
    }),
    404,
    "not_found",
  );
  assert.deepEqual(await h.events("replay-1"), log, "replay wrote nothing");
  assert.deepEqual(await h.store.listEffects("replay-1" as never).then((e) => e.length), 1);
});

serverTest(
  "POST /v1/jobs/:thread_id/replay of a nondeterministic node is a 409 naming step, node and both values",
  async (h) => {
    assertOk(await run(h, { thread_id: "dice-1", graph: "dice", input: {} }));
    const log = await h.events("dice-1");
    const recorded = log.find((item) =>
      item.event.type === "step.committed" && item.event.tasks[0]?.node === "roll"
    )!.event as { step: number; tasks: { update: unknown }[] };
    const error = assertError(
      await h.request("POST", "/v1/jobs/dice-1/replay", { body: {} }),
      409,
      "conflict",
    );
    assert.match(error.message, /step 2 in node "roll"/);
    assert.equal(error.details.thread_id, "dice-1");
    assert.equal(error.details.step, 2);
    assert.equal(recorded.step, 2);
    assert.equal(error.details.node, "roll");
    assert.equal(error.details.reason, "nondeterminism");
    assert.deepEqual(error.details.recorded, recorded.tasks[0]!.update);
    assert.equal(typeof error.details.replayed.roll, "number");
    assert.notEqual(error.details.replayed.roll, error.details.recorded.roll);
    assert.deepEqual(error.details.replayed.log, ["rolled"]);
    assert.deepEqual(await h.events("dice-1"), log, "replay wrote nothing");
  },
);

// ---------------------------------------------------------------------------
// Cancel and timeouts

serverTest(
  "POST /v1/jobs/:thread_id/cancel aborts a running node; the cancellation is persisted",
  async (h) => {
    const gate = h.block("cancel-1");
    const pending = run(h, { thread_id: "cancel-1", graph: "gate" });
    await gate.entered;
    const cancelled = assertOk(
      await h.request("POST", "/v1/jobs/cancel-1/cancel", { body: { reason: "user gave up" } }),
    );
    assert.equal(cancelled.thread_id, "cancel-1");
    assert.equal(cancelled.status, "cancelled");
    assert.equal(cancelled.reason, "user gave up");
    const reason = await gate.aborted;
    assert.match(String(reason), /user gave up/, "the node's signal aborted with the reason");
    const waited = assertOk(await pending);
    assert.equal(waited.status, "cancelled");
    const detail = assertOk(await h.request("GET", "/v1/jobs/cancel-1/detail"));
    assert.equal(detail.status, "cancelled");
    assert.equal(detail.reason, "user gave up");
    assert.deepEqual(detail.values, { log: [] }, "the aborted step wrote nothing");
    assert.equal(h.calls("cancel-1"), 1);

    // Persisted: after a restart, run and resume on the thread are 409s.
    await h.reopen();
    const log = await h.events("cancel-1");
    assert.equal(assertOk(await h.request("GET", "/v1/jobs/cancel-1")).status, "cancelled");
    const again = assertError(
      await run(h, { thread_id: "cancel-1", graph: "gate" }),
      409,
      "conflict",
    );
    assert.equal(again.message, "thread 'cancel-1' is cancelled");
    assert.deepEqual(again.details, { thread_id: "cancel-1" });
    const resumed = assertError(
      await h.request("POST", "/v1/jobs/cancel-1/resume", { body: { value: true } }),
      409,
      "conflict",
    );
    assert.equal(resumed.message, "thread 'cancel-1' is cancelled");
    assert.deepEqual(await h.events("cancel-1"), log, "nothing was written");
    assert.equal(h.calls("cancel-1"), 1, "nothing ran again");

    // Cancelling again is a 409 too (a cancelled run cannot be cancelled).
    assertError(await h.request("POST", "/v1/jobs/cancel-1/cancel", { body: {} }), 409, "conflict");
  },
);

serverTest(
  "POST /v1/jobs/:thread_id/cancel of an interrupted run cancels its interrupt; a completed run is a 409",
  async (h) => {
    const data = await approvalToInterrupt(h, "cancel-2");
    const interruptId = data.pending_interrupts[0].interrupt_id;
    const cancelled = assertOk(await h.request("POST", "/v1/jobs/cancel-2/cancel"));
    assert.equal(cancelled.status, "cancelled");
    assert.equal(cancelled.reason, null);
    const interrupt = assertOk(await h.request("GET", `/v1/interrupts/${interruptId}`));
    assert.equal(interrupt.status, "cancelled");
    const error = assertError(
      await h.request("POST", "/v1/jobs/cancel-2/resume", { body: { value: true } }),
      409,
      "conflict",
    );
    assert.equal(error.message, "thread 'cancel-2' is cancelled");
    assertError(
      await h.request("POST", `/v1/interrupts/${interruptId}/resume`, { body: { value: true } }),
      409,
      "conflict",
    );
    assert.deepEqual(await h.store.listEffects("cancel-2" as never), [], "nothing was performed");

    assertOk(await run(h, { thread_id: "cancel-3", input: "hi" }));
    const log = await h.events("cancel-3");
    assertError(await h.request("POST", "/v1/jobs/cancel-3/cancel", { body: {} }), 409, "conflict");
    assert.deepEqual(await h.events("cancel-3"), log);
    assert.equal(assertOk(await h.request("GET", "/v1/jobs/cancel-3")).status, "completed");
  },
);

serverTest("timeout_policy ends a blocked run with on_timeout_status", async (h) => {
  for (const status of ["failed", "cancelled"] as const) {
    const threadId = `timeout-${status}`;
    // The node never finishes by itself: only the timeout ends the run (it
    // may fire before the node even starts, so only the final status counts).
    h.block(threadId);
    const data = assertOk(
      await run(h, {
        thread_id: threadId,
        graph: "gate",
        timeout_policy: { timeout_ms: 1, on_timeout_status: status },
      }),
    );
    assert.equal(data.status, status);
    const job = assertOk(await h.request("GET", `/v1/jobs/${threadId}/detail`));
    assert.equal(job.status, status);
    if (status === "failed") {
      assert.equal(data.error.code, "timeout");
      assert.equal(job.error.code, "timeout");
    }
  }
});

// ---------------------------------------------------------------------------
// Stream

serverTest(
  "GET /v1/jobs/:thread_id/stream sends the log as SSE (id = seq, event = type), resumable with Last-Event-ID",
  async (h) => {
    assertOk(await run(h, { thread_id: "sse-1", input: "hi" }));
    const response = await h.server.app.request("/v1/jobs/sse-1/stream");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
    assert.ok(response.headers.get("x-request-id"));
    await assertStreamIsLog(h, "sse-1", parseSse(await response.text()), 1, "completed");

    const resumed = await h.server.app.request("/v1/jobs/sse-1/stream", {
      headers: { "last-event-id": "2" },
    });
    const events = parseSse(await resumed.text());
    assert.equal(events[0]!.id, "3");
    await assertStreamIsLog(h, "sse-1", events, 3, "completed");

    const fromSeq = parseSse(
      await (await h.server.app.request("/v1/jobs/sse-1/stream?from_seq=4")).text(),
    );
    await assertStreamIsLog(h, "sse-1", fromSeq, 4, "completed");

    // Past the end: only `end`.
    const last = (await h.events("sse-1")).at(-1)!.seq;
    const nothing = parseSse(
      await (await h.server.app.request("/v1/jobs/sse-1/stream", {
        headers: { "last-event-id": String(last) },
      })).text(),
    );
    assert.deepEqual(nothing.map((event) => event.event), ["end"]);
    assert.deepEqual(JSON.parse(nothing[0]!.data), {
      thread_id: "sse-1",
      status: "completed",
      seq: last,
    });

    // An interrupted run is at rest: its stream ends too.
    await approvalToInterrupt(h, "sse-2");
    const interrupted = parseSse(
      await (await h.server.app.request("/v1/jobs/sse-2/stream")).text(),
    );
    await assertStreamIsLog(h, "sse-2", interrupted, 1, "interrupted");
  },
);

serverTest(
  "GET /v1/jobs/:thread_id/stream sends live events until the run comes to rest, then end",
  async (h) => {
    const gate = h.block("live-1");
    assertOk(await run(h, { thread_id: "live-1", graph: "gate" }, "?wait=false"));
    await gate.entered;
    const stored = (await h.events("live-1")).length;
    const response = await h.server.app.request("/v1/jobs/live-1/stream");
    assert.equal(response.status, 200);
    const reader = sseReader(response);
    const early = await reader.until(stored);
    assert.equal(early.length, stored, "the stored events arrive while the run is blocked");
    assert.ok(early.every((event) => event.event !== "end"));
    gate.release();
    const events = await reader.rest();
    await assertStreamIsLog(h, "live-1", events, 1, "completed");
    assert.ok(events.length > stored + 1, "live events followed the stored ones");
    assert.deepEqual(
      events.slice(stored, -1).map((event) => event.event),
      ["step.committed", "run.completed"],
    );
  },
);

// ---------------------------------------------------------------------------
// Idempotency

serverTest(
  "idempotency_key: the same payload replays the stored response and runs nothing; another payload is a 409",
  async (h) => {
    const body = { thread_id: "idem-1", graph: "gate", idempotency_key: "key-1", input: {} };
    const first = assertOk(await run(h, body));
    assert.equal(first.status, "completed");
    assert.equal(first.idempotency_key, "key-1");
    assert.equal(first.idempotent_replay, false);
    assert.equal(h.calls("idem-1"), 1);
    const log = await h.events("idem-1");

    const second = assertOk(await run(h, body));
    assert.deepEqual(second, { ...first, idempotent_replay: true });
    const third = assertOk(await h.request("POST", "/v1/jobs", { body }));
    assert.deepEqual(third, { ...first, idempotent_replay: true }, "the alias shares keys");
    assert.equal(h.calls("idem-1"), 1, "nothing ran again");
    assert.deepEqual(await h.events("idem-1"), log, "nothing was written");

    // The key is stored: a restarted server replays it too.
    await h.reopen();
    const afterRestart = assertOk(await run(h, body));
    assert.deepEqual(afterRestart, { ...first, idempotent_replay: true });
    assert.equal(h.calls("idem-1"), 1);

    // Another payload with the same key: 409, nothing created or run.
    const otherPayloads = [
      { ...body, input: { log: ["x"] } },
      { ...body, thread_id: "idem-2" },
      { ...body, priority: 5 },
      { ...body, graph: "hello", input: "hi" },
    ];
    for (const other of otherPayloads) {
      const error = assertError(await run(h, other), 409, "conflict");
      assert.deepEqual(error.details, { idempotency_key: "key-1", operation: "job.run" });
    }
    assert.deepEqual((await h.allRuns()).map((r) => r.threadId), ["idem-1"]);
    assert.equal(h.calls("idem-2"), 0);
    assert.deepEqual(await h.events("idem-1"), log);
  },
);

serverTest(
  "idempotency_key: concurrent duplicates make exactly one run and agree",
  async (h) => {
    const body = { thread_id: "race-1", graph: "gate", idempotency_key: "race-key" };
    const responses = await Promise.all(Array.from({ length: 5 }, () => run(h, body)));
    const data = responses.map(assertOk);
    assert.equal(h.calls("race-1"), 1, "the node ran once");
    for (const item of data) {
      assert.equal(item.thread_id, "race-1");
      assert.equal(item.status, "completed");
      assert.equal(item.checkpoint_id, data[0].checkpoint_id);
      assert.equal(item.idempotency_key, "race-key");
    }
    assert.equal(data.filter((item) => item.idempotent_replay === false).length, 1);
    const runs = await h.allRuns();
    assert.deepEqual(runs, [{ threadId: "race-1", status: "completed" }]);
    const started = (await h.events("race-1")).filter((e) => e.event.type === "run.started");
    assert.equal(started.length, 1);

    // Without a key, concurrent requests for one thread are one run too.
    const plain = await Promise.all(
      Array.from({ length: 5 }, () => run(h, { thread_id: "race-2", graph: "gate" })),
    );
    for (const response of plain) assert.equal(assertOk(response).status, "completed");
    assert.equal(h.calls("race-2"), 1);
  },
);

serverTest(
  "POST /v1/interrupts/:id/resume: the same value gets the identical response; another value is a 409",
  async (h) => {
    const data = await approvalToInterrupt(h, "iresume-1");
    const id = data.pending_interrupts[0].interrupt_id;
    const first = await h.request("POST", `/v1/interrupts/${id}/resume`, {
      body: { value: true },
    });
    const resumed = assertOk(first);
    assert.equal(resumed.thread_id, "iresume-1");
    assert.equal(resumed.status, "completed");
    const log = await h.events("iresume-1");

    const second = assertOk(
      await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: true } }),
    );
    assert.deepEqual(second, resumed);
    const error = assertError(
      await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: false } }),
      409,
      "conflict",
    );
    assert.equal(error.details.interrupt_id, id);
    assert.deepEqual(await h.events("iresume-1"), log, "nothing was written");
    const effects = await h.store.listEffects("iresume-1" as never);
    assert.equal(effects.length, 1, "the action was performed once");
    const row = assertOk(await h.request("GET", `/v1/interrupts/${id}`));
    assert.equal(row.status, "resumed");
    assert.equal(row.resume_value, true);
  },
);

serverTest(
  "POST /v1/jobs/run stores priority, tenant and timeout policy with the run",
  async (h) => {
    assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: {
          thread_id: "meta-1",
          input: "hi",
          priority: 7,
          tenant_id: "acme",
          timeout_policy: { timeout_ms: 60_000, on_timeout_status: "cancelled" },
        },
      }),
    );
    const detail = assertOk(await h.request("GET", "/v1/jobs/meta-1/detail"));
    assert.deepEqual(detail.metadata, {
      priority: 7,
      tenant_id: "acme",
      timeout_policy: { timeout_ms: 60_000, on_timeout_status: "cancelled" },
    });
    assertOk(
      await h.request("POST", "/v1/jobs/run", { body: { thread_id: "meta-2", input: "hi" } }),
    );
    const plain = assertOk(await h.request("GET", "/v1/jobs/meta-2/detail"));
    assert.deepEqual(plain.metadata, { priority: 0, tenant_id: null, timeout_policy: null });
  },
);
