/**
 * Audit entries survive a store outage: the entries of requests made while
 * the store refuses audit writes as unavailable wait in the server's bounded
 * queue and are written, in order, once it answers again; what does not fit
 * is dropped and counted. `/metrics` shows both (`oris_audit_queue_depth`,
 * `oris_audit_dropped_total`), on every store.
 */

import assert from "node:assert/strict";
import { createRuntime, type LogFields, type Logger, type Store } from "../mod.ts";
import { type AuditRecord, type ControlStore, StorageError } from "../kernel/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { createServer, type OrisServer } from "../server/mod.ts";
import { storeTest } from "./_stores.ts";

/** The store, with its audit writes failing as a lost connection would while `down`. */
function auditOutage(store: Store): { store: Store & ControlStore; down: { value: boolean } } {
  const down = { value: false };
  const wrapped = new Proxy(store, {
    get(target, property) {
      if (property === "appendAudit") {
        return (record: AuditRecord) =>
          down.value
            ? Promise.reject(
              new StorageError("Cannot append an audit entry: connection refused", {
                retryable: true,
              }),
            )
            : (target as Store & ControlStore).appendAudit(record);
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: wrapped as Store & ControlStore, down };
}

/** A metric's value in the `/metrics` text (0 when it has no sample yet). */
async function metric(server: OrisServer, sample: string): Promise<number> {
  const text = await (await server.app.request("/metrics")).text();
  const line = text.split("\n").find((item) => item.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

const DEPTH = "oris_audit_queue_depth";
const FULL = 'oris_audit_dropped_total{reason="queue_full"}';

storeTest(
  "audit entries made while the store is unavailable are written in order once it is back; drops are counted",
  async (raw) => {
    const { store, down } = auditOutage(raw);
    const logged: { message: string; fields: LogFields }[] = [];
    const at = (message: string, fields: LogFields = {}) => void logged.push({ message, fields });
    const logger: Logger = { debug: at, info: at, warn: at, error: at };
    await using runtime = createRuntime({ store, logger });
    registerExamples(runtime);
    const server = await createServer({
      runtime,
      logger,
      auditQueue: { maxEntries: 2, retryInitialMs: 1, retryMaxMs: 20 },
    });
    try {
      const run = async (n: number) => {
        const response = await server.app.request("/v1/jobs/run", {
          method: "POST",
          headers: { "x-request-id": `outage-${n}` },
          body: JSON.stringify({ thread_id: `t-${n}`, input: "hi" }),
        });
        const text = await response.text();
        assert.equal(response.status, 200, text);
      };
      await run(0);
      // Each response waits until its entry is written, or queued while the store is down.
      assert.equal(await metric(server, DEPTH), 0);
      down.value = true;
      for (const n of [1, 2, 3]) {
        await run(n);
      }
      assert.equal(await metric(server, DEPTH), 2);
      assert.equal(await metric(server, FULL), 1);
      const dropped = logged.filter((line) => line.message === "audit dropped");
      assert.deepEqual(dropped.map((line) => line.fields.request_id), ["outage-3"]);

      down.value = false;
      // Synchronise on the store and the queue: the queued entries appear once a retry reaches
      // the store, and the queue lets go of each entry only after its write has returned.
      let stored: AuditRecord[] = [];
      while (stored.length < 3 || await metric(server, DEPTH) !== 0) {
        stored = (await store.listAudit({ action: "job.run", limit: 50 })).items;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.deepEqual(
        stored.map((record) => record.requestId).reverse(),
        ["outage-0", "outage-1", "outage-2"],
      );
      assert.equal(await metric(server, DEPTH), 0);
      assert.equal(await metric(server, FULL), 1, "the counter keeps its count");
    } finally {
      await server.close();
    }
  },
);
