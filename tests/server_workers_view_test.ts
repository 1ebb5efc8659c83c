/**
 * `GET /v1/workers` on every store: the workers holding leases, each with the
 * attempts it holds (from the attempt store); a lease that ends leaves the
 * listing, one that passed its end unrenewed is marked expired; operators,
 * admins and viewers may read it, a worker key may not.
 */

import assert from "node:assert/strict";
import {
  assertError,
  assertOk,
  type Body,
  createQueuedRun,
  type Harness,
  serverTest,
} from "./_server.ts";

const BEARER = "workers-view-token";
const ADMIN = { authorization: `Bearer ${BEARER}` };

async function dispatched(h: Harness, workerId: string): Promise<Body> {
  const data = assertOk(
    await h.request("POST", "/v1/workers/poll", {
      body: { worker_id: workerId, graphs: ["gate"] },
      headers: ADMIN,
    }),
  );
  assert.equal(data.decision, "dispatched", JSON.stringify(data));
  return data;
}

serverTest(
  "GET /v1/workers lists the workers holding leases with their attempts, for operators and viewers",
  async (h) => {
    const empty = assertOk(await h.request("GET", "/v1/workers", { headers: ADMIN }));
    assert.deepEqual([empty.workers, empty.leases, empty.truncated], [[], 0, false]);
    await createQueuedRun(h.store, "wv-1", { tenant: "acme" });
    await createQueuedRun(h.store, "wv-2");
    await createQueuedRun(h.store, "wv-3");
    const a1 = await dispatched(h, "w-b");
    const a2 = await dispatched(h, "w-a");
    const a3 = await dispatched(h, "w-c");
    const listed = assertOk(await h.request("GET", "/v1/workers", { headers: ADMIN }));
    assert.equal(listed.leases, 3);
    assert.ok(Date.parse(listed.at) > 0);
    assert.deepEqual(listed.workers.map((worker: Body) => worker.worker_id), ["w-a", "w-b", "w-c"]);
    const byWorker = Object.fromEntries(
      listed.workers.map((worker: Body) => [
        worker.worker_id,
        worker.leases.map((lease: Body) => lease.attempt_id).sort(),
      ]),
    );
    assert.deepEqual(byWorker, {
      "w-a": [a2.attempt_id],
      "w-b": [a1.attempt_id],
      "w-c": [a3.attempt_id],
    });
    const lease = listed.workers[1].leases.find((item: Body) => item.attempt_id === a1.attempt_id);
    assert.deepEqual(lease, {
      attempt_id: a1.attempt_id,
      thread_id: a1.run.thread_id,
      attempt_no: 1,
      fencing_token: a1.fencing_token,
      started_at: lease.started_at,
      lease_expires_at: a1.lease_expires_at,
      expired: false,
      tenant_id: a1.run.thread_id === "wv-1" ? "acme" : null,
    });
    assert.ok(Date.parse(lease.started_at) > 0);

    // A lease that ends leaves the listing.
    assertOk(
      await h.request("POST", "/v1/workers/w-a/ack", {
        body: { attempt_id: a2.attempt_id, terminal_status: "completed" },
        headers: ADMIN,
      }),
    );
    const after = assertOk(await h.request("GET", "/v1/workers", { headers: ADMIN }));
    assert.deepEqual(after.workers.map((worker: Body) => worker.worker_id), ["w-b", "w-c"]);

    // Who may read it.
    for (const role of ["viewer", "operator", "worker"]) {
      const key = assertOk(
        await h.request("POST", "/v1/keys", {
          body: { key_id: `wv-${role}`, role },
          headers: ADMIN,
        }),
      );
      const headers = { "x-api-key-id": `wv-${role}`, "x-api-key": key.secret };
      const response = await h.request("GET", "/v1/workers", { headers });
      if (role === "worker") {
        assert.equal(assertError(response, 403, "forbidden").details.role, "worker");
      } else {
        assert.equal(assertOk(response).leases, 2, role);
      }
    }
  },
  { auth: { bearerToken: BEARER } },
);

let skew = 0;

serverTest(
  "GET /v1/workers marks a lease that ended without renewal as expired",
  async (h) => {
    skew = 0;
    await createQueuedRun(h.store, "wv-exp");
    await dispatched(h, "w-late");
    const live = assertOk(await h.request("GET", "/v1/workers", { headers: ADMIN }));
    assert.equal(live.workers[0].leases[0].expired, false);
    // The server's clock passes the lease's end (30 s by default).
    skew += 60_000;
    const late = assertOk(await h.request("GET", "/v1/workers", { headers: ADMIN }));
    assert.deepEqual(
      late.workers.map((worker: Body) => [worker.worker_id, worker.leases[0].expired]),
      [["w-late", true]],
    );
    assert.ok(Date.parse(late.at) > Date.parse(late.workers[0].leases[0].lease_expires_at));
  },
  { auth: { bearerToken: BEARER }, now: () => Date.now() + skew },
);
