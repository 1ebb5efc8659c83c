/**
 * The multi-process harness itself (`tests/_cluster.ts`): two server
 * processes on one PostgreSQL schema; a run submitted to each completes, the
 * database shows both completed with every step's effect journaled once, the
 * effect log shows each effect executed once by a server process, and a
 * frozen process (SIGSTOP) is thawed (SIGCONT) and killed (SIGKILL) by its
 * own pid.
 */

import assert from "node:assert/strict";
import { withCluster } from "./_cluster.ts";
import { postgresTest } from "./_postgres.ts";

postgresTest(
  "cluster harness: two servers on one schema each complete a run, the database shows it",
  async () => {
    await withCluster({ processes: 2 }, async (cluster) => {
      const [p1, p2] = cluster.processes;
      assert.notEqual(p1!.pid, p2!.pid);
      await cluster.submit(p1!, { thread_id: "h-1", graph: "steps", input: { steps: 3 } });
      await cluster.submit(p2!, { thread_id: "h-2", graph: "steps", input: { steps: 3 } });
      const node = await cluster.waitForLine(
        p1!,
        (line) => line.msg === "cluster node" && line.thread_id === "h-1",
      );
      assert.equal(node.pid, p1!.pid);
      const runs = await cluster.waitForRuns(["h-1", "h-2"]);
      assert.equal(runs.get("h-1")!.status, "completed");
      assert.deepEqual(await cluster.statusCounts(), { completed: 2 });

      const effects = await cluster.effects();
      for (const threadId of ["h-1", "h-2"]) {
        const records = effects.filter((e) => e.threadId === threadId && e.name === "record");
        assert.deepEqual(records.map((e) => e.step), [1, 2, 3], threadId);
      }
      const executions = await cluster.executions();
      assert.equal(executions.length, 6);
      const pids = new Set([p1!.pid, p2!.pid]);
      assert.ok(executions.every((e) => pids.has(e.pid)), JSON.stringify(executions));
      const committed = await cluster.eventCounts("step.committed");
      assert.equal(committed.get("h-1"), 3);
      assert.equal(committed.get("h-2"), 3);

      const detail = await cluster.api(p1!, "GET", "/v1/jobs/h-1");
      assert.equal(detail.body.data.status, "completed");
      assert.deepEqual(detail.body.data.values.trail.map((t: { step: number }) => t.step), [
        1,
        2,
        3,
      ]);

      cluster.signal(p2!, "SIGSTOP");
      cluster.signal(p2!, "SIGCONT");
      const status = await cluster.kill(p2!);
      assert.equal(status.signal, "SIGKILL");
    });
  },
);
