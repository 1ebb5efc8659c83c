/**
 * The worker protocol over HTTP (`/v1/workers/*`, `/v1/attempts/*`,
 * `/v1/dlq*`) on every store, with the original Oris's scenarios: a worker at
 * its cap gets `backpressure/worker_limit`; another worker's heartbeat is a
 * 409 naming both; a lease that expired is redispatched to another worker
 * with a higher fencing token, and the old holder can neither renew it nor
 * report a step; a tenant cap of 1 gives `tenant_limit` to the second
 * worker; fixed and exponential retries with caps and history; a dead
 * letter is replayed once; a timed-out attempt ends; report-step folds the
 * events onto the run (an illegal transition writes nothing) and is
 * idempotent per dedupe token; bad input writes nothing.
 *
 * Runs are created `queued` in the store (as a server in `workers` mode
 * leaves them), so only the workers of the test take them.
 */

import assert from "node:assert/strict";
import type { ThreadId } from "../kernel/mod.ts";
import {
  type ApiResponse,
  assertError,
  assertOk,
  type Body,
  createQueuedRun,
  type Harness,
  serverTest,
} from "./_server.ts";

const BEARER = "test-bearer-token";
const ADMIN = { authorization: `Bearer ${BEARER}` };

function poll(h: Harness, body: Record<string, unknown>): Promise<ApiResponse> {
  return h.request("POST", "/v1/workers/poll", { body: { graphs: ["gate"], ...body } });
}

async function dispatched(h: Harness, body: Record<string, unknown>): Promise<Body> {
  const data = assertOk(await poll(h, body));
  assert.equal(data.decision, "dispatched", JSON.stringify(data));
  return data;
}

function ack(h: Harness, worker: string, body: Record<string, unknown>): Promise<ApiResponse> {
  return h.request("POST", `/v1/workers/${worker}/ack`, { body });
}

function report(h: Harness, worker: string, body: Record<string, unknown>) {
  return h.request("POST", `/v1/workers/${worker}/report-step`, { body });
}

/** Polls until a run is dispatched (a retry waits for its backoff), failing after the guard. */
async function dispatchedWhenDue(h: Harness, body: Record<string, unknown>): Promise<Body> {
  const guard = Date.now() + 20_000;
  for (;;) {
    const data = assertOk(await poll(h, body));
    if (data.decision === "dispatched") return data;
    assert.ok(Date.now() < guard, "the retry was never dispatched");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function started(attemptId: string, at = Date.now()) {
  return { type: "run.started", v: 1, at, attemptId };
}

serverTest(
  "poll dispatches, a worker at its cap gets backpressure/worker_limit, another worker's heartbeat is a 409",
  async (h) => {
    await createQueuedRun(h.store, "w-cap-1");
    await createQueuedRun(h.store, "w-cap-2");
    const first = await dispatched(h, { worker_id: "w-1", max_active_leases: 1 });
    assert.equal(first.attempt_no, 1);
    assert.equal(first.run.thread_id, "w-cap-1");
    assert.equal(first.run.status, "queued");
    assert.equal(first.lease_id, `${first.attempt_id}:${first.fencing_token}`);
    assert.deepEqual([first.worker_active_leases, first.worker_limit], [1, 1]);

    const capped = assertOk(await poll(h, { worker_id: "w-1", max_active_leases: 1 }));
    assert.deepEqual([capped.decision, capped.reason], ["backpressure", "worker_limit"]);
    assert.deepEqual([capped.worker_active_leases, capped.worker_limit], [1, 1]);

    const stolen = assertError(
      await h.request("POST", "/v1/workers/w-2/heartbeat", { body: { lease_id: first.lease_id } }),
      409,
      "conflict",
    );
    assert.equal(stolen.details.expected_worker_id, "w-1");
    assert.equal(stolen.details.actual_worker_id, "w-2");

    const renewed = assertOk(
      await h.request("POST", "/v1/workers/w-1/extend-lease", {
        body: { lease_id: first.lease_id, lease_ttl_seconds: 60 },
      }),
    );
    assert.ok(Date.parse(renewed.lease_expires_at) > Date.parse(first.lease_expires_at));
    assertError(
      await h.request("POST", "/v1/workers/w-1/heartbeat", { body: { lease_id: "at_nope:1" } }),
      404,
      "not_found",
    );
    // The plane's metrics moved with it.
    const metrics = (await h.request("GET", "/metrics")).text;
    for (
      const line of [
        'oris_runtime_backpressure_total{reason="worker_limit"} 1',
        "oris_runtime_lease_conflicts_total 1",
        'oris_runtime_lease_operations_total{operation="dispatch"} 1',
        'oris_runtime_lease_operations_total{operation="renew"} 1',
        "oris_runtime_dispatch_latency_ms_count 1",
        "oris_queued_runs 2", // Dispatched, the first is queued until its worker starts it.
      ]
    ) {
      assert.ok(metrics.split("\n").includes(line), `${line} in\n${metrics}`);
    }
  },
);

serverTest(
  "an expired lease is redispatched to another worker with a higher fencing token; the old holder cannot renew it or report a step",
  async (h) => {
    await createQueuedRun(h.store, "w-exp");
    const first = await dispatched(h, { worker_id: "w-1", lease_ttl_seconds: 1 });
    // Wait (on the store's state) until the lease has expired.
    const guard = Date.now() + 20_000;
    while ((await h.store.getLease("w-exp" as ThreadId))!.expiresAt > Date.now()) {
      assert.ok(Date.now() < guard);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const expired = assertError(
      await h.request("POST", "/v1/workers/w-1/heartbeat", { body: { lease_id: first.lease_id } }),
      409,
      "conflict",
    );
    assert.match(expired.message, /expired/);
    const second = await dispatched(h, { worker_id: "w-2" });
    assert.equal(second.attempt_id, first.attempt_id);
    assert.notEqual(second.lease_id, first.lease_id);
    assert.ok(second.fencing_token > first.fencing_token);

    const before = await h.events("w-exp");
    const stale = await report(h, "w-1", {
      attempt_id: first.attempt_id,
      lease_id: first.lease_id,
      fencing_token: first.fencing_token,
      dedupe_token: "d-1",
      expected_version: 1,
      events: [started(first.attempt_id)],
    });
    assertError(stale, 409, "conflict");
    assert.deepEqual(await h.events("w-exp"), before);
    // The new holder reports.
    const ok = assertOk(
      await report(h, "w-2", {
        attempt_id: second.attempt_id,
        lease_id: second.lease_id,
        fencing_token: second.fencing_token,
        dedupe_token: "d-1",
        expected_version: 1,
        events: [started(second.attempt_id)],
      }),
    );
    assert.deepEqual([ok.status, ok.version], ["reported", 2]);
  },
);

serverTest("a tenant cap of 1 gives tenant_limit to the second worker", async (h) => {
  await createQueuedRun(h.store, "w-ten-1", { tenant: "acme" });
  await createQueuedRun(h.store, "w-ten-2", { tenant: "acme" });
  const first = await dispatched(h, { worker_id: "w-1", tenant_max_active_leases: 1 });
  assert.deepEqual([first.tenant_id, first.tenant_active_leases, first.tenant_limit], [
    "acme",
    1,
    1,
  ]);
  const second = assertOk(await poll(h, { worker_id: "w-2", tenant_max_active_leases: 1 }));
  assert.deepEqual(
    [second.decision, second.reason, second.tenant_id, second.tenant_active_leases],
    ["backpressure", "tenant_limit", "acme", 1],
  );
});

serverTest(
  "report-step folds the events onto the run under the fencing token, once per dedupe token",
  async (h) => {
    await createQueuedRun(h.store, "w-rep");
    const lease = await dispatched(h, { worker_id: "w-1" });
    const step = {
      attempt_id: lease.attempt_id,
      lease_id: lease.lease_id,
      fencing_token: lease.fencing_token,
      expected_version: 1,
    };
    // An illegal transition (a queued run cannot complete) writes nothing.
    const illegal = await report(h, "w-1", {
      ...step,
      dedupe_token: "d-0",
      events: [{ type: "run.completed", v: 1, at: Date.now() }],
    });
    assertError(illegal, 409, "conflict");
    assert.equal((await h.events("w-rep")).length, 1);

    const body = { ...step, dedupe_token: "d-1", events: [started(lease.attempt_id, 5)] };
    const first = assertOk(await report(h, "w-1", body));
    assert.deepEqual([first.status, first.version], ["reported", 2]);
    const again = assertOk(await report(h, "w-1", body));
    assert.deepEqual([again.status, again.version], ["reported_idempotent", 2]);
    assertError(
      await report(h, "w-1", { ...body, events: [started(lease.attempt_id, 6)] }),
      409,
      "conflict",
    );
    // Another worker cannot report on this lease.
    const other = assertError(
      await report(h, "w-2", { ...step, expected_version: 2, dedupe_token: "d-2", events: [] }),
      400,
      "invalid_argument",
    );
    assert.equal(other.details.field, "events");
    const owner = assertError(
      await report(h, "w-2", {
        ...step,
        expected_version: 2,
        dedupe_token: "d-2",
        events: [{ type: "run.completed", v: 1, at: Date.now() }],
      }),
      409,
      "conflict",
    );
    assert.equal(owner.details.expected_worker_id, "w-1");
    // A stale version is a conflict.
    assertError(
      await report(h, "w-1", {
        ...step,
        dedupe_token: "d-3",
        events: [{ type: "run.completed", v: 1, at: Date.now() }],
      }),
      409,
      "conflict",
    );
    const done = assertOk(
      await report(h, "w-1", {
        ...step,
        expected_version: 2,
        dedupe_token: "d-4",
        events: [{ type: "run.completed", v: 1, at: Date.now() }],
      }),
    );
    assert.equal(done.version, 3);
    const acked = assertOk(
      await ack(h, "w-1", {
        attempt_id: lease.attempt_id,
        terminal_status: "completed",
      }),
    );
    assert.deepEqual([acked.status, acked.next_attempt_no], ["completed", 1]);
    // Idempotent; another status is a conflict.
    assert.equal(
      assertOk(await ack(h, "w-1", { attempt_id: lease.attempt_id, terminal_status: "completed" }))
        .status,
      "completed",
    );
    assertError(
      await ack(h, "w-1", { attempt_id: lease.attempt_id, terminal_status: "failed" }),
      409,
      "conflict",
    );
    assert.equal(await h.store.getLease("w-rep" as ThreadId), null);
    assert.equal((await h.runtime.get("w-rep"))?.status, "completed");
  },
);

serverTest(
  "a failed ack with a fixed policy is retried after its backoff as the next attempt, with history",
  async (h) => {
    await createQueuedRun(h.store, "w-fix");
    const lease = await dispatched(h, { worker_id: "w-1" });
    const retried = assertOk(
      await ack(h, "w-1", {
        attempt_id: lease.attempt_id,
        terminal_status: "failed",
        retry_policy: { strategy: "fixed", backoff_ms: 60_000, max_retries: 2 },
      }),
    );
    assert.deepEqual([retried.status, retried.next_attempt_no], ["retry_scheduled", 2]);
    assert.ok(Date.parse(retried.next_retry_at) >= Date.now() + 50_000);
    // Not dispatchable before its time.
    assert.equal(assertOk(await poll(h, { worker_id: "w-2" })).decision, "noop");
    const history = assertOk(await h.request("GET", `/v1/attempts/${lease.attempt_id}/retries`));
    assert.equal(history.current_attempt_no, 2);
    assert.equal(history.current_status, "retry_backoff");
    assert.deepEqual(
      history.history.map((entry: Body) => [entry.retry_no, entry.attempt_no, entry.backoff_ms]),
      [[1, 2, 60_000]],
    );
    assertError(await h.request("GET", "/v1/attempts/at_nope/retries"), 404, "not_found");
  },
);

serverTest(
  "exponential retries grow to their cap, then the attempt fails into a dead letter that is replayed once",
  async (h) => {
    await createQueuedRun(h.store, "w-exp2");
    const policy = {
      strategy: "exponential",
      backoff_ms: 100,
      multiplier: 3,
      max_backoff_ms: 250,
      max_retries: 2,
    };
    const delays: number[] = [];
    let lease = await dispatched(h, { worker_id: "w-1" });
    for (let n = 1; n <= 2; n++) {
      const retried = assertOk(
        await ack(h, "w-1", {
          attempt_id: lease.attempt_id,
          terminal_status: "failed",
          retry_policy: policy,
        }),
      );
      assert.equal(retried.status, "retry_scheduled");
      lease = await dispatchedWhenDue(h, { worker_id: "w-1" });
      assert.equal(lease.attempt_no, n + 1);
    }
    const history = assertOk(await h.request("GET", `/v1/attempts/${lease.attempt_id}/retries`));
    for (const entry of history.history) delays.push(entry.backoff_ms);
    assert.deepEqual(delays, [100, 250]);
    const failed = assertOk(
      await ack(h, "w-1", {
        attempt_id: lease.attempt_id,
        terminal_status: "failed",
        retry_policy: policy,
      }),
    );
    assert.equal(failed.status, "failed");
    // The dead letter; the run waits (paused) for its replay.
    const letter = assertOk(await h.request("GET", `/v1/dlq/${lease.attempt_id}`));
    assert.deepEqual(
      [letter.run_id, letter.reason, letter.replay_status, letter.replay_count],
      ["w-exp2", "terminal_failed", "pending", 0],
    );
    assert.equal((await h.runtime.get("w-exp2"))?.status, "paused");
    const listed = assertOk(await h.request("GET", "/v1/dlq?status=pending"));
    assert.deepEqual(listed.entries.map((entry: Body) => entry.attempt_id), [lease.attempt_id]);
    assert.equal(assertOk(await poll(h, { worker_id: "w-1" })).decision, "noop");

    const replayed = assertOk(await h.request("POST", `/v1/dlq/${lease.attempt_id}/replay`));
    assert.deepEqual([replayed.status, replayed.replay_count], ["requeued", 1]);
    assertError(await h.request("POST", `/v1/dlq/${lease.attempt_id}/replay`), 409, "conflict");
    assertError(await h.request("POST", "/v1/dlq/at_nope/replay"), 404, "not_found");
    const again = await dispatched(h, { worker_id: "w-2" });
    assert.equal(again.attempt_id, lease.attempt_id);
    const audit = assertOk(await h.request("GET", "/v1/audit/logs?action=dlq.replay"));
    assert.deepEqual(audit.logs.map((log: Body) => log.result), ["error", "error", "success"]);
  },
);

serverTest("an attempt that runs past its execution timeout ends at the next poll", async (h) => {
  await createQueuedRun(h.store, "w-timeout", {
    deadline: { ms: 1, status: "failed", scope: "execution" },
  });
  const lease = await dispatched(h, { worker_id: "w-1" });
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(assertOk(await poll(h, { worker_id: "w-1" })).decision, "noop");
  const history = assertOk(await h.request("GET", `/v1/attempts/${lease.attempt_id}/retries`));
  assert.equal(history.current_status, "failed");
  const letter = assertOk(await h.request("GET", `/v1/dlq/${lease.attempt_id}`));
  assert.equal(letter.reason, "execution_timeout");
  assert.equal((await h.runtime.get("w-timeout"))?.status, "failed");
  // Its replay is refused: the run ended (fork it instead).
  assertError(await h.request("POST", `/v1/dlq/${lease.attempt_id}/replay`), 409, "conflict");
});

serverTest(
  "bad input on every worker endpoint gets the error envelope and writes nothing",
  async (h) => {
    await createQueuedRun(h.store, "w-bad");
    const cases: [string, string, unknown, number][] = [
      ["POST", "/v1/workers/poll", { worker_id: 5 }, 400],
      ["POST", "/v1/workers/poll", { worker_id: "w", max_active_leases: 0 }, 400],
      ["POST", "/v1/workers/poll", { worker_id: "w", extra: true }, 400],
      ["POST", "/v1/workers/w/heartbeat", { lease_id: 7 }, 400],
      ["POST", "/v1/workers/w/extend-lease", { lease_id: "x:1", lease_ttl_seconds: 0 }, 400],
      ["POST", "/v1/workers/w/extend-lease", { lease_id: "at_x:1" }, 404],
      ["POST", "/v1/workers/w/report-step", { attempt_id: "at_x" }, 400],
      ["POST", "/v1/workers/w/report-step", {
        attempt_id: "at_x",
        lease_id: "at_x:1",
        fencing_token: 1,
        dedupe_token: "d",
        expected_version: 1,
        events: [{ type: "run.nope", v: 1, at: 1 }],
      }, 400],
      ["POST", "/v1/workers/w/report-step", {
        attempt_id: "at_x",
        lease_id: "at_x:1",
        fencing_token: 1,
        dedupe_token: "d",
        expected_version: 1,
        events: [{ type: "run.completed", v: 1, at: 1 }],
      }, 404],
      ["POST", "/v1/workers/w/ack", { attempt_id: "at_x", terminal_status: "done" }, 400],
      ["POST", "/v1/workers/w/ack", {
        attempt_id: "at_x",
        terminal_status: "failed",
        retry_policy: { strategy: "fixed", backoff_ms: 10, max_backoff_ms: 5, max_retries: 1 },
      }, 400],
      ["POST", "/v1/workers/w/ack", { attempt_id: "at_x", terminal_status: "completed" }, 404],
      ["GET", "/v1/dlq?limit=0", undefined, 400],
      ["GET", "/v1/dlq?status=nope", undefined, 400],
      ["GET", "/v1/dlq/at_x", undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const response = await h.request(method, path, { body });
      assertError(response, status, status === 400 ? "invalid_argument" : "not_found");
    }
    assert.equal(await h.store.attempts.openAttempt("w-bad"), null);
    assert.equal(await h.store.getLease("w-bad" as ThreadId), null);
    assert.equal((await h.events("w-bad")).length, 1);
  },
);

serverTest(
  "a worker key may only use /v1/workers: 403 on jobs, interrupts, attempts and the DLQ; its polls that take a run or fail are audited, its idle polls not",
  async (h) => {
    const created = assertOk(
      await h.request("POST", "/v1/keys", {
        body: { key_id: "wk-1", role: "worker" },
        headers: ADMIN,
      }),
    );
    const worker = { "x-api-key-id": "wk-1", "x-api-key": created.secret };
    for (
      const [method, path] of [
        ["GET", "/v1/jobs"],
        ["POST", "/v1/jobs/run"],
        ["GET", "/v1/interrupts"],
        ["GET", "/v1/dlq"],
        ["GET", "/v1/attempts/at_x/retries"],
      ] as const
    ) {
      const refused = assertError(
        await h.request(method, path, {
          headers: worker,
          body: method === "POST" ? {} : undefined,
        }),
        403,
        "forbidden",
      );
      assert.equal(refused.details.role, "worker");
    }
    // Idle polls (nothing to take) change nothing: not in the log.
    for (let i = 0; i < 3; i++) {
      const idle = assertOk(
        await h.request("POST", "/v1/workers/poll", {
          headers: worker,
          body: { worker_id: "w-1", graphs: ["gate"] },
        }),
      );
      assert.equal(idle.decision, "noop");
    }
    // A refused poll is (a bad body: 400).
    assertError(
      await h.request("POST", "/v1/workers/poll", { headers: worker, body: { worker_id: 7 } }),
      400,
      "invalid_argument",
    );
    await createQueuedRun(h.store, "w-key");
    const polled = assertOk(
      await h.request("POST", "/v1/workers/poll", {
        headers: worker,
        body: { worker_id: "w-1", graphs: ["gate"] },
      }),
    );
    assert.equal(polled.decision, "dispatched");
    const audit = assertOk(
      await h.request("GET", "/v1/audit/logs?action=worker.poll", { headers: ADMIN }),
    );
    assert.deepEqual(
      audit.logs.map((log: Body) => [log.actor_id, log.actor_role, log.resource_id, log.result]),
      [["wk-1", "worker", "w-1", "success"], ["wk-1", "worker", null, "error"]],
    );
  },
  { auth: { bearerToken: BEARER } },
);
