/**
 * Durable timers across processes (real server processes on one PostgreSQL
 * schema, `tests/_cluster.ts`): a run waiting at an interrupt with a `total`
 * deadline, and a run sleeping in `ctx.sleep`, both started by a first
 * process that is then killed (SIGKILL), fire in a second process:
 *
 * - the deadline is stored with the run (its wake-up time), so the second
 *   process claims the run at rest once it is due and ends it with code
 *   `timeout`, never before the deadline;
 * - the sleep's wake-up time is journaled, so the second process, taking the
 *   run over once the dead owner's lease expired, runs the node again and
 *   waits only what is left: the run completes, never before the wake-up
 *   time, the wake-up journaled once, the node's effect executed once (by
 *   the second process).
 *
 * A third run shows a process that starts after a deadline passed firing it
 * at once. Everything waits on log lines and the database, never on sleeps.
 */

import assert from "node:assert/strict";
import { type Cluster, withCluster } from "./_cluster.ts";
import { postgresTest } from "./_postgres.ts";

/** The total deadline of the waiting runs, and the sleep of the sleeping run (ms). */
const WAIT_MS = 4_000;
/** The lease ttl of the processes: short, so that a takeover comes soon after a kill. */
const TTL_MS = "1500";

interface Event {
  type: string;
  at: number;
  event: Record<string, unknown>;
}

async function events(cluster: Cluster, threadId: string): Promise<Event[]> {
  const rows = await cluster.sql<{ type: string; at: number; event: string }[]>`
    SELECT type, at, event FROM ${cluster.sql(cluster.schema)}.runtime_events
     WHERE thread_id = ${threadId} ORDER BY seq`;
  return rows.map((row) => ({ type: row.type, at: row.at, event: JSON.parse(row.event) }));
}

/** The time a run's total deadline passes (its wake-up time, as the store keeps it). */
async function wakeAt(cluster: Cluster, threadId: string): Promise<number> {
  const [row] = await cluster.sql<{ wake_at: number | null }[]>`
    SELECT wake_at FROM ${cluster.sql(cluster.schema)}.runtime_runs WHERE thread_id = ${threadId}`;
  assert.ok(row?.wake_at !== null && row?.wake_at !== undefined, `${threadId} has no wake-up time`);
  return row.wake_at;
}

async function assertTimedOut(cluster: Cluster, threadId: string, deadline: number) {
  const log = await events(cluster, threadId);
  const end = log.at(-1)!;
  assert.equal(end.type, "run.failed", JSON.stringify(log.map((e) => e.type)));
  assert.equal((end.event.error as { code: string }).code, "timeout");
  assert.ok(end.at >= deadline, `${threadId} timed out ${deadline - end.at} ms early`);
}

postgresTest(
  "durable timers: a deadline and a ctx.sleep survive SIGKILL of their process and fire in another",
  async () => {
    await withCluster({ processes: 1, env: { ORIS_LEASE_TTL_MS: TTL_MS } }, async (cluster) => {
      const [first] = cluster.processes;
      const policy = { timeout_ms: WAIT_MS, on_timeout_status: "failed", scope: "total" };
      await cluster.submit(first!, { thread_id: "t-wait", graph: "asker", timeout_policy: policy });
      await cluster.submit(first!, {
        thread_id: "t-sleep",
        graph: "sleeper",
        input: { sleep_ms: WAIT_MS },
      });
      await cluster.waitForRuns(["t-wait"], ["interrupted"]);
      // The sleep's wake-up time is journaled before the process sleeps.
      const sleepWake = await cluster.waitFor("the sleep's wake-up in the journal", async () => {
        const sleeps = (await cluster.effects()).filter((e) =>
          e.threadId === "t-sleep" && e.name === "oris.sleep"
        );
        return sleeps.length === 1 ? sleeps[0]!.record.result?.value as number : null;
      });
      const deadline = await wakeAt(cluster, "t-wait");

      await cluster.kill(first!);
      const second = await cluster.start();
      const runs = await cluster.waitForRuns(["t-wait", "t-sleep"], ["failed", "completed"]);
      assert.equal(runs.get("t-wait")!.status, "failed");
      assert.equal(runs.get("t-sleep")!.status, "completed");
      await assertTimedOut(cluster, "t-wait", deadline);

      const slept = await events(cluster, "t-sleep");
      assert.ok(slept.at(-1)!.at >= sleepWake, "the sleep ended before its wake-up time");
      const effects = (await cluster.effects()).filter((e) => e.threadId === "t-sleep");
      assert.deepEqual(effects.map((e) => e.name).sort(), ["oris.sleep", "record"]);
      const executions = (await cluster.executions()).filter((e) => e.threadId === "t-sleep");
      assert.deepEqual(executions.map((e) => e.pid), [second!.pid]);

      // A process that starts after a deadline passed fires it at once.
      await cluster.submit(second, {
        thread_id: "t-late",
        graph: "asker",
        timeout_policy: { ...policy, timeout_ms: 1_000 },
      });
      await cluster.waitForRuns(["t-late"], ["interrupted"]);
      const late = await wakeAt(cluster, "t-late");
      await cluster.kill(second);
      await cluster.waitFor("the deadline of t-late to pass", async () => {
        const [row] = await cluster.sql<{ now: number }[]>`
        SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now`;
        return row!.now > late;
      });
      await cluster.start();
      await cluster.waitForRuns(["t-late"], ["failed"]);
      await assertTimedOut(cluster, "t-late", late);
    });
  },
);
