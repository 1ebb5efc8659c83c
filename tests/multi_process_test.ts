/**
 * Guarantees of several server processes on one PostgreSQL schema (real
 * processes, `tests/_cluster.ts`), synchronised on the lines they print and
 * on the database's state:
 *
 * - no dual execution: three processes run 300 jobs submitted round-robin;
 *   every step is committed once and every effect ran once;
 * - fencing: the owner of a run is frozen (SIGSTOP) past its lease; another
 *   process takes the run over and finishes it; thawed (SIGCONT), the first
 *   writes nothing, logs `lease lost`, and the run stays completed once;
 * - takeover: the owner is killed (SIGKILL) mid-run; another process finishes
 *   the run from its last committed step, no effect repeated;
 * - mailbox: a cancel sent to one process for a run executing on another
 *   stops it between two steps; a resume sent while the run's owner is dead
 *   is applied after the takeover, and answers as on one process;
 * - caps: with a tenant cap of 1, two runs of one tenant never execute at
 *   once across two processes, and priorities order the starts.
 */

import assert from "node:assert/strict";
import { type Cluster, type ClusterProcess, withCluster } from "./_cluster.ts";
import { postgresTest } from "./_postgres.ts";

/** A short lease, so that takeovers happen soon after a process stops. */
const SHORT_LEASE = { ORIS_LEASE_TTL_MS: "1500" };

/** Waits for a node of a run to start in a process (its `cluster node` line). */
function nodeStarted(
  cluster: Cluster,
  process: ClusterProcess,
  threadId: string,
  step: number,
): Promise<Record<string, unknown>> {
  return cluster.waitForLine(
    process,
    (line) => line.msg === "cluster node" && line.thread_id === threadId && line.step === step,
  );
}

postgresTest(
  "multi-process: three servers run 300 jobs submitted round-robin; every step is committed once and every effect ran once",
  async () => {
    await withCluster({ processes: 3 }, async (cluster) => {
      const ids = Array.from({ length: 300 }, (_, i) => `job-${i}`);
      await Promise.all(ids.map((threadId, i) =>
        cluster.submit(cluster.processes[i % 3]!, {
          thread_id: threadId,
          graph: "steps",
          input: { steps: 3 },
        })
      ));
      await cluster.waitForRuns(ids, ["completed"], 180_000);
      const committed = await cluster.eventCounts("step.committed");
      const journaled = new Map<string, number>();
      for (const effect of await cluster.effects()) {
        if (effect.name !== "record") continue;
        journaled.set(effect.threadId, (journaled.get(effect.threadId) ?? 0) + 1);
      }
      const executed = await cluster.executionsByStep();
      const pids = new Set(cluster.processes.map((p) => p.pid));
      for (const threadId of ids) {
        assert.equal(committed.get(threadId), 3, threadId);
        assert.equal(journaled.get(threadId), 3, threadId);
        for (const step of [1, 2, 3]) {
          const by = executed.get(`${threadId} ${step}`) ?? [];
          assert.equal(by.length, 1, `${threadId} step ${step} ran ${JSON.stringify(by)}`);
          assert.ok(pids.has(by[0]!));
        }
      }
      assert.equal(executed.size, 900);
    });
  },
);

postgresTest(
  "multi-process: an owner frozen past its lease is fenced: another process finishes the run, the thawed one writes nothing and logs it",
  async () => {
    await withCluster({ processes: 2, env: SHORT_LEASE }, async (cluster) => {
      const [p1, p2] = cluster.processes as [ClusterProcess, ClusterProcess];
      const threadId = "fenced";
      await cluster.submit(p1, {
        thread_id: threadId,
        graph: "steps",
        input: { steps: 5, step_ms: 300 },
      });
      await nodeStarted(cluster, p1, threadId, 2);
      cluster.signal(p1, "SIGSTOP");
      // p2 takes the run over once p1's lease expires, and finishes it.
      const taken = await cluster.waitForLine(
        p2,
        (line) => line.msg === "run taken over" && line.thread_id === threadId,
      );
      assert.equal(taken.owner, "p2");
      await cluster.waitForRuns([threadId]);
      cluster.signal(p1, "SIGCONT");
      const lost = await cluster.waitForLine(
        p1,
        (line) => line.msg === "lease lost" && line.thread_id === threadId,
      );
      assert.equal(lost.owner, "p1");
      // p1 is alive and serves; the run is as p2 left it: each step committed and journaled once.
      assert.equal((await cluster.api(p1, "GET", "/healthz")).status, 200);
      const runs = await cluster.runs();
      assert.equal(runs.get(threadId)!.status, "completed");
      assert.equal((await cluster.eventCounts("step.committed")).get(threadId), 5);
      const effects = (await cluster.effects()).filter((e) => e.name === "record");
      assert.deepEqual(effects.map((e) => e.step), [1, 2, 3, 4, 5]);
      const detail = await cluster.api(p2, "GET", `/v1/jobs/${threadId}`);
      assert.deepEqual(detail.body.data.values.trail.map((t: { step: number }) => t.step), [
        1,
        2,
        3,
        4,
        5,
      ]);
      // Nothing after the run completed: p1 wrote no event of its own.
      const types = await cluster.sql<{ type: string }[]>`
        SELECT type FROM ${cluster.sql(cluster.schema)}.runtime_events
         WHERE thread_id = ${threadId} ORDER BY seq DESC LIMIT 1`;
      assert.equal(types[0]!.type, "run.completed");
    });
  },
);

postgresTest(
  "multi-process: the owner killed mid-run, another process finishes the run from its last committed step, no effect repeated",
  async () => {
    await withCluster({ processes: 2, env: SHORT_LEASE }, async (cluster) => {
      const [p1, p2] = cluster.processes as [ClusterProcess, ClusterProcess];
      const threadId = "takeover";
      await cluster.submit(p1, {
        thread_id: threadId,
        graph: "steps",
        input: { steps: 5, step_ms: 400 },
      });
      // Killed while step 3 waits, before its effect.
      await nodeStarted(cluster, p1, threadId, 3);
      await cluster.kill(p1);
      await cluster.waitForLine(
        p2,
        (line) => line.msg === "run taken over" && line.thread_id === threadId,
      );
      await cluster.waitForRuns([threadId]);
      const executed = await cluster.executionsByStep();
      for (const step of [1, 2, 3, 4, 5]) {
        const by = executed.get(`${threadId} ${step}`) ?? [];
        assert.equal(by.length, 1, `step ${step} ran ${JSON.stringify(by)}`);
        assert.equal(by[0], step <= 2 ? p1.pid : p2.pid, `step ${step}`);
      }
      assert.equal((await cluster.eventCounts("step.committed")).get(threadId), 5);
    });
  },
);

postgresTest(
  "multi-process: a cancel sent to one process for a run executing on another stops it between two steps",
  async () => {
    await withCluster({ processes: 2 }, async (cluster) => {
      const [p1, p2] = cluster.processes as [ClusterProcess, ClusterProcess];
      const threadId = "remote-cancel";
      await cluster.submit(p1, {
        thread_id: threadId,
        graph: "steps",
        input: { steps: 50, step_ms: 100 },
      });
      await nodeStarted(cluster, p1, threadId, 2);
      assert.equal((await cluster.runs()).get(threadId)!.leaseOwner, "p1");
      const answer = await cluster.api(p2, "POST", `/v1/jobs/${threadId}/cancel`, {
        reason: "from p2",
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.data.status, "cancelled");
      const runs = await cluster.waitForRuns([threadId], ["cancelled"]);
      assert.equal(runs.get(threadId)!.status, "cancelled");
      const committed = (await cluster.eventCounts("step.committed")).get(threadId) ?? 0;
      assert.ok(committed >= 1 && committed < 50, `${committed} steps committed`);
      // No process executed the run's steps elsewhere: every effect by p1, once.
      for (const [key, by] of await cluster.executionsByStep()) {
        assert.deepEqual(by, [p1.pid], key);
      }
    });
  },
);

postgresTest(
  "multi-process: with a tenant cap of 1, runs of one tenant never execute at once across two processes, and priorities order their starts",
  async () => {
    await withCluster(
      { processes: 2, env: { ORIS_TENANT_MAX_ACTIVE_RUNS: "1" } },
      async (cluster) => {
        const [p1, p2] = cluster.processes as [ClusterProcess, ClusterProcess];
        // The first run holds the tenant's only place (until the test creates
        // the hold file) while the others queue.
        const holdDir = await Deno.makeTempDir();
        const hold = `${holdDir}/go`;
        await cluster.submit(p1, {
          thread_id: "cap-first",
          graph: "steps",
          tenant_id: "acme",
          input: { steps: 3, hold_file: hold },
        });
        await nodeStarted(cluster, p1, "cap-first", 1);
        const queued = [["cap-low", 1], ["cap-high", 9], ["cap-mid", 5]] as const;
        for (const [i, [threadId, priority]] of queued.entries()) {
          const data = await cluster.submit(i % 2 === 0 ? p2 : p1, {
            thread_id: threadId,
            graph: "steps",
            tenant_id: "acme",
            priority,
            input: { steps: 2, step_ms: 50 },
          });
          assert.equal(data.status, "queued", threadId);
        }
        await Deno.writeTextFile(hold, "");
        const ids = ["cap-first", ...queued.map(([threadId]) => threadId)];
        await cluster.waitForRuns(ids, ["completed"], 120_000);
        // In the effect log, each run's executions are contiguous (never two at once).
        const order = (await cluster.executions()).map((e) => e.threadId);
        const runsInOrder = order.filter((id, i) => i === 0 || order[i - 1] !== id);
        assert.deepEqual(runsInOrder, ["cap-first", "cap-high", "cap-mid", "cap-low"]);
        await Deno.remove(holdDir, { recursive: true });
      },
    );
  },
);

postgresTest(
  "multi-process: a resume sent while the run's owner is dead is applied after the takeover",
  async () => {
    await withCluster({ processes: 2, env: SHORT_LEASE }, async (cluster) => {
      const [p1, p2] = cluster.processes as [ClusterProcess, ClusterProcess];
      const threadId = "dead-owner";
      await cluster.submit(p1, { thread_id: threadId, graph: "asker", input: {} });
      await cluster.waitForRuns([threadId], ["interrupted"]);
      // A stream on p1 keeps the run (and its lease) there; then p1 dies.
      const stream = await fetch(`${p1.base}/v1/jobs/${threadId}/stream?follow=true`);
      const reader = stream.body!.getReader();
      await reader.read();
      await cluster.waitFor("p1 to hold the lease", async () => {
        const run = (await cluster.runs()).get(threadId)!;
        return run.leaseOwner === "p1" && run.leaseToken >= 2;
      });
      await cluster.kill(p1);
      await reader.cancel().catch(() => {});
      const answer = await cluster.api(p2, "POST", `/v1/jobs/${threadId}/resume`, { value: "yes" });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.data.status, "completed");
      const mail = await cluster.sql<{ status: string }[]>`
        SELECT status FROM ${cluster.sql(cluster.schema)}.runtime_mailbox
         WHERE thread_id = ${threadId}`;
      assert.deepEqual(mail.map((row) => row.status), ["applied"]);
      const executed = await cluster.executionsByStep();
      assert.deepEqual([...executed.values()], [[p2.pid]]);
      assert.equal((await cluster.eventCounts("run.resumed")).get(threadId), 1);
    });
  },
);
