/**
 * The filters of `GET /v1/audit/logs` are validated before any store sees
 * them, alike on memory, Deno KV and PostgreSQL: `request_id` exactly as the
 * `x-request-id` header is (the same check, so every recorded request id can
 * be asked for and nothing else), `action` against the API's one list of
 * audit actions (the route table's). A value no store can hold is a clear
 * 400, never a driver's message, and never an empty 200 on one store and an
 * error on another.
 */

import assert from "node:assert/strict";
import { AUDIT_ACTIONS } from "../server/route.ts";
import { assertError, assertOk, type Body, serverTest } from "./_server.ts";

const ADMIN = { authorization: "Bearer filters-admin" };

serverTest(
  "GET /v1/audit/logs checks request_id like x-request-id and action against the known actions",
  async (h) => {
    const sent = ["req.1:a_b-c", "x".repeat(128)];
    for (const requestId of sent) {
      assertOk(
        await h.request("POST", "/v1/jobs/run", {
          body: { thread_id: `af-${requestId.length}`, input: "hi" },
          headers: { ...ADMIN, "x-request-id": requestId },
        }),
      );
    }
    // Every request id the header keeps can be asked for.
    for (const requestId of sent) {
      const found = assertOk(
        await h.request("GET", `/v1/audit/logs?request_id=${requestId}`, { headers: ADMIN }),
      );
      assert.deepEqual(found.logs.map((entry: Body) => entry.request_id), [requestId]);
    }
    // What the header would replace is refused, the same way on every store.
    for (
      const value of ["a%00b", "a%20b", "x".repeat(129), "%C3%A9", "a%0Ab", "a/b", "%2F"]
    ) {
      const raw = decodeURIComponent(value);
      // Sent as the header too where HTTP allows the value: the header is replaced.
      const asHeader = /^[\x21-\x7e]+$/.test(raw);
      const response = await h.request("GET", `/v1/audit/logs?request_id=${value}`, {
        headers: asHeader ? { ...ADMIN, "x-request-id": raw } : ADMIN,
      });
      const error = assertError(response, 400, "invalid_argument");
      assert.equal(error.details.field, "request_id", value);
      assert.equal(
        error.message,
        'Invalid query: request_id must be 1 to 128 of letters, digits and "-_.:" (as x-request-id)',
      );
      assert.notEqual(response.headers.get("x-request-id"), raw);
    }
    // Actions: the known ones filter (even with no entry yet), anything else is a 400 naming them.
    for (const action of AUDIT_ACTIONS) {
      const listed = assertOk(
        await h.request("GET", `/v1/audit/logs?action=${action}`, { headers: ADMIN }),
      );
      assert.ok(listed.logs.every((entry: Body) => entry.action === action));
      assert.equal(listed.logs.length, action === "job.run" ? 2 : 0, action);
    }
    for (const value of ["bogus", "JOB.RUN", "job.run%00", "job"]) {
      const error = assertError(
        await h.request("GET", `/v1/audit/logs?action=${value}`, { headers: ADMIN }),
        400,
        "invalid_argument",
      );
      assert.equal(error.details.field, "action");
      assert.match(
        error.message,
        /action must be one of job\.run, job\.resume, .*key\.revoke, .*dlq\.replay, got /,
      );
    }
  },
  { auth: { bearerToken: "filters-admin" } },
);

serverTest(
  "the audit actions the API accepts as a filter are exactly the route table's",
  async (h) => {
    const routed = h.server.routes.flatMap((route) =>
      route.audit === undefined ? [] : [route.audit.action]
    );
    assert.deepEqual([...new Set(routed)].sort(), [...AUDIT_ACTIONS].sort());
    const doc = (await h.request("GET", "/v1/openapi.json", { headers: ADMIN })).body;
    const action = doc.paths["/v1/audit/logs"].get.parameters.find((p: Body) =>
      p.name === "action"
    );
    assert.deepEqual(action.schema.enum, [...AUDIT_ACTIONS]);
  },
  { auth: { bearerToken: "filters-admin" } },
);
