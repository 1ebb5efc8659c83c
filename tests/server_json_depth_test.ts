/**
 * Deep JSON in a request body is a 400, never a 500: on memory, Deno KV and
 * PostgreSQL, a body nested deeper than the runtime's `maxJsonDepth` (256 by
 * default; `ORIS_MAX_JSON_DEPTH` for `deno task start`) is refused before
 * zod or anything recursive sees it, with `invalid_argument` naming the
 * limit, and writes nothing; a body at the limit is accepted. (An 18 KB body
 * nesting 2,500 levels used to overflow zod's stack: `internal`.)
 */

import assert from "node:assert/strict";
import { DEFAULT_MAX_JSON_DEPTH } from "../kernel/mod.ts";
import { parseConfig } from "../server/main.ts";
import { assertError, assertOk, type Body, type Harness, serverTest } from "./_server.ts";

/** `{ "d": { "d": ... "leaf" } }`, `depth` levels deep (built as text: no recursion). */
function nestedText(depth: number): string {
  return `${'{"d":'.repeat(depth)}"leaf"${"}".repeat(depth)}`;
}

/** What a refused request must leave alone: runs, their events, interrupts. */
async function written(h: Harness): Promise<unknown> {
  const runs = await h.allRuns();
  const events: Record<string, unknown> = {};
  for (const run of runs) events[run.threadId] = await h.events(run.threadId);
  const interrupts = (await h.store.listInterrupts({ limit: 100 })).items;
  return JSON.parse(JSON.stringify({ runs, events, interrupts }));
}

function tooDeep(error: Body): void {
  assert.equal(
    error.message,
    "Cannot accept the request body: it is nested more than 256 levels deep (the JSON nesting limit)",
  );
  assert.deepEqual(error.details, { max_depth: 256 });
}

serverTest(
  "a body nested 2,500 levels deep is a 400 naming the limit, and writes nothing",
  async (h) => {
    const pending = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "wait-1", graph: "approval", input: { request: "deploy" } },
      }),
    );
    const interruptId = pending.pending_interrupts[0].interrupt_id;
    const before = await written(h);
    const deep = nestedText(2_500);
    const bodies: [string, string][] = [
      [
        "/v1/jobs/run",
        `{"thread_id":"deep-1","graph":"gate","idempotency_key":"deep-key","input":{"log":[${deep}]}}`,
      ],
      ["/v1/jobs", `{"thread_id":"deep-1","input":${deep}}`],
      ["/v1/jobs/wait-1/resume", `{"value":${deep}}`],
      ["/v1/jobs/wait-1/resume", `{"values":{"${interruptId}":${deep}}}`],
      [`/v1/interrupts/${interruptId}/resume`, `{"value":${deep}}`],
      ["/v1/jobs/wait-1/cancel", `{"reason":${deep}}`],
      // Arrays count as levels too.
      [
        "/v1/jobs/run",
        `{"thread_id":"deep-1","input":{"log":${"[".repeat(2_500)}${"]".repeat(2_500)}}}`,
      ],
    ];
    assert.ok(bodies[0]![1].length > 12_000);
    for (const [path, body] of bodies) {
      const response = await h.request("POST", path, { body });
      tooDeep(assertError(response, 400, "invalid_argument"));
      assert.deepEqual(await written(h), before, `${path} wrote`);
    }
    // The run waits as it did, and the key was never claimed.
    assert.equal(assertOk(await h.request("GET", "/v1/jobs/wait-1")).status, "interrupted");
    const data = assertOk(
      await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "deep-1", graph: "gate", idempotency_key: "deep-key" },
      }),
    );
    assert.equal(data.idempotent_replay, false);
  },
);

serverTest("a body one level past the limit is a 400; one at the limit is run", async (h) => {
  assert.equal(DEFAULT_MAX_JSON_DEPTH, 256);
  const before = await written(h);
  // The body is level 1, input 2, its `log` array 3: 253 more reach 256.
  const body = (depth: number) =>
    `{"thread_id":"edge-1","graph":"gate","input":{"log":[${nestedText(depth)}]}}`;
  tooDeep(
    assertError(
      await h.request("POST", "/v1/jobs/run", { body: body(254) }),
      400,
      "invalid_argument",
    ),
  );
  assert.deepEqual(await written(h), before);
  const data = assertOk(await h.request("POST", "/v1/jobs/run", { body: body(253) }));
  assert.equal(data.status, "completed");
  const log = (await h.runtime.getState("edge-1")).values.log as unknown[];
  assert.equal(JSON.stringify(log[0]), nestedText(253));
  assert.equal(log[1], "worked");
});

Deno.test("parseConfig() reads ORIS_MAX_JSON_DEPTH: a whole number from 1 to 1000, default 256", () => {
  assert.equal(parseConfig({}).ORIS_MAX_JSON_DEPTH, 256);
  assert.equal(parseConfig({ ORIS_MAX_JSON_DEPTH: "1" }).ORIS_MAX_JSON_DEPTH, 1);
  assert.equal(parseConfig({ ORIS_MAX_JSON_DEPTH: " 1000 " }).ORIS_MAX_JSON_DEPTH, 1000);
  for (const value of ["0", "1001", "-1", "1.5", "deep", ""]) {
    assert.throws(() => parseConfig({ ORIS_MAX_JSON_DEPTH: value }), {
      message: "ORIS_MAX_JSON_DEPTH must be a whole number from 1 to 1000",
    });
  }
});
