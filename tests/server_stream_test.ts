/**
 * `GET /v1/jobs/:thread_id/stream`, on memory, Deno KV and PostgreSQL:
 *
 * - `Last-Event-ID` and `?from_seq` share one validator: a value that is not
 *   a seq (beyond the bigint range, not a number, empty, 0) is a 400
 *   envelope, never a stream (it was an empty 200 and a stack trace on
 *   PostgreSQL);
 * - the `end` event reports the run's last seq, not the client's cursor;
 * - `?follow=true` stays open across an interrupt (sending keep-alive
 *   comments) and ends once the run is terminal, also when another server
 *   over the same store resumed it;
 * - a store failure before the stream opens is a 500 envelope, after it an
 *   `error` event; both are logged through the server's logger, never the
 *   console;
 * - on the wire `effect.recorded` names its task as `interrupt.raised` does
 *   (`taskId` + `node`, and `attempt`), while the store keeps events as they
 *   were written.
 *
 * Nothing waits on time: keep-alives come every few ms and the tests wait
 * for them as events.
 */

import assert from "node:assert/strict";
import { createRuntime, defineState, END, MemoryStore, START, StateGraph } from "../mod.ts";
import type { ReadEventsOptions, StoredEvent, ThreadId } from "../kernel/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { createServer } from "../server/mod.ts";
import { collectingLogger } from "./_helpers.ts";
import { assertError, assertOk, type Body, type Harness, serverTest } from "./_server.ts";
import { parseSse, type SseEvent, sseReader } from "./_sse.ts";

// ---------------------------------------------------------------------------
// Helpers

async function approval(h: Harness, threadId: string): Promise<Body> {
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: threadId, graph: "approval", input: { request: "deploy" } },
    }),
  );
  assert.equal(data.status, "interrupted");
  return data;
}

function stream(h: Harness, path: string, headers: Record<string, string> = {}) {
  return h.server.app.request(path, { headers });
}

/** Asserts the events are the store's log from `fromSeq`, each once, in order, then `end`. */
async function assertWholeLog(
  h: Harness,
  threadId: string,
  events: SseEvent[],
  status: string,
  fromSeq = 1,
): Promise<void> {
  const log = (await h.events(threadId)).filter((item) => item.seq >= fromSeq);
  const body = events.slice(0, -1);
  assert.deepEqual(body.map((event) => event.id), log.map((item) => String(item.seq)));
  assert.deepEqual(body.map((event) => event.event), log.map((item) => item.event.type));
  const end = events.at(-1)!;
  assert.equal(end.event, "end");
  assert.deepEqual(JSON.parse(end.data), { thread_id: threadId, status, seq: log.at(-1)!.seq });
}

const NOT_A_SEQ = [
  "99999999999999999999999",
  "9223372036854775808",
  "9223372036854775807",
  "9007199254740992",
  "18446744073709551616",
  "-1",
  "0",
  "",
  "abc",
  "1.5",
  "1e3",
  "0x10",
  "+1",
];

// ---------------------------------------------------------------------------
// Cursors

serverTest(
  "Last-Event-ID is validated like from_seq: one that is not a seq is a 400 envelope, not a stream",
  async (h) => {
    assertOk(await h.request("POST", "/v1/jobs/run", { body: { thread_id: "c-1", input: "hi" } }));
    const log = await h.events("c-1");
    for (const value of NOT_A_SEQ) {
      const header = assertError(
        await h.request("GET", "/v1/jobs/c-1/stream", { headers: { "last-event-id": value } }),
        400,
        "invalid_argument",
      );
      assert.equal(header.details.field, "Last-Event-ID", value);
      const query = assertError(
        await h.request("GET", `/v1/jobs/c-1/stream?from_seq=${encodeURIComponent(value)}`),
        400,
        "invalid_argument",
      );
      assert.equal(query.details.field, "from_seq", value);
      // One validator: the same rule in both messages.
      const rule = `must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER}`;
      assert.equal(header.message, `Invalid header: Last-Event-ID ${rule}`, value);
      assert.equal(query.message, `Invalid query: from_seq ${rule}`, value);
    }
    assert.deepEqual(await h.events("c-1"), log);

    // The largest seq is valid: nothing after it, then end.
    for (const headers of [{ "last-event-id": String(Number.MAX_SAFE_INTEGER) }, {}]) {
      const path = `/v1/jobs/c-1/stream${
        "last-event-id" in headers ? "" : `?from_seq=${Number.MAX_SAFE_INTEGER}`
      }`;
      const response = await stream(h, path, headers);
      assert.equal(response.status, 200);
      const events = parseSse(await response.text());
      assert.deepEqual(events.map((event) => event.event), ["end"]);
      assert.deepEqual(JSON.parse(events[0]!.data), {
        thread_id: "c-1",
        status: "completed",
        seq: log.at(-1)!.seq,
      });
    }
  },
);

serverTest(
  "the end event reports the run's last seq, not the client's cursor",
  async (h) => {
    assertOk(await h.request("POST", "/v1/jobs/run", { body: { thread_id: "e-1", input: "hi" } }));
    await approval(h, "e-2");
    for (const [threadId, status] of [["e-1", "completed"], ["e-2", "interrupted"]]) {
      const last = (await h.events(threadId!)).at(-1)!.seq;
      for (
        const [path, headers] of [
          [`/v1/jobs/${threadId}/stream`, { "last-event-id": "999" }],
          [`/v1/jobs/${threadId}/stream?from_seq=999`, {}],
          [`/v1/jobs/${threadId}/stream`, { "last-event-id": String(last) }],
        ] as [string, Record<string, string>][]
      ) {
        const events = parseSse(await (await stream(h, path, headers)).text());
        assert.deepEqual(events.map((event) => event.event), ["end"]);
        assert.deepEqual(JSON.parse(events[0]!.data), { thread_id: threadId, status, seq: last });
      }
      // From the middle: the rest of the log, then the same end.
      const rest = parseSse(
        await (await stream(h, `/v1/jobs/${threadId}/stream`, { "last-event-id": "2" })).text(),
      );
      await assertWholeLog(h, threadId!, rest, status!, 3);
    }
  },
);

// ---------------------------------------------------------------------------
// follow=true

serverTest(
  "follow=true stays open across an interrupt with keep-alives, and ends once the run is terminal",
  async (h) => {
    await approval(h, "f-1");
    const stored = (await h.events("f-1")).length;
    const response = await stream(h, "/v1/jobs/f-1/stream?follow=true");
    assert.equal(response.status, 200);
    const reader = sseReader(response);
    await reader.until(stored);
    // A keep-alive after the stored events: the stream did not end at the interrupt.
    const blocks = await reader.untilBlock((block) => block.kind === "comment", stored);
    assert.deepEqual(
      blocks.slice(0, stored).map((block) => block.kind === "event" && block.event.id),
      (await h.events("f-1")).map((item) => String(item.seq)),
    );
    assert.ok(blocks.length > stored);
    assert.ok(blocks.slice(stored).every((b) => b.kind === "comment" && b.text === "keep-alive"));

    const resumed = assertOk(
      await h.request("POST", "/v1/jobs/f-1/resume", { body: { value: true } }),
    );
    assert.equal(resumed.status, "completed");
    const events = await reader.rest();
    await assertWholeLog(h, "f-1", events, "completed");
    assert.ok(events.some((event) => event.event === "run.resumed"));

    // A terminal run's followed stream ends at once; without follow an interrupt ends it.
    const done = parseSse(await (await stream(h, "/v1/jobs/f-1/stream?follow=true")).text());
    await assertWholeLog(h, "f-1", done, "completed");
    await approval(h, "f-2");
    const plain = parseSse(await (await stream(h, "/v1/jobs/f-2/stream?follow=false")).text());
    await assertWholeLog(h, "f-2", plain, "interrupted");
  },
  { streamKeepAliveMs: 2 },
);

serverTest(
  "follow=true ends when another server over the same store resumes the run to its end",
  async (h) => {
    await approval(h, "x-1");
    const reader = sseReader(await stream(h, "/v1/jobs/x-1/stream?follow=true"));
    const stored = (await h.events("x-1")).length;
    await reader.untilBlock((block) => block.kind === "comment", stored);

    await using other = createRuntime({ store: h.store });
    registerExamples(other);
    const server = await createServer({ runtime: other });
    try {
      const response = await server.app.request("/v1/jobs/x-1/resume", {
        method: "POST",
        body: JSON.stringify({ value: true }),
      });
      assert.equal(response.status, 200);
      assert.equal((await response.json()).data.status, "completed");
    } finally {
      await server.close();
    }
    await assertWholeLog(h, "x-1", await reader.rest(), "completed");
  },
  { streamKeepAliveMs: 2 },
);

// ---------------------------------------------------------------------------
// Failures are logged, never printed

/** A store whose event reads fail once `failing` is set, as a broken driver would. */
class FlakyStore extends MemoryStore {
  failing = false;
  override readEvents(
    threadId: ThreadId,
    fromSeq: number,
    options?: ReadEventsOptions,
  ): Promise<StoredEvent[]> {
    if (this.failing) return Promise.reject(new Error("connection reset by peer"));
    return super.readEvents(threadId, fromSeq, options);
  }
}

Deno.test("a stream's store failure is a 500 before it opens and an error event after, both logged, never printed", async () => {
  const printed: unknown[][] = [];
  const original = { error: console.error, log: console.log, warn: console.warn };
  console.error = console.log = console.warn = (...args: unknown[]) => void printed.push(args);
  await using store = new FlakyStore();
  await using runtime = createRuntime({ store });
  registerExamples(runtime);
  const { logger, entries } = collectingLogger();
  const server = await createServer({ runtime, logger, streamKeepAliveMs: 2 });
  try {
    const started = await server.app.request("/v1/jobs/run", {
      method: "POST",
      body: JSON.stringify({ thread_id: "s-1", graph: "approval", input: { request: "x" } }),
    });
    assert.equal((await started.json()).data.status, "interrupted");

    store.failing = true;
    const refused = await server.app.request("/v1/jobs/s-1/stream", {
      headers: { "x-request-id": "r-before" },
    });
    assert.equal(refused.status, 500);
    assert.deepEqual(await refused.json(), {
      request_id: "r-before",
      error: { code: "internal", message: "Internal error", details: null },
    });
    const before = entries.filter((entry) => entry.fields.request_id === "r-before");
    assert.deepEqual(before.map((entry) => [entry.level, entry.message]), [
      ["error", "request failed"],
    ]);
    assert.equal(before[0]!.fields.error, "connection reset by peer");

    // Open, then the store fails at a keep-alive's catch-up read.
    store.failing = false;
    const open = await server.app.request("/v1/jobs/s-1/stream?follow=true", {
      headers: { "x-request-id": "r-after" },
    });
    assert.equal(open.status, 200);
    const reader = sseReader(open);
    const stored = (await store.readEvents("s-1" as ThreadId, 1)).length;
    await reader.until(stored);
    store.failing = true;
    const events = await reader.rest();
    const failed = events.at(-1)!;
    assert.equal(failed.event, "error");
    assert.deepEqual(JSON.parse(failed.data), {
      code: "internal",
      message: "Internal error",
      details: null,
    });
    const after = entries.filter((entry) => entry.fields.request_id === "r-after");
    assert.deepEqual(after.map((entry) => [entry.level, entry.message]), [
      ["error", "event stream failed"],
    ]);
    assert.equal(after[0]!.fields.error, "connection reset by peer");
    assert.equal(after[0]!.fields.thread_id, "s-1");
    assert.match(String(after[0]!.fields.stack), /connection reset by peer/);
  } finally {
    Object.assign(console, original);
    await server.close();
  }
  assert.deepEqual(printed, [], "nothing went to the console");
});

// ---------------------------------------------------------------------------
// Event naming on the wire

const FlakyState = defineState({ tries: { default: () => 0 } });

serverTest(
  "on the wire effect.recorded names its task like interrupt.raised (taskId + node); the store keeps the old shape",
  async (h) => {
    let calls = 0;
    new StateGraph(FlakyState)
      .addNode("work", async (_state, ctx) => {
        const attempt = ++calls;
        await ctx.effect("try", () => attempt);
        if (attempt === 1) throw new Error("first attempt fails");
        return { tries: attempt };
      }, { retry: { maxAttempts: 2, initialIntervalMs: 0 } })
      .addEdge(START, "work")
      .addEdge("work", END)
      .compile({ name: "flaky", runtime: h.runtime });
    await approval(h, "n-1");
    assertOk(await h.request("POST", "/v1/jobs/n-1/resume", { body: { value: true } }));
    const flaky = assertOk(
      await h.request("POST", "/v1/jobs/run", { body: { thread_id: "n-2", graph: "flaky" } }),
    );
    assert.equal(flaky.status, "completed");

    const wire = async (threadId: string) =>
      parseSse(await (await stream(h, `/v1/jobs/${threadId}/stream`)).text()).slice(0, -1)
        .map((event) => JSON.parse(event.data).event);
    const approvalEvents = await wire("n-1");
    const raised = approvalEvents.find((event: Body) => event.type === "interrupt.raised");
    assert.equal(raised.interrupts[0].taskId, "2:approve");
    assert.equal(raised.interrupts[0].node, "approve");
    const effect = approvalEvents.find((event: Body) => event.type === "effect.recorded");
    assert.deepEqual(
      { taskId: effect.taskId, node: effect.node, attempt: effect.attempt, name: effect.name },
      { taskId: "3:act", node: "act", attempt: 1, name: "perform_action" },
    );
    const retried = (await wire("n-2")).filter((event: Body) => event.type === "effect.recorded");
    assert.deepEqual(
      retried.map((
        event: Body,
      ) => [event.taskId, event.node, event.attempt, event.index, event.name]),
      [
        ["1:work", "work", 1, 0, "try"],
        // The retry's wait is journaled by the first attempt.
        ["1:work", "work", 1, 1, "oris.retry_backoff"],
        ["1:work", "work", 2, 0, "try"],
      ],
    );
    // The export is the same wire form; the store keeps the task path in `node`.
    const exported = assertOk(await h.request("GET", "/v1/jobs/n-2/timeline/export"));
    assert.deepEqual(
      exported.events.filter((item: Body) => item.event.type === "effect.recorded")
        .map((item: Body) => item.event),
      retried,
    );
    const stored = (await h.events("n-2")).flatMap((item) =>
      item.event.type === "effect.recorded" ? [item.event.node] : []
    );
    assert.deepEqual(stored, ["1:work", "1:work", "1:work~2"]);
  },
);
