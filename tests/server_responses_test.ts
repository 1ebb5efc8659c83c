/**
 * The response schemas of the v1 API (`server/responses.ts`), on memory,
 * Deno KV and PostgreSQL:
 *
 * - every route of the table has a response schema, and the OpenAPI
 *   document's success response is its JSON Schema (inside the envelope, or
 *   as the body of a route with its own media type, shared shapes under
 *   `components.schemas`, descriptions kept); every error response is the
 *   error envelope;
 * - what the routes actually answer parses with their schema, exactly (the
 *   parsed value equals the body: no field is left undocumented).
 */

import assert from "node:assert/strict";
import type { z } from "zod";
import { openApiSchema } from "../server/openapi.ts";
import { ErrorEnvelope, successEnvelope } from "../server/responses.ts";
import type { RouteDef } from "../server/route.ts";
import {
  type ApiResponse,
  assertOk,
  type Body,
  compileBoom,
  type Harness,
  serverTest,
} from "./_server.ts";

/** The route table as the server holds it (its summaries are the full definitions). */
function routeTable(h: Harness): Map<string, RouteDef> {
  const routes = h.server.routes as readonly RouteDef[];
  return new Map(routes.map((route) => [`${route.method} ${route.path}`, route]));
}

/** Parses a body with a schema and asserts that nothing was dropped or changed. */
function assertParses(schema: z.ZodType, body: unknown, what: string): void {
  const result = schema.safeParse(body);
  assert.ok(result.success, `${what}: ${result.error?.message}`);
  assert.deepEqual(result.data, body, `${what}: the schema documents every field`);
}

serverTest(
  "every route has a response schema, which the OpenAPI document describes",
  async (h) => {
    const response = await h.server.app.request("/v1/openapi.json");
    const doc = await response.json();
    const errorSchema = openApiSchema(ErrorEnvelope, "output").schema;
    assert.deepEqual(errorSchema, { $ref: "#/components/schemas/ErrorEnvelope" });
    assert.ok(doc.components.schemas.ErrorEnvelope !== undefined);
    // Descriptions given with `.describe()` are kept, in requests and responses.
    const run = doc.paths["/v1/jobs/run"].post;
    assert.match(
      run.requestBody.content["application/json"].schema.properties.graph.description,
      /graph/,
    );
    assert.match(
      doc.components.schemas.RunResponse.properties.interrupts.description,
      /interrupts/,
    );
    for (const [key, route] of routeTable(h)) {
      assert.equal(typeof route.response?.safeParse, "function", `${key} has a response schema`);
      const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
      const operation = doc.paths[path][route.method.toLowerCase()];
      const expected = route.mediaType === undefined
        ? {
          "application/json": {
            schema: openApiSchema(successEnvelope(route.response), "output").schema,
          },
        }
        : { [route.mediaType]: { schema: openApiSchema(route.response, "output").schema } };
      assert.deepEqual(operation.responses["200"].content, expected, key);
      for (const [status, item] of Object.entries(operation.responses)) {
        if (status === "200") continue;
        assert.deepEqual(
          (item as Body).content,
          { "application/json": { schema: errorSchema } },
          `${key} ${status}`,
        );
      }
    }
  },
);

serverTest("what the routes answer parses with their response schemas", async (h) => {
  const routes = routeTable(h);
  const check = async (
    key: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse> => {
    const route = routes.get(key);
    assert.ok(route !== undefined, key);
    const response = await h.request(route.method, path, {
      ...(body === undefined ? {} : { body }),
      ...(headers === undefined ? {} : { headers }),
    });
    assert.equal(response.status, 200, `${key}: ${response.text}`);
    if (route.mediaType === undefined) {
      assertOk(response);
      assertParses(successEnvelope(route.response), response.body, key);
    } else {
      assertParses(route.response, response.body ?? response.text, key);
    }
    return response;
  };

  // Runs: completed, replayed by key, interrupted (then resumed, rejected, cancelled), failed.
  await check("POST /v1/jobs/run", "/v1/jobs/run", { thread_id: "r-1", input: "hi" });
  await check("POST /v1/jobs", "/v1/jobs", {
    thread_id: "r-2",
    input: "hi",
    idempotency_key: "k-2",
  });
  const replayed = await check("POST /v1/jobs", "/v1/jobs", {
    thread_id: "r-2",
    input: "hi",
    idempotency_key: "k-2",
  });
  assert.equal(replayed.body.data.idempotent_replay, true);
  const approval = await check("POST /v1/jobs/run", "/v1/jobs/run", {
    thread_id: "a-1",
    graph: "approval",
    input: { request: "ship" },
  });
  const interruptId = approval.body.data.pending_interrupts[0].interrupt_id;
  await check("GET /v1/jobs", "/v1/jobs");
  await check("GET /v1/jobs/:thread_id", "/v1/jobs/a-1");
  await check("GET /v1/jobs/:thread_id/detail", "/v1/jobs/a-1/detail");
  const history = await check("GET /v1/jobs/:thread_id/history", "/v1/jobs/a-1/history");
  const checkpoint = history.body.data.history[0].checkpoint_id;
  await check(
    "GET /v1/jobs/:thread_id/checkpoints/:checkpoint_id",
    `/v1/jobs/a-1/checkpoints/${checkpoint}`,
  );
  await check("GET /v1/interrupts", "/v1/interrupts");
  await check("GET /v1/interrupts/:interrupt_id", `/v1/interrupts/${interruptId}`);
  await check("POST /v1/interrupts/:interrupt_id/resume", `/v1/interrupts/${interruptId}/resume`, {
    value: true,
  });
  await check("GET /v1/jobs/:thread_id/timeline", "/v1/jobs/a-1/timeline");
  await check("GET /v1/jobs/:thread_id/timeline/export", "/v1/jobs/a-1/timeline/export");
  await check("GET /v1/jobs/:thread_id/stream", "/v1/jobs/a-1/stream");
  await check("POST /v1/jobs/:thread_id/replay", "/v1/jobs/a-1/replay", {});

  const second = await check("POST /v1/jobs/run", "/v1/jobs/run", {
    thread_id: "a-2",
    graph: "approval",
    input: {},
  });
  await check("POST /v1/jobs/:thread_id/resume", "/v1/jobs/a-2/resume", { value: false });
  const third = await check("POST /v1/jobs/run", "/v1/jobs/run", {
    thread_id: "a-3",
    graph: "approval",
    input: {},
  });
  await check(
    "POST /v1/interrupts/:interrupt_id/reject",
    `/v1/interrupts/${third.body.data.pending_interrupts[0].interrupt_id}/reject`,
    { reason: "no" },
  );
  assert.equal(second.body.data.status, "interrupted");
  await check("POST /v1/jobs/run", "/v1/jobs/run", {
    thread_id: "a-4",
    graph: "approval",
    input: {},
  });
  await check("POST /v1/jobs/:thread_id/cancel", "/v1/jobs/a-4/cancel", { reason: "stop" });
  // A run that failed carries its error.
  compileBoom(h.runtime);
  const failed = await check("POST /v1/jobs/run", "/v1/jobs/run", {
    thread_id: "f-1",
    graph: "boom",
    input: {},
    idempotency_key: "k-f1",
  });
  assert.equal(failed.body.data.status, "failed");
  assert.equal(failed.body.data.error.message, "boom");
  await check("GET /v1/jobs/:thread_id/detail", "/v1/jobs/f-1/detail");
  await check("GET /v1/jobs/:thread_id/timeline", "/v1/jobs/f-1/timeline");

  // Audit, operations and the document itself.
  const logs = await check("GET /v1/audit/logs", "/v1/audit/logs");
  assert.ok(logs.body.data.logs.length > 0);
  await check("GET /healthz", "/healthz");
  await check("GET /readyz", "/readyz");
  await check("GET /metrics", "/metrics");
  await check("GET /v1/openapi.json", "/v1/openapi.json");

  // Errors parse with the error envelope.
  for (
    const [method, path, body] of [
      ["GET", "/v1/jobs/missing", undefined],
      ["POST", "/v1/jobs/run", { thread_id: "bad id" }],
      ["POST", `/v1/interrupts/${interruptId}/resume`, { value: false }],
      ["DELETE", "/v1/jobs", undefined],
    ] as const
  ) {
    const response = await h.request(method, path, body === undefined ? {} : { body });
    assert.ok(response.status >= 400, `${method} ${path}`);
    assertParses(ErrorEnvelope, response.body, `${method} ${path}`);
  }
});
