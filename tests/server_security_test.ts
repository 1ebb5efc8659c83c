/**
 * Authentication, RBAC, audit and request ids of the v1 API over HTTP
 * (`app.request()`, no network), on memory, Deno KV and PostgreSQL.
 *
 * - no credential configured: auth is off, callers are anonymous (and
 *   audited as such);
 * - `Authorization: Bearer` and a static `x-api-key` grant admin; a missing or
 *   wrong credential is a 401 naming the supported methods;
 * - keyed keys (`x-api-key-id` + `x-api-key`): the configured key is stored
 *   hashed as an operator key; a wrong secret, an unknown id or a disabled key
 *   is a 401; stored keys alone turn auth on;
 * - RBAC: admin everything, operator `/v1/jobs*`, `/v1/interrupts*` and
 *   `GET /v1/audit/logs`, worker nothing here; a 403 names role, method and
 *   path; a role header sent by the client grants nothing;
 * - `/healthz`, `/readyz` and `/metrics` need no credentials;
 * - every control action is audited (actor, role, result, request id,
 *   method, path, status), 401 and 403 outcomes included, and
 *   `GET /v1/audit/logs` filters by request id, action and time, newest first;
 * - `x-request-id` is echoed when valid, replaced when not, and on every
 *   response (200, 401, 403, 404, 405, 413, health and metrics).
 */

import assert from "node:assert/strict";
import {
  type ApiResponse,
  assertError,
  assertOk,
  type Body,
  type Harness,
  serverTest,
  strictClock,
} from "./_server.ts";

// ---------------------------------------------------------------------------
// Helpers

const BEARER = "bearer-Secret.token:1";
const ADMIN: Record<string, string> = { authorization: `Bearer ${BEARER}` };
const SUPPORTED_AUTH = ["bearer", "x-api-key", "x-api-key-id+x-api-key"];
const REQUEST_ID = /^[A-Za-z0-9\-_.:]{1,128}$/;

function keyHeaders(keyId: string, secret: string): Record<string, string> {
  return { "x-api-key-id": keyId, "x-api-key": secret };
}

/** SHA-256 of a string, lower-case hex (computed here, independently of the server). */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Stores a keyed API key. */
async function putKey(
  h: Harness,
  keyId: string,
  secret: string,
  role: "admin" | "operator" | "worker",
  status: "active" | "disabled" = "active",
): Promise<void> {
  await h.store.putApiKey({
    keyId,
    secretHash: await sha256Hex(secret),
    role,
    status,
    createdAt: 1,
    updatedAt: 1,
  });
}

/** Asserts a 401 with the supported auth methods. */
function assertUnauthorized(response: ApiResponse): Body {
  const error = assertError(response, 401, "unauthorized");
  assert.deepEqual(error.details, { supported_auth: SUPPORTED_AUTH });
  return error;
}

/** Asserts a 403 naming role, method and path. */
function assertForbidden(response: ApiResponse, role: string, method: string, path: string): void {
  const error = assertError(response, 403, "forbidden");
  assert.deepEqual(error.details, { role, method, path });
}

/** The audit records of one request id (read as admin, or anonymously when auth is off). */
async function auditOf(
  h: Harness,
  requestId: string,
  headers: Record<string, string> = ADMIN,
): Promise<Body[]> {
  const data = assertOk(
    await h.request("GET", `/v1/audit/logs?request_id=${requestId}`, { headers }),
  );
  return data.logs;
}

/** Runs `approval` to its interrupt as admin; returns the interrupt id. */
async function approval(h: Harness, threadId: string, headers = ADMIN): Promise<string> {
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: threadId, graph: "approval", input: { request: "deploy" } },
      headers,
    }),
  );
  assert.equal(data.status, "interrupted");
  return data.pending_interrupts[0].interrupt_id;
}

/** Every run's status by thread id. */
async function statuses(h: Harness): Promise<Record<string, string>> {
  return Object.fromEntries((await h.allRuns()).map((run) => [run.threadId, run.status]));
}

// ---------------------------------------------------------------------------
// Auth off

serverTest("no credential configured: auth is off and callers are anonymous", async (h) => {
  assert.equal(h.server.authEnabled, false);
  const run = await h.request("POST", "/v1/jobs/run", {
    body: { thread_id: "anon-1", input: "hi" },
    headers: { "x-request-id": "anon-run-1" },
  });
  assert.equal(assertOk(run).status, "completed");
  // Any credential, right or wrong, is ignored; every route answers.
  assertOk(await h.request("GET", "/v1/jobs/anon-1", { headers: { authorization: "Bearer x" } }));
  assertOk(await h.request("GET", "/v1/jobs", { headers: { "x-api-key": "whatever" } }));
  assert.equal((await h.server.app.request("/v1/openapi.json")).status, 200);

  const [record, ...rest] = await auditOf(h, "anon-run-1", {});
  assert.deepEqual(rest, []);
  assert.equal(record.actor_type, "anonymous");
  assert.equal(record.actor_id, null);
  assert.equal(record.actor_role, null);
  assert.equal(record.action, "job.run");
  assert.equal(record.resource_type, "thread");
  assert.equal(record.resource_id, "anon-1");
  assert.equal(record.result, "success");
  assert.equal(record.request_id, "anon-run-1");
  assert.deepEqual(record.details, { method: "POST", path: "/v1/jobs/run", status_code: 200 });
  assert.match(record.audit_id, /^au_/);
  assert.ok(!Number.isNaN(Date.parse(record.created_at)));
});

// ---------------------------------------------------------------------------
// Bearer and static API key

serverTest(
  "bearer token: missing or wrong credentials are a 401 naming the supported methods; the token is admin",
  async (h) => {
    assert.equal(h.server.authEnabled, true);
    const wrong: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong-token" },
      { authorization: `Bearer ${BEARER}x` },
      { authorization: `Bearer ${BEARER.slice(0, -1)}` },
      { authorization: `Basic ${btoa(`admin:${BEARER}`)}` },
      { authorization: BEARER },
      { authorization: "Bearer " },
      // The bearer token is not an API key.
      { "x-api-key": BEARER },
      keyHeaders("admin", BEARER),
    ];
    for (const headers of wrong) {
      assertUnauthorized(await h.request("GET", "/v1/jobs", { headers }));
      assertUnauthorized(
        await h.request("POST", "/v1/jobs/run", { body: { thread_id: "nope-1" }, headers }),
      );
    }
    assert.deepEqual(await h.allRuns(), [], "a refused request ran nothing");

    // The right token is admin: every route, including the OpenAPI document.
    const run = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "bearer-1", input: "hi" },
        headers: { ...ADMIN, "x-request-id": "bearer-run-1" },
      }),
    );
    assert.equal(run.status, "completed");
    // The scheme is case-insensitive.
    assertOk(
      await h.request("GET", "/v1/jobs/bearer-1", {
        headers: { authorization: `bearer ${BEARER}` },
      }),
    );
    const openapi = await h.server.app.request("/v1/openapi.json", { headers: ADMIN });
    assert.equal(openapi.status, 200);
    assert.equal((await openapi.json()).openapi, "3.1.0");
    const [record] = await auditOf(h, "bearer-run-1");
    assert.equal(record.actor_type, "bearer");
    assert.equal(record.actor_id, null);
    assert.equal(record.actor_role, "admin");
    assert.equal(record.result, "success");
  },
  { auth: { bearerToken: BEARER } },
);

serverTest(
  "static x-api-key is admin; a wrong key, or the key with an unknown key id, is a 401",
  async (h) => {
    assert.equal(h.server.authEnabled, true);
    for (
      const headers of [
        {},
        { "x-api-key": "static-key-2" },
        { "x-api-key": "" },
        { authorization: "Bearer static-key-1" },
        keyHeaders("static", "static-key-1"),
      ]
    ) {
      assertUnauthorized(await h.request("GET", "/v1/interrupts", { headers }));
    }
    const headers = { "x-api-key": "static-key-1" };
    assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "static-1", input: "hi" },
        headers: { ...headers, "x-request-id": "static-run-1" },
      }),
    );
    assert.equal((await h.server.app.request("/v1/openapi.json", { headers })).status, 200);
    const [record] = await auditOf(h, "static-run-1", headers);
    assert.equal(record.actor_type, "api_key");
    assert.equal(record.actor_id, null);
    assert.equal(record.actor_role, "admin");
  },
  { auth: { apiKey: "static-key-1" } },
);

// ---------------------------------------------------------------------------
// Keyed API keys

serverTest(
  "apiKeyId stores the configured key hashed as an operator key; x-api-key-id + x-api-key is that operator",
  async (h) => {
    assert.equal(h.server.authEnabled, true);
    const stored = await h.store.getApiKey("ops-1");
    assert.ok(stored !== null);
    assert.equal(stored.keyId, "ops-1");
    assert.equal(stored.role, "operator");
    assert.equal(stored.status, "active");
    assert.equal(stored.secretHash, await sha256Hex("ops-Secret-1"));
    assert.match(stored.secretHash, /^[0-9a-f]{64}$/);
    assert.ok(!JSON.stringify(stored).includes("ops-Secret-1"), "the secret is never stored");

    // A restart keeps the key's creation time.
    const createdAt = stored.createdAt;
    await h.reopen();
    assert.equal((await h.store.getApiKey("ops-1"))!.createdAt, createdAt);
    assert.equal(await h.store.countApiKeys(), 1);

    const headers = keyHeaders("ops-1", "ops-Secret-1");
    const run = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "keyed-1", input: "hi" },
        headers: { ...headers, "x-request-id": "keyed-run-1" },
      }),
    );
    assert.equal(run.status, "completed");
    const [record] = await auditOf(h, "keyed-run-1", headers);
    assert.equal(record.actor_type, "api_key");
    assert.equal(record.actor_id, "ops-1");
    assert.equal(record.actor_role, "operator");
    // An operator is not an admin.
    assertForbidden(
      await h.request("GET", "/v1/openapi.json", { headers }),
      "operator",
      "GET",
      "/v1/openapi.json",
    );

    await putKey(h, "ops-off", "off-Secret", "operator", "disabled");
    await putKey(h, "admin-off", "admin-Secret", "admin", "disabled");
    const refused: Record<string, string>[] = [
      // With a key id configured, the key alone is not a static admin key.
      { "x-api-key": "ops-Secret-1" },
      { "x-api-key-id": "ops-1" },
      keyHeaders("ops-1", "ops-Secret-2"),
      keyHeaders("ops-1", "ops-secret-1"),
      keyHeaders("ops-1", ""),
      keyHeaders("ops-2", "ops-Secret-1"),
      keyHeaders("OPS-1", "ops-Secret-1"),
      // The stored hash is not the secret.
      keyHeaders("ops-1", stored.secretHash),
      keyHeaders("ops-off", "off-Secret"),
      keyHeaders("admin-off", "admin-Secret"),
      { authorization: "Bearer ops-Secret-1" },
    ];
    for (const wrong of refused) {
      assertUnauthorized(await h.request("GET", "/v1/jobs/keyed-1", { headers: wrong }));
      assertUnauthorized(
        await h.request("POST", "/v1/jobs/run", {
          body: { thread_id: "refused-1", input: "hi" },
          headers: wrong,
        }),
      );
    }
    assert.deepEqual(Object.keys(await statuses(h)), ["keyed-1"]);

    // A stored admin key is admin.
    await putKey(h, "root-1", "root-Secret", "admin");
    assert.equal(
      (await h.server.app.request("/v1/openapi.json", {
        headers: keyHeaders("root-1", "root-Secret"),
      })).status,
      200,
    );
    // Disabling a key takes effect at once.
    await putKey(h, "root-1", "root-Secret", "admin", "disabled");
    assertUnauthorized(
      await h.request("GET", "/v1/openapi.json", { headers: keyHeaders("root-1", "root-Secret") }),
    );
  },
  { auth: { apiKeyId: "ops-1", apiKey: "ops-Secret-1" } },
);

serverTest("stored keys alone turn auth on", async (h) => {
  assert.equal(h.server.authEnabled, false);
  await putKey(h, "ops-9", "nine-Secret", "operator");
  await h.reopen();
  assert.equal(h.server.authEnabled, true);
  assertUnauthorized(await h.request("GET", "/v1/jobs"));
  assertUnauthorized(await h.request("GET", "/v1/jobs", { headers: { "x-api-key": "nine" } }));
  assertOk(await h.request("GET", "/v1/jobs", { headers: keyHeaders("ops-9", "nine-Secret") }));
});

serverTest(
  "worker keys are a 403 on /v1/jobs naming role, method and path; role headers grant nothing",
  async (h) => {
    await putKey(h, "worker-1", "worker-Secret", "worker");
    const interruptId = await approval(h, "w-approval");
    const before = await statuses(h);
    const worker = keyHeaders("worker-1", "worker-Secret");
    const roleHeaders = [
      {},
      { "x-oris-role": "admin" },
      { "x-role": "admin", "x-api-role": "admin", "x-oris-actor-role": "operator" },
      { "x-oris-role": "operator", "x-forwarded-user": "admin" },
    ];
    const requests: [string, string, unknown][] = [
      ["GET", "/v1/jobs", undefined],
      ["POST", "/v1/jobs/run", { thread_id: "w-run-1", input: "hi" }],
      ["POST", "/v1/jobs", { thread_id: "w-run-2", input: "hi" }],
      ["GET", "/v1/jobs/w-approval", undefined],
      ["GET", "/v1/jobs/w-approval/detail", undefined],
      ["POST", "/v1/jobs/w-approval/resume", { value: true }],
      ["POST", "/v1/jobs/w-approval/cancel", {}],
      ["POST", "/v1/jobs/w-approval/replay", {}],
      ["GET", "/v1/interrupts", undefined],
      ["POST", `/v1/interrupts/${interruptId}/resume`, { value: true }],
      ["POST", `/v1/interrupts/${interruptId}/reject`, {}],
      ["GET", "/v1/audit/logs", undefined],
      ["GET", "/v1/openapi.json", undefined],
    ];
    for (const extra of roleHeaders) {
      for (const [method, path, body] of requests) {
        const response = await h.request(method, path, { body, headers: { ...worker, ...extra } });
        assertForbidden(response, "worker", method, path);
      }
    }
    // A role header without a credential is nothing but a missing credential.
    for (const extra of roleHeaders.slice(1)) {
      assertUnauthorized(await h.request("GET", "/v1/jobs", { headers: extra }));
      assertUnauthorized(
        await h.request("POST", `/v1/interrupts/${interruptId}/resume`, {
          body: { value: true },
          headers: extra,
        }),
      );
    }
    assert.deepEqual(await statuses(h), before, "nothing ran, resumed or was cancelled");
    const row = await h.store.getInterrupt(interruptId as never);
    assert.equal(row!.status, "pending");
    assert.deepEqual(await h.store.listEffects("w-approval" as never), []);
  },
  { auth: { bearerToken: BEARER } },
);

// ---------------------------------------------------------------------------
// RBAC matrix

type Role = "admin" | "operator" | "worker";

interface MatrixRequest {
  method: string;
  path: string;
  body?: unknown;
}

/** What each role gets: 200 when allowed, otherwise 403 (405 when no such route exists). */
function expected(role: Role, request: MatrixRequest): number {
  const { method, path } = request;
  if (role === "admin") return method === "POST" && path === "/v1/audit/logs" ? 405 : 200;
  if (role === "worker") return 403;
  if (path === "/v1/openapi.json") return 403;
  if (path === "/v1/audit/logs") return method === "GET" ? 200 : 403;
  return 200;
}

serverTest(
  "RBAC: admin everything, operator jobs, interrupts and reading the audit log, worker nothing here",
  async (h) => {
    await putKey(h, "op-1", "op-Secret", "operator");
    await putKey(h, "wk-1", "wk-Secret", "worker");
    const credentials: Record<Role, Record<string, string>> = {
      admin: ADMIN,
      operator: keyHeaders("op-1", "op-Secret"),
      worker: keyHeaders("wk-1", "wk-Secret"),
    };
    assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "seed-done", input: "hi" },
        headers: ADMIN,
      }),
    );
    const checkpoint = assertOk(await h.request("GET", "/v1/jobs/seed-done", { headers: ADMIN }))
      .checkpoint_id;
    const seedInterrupt = await approval(h, "seed-approval");

    for (const role of ["admin", "operator", "worker"] as const) {
      // Each role acts on its own approval runs (created by admin).
      const resumeByInterrupt = await approval(h, `${role}-a2`);
      const rejectByInterrupt = await approval(h, `${role}-a3`);
      await approval(h, `${role}-a1`);
      await approval(h, `${role}-a4`);
      const requests: MatrixRequest[] = [
        { method: "POST", path: "/v1/jobs/run", body: { thread_id: `${role}-run`, input: "hi" } },
        { method: "POST", path: "/v1/jobs", body: { thread_id: `${role}-alias`, input: "hi" } },
        { method: "GET", path: "/v1/jobs" },
        { method: "GET", path: "/v1/jobs/seed-done" },
        { method: "GET", path: "/v1/jobs/seed-done/detail" },
        { method: "GET", path: "/v1/jobs/seed-done/history" },
        { method: "GET", path: "/v1/jobs/seed-done/timeline" },
        { method: "GET", path: "/v1/jobs/seed-done/timeline/export" },
        { method: "GET", path: `/v1/jobs/seed-done/checkpoints/${checkpoint}` },
        { method: "GET", path: "/v1/jobs/seed-done/stream" },
        { method: "POST", path: "/v1/jobs/seed-done/replay", body: {} },
        { method: "POST", path: `/v1/jobs/${role}-a1/resume`, body: { value: true } },
        { method: "POST", path: `/v1/jobs/${role}-a4/cancel`, body: { reason: "rbac" } },
        { method: "GET", path: "/v1/interrupts" },
        { method: "GET", path: `/v1/interrupts/${seedInterrupt}` },
        {
          method: "POST",
          path: `/v1/interrupts/${resumeByInterrupt}/resume`,
          body: { value: true },
        },
        { method: "POST", path: `/v1/interrupts/${rejectByInterrupt}/reject`, body: {} },
        { method: "GET", path: "/v1/audit/logs" },
        { method: "POST", path: "/v1/audit/logs", body: {} },
        { method: "GET", path: "/v1/openapi.json" },
      ];
      for (const request of requests) {
        const response = await h.request(request.method, request.path, {
          body: request.body,
          headers: credentials[role],
        });
        const status = expected(role, request);
        const what = `${role} ${request.method} ${request.path}: ${response.text.slice(0, 300)}`;
        assert.equal(response.status, status, what);
        if (status === 403) assertForbidden(response, role, request.method, request.path);
        if (status === 405) assertError(response, 405, "invalid_argument");
      }
      const runs = await statuses(h);
      if (role === "worker") {
        assert.equal(runs[`${role}-run`], undefined);
        assert.equal(runs[`${role}-alias`], undefined);
        for (const n of [1, 2, 3, 4]) assert.equal(runs[`${role}-a${n}`], "interrupted");
      } else {
        assert.equal(runs[`${role}-run`], "completed");
        assert.equal(runs[`${role}-alias`], "completed");
        assert.equal(runs[`${role}-a1`], "completed");
        assert.equal(runs[`${role}-a2`], "completed");
        assert.equal(runs[`${role}-a3`], "cancelled");
        assert.equal(runs[`${role}-a4`], "cancelled");
      }
    }

    // Without credentials, every /v1 route (and method) is a 401.
    for (
      const [method, path] of [
        ["GET", "/v1/jobs"],
        ["GET", "/v1/audit/logs"],
        ["GET", "/v1/openapi.json"],
        ["POST", "/v1/audit/logs"],
        ["DELETE", "/v1/jobs/seed-done"],
      ]
    ) {
      assertUnauthorized(await h.request(method!, path!));
    }
  },
  { auth: { bearerToken: BEARER } },
);

serverTest(
  "/healthz, /readyz and /metrics need no credentials when auth is on",
  async (h) => {
    assert.equal(h.server.authEnabled, true);
    for (const headers of [{}, { authorization: "Bearer wrong" }, keyHeaders("nobody", "x")]) {
      assert.deepEqual(assertOk(await h.request("GET", "/healthz", { headers })), {
        status: "ok",
      });
      assert.deepEqual(assertOk(await h.request("GET", "/readyz", { headers })), {
        status: "ready",
      });
      const metrics = await h.server.app.request("/metrics", { headers });
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get("content-type")!, /^text\/plain/);
      assert.match(await metrics.text(), /oris_http_requests_total/);
    }
    assertUnauthorized(await h.request("GET", "/v1/jobs"));
  },
  { auth: { bearerToken: BEARER, apiKeyId: "ops-1", apiKey: "ops-Secret" } },
);

// ---------------------------------------------------------------------------
// Audit

serverTest(
  "every control action is audited with actor, role, result, request id, method, path and status",
  async (h) => {
    await putKey(h, "wk-1", "wk-Secret", "worker");
    const operator = keyHeaders("ops-1", "ops-Secret");
    const worker = keyHeaders("wk-1", "wk-Secret");
    const a1 = await approval(h, "audit-1", operator);
    await approval(h, "audit-2", operator);
    const a3 = await approval(h, "audit-3", operator);
    await approval(h, "audit-4", operator);

    const actions: {
      requestId: string;
      method: string;
      path: string;
      body?: unknown;
      headers: Record<string, string>;
      action: string;
      resourceType: string;
      resourceId: string | null;
      status: number;
      actor: [string, string | null, string | null];
    }[] = [
      {
        requestId: "rq-run",
        method: "POST",
        path: "/v1/jobs/run",
        body: { thread_id: "audit-run", input: "hi" },
        headers: operator,
        action: "job.run",
        resourceType: "thread",
        resourceId: "audit-run",
        status: 200,
        actor: ["api_key", "ops-1", "operator"],
      },
      {
        requestId: "rq-alias",
        method: "POST",
        path: "/v1/jobs",
        body: { thread_id: "audit-alias", input: "hi" },
        headers: ADMIN,
        action: "job.run",
        resourceType: "thread",
        resourceId: "audit-alias",
        status: 200,
        actor: ["bearer", null, "admin"],
      },
      {
        requestId: "rq-resume",
        method: "POST",
        path: "/v1/jobs/audit-2/resume",
        body: { value: true },
        headers: operator,
        action: "job.resume",
        resourceType: "thread",
        resourceId: "audit-2",
        status: 200,
        actor: ["api_key", "ops-1", "operator"],
      },
      {
        requestId: "rq-replay",
        method: "POST",
        path: "/v1/jobs/audit-run/replay",
        body: {},
        headers: operator,
        action: "job.replay",
        resourceType: "thread",
        resourceId: "audit-run",
        status: 200,
        actor: ["api_key", "ops-1", "operator"],
      },
      {
        requestId: "rq-cancel",
        method: "POST",
        path: "/v1/jobs/audit-4/cancel",
        body: { reason: "audit" },
        headers: ADMIN,
        action: "job.cancel",
        resourceType: "thread",
        resourceId: "audit-4",
        status: 200,
        actor: ["bearer", null, "admin"],
      },
      {
        requestId: "rq-iresume",
        method: "POST",
        path: `/v1/interrupts/${a1}/resume`,
        body: { value: true },
        headers: operator,
        action: "interrupt.resume",
        resourceType: "interrupt",
        resourceId: a1,
        status: 200,
        actor: ["api_key", "ops-1", "operator"],
      },
      {
        requestId: "rq-ireject",
        method: "POST",
        path: `/v1/interrupts/${a3}/reject`,
        body: { reason: "no" },
        headers: operator,
        action: "interrupt.reject",
        resourceType: "interrupt",
        resourceId: a3,
        status: 200,
        actor: ["api_key", "ops-1", "operator"],
      },
      // Failures are audited as errors.
      {
        requestId: "rq-401-run",
        method: "POST",
        path: "/v1/jobs/run",
        body: { thread_id: "audit-401", input: "hi" },
        headers: { "x-oris-role": "admin" },
        action: "job.run",
        resourceType: "thread",
        resourceId: null,
        status: 401,
        actor: ["anonymous", null, null],
      },
      {
        requestId: "rq-401-ireject",
        method: "POST",
        path: `/v1/interrupts/${a3}/reject`,
        body: {},
        headers: keyHeaders("ops-1", "wrong"),
        action: "interrupt.reject",
        resourceType: "interrupt",
        resourceId: a3,
        status: 401,
        actor: ["anonymous", null, null],
      },
      {
        requestId: "rq-403-cancel",
        method: "POST",
        path: "/v1/jobs/audit-run/cancel",
        body: {},
        headers: worker,
        action: "job.cancel",
        resourceType: "thread",
        resourceId: "audit-run",
        status: 403,
        actor: ["api_key", "wk-1", "worker"],
      },
      {
        requestId: "rq-403-iresume",
        method: "POST",
        path: `/v1/interrupts/${a1}/resume`,
        body: { value: true },
        headers: worker,
        action: "interrupt.resume",
        resourceType: "interrupt",
        resourceId: a1,
        status: 403,
        actor: ["api_key", "wk-1", "worker"],
      },
      {
        requestId: "rq-409-iresume",
        method: "POST",
        path: `/v1/interrupts/${a1}/resume`,
        body: { value: false },
        headers: operator,
        action: "interrupt.resume",
        resourceType: "interrupt",
        resourceId: a1,
        status: 409,
        actor: ["api_key", "ops-1", "operator"],
      },
    ];
    for (const item of actions) {
      const response = await h.request(item.method, item.path, {
        body: item.body,
        headers: { ...item.headers, "x-request-id": item.requestId },
      });
      assert.equal(response.status, item.status, `${item.requestId}: ${response.text}`);
    }
    for (const item of actions) {
      const logs = await auditOf(h, item.requestId);
      assert.equal(logs.length, 1, `${item.requestId}: ${JSON.stringify(logs)}`);
      const [record] = logs;
      assert.deepEqual(
        {
          actor: [record.actor_type, record.actor_id, record.actor_role],
          action: record.action,
          resource: [record.resource_type, record.resource_id],
          result: record.result,
          request_id: record.request_id,
          details: record.details,
        },
        {
          actor: item.actor,
          action: item.action,
          resource: [item.resourceType, item.resourceId],
          result: item.status === 200 ? "success" : "error",
          request_id: item.requestId,
          details: { method: item.method, path: item.path, status_code: item.status },
        },
        item.requestId,
      );
    }
    // Reads are not audited.
    await h.request("GET", "/v1/jobs", { headers: { ...operator, "x-request-id": "rq-read" } });
    await h.request("GET", "/v1/interrupts", { headers: { ...ADMIN, "x-request-id": "rq-read" } });
    assert.deepEqual(await auditOf(h, "rq-read"), []);
  },
  { auth: { bearerToken: BEARER, apiKeyId: "ops-1", apiKey: "ops-Secret" } },
);

serverTest(
  "GET /v1/audit/logs filters by request_id, action, from_ms/to_ms and limit, newest first",
  async (h) => {
    const sent: { requestId: string; action: string }[] = [];
    const act = async (
      requestId: string,
      action: string,
      method: string,
      path: string,
      body: unknown,
    ) => {
      const response = await h.request(method, path, {
        body,
        headers: { ...ADMIN, "x-request-id": requestId },
      });
      assert.ok(response.status < 500, response.text);
      sent.push({ requestId, action });
    };
    await act("f-1", "job.run", "POST", "/v1/jobs/run", { thread_id: "f-a", graph: "approval" });
    await act("f-2", "job.run", "POST", "/v1/jobs/run", { thread_id: "f-b", input: "hi" });
    await act("f-3", "job.cancel", "POST", "/v1/jobs/f-a/cancel", {});
    await act("f-4", "job.replay", "POST", "/v1/jobs/f-b/replay", {});
    await act("f-5", "job.cancel", "POST", "/v1/jobs/f-b/cancel", {}); // 409: still audited
    await act("f-6", "job.run", "POST", "/v1/jobs", { thread_id: "f-c", input: "hi" });
    // One request id used twice: both records.
    await act("f-6", "job.run", "POST", "/v1/jobs", { thread_id: "f-c", input: "hi" });

    const all = assertOk(await h.request("GET", "/v1/audit/logs", { headers: ADMIN })).logs;
    assert.deepEqual(
      all.map((record: Body) => [record.request_id, record.action]),
      sent.map((item) => [item.requestId, item.action]).reverse(),
      "newest first",
    );
    const times = all.map((record: Body) => Date.parse(record.created_at));
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    assert.equal(new Set(times).size, times.length, "the strict clock gives distinct times");
    assert.deepEqual(
      all.map((record: Body) => record.result),
      ["success", "success", "error", "success", "success", "success", "success"],
    );

    const byRequest = assertOk(
      await h.request("GET", "/v1/audit/logs?request_id=f-6", { headers: ADMIN }),
    ).logs;
    assert.deepEqual(byRequest, all.slice(0, 2));
    const none = assertOk(
      await h.request("GET", "/v1/audit/logs?request_id=f-0", { headers: ADMIN }),
    ).logs;
    assert.deepEqual(none, []);

    const cancels = assertOk(
      await h.request("GET", "/v1/audit/logs?action=job.cancel", { headers: ADMIN }),
    ).logs;
    assert.deepEqual(cancels.map((record: Body) => record.request_id), ["f-5", "f-3"]);
    const both = assertOk(
      await h.request("GET", "/v1/audit/logs?action=job.run&request_id=f-2", { headers: ADMIN }),
    ).logs;
    assert.deepEqual(both, [all[5]]);

    // Time bounds are inclusive.
    const [t6b, , t5, t4, t3] = times as number[];
    const window = assertOk(
      await h.request("GET", `/v1/audit/logs?from_ms=${t4}&to_ms=${t5}`, { headers: ADMIN }),
    ).logs;
    assert.deepEqual(window.map((record: Body) => record.request_id), ["f-5", "f-4"]);
    const from = assertOk(
      await h.request("GET", `/v1/audit/logs?from_ms=${t6b}`, { headers: ADMIN }),
    ).logs;
    assert.deepEqual(from, [all[0]]);
    const to = assertOk(
      await h.request("GET", `/v1/audit/logs?to_ms=${t3! - 1}`, { headers: ADMIN }),
    ).logs;
    assert.deepEqual(to.map((record: Body) => record.request_id), ["f-2", "f-1"]);
    const same = assertOk(
      await h.request("GET", `/v1/audit/logs?from_ms=${t3}&to_ms=${t3}&action=job.cancel`, {
        headers: ADMIN,
      }),
    ).logs;
    assert.deepEqual(same.map((record: Body) => record.request_id), ["f-3"]);

    const limited = assertOk(
      await h.request("GET", "/v1/audit/logs?limit=3", { headers: ADMIN }),
    ).logs;
    assert.deepEqual(limited, all.slice(0, 3));
    const limitedRun = assertOk(
      await h.request("GET", "/v1/audit/logs?limit=1&action=job.run", { headers: ADMIN }),
    ).logs;
    assert.deepEqual(limitedRun, [all[0]]);
    assert.equal(
      assertOk(await h.request("GET", "/v1/audit/logs?limit=500", { headers: ADMIN })).logs
        .length,
      7,
    );

    for (
      const query of [
        `from_ms=${t5}&to_ms=${t4}`,
        "limit=0",
        "limit=501",
        "limit=-1",
        "from_ms=abc",
        "to_ms=1.5",
        "action=",
        "request_id=",
        "actor=admin",
      ]
    ) {
      assertError(
        await h.request("GET", `/v1/audit/logs?${query}`, { headers: ADMIN }),
        400,
        "invalid_argument",
      );
    }
  },
  { auth: { bearerToken: BEARER }, now: strictClock() },
);

// ---------------------------------------------------------------------------
// x-request-id

serverTest(
  "x-request-id is echoed when valid, replaced when invalid, and on every response",
  async (h) => {
    const valid = [
      "a",
      "req-1",
      "A-z_0.9:x",
      "x".repeat(128),
      "0123456789abcdef0123456789abcdef",
      "...a",
    ];
    for (const id of valid) {
      const response = await h.request("GET", "/v1/jobs", {
        headers: { ...ADMIN, "x-request-id": id },
      });
      assertOk(response);
      assert.equal(response.headers.get("x-request-id"), id);
      assert.equal(response.body.request_id, id);
    }
    const invalid = [
      "x".repeat(129),
      "has space",
      "a/b",
      "a,b",
      "semi;colon",
      "r\u00e9q-1",
      "\u00fc",
      "tab\there",
      'quote"d',
      // Only dots: not an id of the kernel's pattern.
      "...",
    ];
    const generated = new Set<string>();
    for (const id of invalid) {
      const response = await h.request("GET", "/v1/jobs", {
        headers: { ...ADMIN, "x-request-id": id },
      });
      assertOk(response);
      const echoed = response.headers.get("x-request-id")!;
      assert.notEqual(echoed, id.trim());
      assert.match(echoed, REQUEST_ID);
      assert.equal(response.body.request_id, echoed);
      generated.add(echoed);
    }
    assert.equal(generated.size, invalid.length, "each replacement is fresh");
    // An empty header counts as absent: a fresh id.
    const empty = await h.request("GET", "/v1/jobs", { headers: { ...ADMIN, "x-request-id": "" } });
    assert.match(empty.headers.get("x-request-id")!, REQUEST_ID);

    // Every response carries one: errors, health, metrics, without a sent id too.
    const cases: [number, string, string, unknown, Record<string, string>][] = [
      [200, "GET", "/v1/jobs", undefined, ADMIN],
      [401, "GET", "/v1/jobs", undefined, {}],
      [401, "POST", "/v1/jobs/run", { thread_id: "rid-1" }, { authorization: "Bearer no" }],
      [404, "GET", "/v1/nope", undefined, ADMIN],
      [404, "GET", "/nope", undefined, {}],
      [404, "GET", "/v1/jobs/missing-thread", undefined, ADMIN],
      [405, "DELETE", "/v1/jobs", undefined, ADMIN],
      [405, "PUT", "/v1/jobs/run", undefined, ADMIN],
      [413, "POST", "/v1/jobs/run", "x".repeat(1024 * 1024 + 1), ADMIN],
      [400, "POST", "/v1/jobs/run", "{", ADMIN],
      [200, "GET", "/healthz", undefined, {}],
      [200, "GET", "/readyz", undefined, {}],
      [200, "GET", "/metrics", undefined, {}],
    ];
    for (const [status, method, path, body, headers] of cases) {
      for (const sent of ["case-id.1", undefined, "bad id"]) {
        const response = await h.request(method, path, {
          body,
          headers: { ...headers, ...(sent === undefined ? {} : { "x-request-id": sent }) },
        });
        assert.equal(response.status, status, `${method} ${path}: ${response.text.slice(0, 200)}`);
        const echoed = response.headers.get("x-request-id");
        assert.ok(echoed !== null, `${method} ${path} has no x-request-id`);
        if (sent === "case-id.1") assert.equal(echoed, sent);
        else assert.match(echoed, REQUEST_ID);
        assert.notEqual(echoed, "bad id");
        if (path === "/metrics") continue;
        if (status === 200) {
          assertOk(response);
          continue;
        }
        const code = status === 401
          ? "unauthorized"
          : status === 404
          ? "not_found"
          : "invalid_argument";
        assertError(response, status, code);
      }
    }
  },
  { auth: { bearerToken: BEARER } },
);
