/**
 * The queue in `/metrics` across processes: two server processes that may
 * each execute one run (`ORIS_MAX_ACTIVE_RUNS=1`) are busy with a sleeping
 * run each; two more runs submitted stay `queued`, and both processes'
 * `/metrics` report the cluster's queue (depth 2, the oldest's age). A
 * cancel frees a place: the queued runs start, complete, and the queue is
 * empty again. Everything waits on the database and the answers.
 */

import assert from "node:assert/strict";
import { type ClusterProcess, withCluster } from "./_cluster.ts";
import { postgresTest } from "./_postgres.ts";

async function queue(process: ClusterProcess) {
  const text = await (await fetch(`${process.base}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)![1]);
  return { depth: value("oris_queued_runs"), age: value("oris_queued_run_oldest_age_ms") };
}

postgresTest(
  "cluster: runs no process may start stay queued and /metrics shows the cluster's queue",
  async () => {
    await withCluster({ processes: 2, env: { ORIS_MAX_ACTIVE_RUNS: "1" } }, async (cluster) => {
      const [p1, p2] = cluster.processes;
      const hold = { graph: "sleeper", input: { sleep_ms: 600_000 } };
      await cluster.submit(p1!, { thread_id: "busy-1", ...hold });
      await cluster.submit(p2!, { thread_id: "busy-2", ...hold });
      await cluster.waitFor("each process to hold a sleeping run", async () => {
        const runs = await cluster.runs();
        const owners = ["busy-1", "busy-2"].map((id) => runs.get(id)?.leaseOwner ?? null);
        return owners.every((owner) => owner !== null) && new Set(owners).size === 2;
      });

      await cluster.submit(p1!, { thread_id: "wait-1", graph: "steps", input: { steps: 1 } });
      await cluster.submit(p2!, { thread_id: "wait-2", graph: "steps", input: { steps: 1 } });
      const runs = await cluster.runs();
      assert.equal(runs.get("wait-1")!.status, "queued");
      assert.equal(runs.get("wait-2")!.status, "queued");
      for (const process of [p1!, p2!]) {
        const seen = await queue(process);
        assert.equal(seen.depth, 2, process.name);
        assert.ok(seen.age >= 0 && seen.age < 600_000, `${process.name}: age ${seen.age}`);
      }
      const listed = await cluster.api(p2!, "GET", "/v1/jobs?status=queued");
      assert.deepEqual(
        listed.body.data.jobs.map((job: { thread_id: string }) => job.thread_id).sort(),
        ["wait-1", "wait-2"],
      );

      const cancelled = await cluster.api(p2!, "POST", "/v1/jobs/busy-1/cancel", {});
      assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
      await cluster.waitForRuns(["wait-1", "wait-2"]);
      assert.deepEqual(await queue(p1!), { depth: 0, age: 0 });
      assert.deepEqual(await queue(p2!), { depth: 0, age: 0 });
    });
  },
);
