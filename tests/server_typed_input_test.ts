/**
 * Typed channels through the API, on memory, Deno KV and PostgreSQL: a job's
 * input is checked against its graph's channel schemas before anything is
 * written (no run, no idempotency key claimed), with a 400 naming the
 * channel; the `approval` example's `request` is a string.
 */

import assert from "node:assert/strict";
import { assertError, assertOk, type Harness, serverTest } from "./_server.ts";

async function written(h: Harness): Promise<unknown> {
  const runs = await h.allRuns();
  const events: Record<string, unknown> = {};
  for (const run of runs) events[run.threadId] = await h.events(run.threadId);
  return JSON.parse(JSON.stringify({ runs, events }));
}

serverTest("a wrong-typed input is a 400 naming the channel, and writes nothing", async (h) => {
  assertOk(await h.request("POST", "/v1/jobs/run", { body: { thread_id: "ok-1", input: "hi" } }));
  const before = await written(h);
  for (
    const [input, issue] of [
      [{ request: 42 }, "Invalid input: expected string, received number"],
      [{ request: null }, "Invalid input: expected string, received null"],
      [{ request: ["deploy"] }, "Invalid input: expected string, received array"],
      [{ request: "x".repeat(10_001) }, "Too big: expected string to have <=10000 characters"],
    ] as const
  ) {
    const response = await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "typed-1", graph: "approval", input, idempotency_key: "typed-key" },
    });
    const error = assertError(response, 400, "invalid_argument");
    assert.equal(
      error.message,
      `Cannot apply the update of input: channel "request" is not valid: ${issue}`,
    );
    assert.equal(error.details.field, "input.request");
    assert.deepEqual(error.details.issues, [{ path: "", message: issue }]);
    assert.deepEqual(await written(h), before);
  }
  // An unknown channel is named the same way.
  const unknown = assertError(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: "typed-1", graph: "approval", input: { requset: "deploy" } },
    }),
    400,
    "invalid_argument",
  );
  assert.match(unknown.message, /unknown channel "requset"/);
  assert.equal(unknown.details.field, "input.requset");
  assert.deepEqual(await written(h), before);
  // The key was never claimed, and a right input runs.
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: {
        thread_id: "typed-1",
        graph: "approval",
        input: { request: "deploy" },
        idempotency_key: "typed-key",
      },
    }),
  );
  assert.equal(data.status, "interrupted");
  assert.equal(data.idempotent_replay, false);
});
