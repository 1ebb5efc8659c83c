/**
 * Run responses carry the run's values (issue 8): `POST /v1/jobs/run`,
 * `POST /v1/jobs/:thread_id/resume` and `POST /v1/interrupts/:id/resume`
 * answer with `values`, the run's state when the response was made (the
 * final values of a completed run), the same as `GET /v1/jobs/:thread_id`
 * and its detail, on memory, Deno KV and PostgreSQL.
 */

import assert from "node:assert/strict";
import { assertOk, serverTest } from "./_server.ts";

serverTest("run and resume responses carry the run's values", async (h) => {
  const hello = assertOk(
    await h.request("POST", "/v1/jobs/run", { body: { thread_id: "v-1", input: "hi" } }),
  );
  assert.equal(hello.status, "completed");
  assert.deepEqual(
    hello.values.messages.map((m: { type: string; content: string }) => [m.type, m.content]),
    [["human", "hi"], ["ai", "hello world"]],
  );
  for (const path of ["/v1/jobs/v-1", "/v1/jobs/v-1/detail"]) {
    assert.deepEqual(assertOk(await h.request("GET", path)).values, hello.values, path);
  }

  // Interrupted: the values so far; resumed: the final values.
  const asked = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "v-2", graph: "approval", input: { request: "deploy" } },
    }),
  );
  assert.equal(asked.status, "interrupted");
  assert.deepEqual(asked.values.log, ["prepared"]);
  assert.equal(asked.values.request, "deploy");
  const done = assertOk(
    await h.request("POST", "/v1/jobs/v-2/resume", { body: { value: true } }),
  );
  assert.deepEqual(done.values.log, ["prepared", "approved", "performed"]);
  assert.deepEqual(done.values.result, { performed: { kind: "execute", request: "deploy" } });
  assert.deepEqual(assertOk(await h.request("GET", "/v1/jobs/v-2")).values, done.values);

  const other = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "v-3", graph: "approval", input: { request: "undo" } },
    }),
  );
  const id = other.pending_interrupts[0].interrupt_id;
  const rejected = assertOk(
    await h.request("POST", `/v1/interrupts/${id}/resume`, { body: { value: false } }),
  );
  assert.deepEqual(rejected.values.log, ["prepared", "rejected", "rejection recorded"]);
  assert.deepEqual(assertOk(await h.request("GET", "/v1/jobs/v-3")).values, rejected.values);

  // Without waiting: the values as they are when the run is taken up.
  const queued = assertOk(
    await h.request("POST", "/v1/jobs/run?wait=false", {
      body: { thread_id: "v-4", graph: "approval", input: { request: "later" } },
    }),
  );
  assert.equal(queued.values.request, "later");
});
