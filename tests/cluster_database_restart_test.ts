/**
 * A PostgreSQL restart while runs execute in two server processes: a private
 * cluster (`_private_postgres.ts`, never the shared server) is restarted
 * (`pg_ctl restart -m fast`, which ends every session) while runs submitted
 * to both processes are mid-way. The runtimes reconnect by themselves and
 * every run completes; nothing is lost or doubled: each run committed each
 * of its steps exactly once, its journal holds one record per step, and its
 * state has every step once. (An effect whose result could not be journaled
 * because the database went away may run again: the at-least-once window of
 * every durable-execution system; the journal keeps only one result.)
 * Everything waits on the database's state, never on a sleep.
 */

import assert from "node:assert/strict";
import { withCluster } from "./_cluster.ts";
import { privatePostgresTest, startPrivatePostgres } from "./_private_postgres.ts";

const RUNS = 12;
const STEPS = 12;

privatePostgresTest(
  "a PostgreSQL restart while two processes execute runs: they reconnect, every run completes once",
  async () => {
    await using pg = await startPrivatePostgres();
    await withCluster(
      { processes: 2, url: pg.url, env: { ORIS_LEASE_TTL_MS: "2000" } },
      async (cluster) => {
        const ids = Array.from({ length: RUNS }, (_, i) => `restart-${i}`);
        for (const [i, threadId] of ids.entries()) {
          await cluster.submit(cluster.processes[i % 2]!, {
            thread_id: threadId,
            graph: "steps",
            input: { steps: STEPS, step_ms: 100 },
          });
        }
        // Mid-way: every run has committed a step, none has finished.
        const committed = () => cluster.eventCounts("step.committed");
        await cluster.waitFor("every run to commit a step", async () => {
          const counts = await committed();
          return ids.every((id) => (counts.get(id) ?? 0) >= 1);
        });
        const before = await committed();
        assert.ok(ids.some((id) => (before.get(id) ?? 0) < STEPS), "the runs finished too soon");

        await pg.restart();

        const runs = await cluster.waitForRuns(ids, ["completed", "failed", "cancelled"], 120_000);
        for (const id of ids) assert.equal(runs.get(id)!.status, "completed", id);
        const counts = await committed();
        for (const id of ids) assert.equal(counts.get(id), STEPS, `${id}: steps committed`);
        const effects = await cluster.effects();
        for (const id of ids) {
          const steps = effects.filter((e) => e.threadId === id && e.name === "record")
            .map((e) => e.step);
          assert.deepEqual(steps, Array.from({ length: STEPS }, (_, i) => i + 1), `${id}: journal`);
        }
        for (const id of ids) {
          const answer = await cluster.api(cluster.processes[0]!, "GET", `/v1/jobs/${id}`);
          const trail = answer.body.data.values.trail as { step: number }[];
          assert.deepEqual(
            trail.map((t) => t.step),
            Array.from({ length: STEPS }, (_, i) => i + 1),
          );
        }
        // Every step's effect ran at least once, in one of the two processes.
        const pids = new Set(cluster.processes.map((p) => p.pid));
        const executions = await cluster.executions();
        for (const id of ids) {
          const ran = new Set(executions.filter((e) => e.threadId === id).map((e) => e.step));
          assert.equal(ran.size, STEPS, `${id}: steps executed`);
        }
        assert.ok(executions.every((e) => pids.has(e.pid)));
      },
    );
  },
);
