/**
 * Bad input to the v1 API, on memory, Deno KV and PostgreSQL: each bad
 * request gets the error envelope with its status and code, and writes
 * nothing (the store's runs, the events of existing runs, the interrupt
 * index and idempotency keys are unchanged).
 *
 * Malformed JSON, JSON that is not an object, unknown and wrongly typed
 * fields, bad thread ids in the body and in the path, bad limits and offsets,
 * bodies over 1 MiB (413), unknown graphs, resume of a run that is not
 * interrupted (409), methods not allowed (405 with `Allow`), unknown routes
 * (404), unknown query parameters, and `from_ms > to_ms` in the audit query.
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

// ---------------------------------------------------------------------------
// Helpers

/** Everything a bad request must leave alone. */
async function snapshot(h: Harness): Promise<unknown> {
  const runs = await h.allRuns();
  const events: Record<string, unknown> = {};
  for (const run of runs) events[run.threadId] = await h.events(run.threadId);
  const interrupts = (await h.store.listInterrupts({ limit: 100 })).items;
  return JSON.parse(JSON.stringify({ runs, events, interrupts }));
}

/** A completed `hello` run and an interrupted `approval` run to stay untouched. */
async function seed(h: Harness): Promise<{ interruptId: string; checkpointId: string }> {
  assertOk(await h.request("POST", "/v1/jobs/run", { body: { thread_id: "done-1", input: "hi" } }));
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "wait-1", graph: "approval", input: { request: "deploy" } },
    }),
  );
  assert.equal(data.status, "interrupted");
  return {
    interruptId: data.pending_interrupts[0].interrupt_id,
    checkpointId: data.checkpoint_id,
  };
}

type Check = (error: Body, response: ApiResponse) => void;

interface Case {
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** Checks the error further. */
  check?: Check;
}

/** Sends each case and checks its envelope, then that nothing was written. */
async function expectRejected(h: Harness, cases: Case[]): Promise<void> {
  const before = await snapshot(h);
  for (const item of cases) {
    const label = `${item.method} ${item.path.slice(0, 80)} ${
      typeof item.body === "string" ? item.body.slice(0, 60) : JSON.stringify(item.body ?? null)
        .slice(0, 60)
    }`;
    const response = await h.request(item.method, item.path, {
      ...(item.body === undefined ? {} : { body: item.body }),
      ...(item.headers === undefined ? {} : { headers: item.headers }),
    });
    try {
      const error = assertError(response, item.status, item.code);
      item.check?.(error, response);
    } catch (cause) {
      throw new Error(`${label}: ${(cause as Error).message}`, { cause });
    }
    assert.deepEqual(await snapshot(h), before, `${label} wrote to the store`);
  }
}

function badRun(body: unknown, check?: Check): Case {
  return {
    method: "POST",
    path: "/v1/jobs/run",
    body,
    status: 400,
    code: "invalid_argument",
    ...(check === undefined ? {} : { check }),
  };
}

function field(name: string): Check {
  return (error) => {
    assert.ok(error.details !== null, "details name the field");
    assert.equal(error.details.field, name);
  };
}

const LONG_ID = "a".repeat(129);

// ---------------------------------------------------------------------------
// Bodies

serverTest("malformed JSON, and JSON that is not an object, is a 400", async (h) => {
  await seed(h);
  await expectRejected(h, [
    badRun('{"thread_id": "new-1"', (error) => assert.match(error.message, /not valid JSON/)),
    badRun("{thread_id: 'new-1'}", (error) => assert.match(error.message, /not valid JSON/)),
    badRun("not json at all"),
    badRun('{"thread_id": "new-1"} trailing'),
    badRun('[{"thread_id": "new-1"}]', (error) => assert.match(error.message, /an array/)),
    badRun("[]"),
    badRun('"new-1"', (error) => assert.match(error.message, /must be a JSON object/)),
    badRun("42", (error) => assert.match(error.message, /got number$/)),
    badRun("true", (error) => assert.match(error.message, /got boolean$/)),
    badRun("null", (error) => assert.match(error.message, /got null$/)),
    badRun(""), // An empty body reads as {}: thread_id is missing.
    { ...badRun('{"value": true'), path: "/v1/jobs/wait-1/resume" },
    { ...badRun("[true]"), path: "/v1/jobs/wait-1/resume" },
    { ...badRun('"yes"'), path: "/v1/jobs/wait-1/cancel" },
    { ...badRun("[]"), path: "/v1/jobs/done-1/replay" },
  ]);
  // Bytes that are not UTF-8.
  const before = await snapshot(h);
  const response = await h.server.app.request("/v1/jobs/run", {
    method: "POST",
    body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
  });
  const error = assertError(
    { status: response.status, headers: response.headers, body: await response.json(), text: "" },
    400,
    "invalid_argument",
  );
  assert.match(error.message, /UTF-8/);
  assert.deepEqual(await snapshot(h), before);
});

serverTest("unknown and wrongly typed fields are a 400 naming the field", async (h) => {
  const { interruptId } = await seed(h);
  await expectRejected(h, [
    badRun({ thread_id: "new-1", bogus: 1 }),
    badRun({ thread_id: "new-1", Graph: "hello" }),
    badRun({ thread_id: 5 }, field("thread_id")),
    badRun({ thread_id: null }, field("thread_id")),
    badRun({ thread_id: ["new-1"] }, field("thread_id")),
    badRun({ input: "hi" }, field("thread_id")),
    badRun({ thread_id: "new-1", graph: 5 }, field("graph")),
    badRun({ thread_id: "new-1", priority: "high" }, field("priority")),
    badRun({ thread_id: "new-1", priority: 101 }, field("priority")),
    badRun({ thread_id: "new-1", priority: -1 }, field("priority")),
    badRun({ thread_id: "new-1", priority: 1.5 }, field("priority")),
    badRun({ thread_id: "new-1", idempotency_key: "" }, field("idempotency_key")),
    badRun({ thread_id: "new-1", idempotency_key: 7 }, field("idempotency_key")),
    badRun({ thread_id: "new-1", tenant_id: "a b" }, field("tenant_id")),
    badRun({ thread_id: "new-1", wait_ms: -1 }, field("wait_ms")),
    badRun({ thread_id: "new-1", wait_ms: "10" }, field("wait_ms")),
    badRun({ thread_id: "new-1", timeout_policy: 5 }, field("timeout_policy")),
    badRun(
      { thread_id: "new-1", timeout_policy: { timeout_ms: 0, on_timeout_status: "failed" } },
      field("timeout_policy.timeout_ms"),
    ),
    badRun(
      { thread_id: "new-1", timeout_policy: { timeout_ms: 10, on_timeout_status: "paused" } },
      field("timeout_policy.on_timeout_status"),
    ),
    badRun({
      thread_id: "new-1",
      timeout_policy: { timeout_ms: 10, on_timeout_status: "failed", extra: true },
    }),
    // An input the graph cannot take: a string for a graph without messages.
    badRun({ thread_id: "new-1", graph: "approval", input: "please" }, field("input")),
    badRun({ thread_id: "new-1", graph: "hello", input: 42 }, field("input")),
    // Resume, replay, cancel and interrupt bodies.
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume",
      body: {},
      status: 400,
      code: "invalid_argument",
      check: field("value"),
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume",
      body: { value: true, extra: 1 },
      status: 400,
      code: "invalid_argument",
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume",
      body: { value: true, values: { in_0000: true } },
      status: 400,
      code: "invalid_argument",
      check: field("value"),
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume",
      body: { value: true, checkpoint_id: 5 },
      status: 400,
      code: "invalid_argument",
      check: field("checkpoint_id"),
    },
    {
      method: "POST",
      path: "/v1/jobs/done-1/replay",
      body: { checkpoint_id: "not an id" },
      status: 400,
      code: "invalid_argument",
      check: field("checkpoint_id"),
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/cancel",
      body: { reason: 5 },
      status: 400,
      code: "invalid_argument",
      check: field("reason"),
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/cancel",
      body: { reason: "x".repeat(1001) },
      status: 400,
      code: "invalid_argument",
      check: field("reason"),
    },
    {
      method: "POST",
      path: `/v1/interrupts/${interruptId}/resume`,
      body: { value: true, thread_id: "wait-1" },
      status: 400,
      code: "invalid_argument",
    },
    {
      method: "POST",
      path: `/v1/interrupts/${interruptId}/resume`,
      body: {},
      status: 400,
      code: "invalid_argument",
      check: field("value"),
    },
    {
      method: "POST",
      path: `/v1/interrupts/${interruptId}/reject`,
      body: { reason: ["no"] },
      status: 400,
      code: "invalid_argument",
      check: field("reason"),
    },
  ]);
  // The validation error lists zod's issues.
  const response = await h.request("POST", "/v1/jobs/run", {
    body: { thread_id: "new-1", priority: "high" },
  });
  const error = assertError(response, 400, "invalid_argument");
  assert.equal(error.message, "Invalid body: priority must be a whole number from 0 to 100");
  assert.ok(Array.isArray(error.details.issues));
  assert.equal(error.details.issues[0].path, "priority");
});

serverTest(
  "an unknown graph is a 400 listing the known ones, and claims no idempotency key",
  async (h) => {
    await seed(h);
    await expectRejected(h, [
      badRun({ thread_id: "new-1", graph: "nope" }, (error) => {
        assert.match(error.message, /Unknown graph "nope"/);
        assert.equal(error.details.field, "graph");
        assert.ok(error.details.known.includes("hello"));
        assert.ok(error.details.known.includes("approval"));
      }),
      badRun({ thread_id: "new-1", graph: "nope", idempotency_key: "key-1" }),
      badRun({ thread_id: "new-1", graph: "bad graph" }, field("graph")),
      badRun({ thread_id: "new-1", bogus: true, idempotency_key: "key-1" }),
    ]);
    // The key was never claimed: a valid request with it runs (no replay).
    const data = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "new-1", input: "hi", idempotency_key: "key-1" },
      }),
    );
    assert.equal(data.status, "completed");
    assert.equal(data.idempotent_replay, false);
  },
);

serverTest(
  "empty, too long and illegal thread ids are a 400, in the body and in the path",
  async (h) => {
    const { interruptId } = await seed(h);
    const illegal = ["", LONG_ID, "a b", "a/b", "ü", "a\nb", "tab\t", "semi;colon", "q?x"];
    await expectRejected(h, [
      ...illegal.map((id) => badRun({ thread_id: id }, field("thread_id"))),
      ...illegal.map((id) => ({
        ...badRun({ thread_id: id }, field("thread_id")),
        path: "/v1/jobs",
      })),
    ]);
    const paths = [LONG_ID, "a%20b", "a%2Fb", "%C3%BC", "a%00b", "%3F"];
    const cases: Case[] = [];
    for (const id of paths) {
      for (
        const [method, suffix, body] of [
          ["GET", ""],
          ["GET", "/detail"],
          ["GET", "/history"],
          ["GET", "/timeline"],
          ["GET", "/timeline/export"],
          ["GET", "/stream"],
          ["GET", "/checkpoints/cp_1"],
          ["POST", "/resume", { value: true }],
          ["POST", "/replay", {}],
          ["POST", "/cancel", {}],
        ] as [string, string, unknown?][]
      ) {
        cases.push({
          method,
          path: `/v1/jobs/${id}${suffix}`,
          ...(body === undefined ? {} : { body }),
          status: 400,
          code: "invalid_argument",
          check: field("thread_id"),
        });
      }
      cases.push({
        method: "POST",
        path: `/v1/interrupts/${id}/resume`,
        body: { value: true },
        status: 400,
        code: "invalid_argument",
        check: field("interrupt_id"),
      });
      cases.push({
        method: "GET",
        path: `/v1/jobs/done-1/checkpoints/${id}`,
        status: 400,
        code: "invalid_argument",
        check: field("checkpoint_id"),
      });
    }
    // An empty path segment names no route.
    cases.push({ method: "GET", path: "/v1/jobs//detail", status: 404, code: "not_found" });
    cases.push({
      method: "POST",
      path: "/v1/jobs//resume",
      body: { value: true },
      status: 404,
      code: "not_found",
    });
    cases.push({
      method: "POST",
      path: "/v1/interrupts//resume",
      body: { value: true },
      status: 404,
      code: "not_found",
    });
    await expectRejected(h, cases);
    assert.equal(
      assertOk(await h.request("GET", `/v1/interrupts/${interruptId}`)).status,
      "pending",
    );
    // The limits are exact: 128 characters of the allowed set are fine.
    const longest = `${"a".repeat(120)}-_.:0129`;
    assert.equal(longest.length, 128);
    const data = assertOk(
      await h.request("POST", "/v1/jobs/run", { body: { thread_id: longest, input: "hi" } }),
    );
    assert.equal(data.thread_id, longest);
    assert.equal(assertOk(await h.request("GET", `/v1/jobs/${longest}`)).status, "completed");
  },
);

serverTest("bodies over 1 MiB are a 413 with code invalid_argument", async (h) => {
  await seed(h);
  const MiB = 1024 * 1024;
  const prefix = '{"thread_id":"big-1","input":"';
  const big = `${prefix}${"x".repeat(MiB - prefix.length - 2 + 1)}"}`;
  assert.equal(new TextEncoder().encode(big).length, MiB + 1);
  const tooLarge = (error: Body) => {
    assert.match(error.message, /larger than 1048576 bytes/);
    assert.deepEqual(error.details, { max_bytes: MiB });
  };
  await expectRejected(h, [
    {
      method: "POST",
      path: "/v1/jobs/run",
      body: big,
      status: 413,
      code: "invalid_argument",
      check: tooLarge,
    },
    {
      method: "POST",
      path: "/v1/jobs/run",
      body: big,
      headers: { "content-length": String(MiB + 1) },
      status: 413,
      code: "invalid_argument",
      check: tooLarge,
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume",
      body: JSON.stringify({ value: "y".repeat(2 * MiB) }),
      status: 413,
      code: "invalid_argument",
      check: tooLarge,
    },
    {
      method: "POST",
      path: "/v1/interrupts/in_x/resume",
      body: JSON.stringify({ value: "y".repeat(2 * MiB) }),
      status: 413,
      code: "invalid_argument",
      check: tooLarge,
    },
  ]);
  // Streamed without a length, and with a length that lies.
  const before = await snapshot(h);
  for (const headers of [{}, { "content-length": "10" }]) {
    const response = await h.server.app.request("/v1/jobs/run", {
      method: "POST",
      body: new Blob([big]).stream(),
      headers,
    });
    const error = assertError(
      { status: response.status, headers: response.headers, body: await response.json(), text: "" },
      413,
      "invalid_argument",
    );
    tooLarge(error);
  }
  assert.deepEqual(await snapshot(h), before);
  // Exactly 1 MiB is read (and then judged on its content: an unknown field here).
  const prefix2 = '{"thread_id":"big-1","bogus":"';
  const exact = `${prefix2}${"x".repeat(MiB - prefix2.length - 2)}"}`;
  assert.equal(exact.length, MiB);
  await expectRejected(h, [badRun(exact, (error) => assert.match(error.message, /bogus/))]);
});

// ---------------------------------------------------------------------------
// Queries

serverTest("negative, zero, huge and non-numeric limits and offsets are a 400", async (h) => {
  await seed(h);
  const limits = [
    "-1",
    "0",
    "201",
    "1e9",
    "99999999999999999999",
    "abc",
    "1.5",
    "",
    "Infinity",
  ];
  const cases: Case[] = limits.map((limit) => ({
    method: "GET",
    path: `/v1/jobs?limit=${encodeURIComponent(limit)}`,
    status: 400,
    code: "invalid_argument",
    check: field("limit"),
  }));
  for (const offset of ["-1", "abc", "1.5", "100001"]) {
    cases.push({
      method: "GET",
      path: `/v1/jobs?offset=${offset}`,
      status: 400,
      code: "invalid_argument",
      check: field("offset"),
    });
  }
  for (const limit of ["-1", "0", "201", "abc"]) {
    cases.push({
      method: "GET",
      path: `/v1/interrupts?limit=${limit}`,
      status: 400,
      code: "invalid_argument",
      check: field("limit"),
    });
  }
  for (const limit of ["0", "501", "x"]) {
    cases.push({
      method: "GET",
      path: `/v1/audit/logs?limit=${limit}`,
      status: 400,
      code: "invalid_argument",
      check: field("limit"),
    });
  }
  for (const limit of ["0", "1001", "-5"]) {
    cases.push({
      method: "GET",
      path: `/v1/jobs/done-1/history?limit=${limit}`,
      status: 400,
      code: "invalid_argument",
      check: field("limit"),
    });
  }
  cases.push({
    method: "GET",
    path: "/v1/jobs/done-1/stream?from_seq=0",
    status: 400,
    code: "invalid_argument",
    check: field("from_seq"),
  });
  cases.push({
    method: "GET",
    path: "/v1/jobs?status=sleeping",
    status: 400,
    code: "invalid_argument",
    check: field("status"),
  });
  cases.push({
    method: "GET",
    path: "/v1/interrupts?status=open",
    status: 400,
    code: "invalid_argument",
    check: field("status"),
  });
  await expectRejected(h, cases);
  // The bounds themselves are fine.
  assert.equal(assertOk(await h.request("GET", "/v1/jobs?limit=1")).jobs.length, 1);
  assert.equal(assertOk(await h.request("GET", "/v1/jobs?limit=200&offset=0")).jobs.length, 2);
  assertOk(await h.request("GET", "/v1/interrupts?limit=200"));
  assertOk(await h.request("GET", "/v1/audit/logs?limit=500"));
});

serverTest("unknown query parameters are a 400, and a run with one runs nothing", async (h) => {
  await seed(h);
  await expectRejected(h, [
    { method: "GET", path: "/v1/jobs?foo=1", status: 400, code: "invalid_argument" },
    { method: "GET", path: "/v1/jobs?Limit=5", status: 400, code: "invalid_argument" },
    { method: "GET", path: "/v1/jobs/done-1?verbose=true", status: 400, code: "invalid_argument" },
    { method: "GET", path: "/v1/jobs/done-1/detail?x=", status: 400, code: "invalid_argument" },
    { method: "GET", path: "/v1/jobs/done-1/timeline?x=1", status: 400, code: "invalid_argument" },
    {
      method: "GET",
      path: "/v1/jobs/done-1/timeline/export?format=csv",
      status: 400,
      code: "invalid_argument",
    },
    {
      method: "GET",
      path: "/v1/interrupts?thread_id=wait-1",
      status: 400,
      code: "invalid_argument",
    },
    { method: "GET", path: "/v1/audit/logs?actor=me", status: 400, code: "invalid_argument" },
    {
      method: "POST",
      path: "/v1/jobs/run?foo=1",
      body: { thread_id: "new-1", input: "hi" },
      status: 400,
      code: "invalid_argument",
    },
    {
      method: "POST",
      path: "/v1/jobs/run?wait=no",
      body: { thread_id: "new-1", input: "hi" },
      status: 400,
      code: "invalid_argument",
      check: field("wait"),
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume?force=1",
      body: { value: true },
      status: 400,
      code: "invalid_argument",
    },
    {
      method: "POST",
      path: "/v1/jobs/wait-1/cancel?now=1",
      body: {},
      status: 400,
      code: "invalid_argument",
    },
  ]);
});

serverTest("audit from_ms after to_ms, or a malformed bound, is a 400", async (h) => {
  await seed(h);
  await expectRejected(h, [
    {
      method: "GET",
      path: "/v1/audit/logs?from_ms=10&to_ms=5",
      status: 400,
      code: "invalid_argument",
      check: (error) => {
        assert.match(error.message, /from_ms must not be after to_ms/);
        assert.equal(error.details.field, "from_ms");
      },
    },
    {
      method: "GET",
      path: "/v1/audit/logs?from_ms=abc",
      status: 400,
      code: "invalid_argument",
      check: field("from_ms"),
    },
    {
      method: "GET",
      path: "/v1/audit/logs?to_ms=-1",
      status: 400,
      code: "invalid_argument",
      check: field("to_ms"),
    },
  ]);
  // Equal bounds are fine.
  assertOk(await h.request("GET", "/v1/audit/logs?from_ms=5&to_ms=5"));
});

// ---------------------------------------------------------------------------
// Conflicts, methods and routes

serverTest("resume of a run that is not interrupted is a 409", async (h) => {
  const { interruptId } = await seed(h);
  assertOk(
    await h.request("POST", "/v1/jobs/run", { body: { thread_id: "gate-1", graph: "gate" } }),
  );
  await expectRejected(h, [
    {
      method: "POST",
      path: "/v1/jobs/done-1/resume",
      body: { value: true },
      status: 409,
      code: "conflict",
      check: (error) => {
        assert.match(error.message, /not interrupted/);
        assert.equal(error.details.thread_id, "done-1");
        assert.equal(error.details.status, "completed");
      },
    },
    {
      method: "POST",
      path: "/v1/jobs/gate-1/resume",
      body: { value: null },
      status: 409,
      code: "conflict",
    },
    // An answer naming an interrupt that is not pending.
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume",
      body: { values: { in_0000: true } },
      status: 409,
      code: "conflict",
    },
    // Unknown runs and interrupts are 404s.
    {
      method: "POST",
      path: "/v1/jobs/ghost/resume",
      body: { value: true },
      status: 404,
      code: "not_found",
    },
    {
      method: "POST",
      path: "/v1/interrupts/in_ghost/resume",
      body: { value: true },
      status: 404,
      code: "not_found",
    },
  ]);
  // A resolved interrupt cannot be resumed with another value (through either
  // route: the same value is a repeat), nor rejected.
  assertOk(
    await h.request("POST", `/v1/interrupts/${interruptId}/resume`, { body: { value: true } }),
  );
  await expectRejected(h, [
    {
      method: "POST",
      path: "/v1/jobs/wait-1/resume",
      body: { value: false },
      status: 409,
      code: "conflict",
    },
    {
      method: "POST",
      path: `/v1/interrupts/${interruptId}/resume`,
      body: { value: false },
      status: 409,
      code: "conflict",
    },
    {
      method: "POST",
      path: `/v1/interrupts/${interruptId}/reject`,
      body: {},
      status: 409,
      code: "conflict",
    },
  ]);
});

serverTest("a method not allowed is a 405 with the envelope and an Allow header", async (h) => {
  await seed(h);
  const allowed = (methods: string[]) => (error: Body, response: ApiResponse) => {
    const allow = response.headers.get("allow");
    assert.ok(allow !== null, "an Allow header");
    assert.deepEqual(allow.split(", ").sort(), [...methods].sort());
    assert.deepEqual([...error.details.allowed].sort(), [...methods].sort());
    assert.match(error.message, /not allowed/);
  };
  const cases: [string, string, string[]][] = [
    ["DELETE", "/v1/jobs/run", ["POST"]],
    ["PUT", "/v1/jobs", ["POST", "GET"]],
    ["PATCH", "/v1/jobs/done-1", ["GET"]],
    ["DELETE", "/v1/jobs/done-1", ["GET"]],
    ["POST", "/v1/jobs/done-1/detail", ["GET"]],
    ["POST", "/v1/jobs/done-1/timeline", ["GET"]],
    ["PUT", "/v1/jobs/done-1/checkpoints/cp_1", ["GET"]],
    ["GET", "/v1/jobs/done-1/cancel", ["POST"]],
    ["GET", "/v1/jobs/wait-1/resume", ["POST"]],
    ["DELETE", "/v1/jobs/done-1/replay", ["POST"]],
    ["POST", "/v1/jobs/done-1/stream", ["GET"]],
    ["DELETE", "/v1/interrupts", ["GET"]],
    ["GET", "/v1/interrupts/in_1/resume", ["POST"]],
    ["PUT", "/v1/audit/logs", ["GET"]],
    ["POST", "/v1/openapi.json", ["GET"]],
    ["POST", "/healthz", ["GET"]],
    ["DELETE", "/metrics", ["GET"]],
  ];
  await expectRejected(
    h,
    cases.map(([method, path, methods]) => ({
      method,
      path,
      ...(method === "GET" ? {} : { body: {} }),
      status: 405,
      code: "invalid_argument",
      check: allowed(methods),
    })),
  );
});

serverTest("an unknown route is a 404 with the envelope", async (h) => {
  await seed(h);
  const paths: [string, string][] = [
    ["GET", "/"],
    ["GET", "/v1"],
    ["GET", "/v1/nope"],
    ["GET", "/v2/jobs"],
    ["POST", "/v1/job/run"],
    ["GET", "/v1/jobs/done-1/bogus"],
    ["POST", "/v1/jobs/done-1/bogus"],
    ["GET", "/v1/jobs/done-1/checkpoints"],
    ["GET", "/v1/jobs/done-1/checkpoints/cp_1/values"],
    ["GET", "/v1/jobs/done-1/timeline/export/csv"],
    ["DELETE", "/nope"],
    ["GET", "/V1/JOBS"],
  ];
  await expectRejected(
    h,
    paths.map(([method, path]) => ({
      method,
      path,
      ...(method === "GET" ? {} : { body: {} }),
      status: 404,
      code: "not_found",
      check: (error: Body, response: ApiResponse) => {
        assert.equal(response.headers.get("allow"), null);
        assert.match(error.message, /No route/);
      },
    })),
  );
});

serverTest("a rejected control action is audited as an error", async (h) => {
  await seed(h);
  const response = await h.request("POST", "/v1/jobs/run", {
    body: { thread_id: "new-1", bogus: 1 },
    headers: { "x-request-id": "bad-request-1" },
  });
  assertError(response, 400, "invalid_argument");
  assert.equal(response.body.request_id, "bad-request-1");
  const logs = assertOk(await h.request("GET", "/v1/audit/logs?request_id=bad-request-1")).logs;
  assert.equal(logs.length, 1);
  assert.equal(logs[0].action, "job.run");
  assert.equal(logs[0].result, "error");
  assert.equal(logs[0].request_id, "bad-request-1");
  assert.deepEqual(logs[0].details, { method: "POST", path: "/v1/jobs/run", status_code: 400 });
  assert.deepEqual((await h.allRuns()).map((run) => run.threadId), ["done-1", "wait-1"]);
});
