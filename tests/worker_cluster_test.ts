/**
 * Guarantees of remote workers, with real processes: a server in workers
 * mode (`ORIS_EXECUTION=workers`, PostgreSQL) and `oris worker` processes
 * (`deno run -A cli/main.ts worker --graphs ...`) running the `chain` graph
 * of `tests/fixtures/worker_graphs.ts`.
 *
 * - Two workers run 200 jobs that wait at an interrupt; the resumes go
 *   through the server; one worker is killed (SIGKILL) with its runs in
 *   flight: every run completes, every step is committed once, every
 *   effect ran once (the effect log is the side channel).
 * - A worker frozen (SIGSTOP) past its lease cannot report a step: the
 *   other worker finishes the run, the thawed one writes nothing.
 * - SIGTERM: the worker lets its step commit, releases its leases and exits
 *   0; the other worker continues the run without waiting for the lease to
 *   expire.
 */

import assert from "node:assert/strict";
import { type Cluster, type ClusterProcess, withCluster } from "./_cluster.ts";
import { postgresTest } from "./_postgres.ts";
import { type ServerProcess, startWorker } from "./_server_process.ts";

const GRAPHS = new URL("./fixtures/worker_graphs.ts", import.meta.url).pathname;
const SERVER_ENV = { ORIS_EXECUTION: "workers" };

/** Starts an `oris worker` process for the cluster's server. */
function worker(
  cluster: Cluster,
  server: ClusterProcess,
  id: string,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  return startWorker({
    ORIS_SERVER_URL: server.base,
    ORIS_WORKER_ID: id,
    ORIS_MAX_ACTIVE_LEASES: "16",
    ORIS_POLL_INTERVAL_MS: "50",
    ORIS_MAX_POLL_INTERVAL_MS: "400",
    // Well above a heartbeat round on a loaded machine (a lease lost to a slow round costs time).
    ORIS_LEASE_TTL_MS: "10000",
    CLUSTER_EFFECT_LOG: cluster.effectLog,
    ...env,
  }, ["--graphs", GRAPHS]);
}

/** Signals a worker process itself (never a group). */
function signal(process: ServerProcess, name: Deno.Signal): void {
  if (!(process.pid > 1) || process.pid === Deno.pid) {
    throw new Error(`Refusing to signal pid ${process.pid}`);
  }
  Deno.kill(process.pid, name);
}

/** Ends a worker still running (tests clean up after a failure too). */
async function reap(process: ServerProcess): Promise<void> {
  try {
    signal(process, "SIGCONT");
    signal(process, "SIGKILL");
  } catch {
    // Gone already.
  }
  await process.exited;
  await process.stderr;
}

/** The JSON lines a worker printed that `predicate` accepts. */
function linesOf(
  process: ServerProcess,
  predicate: (line: Record<string, unknown>) => boolean,
): Record<string, unknown>[] {
  return process.lines.flatMap((text) => {
    if (!text.startsWith("{")) return [];
    const line = JSON.parse(text) as Record<string, unknown>;
    return predicate(line) ? [line] : [];
  });
}

/** Waits for a JSON line of a worker. */
async function waitForLine(
  process: ServerProcess,
  predicate: (line: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  const text = await process.waitForLine((line) => {
    if (!line.startsWith("{")) return false;
    return predicate(JSON.parse(line));
  });
  return JSON.parse(text);
}

postgresTest(
  "workers: two oris worker processes run 200 jobs with an interrupt, resumed through the server, one killed mid-run; every step committed once, every effect once",
  async () => {
    await withCluster(
      { processes: 1, env: SERVER_ENV, graphs: GRAPHS },
      async (cluster) => {
        const [server] = cluster.processes as [ClusterProcess];
        const hold = `${cluster.effectLog}.hold`;
        const w1 = await worker(cluster, server, "w1");
        const w2 = await worker(cluster, server, "w2");
        try {
          const ids = Array.from({ length: 200 }, (_, i) => `job-${i}`);
          for (let i = 0; i < ids.length; i += 50) {
            await Promise.all(
              ids.slice(i, i + 50).map((threadId) =>
                cluster.submit(server, {
                  thread_id: threadId,
                  graph: "chain",
                  input: { hold_file: hold },
                })
              ),
            );
          }
          await cluster.waitForRuns(ids, ["interrupted"], 300_000);
          // Resume every run through the server (it waits for each to come to rest).
          const resumed = Promise.all(
            ids.map((threadId) =>
              cluster.api(server, "POST", `/v1/jobs/${threadId}/resume`, { value: "yes" })
            ),
          );
          // w1 fills up with runs parked after their effect of step 3 was journaled: kill it.
          await cluster.waitFor("w1 to hold 16 parked runs", () => {
            const parked = linesOf(w1, (line) => line.msg === "worker node parked");
            return Promise.resolve(new Set(parked.map((line) => line.thread_id)).size >= 16);
          });
          const killed = linesOf(w1, (line) => line.msg === "worker node parked")
            .map((line) => String(line.thread_id));
          signal(w1, "SIGKILL");
          await w1.exited;
          await Deno.writeTextFile(hold, "");
          // w2 takes w1's runs over once their leases expire and finishes everything.
          await cluster.waitForRuns(ids, ["completed"], 300_000);
          for (const answer of await resumed) assert.equal(answer.status, 200);
          const taken = linesOf(w2, (line) => line.msg === "run taken over")
            .map((line) => String(line.thread_id));
          for (const threadId of killed) assert.ok(taken.includes(threadId), threadId);

          const committed = await cluster.eventCounts("step.committed");
          const journaled = new Map<string, number>();
          for (const effect of await cluster.effects()) {
            if (effect.name !== "record") continue;
            journaled.set(effect.threadId, (journaled.get(effect.threadId) ?? 0) + 1);
          }
          const executed = await cluster.executionsByStep();
          for (const threadId of ids) {
            assert.equal(committed.get(threadId), 4, threadId);
            assert.equal(journaled.get(threadId), 4, threadId);
            for (const step of [1, 2, 3, 4]) {
              const by = executed.get(`${threadId} ${step}`) ?? [];
              assert.equal(by.length, 1, `${threadId} step ${step} ran ${JSON.stringify(by)}`);
              assert.ok([w1.pid, w2.pid].includes(by[0]!));
            }
          }
          for (const threadId of killed) {
            // Step 3 ran in w1 (journaled there), step 4 in w2.
            assert.deepEqual(
              [3, 4].map((step) => executed.get(`${threadId} ${step}`)),
              [[w1.pid], [w2.pid]],
            );
          }
          assert.equal(executed.size, 800);
        } finally {
          await reap(w1);
          await reap(w2);
        }
      },
    );
  },
);

postgresTest(
  "workers: a worker frozen past its lease cannot report a step; the other finishes the run",
  async () => {
    await withCluster({ processes: 1, env: SERVER_ENV, graphs: GRAPHS }, async (cluster) => {
      const [server] = cluster.processes as [ClusterProcess];
      const hold = `${cluster.effectLog}.hold`;
      const w1 = await worker(cluster, server, "w1", { ORIS_LEASE_TTL_MS: "1000" });
      let w2: ServerProcess | null = null;
      try {
        const threadId = "frozen";
        await cluster.submit(server, {
          thread_id: threadId,
          graph: "chain",
          input: { ask: false, hold_file: hold },
        });
        await waitForLine(w1, (line) => line.msg === "worker node parked");
        signal(w1, "SIGSTOP");
        await Deno.writeTextFile(hold, "");
        w2 = await worker(cluster, server, "w2", { ORIS_LEASE_TTL_MS: "1000" });
        await waitForLine(w2, (line) => line.msg === "run taken over");
        await cluster.waitForRuns([threadId]);
        const before = await cluster.eventCounts();
        signal(w1, "SIGCONT");
        // The thawed worker finishes its step, and its report is refused: lease lost.
        const lost = await waitForLine(w1, (line) => line.msg === "lease lost");
        assert.equal(lost.thread_id, threadId);
        assert.deepEqual(await cluster.eventCounts(), before);
        assert.equal((await cluster.eventCounts("step.committed")).get(threadId), 4);
        const last = await cluster.sql<{ type: string }[]>`
          SELECT type FROM ${cluster.sql(cluster.schema)}.runtime_events
           WHERE thread_id = ${threadId} ORDER BY seq DESC LIMIT 1`;
        assert.equal(last[0]!.type, "run.completed");
        const steps = (await cluster.effects()).filter((e) => e.name === "record");
        assert.deepEqual(steps.map((e) => e.step), [1, 2, 3, 4]);
      } finally {
        await reap(w1);
        if (w2 !== null) await reap(w2);
      }
    });
  },
);

postgresTest(
  "workers: SIGTERM lets the step commit, releases the lease and exits 0; another worker continues at once",
  async () => {
    await withCluster({ processes: 1, env: SERVER_ENV, graphs: GRAPHS }, async (cluster) => {
      const [server] = cluster.processes as [ClusterProcess];
      const hold = `${cluster.effectLog}.hold`;
      // A long lease: the run could not move before it expired, unless released.
      const w1 = await worker(cluster, server, "w1", { ORIS_LEASE_TTL_MS: "600000" });
      let w2: ServerProcess | null = null;
      try {
        const threadId = "stopped";
        await cluster.submit(server, {
          thread_id: threadId,
          graph: "chain",
          input: { ask: false, hold_file: hold },
        });
        await waitForLine(w1, (line) => line.msg === "worker node parked");
        signal(w1, "SIGTERM");
        await Deno.writeTextFile(hold, "");
        assert.equal((await w1.exited).code, 0);
        // Step 3 committed before it stopped; the lease is released, the run waits for a worker.
        assert.equal((await cluster.eventCounts("step.committed")).get(threadId), 3);
        const run = (await cluster.runs()).get(threadId)!;
        assert.equal(run.status, "running");
        const lease = await cluster.sql<{ live: boolean }[]>`
          SELECT lease_owner IS NOT NULL AND lease_expires_at > ${Date.now()} AS live
            FROM ${cluster.sql(cluster.schema)}.runtime_runs WHERE thread_id = ${threadId}`;
        assert.equal(lease[0]!.live, false);
        w2 = await worker(cluster, server, "w2", { ORIS_LEASE_TTL_MS: "600000" });
        await cluster.waitForRuns([threadId]);
        const executed = await cluster.executionsByStep();
        assert.deepEqual([1, 2, 3, 4].map((step) => executed.get(`${threadId} ${step}`)), [
          [w1.pid],
          [w1.pid],
          [w1.pid],
          [w2.pid],
        ]);
      } finally {
        await reap(w1);
        if (w2 !== null) await reap(w2);
      }
    });
  },
);

/** A port free now on 127.0.0.1 (the restarted server listens on it again). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

postgresTest(
  "workers: the server restarted under a worker's runs; the worker retries, every run completes, every step and effect once",
  async () => {
    const env = { ...SERVER_ENV, ORIS_SERVER_ADDR: `127.0.0.1:${freePort()}` };
    await withCluster({ processes: 0, env, graphs: GRAPHS }, async (cluster) => {
      const first = await cluster.start();
      const hold = `${cluster.effectLog}.hold`;
      // A lease longer than the restart: the runs in flight keep their leases, and report late.
      const w1 = await worker(cluster, first, "w1");
      try {
        const ids = Array.from({ length: 24 }, (_, i) => `restart-${i}`);
        await Promise.all(ids.map((threadId) =>
          cluster.submit(first, {
            thread_id: threadId,
            graph: "chain",
            input: { ask: false, hold_file: hold },
          })
        ));
        await cluster.waitFor("w1 to hold 16 parked runs", () => {
          const parked = linesOf(w1, (line) => line.msg === "worker node parked");
          return Promise.resolve(new Set(parked.map((line) => line.thread_id)).size >= 16);
        });
        // The server dies while 16 runs are in flight; they go on, and report to nobody.
        await cluster.kill(first);
        await Deno.writeTextFile(hold, "");
        await waitForLine(w1, (line) => line.msg === "Cannot reach the server; retrying");
        const again = await cluster.start();
        assert.equal(again.base, first.base);
        await cluster.waitForRuns(ids, ["completed"], 300_000);
        const committed = await cluster.eventCounts("step.committed");
        const executed = await cluster.executionsByStep();
        for (const threadId of ids) {
          assert.equal(committed.get(threadId), 4, threadId);
          for (const step of [1, 2, 3, 4]) {
            const by = executed.get(`${threadId} ${step}`) ?? [];
            assert.deepEqual(by, [w1.pid], `${threadId} step ${step}`);
          }
        }
      } finally {
        await reap(w1);
      }
    });
  },
);
