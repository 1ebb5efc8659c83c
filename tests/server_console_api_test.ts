/**
 * What the operator console reads, through the v1 API like any client:
 * `GET /v1/graphs` (each served graph's nodes, edges and conditional edges,
 * with the fingerprint runs record), `GET /v1/whoami` (the caller and the
 * routes its role may call: a viewer reads, an operator also acts),
 * `GET /v1/jobs/:thread_id/diff` (what changed between two checkpoints) and
 * `GET /v1/jobs/:thread_id/effects` (the journal, with results), on every
 * store.
 */

import assert from "node:assert/strict";
import { createRuntime, type ThreadId } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { AUDIT_ACTIONS } from "../server/route.ts";
import { assertError, assertOk, type Body, serverTest } from "./_server.ts";

const BEARER = "console-api-token";
const ADMIN = { authorization: `Bearer ${BEARER}` };

serverTest("GET /v1/graphs shows each served graph's structure and fingerprint", async (h) => {
  const { graphs } = assertOk(await h.request("GET", "/v1/graphs"));
  const approval = graphs.find((graph: Body) => graph.name === "approval");
  assert.deepEqual(approval.nodes, ["prepare", "approve", "act", "record_rejection"]);
  assert.deepEqual(approval.edges, [
    { from: "__start__", to: "prepare" },
    { from: "prepare", to: "approve" },
    { from: "act", to: "__end__" },
    { from: "record_rejection", to: "__end__" },
  ]);
  assert.deepEqual(approval.branches, [{
    source: "approve",
    targets: ["act", "record_rejection"],
  }]);
  assert.deepEqual(approval.ends, {});
  assert.equal(approval.default, false);
  assert.equal(graphs.find((graph: Body) => graph.name === "hello").default, true);
  assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "g-1", graph: "approval", input: { request: "x" } },
    }),
  );
  const detail = assertOk(await h.request("GET", "/v1/jobs/g-1/detail"));
  assert.equal(detail.graph_fingerprint, approval.fingerprint);
});

serverTest("GET /v1/whoami without auth: anonymous, every v1 route", async (h) => {
  const me = assertOk(await h.request("GET", "/v1/whoami"));
  assert.equal(me.auth_enabled, false);
  assert.equal(me.actor_type, "anonymous");
  assert.equal(me.role, null);
  const v1 = h.server.routes.filter((route) => route.path.startsWith("/v1/"));
  assert.deepEqual(me.routes, v1.map((route) => `${route.method} ${route.path}`));
});

serverTest(
  "a viewer reads runs, interrupts, graphs and the audit log, and may not act; whoami lists what each role may call",
  async (h) => {
    assertError(await h.request("GET", "/v1/whoami"), 401, "unauthorized");
    const admin = assertOk(await h.request("GET", "/v1/whoami", { headers: ADMIN }));
    assert.deepEqual([admin.actor_type, admin.role], ["bearer", "admin"]);
    assert.ok(admin.routes.includes("POST /v1/keys"));
    const key = async (role: string) => {
      const created = assertOk(
        await h.request("POST", "/v1/keys", {
          body: { key_id: `k-${role}`, role },
          headers: ADMIN,
        }),
      );
      assert.equal(created.role, role);
      return { "x-api-key-id": `k-${role}`, "x-api-key": created.secret as string };
    };
    const keys = {
      viewer: await key("viewer"),
      operator: await key("operator"),
      worker: await key("worker"),
    };
    const viewer = assertOk(await h.request("GET", "/v1/whoami", { headers: keys.viewer }));
    assert.deepEqual([viewer.actor_type, viewer.actor_id, viewer.role], [
      "api_key",
      "k-viewer",
      "viewer",
    ]);
    assert.ok(viewer.routes.every((route: string) => route.startsWith("GET ")), viewer.routes);
    for (
      const route of [
        "GET /v1/jobs",
        "GET /v1/jobs/:thread_id/stream",
        "GET /v1/interrupts",
        "GET /v1/graphs",
        "GET /v1/audit/logs",
      ]
    ) assert.ok(viewer.routes.includes(route), route);
    assert.ok(!viewer.routes.includes("GET /v1/keys"));
    const operator = assertOk(await h.request("GET", "/v1/whoami", { headers: keys.operator }));
    assert.ok(operator.routes.includes("POST /v1/jobs/:thread_id/cancel"));
    assert.ok(operator.routes.includes("GET /v1/graphs"));
    assert.ok(!operator.routes.includes("POST /v1/keys"));
    const worker = assertOk(await h.request("GET", "/v1/whoami", { headers: keys.worker }));
    assert.deepEqual(worker.routes, [
      "POST /v1/workers/poll",
      "POST /v1/workers/:worker_id/heartbeat",
      "POST /v1/workers/:worker_id/extend-lease",
      "POST /v1/workers/:worker_id/report-step",
      "POST /v1/workers/:worker_id/ack",
      "POST /v1/workers/:worker_id/release",
      "GET /v1/workers/:worker_id/runs/:thread_id",
      "GET /v1/workers/:worker_id/runs/:thread_id/events",
      "GET /v1/workers/:worker_id/runs/:thread_id/effects",
      "POST /v1/workers/:worker_id/runs/:thread_id/effects",
      "GET /v1/workers/:worker_id/runs/:thread_id/mail",
      "POST /v1/workers/:worker_id/runs/:thread_id/mail/:seq/answer",
      "GET /v1/whoami",
    ]);
    // Not the listing of every worker's leases.
    assert.ok(!worker.routes.includes("GET /v1/workers"));

    // What whoami says is what the server enforces.
    assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "v-1", graph: "approval", input: { request: "x" } },
        headers: ADMIN,
      }),
    );
    assertOk(await h.request("GET", "/v1/jobs/v-1/detail", { headers: keys.viewer }));
    assertOk(await h.request("GET", "/v1/interrupts?status=pending", { headers: keys.viewer }));
    assertOk(await h.request("GET", "/v1/audit/logs", { headers: keys.viewer }));
    const refused = assertError(
      await h.request("POST", "/v1/jobs/v-1/cancel", { body: {}, headers: keys.viewer }),
      403,
      "forbidden",
    );
    assert.equal(refused.details.role, "viewer");
    assertError(
      await h.request("GET", "/v1/keys", { headers: keys.viewer }),
      403,
      "forbidden",
    );
    const job = assertOk(await h.request("GET", "/v1/jobs/v-1", { headers: keys.viewer }));
    assert.equal(job.status, "interrupted");
    const denied = assertOk(
      await h.request("GET", "/v1/audit/logs?action=job.cancel", { headers: ADMIN }),
    );
    assert.deepEqual(denied.logs.map((log: Body) => [log.actor_role, log.result]), [
      ["viewer", "error"],
    ]);
  },
  { auth: { bearerToken: BEARER } },
);

serverTest("GET /v1/jobs/:thread_id/diff shows what changed between two checkpoints", async (h) => {
  assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "d-1", graph: "approval", input: { request: "deploy" } },
    }),
  );
  assertOk(await h.request("POST", "/v1/jobs/d-1/resume", { body: { value: true } }));
  const { history } = assertOk(await h.request("GET", "/v1/jobs/d-1/history"));
  assert.equal(history.length, 3);
  const [last, middle, first] = history.map((item: Body) => item.checkpoint_id);
  // Default: against the parent, i.e. what the last step (act) changed.
  const step = assertOk(await h.request("GET", `/v1/jobs/d-1/diff?to=${last}`));
  assert.equal(step.from_checkpoint_id, middle);
  assert.deepEqual(step.changes, [
    {
      path: ["result"],
      op: "replace",
      before: null,
      after: { performed: { kind: "execute", request: "deploy" } },
    },
    { path: ["log", 2], op: "add", after: "performed" },
  ]);
  // The first checkpoint has no parent: against the empty state.
  const initial = assertOk(await h.request("GET", `/v1/jobs/d-1/diff?to=${first}`));
  assert.equal(initial.from_checkpoint_id, null);
  assert.ok(initial.changes.every((change: Body) => change.op === "add"));
  const back = assertOk(await h.request("GET", `/v1/jobs/d-1/diff?from=${last}&to=${first}`));
  assert.deepEqual(
    back.changes.filter((change: Body) => change.op === "remove").map((change: Body) =>
      change.path
    ),
    [["log", 1], ["log", 2]],
  );
  assertError(await h.request("GET", "/v1/jobs/d-1/diff?to=cp_nope"), 404, "not_found");
  assertError(await h.request("GET", "/v1/jobs/nope/diff?to=cp_nope"), 404, "not_found");
  const missing = assertError(await h.request("GET", "/v1/jobs/d-1/diff"), 400, "invalid_argument");
  assert.equal(missing.details.field, "to");
});

serverTest("GET /v1/jobs/:thread_id/effects lists the journal with results", async (h) => {
  assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "e-1", graph: "approval", input: { request: "deploy" } },
    }),
  );
  assert.deepEqual(assertOk(await h.request("GET", "/v1/jobs/e-1/effects")).effects, []);
  assertOk(await h.request("POST", "/v1/jobs/e-1/resume", { body: { value: true } }));
  const { effects } = assertOk(await h.request("GET", "/v1/jobs/e-1/effects"));
  assert.equal(effects.length, 1);
  const [effect] = effects;
  assert.ok(Date.parse(effect.started_at) <= Date.parse(effect.recorded_at));
  assert.equal(effect.duration_ms, Date.parse(effect.recorded_at) - Date.parse(effect.started_at));
  assert.deepEqual(
    {
      ...effect,
      started_at: typeof effect.started_at,
      recorded_at: typeof effect.recorded_at,
      duration_ms: typeof effect.duration_ms,
    },
    {
      step: 3,
      node: "act",
      task_path: "3:act",
      index: 0,
      name: "perform_action",
      ok: true,
      value: { performed: { kind: "execute", request: "deploy" } },
      started_at: "string",
      recorded_at: "string",
      duration_ms: "number",
    },
  );
  // A record journaled before start times were kept: no start, no duration.
  await h.store.recordEffect({
    threadId: "e-1" as ThreadId,
    step: 3,
    node: "3:act",
    index: 1,
    name: "older",
    result: { ok: true, value: null },
    recordedAt: Date.parse(effect.recorded_at),
  });
  const older = assertOk(await h.request("GET", "/v1/jobs/e-1/effects")).effects[1];
  assert.deepEqual([older.name, older.started_at, older.duration_ms], ["older", null, null]);
  assertError(await h.request("GET", "/v1/jobs/nope/effects"), 404, "not_found");
});

Deno.test("the console's audit filter offers exactly the API's audit actions", async () => {
  const runtime = createRuntime();
  const server = await createServer({ runtime });
  try {
    const source = await Deno.readTextFile(new URL("../server/console/audit.js", import.meta.url));
    assert.match(source, /fetch\("\/console\/audit_actions\.json"/);
    assert.doesNotMatch(source, /"job\.run"/);
    const response = await server.app.request("/console/audit_actions.json");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /^application\/json/);
    assert.match(response.headers.get("content-security-policy")!, /default-src 'none'/);
    assert.deepEqual(await response.json(), [...AUDIT_ACTIONS]);
  } finally {
    await server.close();
    await runtime.close();
  }
});

Deno.test("the console's files are served under /console/, each one, with a strict CSP", async () => {
  const runtime = createRuntime();
  const server = await createServer({ runtime });
  const off = await createServer({ runtime, console: false });
  try {
    const redirect = await server.app.request("/console");
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get("location"), "/console/");
    const files = [...Deno.readDirSync(new URL("../server/console/", import.meta.url))]
      .map((entry) => entry.name).sort();
    assert.ok(files.includes("index.html") && files.includes("app.js"));
    for (const name of ["", ...files]) {
      const response = await server.app.request(`/console/${name}`);
      assert.equal(response.status, 200, name);
      assert.match(response.headers.get("content-security-policy")!, /script-src 'self'/);
      const text = await response.text();
      if (name === "") assert.match(text, /<title>Oris console<\/title>/);
    }
    // Every module the page imports is served (nothing from elsewhere).
    for (const name of files.filter((file) => file.endsWith(".js"))) {
      const source = await (await server.app.request(`/console/${name}`)).text();
      for (const [, imported] of source.matchAll(/from "\.\/([^"]+)"/g)) {
        assert.ok(files.includes(imported!), `${name} imports ${imported}`);
      }
    }
    const missing = await server.app.request("/console/nope.js");
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const disabled = await off.app.request("/console/");
    assert.equal(disabled.status, 404);
    await disabled.body?.cancel();
  } finally {
    await server.close();
    await off.close();
    await runtime.close();
  }
});
