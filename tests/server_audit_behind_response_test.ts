/**
 * Audit entries are written behind their responses, never on them: a
 * response does not wait for its entry's commit, yet every answered
 * request's entry is in the store once the server closes (a shutdown waits
 * for the entries in flight), and `GET /v1/audit/logs` reads the entries of
 * the requests answered before it; on every store.
 */

import assert from "node:assert/strict";
import { createRuntime, type Logger, type Store } from "../mod.ts";
import type { AuditRecord, ControlStore } from "../kernel/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { createServer } from "../server/mod.ts";
import { storeTest } from "./_stores.ts";

/** The store, with its audit writes held until `open()` (a slow commit). */
function heldAudit(store: Store): { store: Store & ControlStore; open(): void; held(): number } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let held = 0;
  const wrapped = new Proxy(store, {
    get(target, property) {
      if (property === "appendAudit") {
        return async (record: AuditRecord) => {
          held++;
          await gate;
          await (target as Store & ControlStore).appendAudit(record);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: wrapped as Store & ControlStore, open: release, held: () => held };
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

storeTest(
  "responses do not wait for their audit entries, which are all in the store once the server closes",
  async (raw) => {
    const { store, open, held } = heldAudit(raw);
    await using runtime = createRuntime({ store, logger: quiet });
    registerExamples(runtime);
    const server = await createServer({ runtime });
    const requests = Array.from({ length: 8 }, (_, n) => `behind-${n}`);
    try {
      const answered = await Promise.all(requests.map(async (requestId, n) => {
        const response = await server.app.request("/v1/jobs/run", {
          method: "POST",
          headers: { "x-request-id": requestId },
          body: JSON.stringify({ thread_id: `t-behind-${n}`, input: "hi" }),
        });
        return { status: response.status, body: await response.json() };
      }));
      for (const { status, body } of answered) {
        assert.equal(status, 200, JSON.stringify(body));
        assert.equal(body.data.status, "completed");
      }
      // Every request was answered while its entry's write was still held.
      assert.equal(held(), requests.length);
      assert.deepEqual((await (raw as Store & ControlStore).listAudit({ limit: 100 })).items, []);
    } finally {
      const closing = server.close();
      open();
      await closing;
    }
    const stored = (await (raw as Store & ControlStore).listAudit({ limit: 100 })).items;
    assert.deepEqual(stored.map((entry) => entry.requestId).sort(), [...requests].sort());
    for (const entry of stored) {
      assert.equal(entry.action, "job.run");
      assert.equal(entry.result, "success");
      assert.equal(entry.details.status_code, 200);
    }
  },
);

storeTest(
  "GET /v1/audit/logs reads the entries of the requests answered before it",
  async (raw) => {
    const { store, open } = heldAudit(raw);
    await using runtime = createRuntime({ store, logger: quiet });
    registerExamples(runtime);
    const server = await createServer({ runtime });
    try {
      const ran = await server.app.request("/v1/jobs/run", {
        method: "POST",
        headers: { "x-request-id": "read-after-1" },
        body: JSON.stringify({ thread_id: "t-read-after", input: "hi" }),
      });
      assert.equal(ran.status, 200);
      const listing = server.app.request("/v1/audit/logs?request_id=read-after-1");
      open();
      const body = await (await listing).json();
      assert.equal(body.data.logs.length, 1);
      assert.equal(body.data.logs[0].action, "job.run");
    } finally {
      open();
      await server.close();
    }
  },
);
