/**
 * The server logs through the `Logger` it is given (`createServer({ logger })`),
 * never to the console: an unexpected failure is a 500 with the envelope and
 * one `request failed` entry naming the request id; an audit write the store
 * refuses for good leaves the response as it was and is one `audit dropped`
 * entry (reason `rejected`).
 */

import assert from "node:assert/strict";
import { createRuntime, MemoryStore } from "../mod.ts";
import type { AuditRecord, ListRunsOptions, Page, RunSummary } from "../kernel/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { createServer } from "../server/mod.ts";
import { collectingLogger } from "./_helpers.ts";

/** A store whose listing and audit writes fail like a broken driver would. */
class BrokenStore extends MemoryStore {
  override listRuns(_options?: ListRunsOptions): Promise<Page<RunSummary>> {
    return Promise.reject(new Error("socket closed"));
  }
  override appendAudit(_record: AuditRecord): Promise<void> {
    return Promise.reject(new Error("disk full"));
  }
}

Deno.test("createServer() logs a 500 and a failed audit write through its logger", async () => {
  await using store = new BrokenStore();
  await using runtime = createRuntime({ store });
  registerExamples(runtime);
  const { logger, entries } = collectingLogger();
  const server = await createServer({ runtime, logger });
  try {
    // At start: which credentials are active (none here).
    assert.deepEqual(entries.map((entry) => [entry.level, entry.message, entry.fields.auth]), [
      ["info", "api credentials", false],
    ]);
    entries.length = 0;
    const failed = await server.app.request("/v1/jobs", { headers: { "x-request-id": "r-500" } });
    assert.equal(failed.status, 500);
    const body = await failed.json();
    assert.deepEqual(body, {
      request_id: "r-500",
      error: { code: "internal", message: "Internal error", details: null },
    });
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.level, "error");
    assert.equal(entries[0]!.message, "request failed");
    assert.equal(entries[0]!.fields.request_id, "r-500");
    assert.equal(entries[0]!.fields.error, "socket closed");

    const ran = await server.app.request("/v1/jobs/run", {
      method: "POST",
      headers: { "x-request-id": "r-run" },
      body: JSON.stringify({ thread_id: "t-1", input: "hi" }),
    });
    assert.equal(ran.status, 200, "the action happened: its response stands");
    assert.equal((await ran.json()).data.status, "completed");
    // The response waited for its entry's write, which failed for good: logged, not returned.
    assert.equal(entries.length, 2);
    assert.equal(entries[1]!.level, "error");
    assert.equal(entries[1]!.message, "audit dropped");
    assert.equal(entries[1]!.fields.reason, "rejected");
    assert.equal(entries[1]!.fields.request_id, "r-run");
    assert.equal((entries[1]!.fields.error as Error).message, "disk full");
  } finally {
    await server.close();
  }
});
