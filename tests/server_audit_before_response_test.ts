/**
 * Audit entries are durable before their responses go: a response waits for
 * its entry's write (one group commit, shared with the writes in flight), so
 * every answered request's entry is in the store when its answer arrives; on
 * every store.
 */

import assert from "node:assert/strict";
import { createRuntime, type Logger, type Store } from "../mod.ts";
import type { AuditRecord, ControlStore } from "../kernel/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { createServer } from "../server/mod.ts";
import { storeTest } from "./_stores.ts";

/** The store, with its audit writes held until `open()` (a slow commit). */
function heldAudit(store: Store): {
  store: Store & ControlStore;
  open(): void;
  held(): number;
  reached(count: number): Promise<void>;
} {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let held = 0;
  const waiters: { count: number; resolve: () => void }[] = [];
  const wrapped = new Proxy(store, {
    get(target, property) {
      if (property === "appendAudit") {
        return async (record: AuditRecord) => {
          held++;
          for (const waiter of waiters) if (held >= waiter.count) waiter.resolve();
          await gate;
          await (target as Store & ControlStore).appendAudit(record);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return {
    store: wrapped as Store & ControlStore,
    open: release,
    held: () => held,
    reached(count) {
      if (held >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
  };
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

storeTest(
  "a response waits for its audit entry's write: every answered request's entry is in the store",
  async (raw) => {
    const { store, open, held, reached } = heldAudit(raw);
    await using runtime = createRuntime({ store, logger: quiet });
    registerExamples(runtime);
    const server = await createServer({ runtime });
    const requests = Array.from({ length: 8 }, (_, n) => `before-${n}`);
    try {
      let answered = 0;
      const responses = Promise.all(requests.map(async (requestId, n) => {
        const response = await server.app.request("/v1/jobs/run", {
          method: "POST",
          headers: { "x-request-id": requestId },
          body: JSON.stringify({ thread_id: `t-before-${n}`, input: "hi" }),
        });
        answered++;
        return { status: response.status, body: await response.json() };
      }));
      // Every run completed and its entry's write began, and no response went before it landed.
      await reached(requests.length);
      assert.equal(answered, 0);
      assert.deepEqual((await (raw as Store & ControlStore).listAudit({ limit: 100 })).items, []);
      open();
      for (const { status, body } of await responses) {
        assert.equal(status, 200, JSON.stringify(body));
        assert.equal(body.data.status, "completed");
      }
      assert.equal(held(), requests.length);
      // Answered: their entries are in the store, before anything closes.
      const stored = (await (raw as Store & ControlStore).listAudit({ limit: 100 })).items;
      assert.deepEqual(stored.map((entry) => entry.requestId).sort(), [...requests].sort());
      for (const entry of stored) {
        assert.equal(entry.action, "job.run");
        assert.equal(entry.result, "success");
        assert.equal(entry.details.status_code, 200);
      }
    } finally {
      open();
      await server.close();
    }
  },
);
