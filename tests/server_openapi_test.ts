/**
 * What `GET /v1/openapi.json` says beyond the schemas of each route (see
 * server_observability_test.ts for those): each registered graph's input
 * schema (from its channels' schemas, or any JSON for untyped channels), the
 * run body's `oneOf` by graph, which bodies are required, and the 405, 413,
 * 503 and 504 responses where they can happen.
 */

import assert from "node:assert/strict";
import { z } from "zod";
import { createRuntime, defineState, END, MessagesState, START, StateGraph } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { registerExamples } from "../examples/mod.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;

/** Resolves a local `$ref` (a JSON Pointer into the document). */
function resolve(doc: Doc, ref: string): Doc {
  assert.ok(ref.startsWith("#/"), ref);
  let node = doc;
  for (const token of ref.slice(2).split("/")) {
    node = node?.[token.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  assert.ok(node !== undefined, `${ref} resolves`);
  return node;
}

async function documentOf(setup: (runtime: ReturnType<typeof createRuntime>) => void) {
  const runtime = createRuntime();
  setup(runtime);
  const server = await createServer({ runtime });
  const response = await server.app.request("/v1/openapi.json");
  assert.equal(response.status, 200);
  const doc = await response.json();
  return {
    doc,
    server,
    runtime,
    async [Symbol.asyncDispose]() {
      await server.close();
      await runtime.close();
    },
  };
}

const Tree: z.ZodType = z.object({
  name: z.string(),
  get children() {
    return z.array(Tree);
  },
});

Deno.test("the OpenAPI document shows each registered graph's input schema", async () => {
  await using opened = await documentOf((runtime) => {
    registerExamples(runtime);
    new StateGraph(defineState({
      title: { schema: z.string().min(1), default: () => "" },
      tags: {
        schema: z.array(z.string()),
        default: (): string[] => [],
        reducer: (a: string[], b: string[]) => [...a, ...b],
      },
      tree: { schema: Tree },
      note: { default: (): unknown => null },
    }))
      .addNode("a", () => ({}))
      .addEdge(START, "a")
      .addEdge("a", END)
      .compile({ runtime, name: "typed:v1" });
  });
  const { doc } = opened;
  const schemas = doc.components.schemas;

  // A typed channel shows its JSON Schema; an untyped one, any JSON value.
  const approval = schemas["GraphInput.approval"];
  assert.equal(approval.type, "object");
  assert.equal(approval.additionalProperties, false);
  assert.deepEqual(approval.properties.request, { type: "string", maxLength: 10000 });
  assert.deepEqual(approval.properties.log, { description: "Any JSON value" });
  assert.deepEqual(Object.keys(approval.properties), [
    "request",
    "action",
    "approved",
    "result",
    "log",
  ]);
  // `:` is not allowed in component names.
  const typed = schemas["GraphInput.typed_v1"];
  assert.deepEqual(typed.properties.title, { type: "string", minLength: 1 });
  assert.deepEqual(typed.properties.tags, { type: "array", items: { type: "string" } });
  assert.deepEqual(typed.properties.note, { description: "Any JSON value" });
  // A recursive schema's `$ref`s point at it inside the document.
  const children = typed.properties.tree.properties.children.items;
  assert.equal(resolve(doc, children.$ref), typed.properties.tree);
  // A graph with messages also takes a string (a human message).
  const hello = schemas["GraphInput.hello"];
  assert.equal(hello.anyOf.length, 2);
  assert.deepEqual(Object.keys(hello.anyOf[0].properties), ["messages"]);
  assert.equal(hello.anyOf[1].type, "string");

  // The run body says which input applies: by `graph`, or the default graph without one.
  for (const path of ["/v1/jobs/run", "/v1/jobs"]) {
    const body = doc.paths[path].post.requestBody;
    assert.equal(body.required, true, path);
    const variants = body.content["application/json"].schema.oneOf;
    const byTitle = new Map(variants.map((variant: Doc) => [variant.title, variant]));
    for (const graph of ["hello", "approval", "typed:v1"]) {
      const variant: Doc = byTitle.get(`graph "${graph}"`);
      assert.deepEqual(variant.properties.graph, { const: graph }, graph);
      assert.deepEqual(variant.required, ["graph"]);
      assert.equal(
        resolve(doc, variant.properties.input.$ref),
        schemas[`GraphInput.${graph.replace(":", "_")}`],
      );
    }
    const fallback: Doc = byTitle.get('graph "hello" (the default: no graph given)');
    assert.deepEqual(fallback.not, { required: ["graph"] });
    assert.equal(fallback.properties.input.$ref, "#/components/schemas/GraphInput.hello");
  }
});

Deno.test("the OpenAPI document shows graphs registered after the server started", async () => {
  await using opened = await documentOf(() => {});
  const { doc: before, runtime, server } = opened;
  assert.equal(before.components.schemas["GraphInput.late"], undefined);
  assert.equal(
    before.paths["/v1/jobs/run"].post.requestBody.content["application/json"].schema.oneOf,
    undefined,
  );
  new StateGraph(MessagesState).addNode("a", () => ({})).addEdge(START, "a").addEdge("a", END)
    .compile({ runtime, name: "late" });
  const after = await (await server.app.request("/v1/openapi.json")).json();
  assert.ok(after.components.schemas["GraphInput.late"]);
});

Deno.test("the OpenAPI document marks required bodies, and documents 405, 413, 415, 503 and 504", async () => {
  await using opened = await documentOf(registerExamples);
  const { doc, server } = opened;
  const required = new Map<string, boolean>();
  for (const route of server.routes) {
    const path = route.path.replace(/:([A-Za-z_]+)/g, "{$1}");
    const key = `${route.method} ${route.path}`;
    const operation = doc.paths[path][route.method.toLowerCase()];
    const responses = operation.responses;
    assert.match(responses["405"].description, /Allow/, key);
    assert.equal(responses["413"] !== undefined, operation.requestBody !== undefined, key);
    assert.equal(responses["415"] !== undefined, operation.requestBody !== undefined, key);
    const usesStore = route.path.startsWith("/v1/") || route.path === "/readyz";
    assert.equal(responses["503"] !== undefined, usesStore, key);
    assert.equal(responses["504"] !== undefined, usesStore, key);
    for (const status of ["405", "413", "415", "503", "504"]) {
      if (responses[status] === undefined) continue;
      assert.deepEqual(
        responses[status].content,
        responses["400"].content,
        `${key} ${status} is the error envelope`,
      );
    }
    if (operation.requestBody !== undefined) required.set(key, operation.requestBody.required);
  }
  // A body is required when an empty one (read as `{}`) is not valid.
  assert.deepEqual(Object.fromEntries(required), {
    "POST /v1/jobs/run": true,
    "POST /v1/keys": true,
    "POST /v1/jobs": true,
    // An empty body continues a paused run.
    "POST /v1/jobs/:thread_id/resume": false,
    "POST /v1/jobs/:thread_id/replay": false,
    "POST /v1/jobs/:thread_id/cancel": false,
    "POST /v1/jobs/:thread_id/fork": false,
    "POST /v1/jobs/:thread_id/state": true,
    "POST /v1/jobs/:thread_id/pause": false,
    "POST /v1/interrupts/:interrupt_id/resume": true,
    "POST /v1/interrupts/:interrupt_id/reject": false,
    "POST /v1/workers/poll": true,
    "POST /v1/workers/:worker_id/heartbeat": true,
    "POST /v1/workers/:worker_id/extend-lease": true,
    "POST /v1/workers/:worker_id/report-step": true,
    "POST /v1/workers/:worker_id/ack": true,
    "POST /v1/workers/:worker_id/release": true,
    "POST /v1/workers/:worker_id/runs/:thread_id/effects": true,
    "POST /v1/workers/:worker_id/runs/:thread_id/mail/:seq/answer": true,
  });
});
