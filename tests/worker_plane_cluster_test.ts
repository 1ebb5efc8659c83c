/**
 * The worker protocol against real server processes sharing one PostgreSQL
 * schema: a worker may talk to any server. A lease taken through one server
 * and left to expire is redispatched through the other to a second worker
 * with a higher fencing token; the first worker's step, reported with its
 * stale token, is refused and writes nothing; the second's is committed, and
 * its ack ends the attempt for every server. A failed attempt without retry
 * is dead-lettered and replayed once, from either server.
 *
 * The run's graph is one the servers do not serve, so only the test's
 * workers take it.
 */

import assert from "node:assert/strict";
import type { RunCreatedEvent, ThreadId } from "../kernel/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { type Body, type Cluster, type ClusterProcess, withCluster } from "./_cluster.ts";
import { postgresTest } from "./_postgres.ts";

const GRAPH = "remote-only";

async function createQueued(cluster: Cluster, threadId: string): Promise<void> {
  await using store = await PostgresStore.connect({ url: cluster.url, schema: cluster.schema });
  const event: RunCreatedEvent = {
    type: "run.created",
    v: 1,
    at: Date.now(),
    threadId: threadId as ThreadId,
    graph: GRAPH,
    input: { n: 1 },
    payloadHash: `h-${threadId}`,
    state: {},
    next: [],
  };
  await store.createRun(event);
}

async function call(
  cluster: Cluster,
  process: ClusterProcess,
  path: string,
  body?: unknown,
  method = "POST",
): Promise<{ status: number; body: Body }> {
  return await cluster.api(process, method, path, body);
}

async function ok(
  cluster: Cluster,
  process: ClusterProcess,
  path: string,
  body?: unknown,
  method = "POST",
): Promise<Body> {
  const answer = await call(cluster, process, path, body, method);
  assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
  return answer.body.data;
}

postgresTest(
  "worker plane across server processes: an expired lease moves to another worker with a higher token; a stale step writes nothing",
  async () => {
    await withCluster({ processes: 2 }, async (cluster) => {
      const [p1, p2] = cluster.processes as [ClusterProcess, ClusterProcess];
      await createQueued(cluster, "rw-1");
      const first = await ok(cluster, p1, "/v1/workers/poll", {
        worker_id: "w-a",
        graphs: [GRAPH],
        lease_ttl_seconds: 600,
      });
      assert.equal(first.decision, "dispatched");
      assert.deepEqual(first.run.input, { n: 1 });
      // Another worker gets nothing while the lease is live.
      const idle = await ok(cluster, p2, "/v1/workers/poll", { worker_id: "w-b", graphs: [GRAPH] });
      assert.equal(idle.decision, "noop");
      // The holder shortens its lease to 1 s, then stops renewing it.
      await ok(cluster, p2, "/v1/workers/w-a/heartbeat", {
        lease_id: first.lease_id,
        lease_ttl_seconds: 1,
      });
      // Wait, on the database's state, until the lease has expired.
      await cluster.waitFor("the lease expires", async () => {
        const [row] = await cluster.sql.unsafe(
          `SELECT lease_expires_at < (extract(epoch FROM clock_timestamp()) * 1000) AS expired
             FROM ${cluster.schema}.runtime_runs WHERE thread_id = 'rw-1'`,
        );
        return row?.expired === true;
      });
      const second = await ok(cluster, p2, "/v1/workers/poll", {
        worker_id: "w-b",
        graphs: [GRAPH],
      });
      assert.equal(second.decision, "dispatched");
      assert.equal(second.attempt_id, first.attempt_id);
      assert.ok(second.fencing_token > first.fencing_token);

      const step = (lease: Body, worker: string) => ({
        attempt_id: lease.attempt_id,
        lease_id: lease.lease_id,
        fencing_token: lease.fencing_token,
        dedupe_token: `${worker}-1`,
        expected_version: 1,
        events: [{ type: "run.started", v: 1, at: Date.now(), attemptId: lease.attempt_id }],
      });
      const stale = await call(cluster, p1, "/v1/workers/w-a/report-step", step(first, "w-a"));
      assert.equal(stale.status, 409, JSON.stringify(stale.body));
      const events = await cluster.sql.unsafe(
        `SELECT seq FROM ${cluster.schema}.runtime_events WHERE thread_id = 'rw-1'`,
      );
      assert.equal(events.length, 1, "the stale step wrote nothing");

      const reported = await ok(cluster, p1, "/v1/workers/w-b/report-step", step(second, "w-b"));
      assert.equal(reported.version, 2);
      const done = await ok(cluster, p2, "/v1/workers/w-b/report-step", {
        ...step(second, "w-b"),
        dedupe_token: "w-b-2",
        expected_version: 2,
        events: [{ type: "run.completed", v: 1, at: Date.now() }],
      });
      assert.equal(done.version, 3);
      const acked = await ok(cluster, p1, "/v1/workers/w-b/ack", {
        attempt_id: second.attempt_id,
        terminal_status: "completed",
      });
      assert.equal(acked.status, "completed");
      const retries = await ok(
        cluster,
        p2,
        `/v1/attempts/${second.attempt_id}/retries`,
        undefined,
        "GET",
      );
      assert.equal(retries.current_status, "completed");
      const job = await ok(cluster, p2, "/v1/jobs/rw-1", undefined, "GET");
      assert.equal(job.status, "completed");

      // A failure without retry is dead-lettered, and replayed once.
      await createQueued(cluster, "rw-2");
      const lease = await ok(cluster, p2, "/v1/workers/poll", {
        worker_id: "w-a",
        graphs: [GRAPH],
      });
      await ok(cluster, p2, "/v1/workers/w-a/ack", {
        attempt_id: lease.attempt_id,
        terminal_status: "failed",
      });
      const letters = await ok(cluster, p1, "/v1/dlq?status=pending", undefined, "GET");
      assert.deepEqual(letters.entries.map((entry: Body) => entry.attempt_id), [lease.attempt_id]);
      const replayed = await ok(cluster, p1, `/v1/dlq/${lease.attempt_id}/replay`);
      assert.equal(replayed.status, "requeued");
      const again = await call(cluster, p2, `/v1/dlq/${lease.attempt_id}/replay`);
      assert.equal(again.status, 409);
      const redispatched = await ok(cluster, p2, "/v1/workers/poll", {
        worker_id: "w-b",
        graphs: [GRAPH],
      });
      assert.equal(redispatched.attempt_id, lease.attempt_id);
    });
  },
);
