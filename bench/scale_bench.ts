/**
 * Scale benchmark: prints JSON lines. Several runtime server processes
 * (`server/main.ts`, each its own `ORIS_OWNER_ID`) on one PostgreSQL schema,
 * started with the tests' cluster harness (`tests/_cluster.ts`), serving the
 * graph `five` of `bench/_scale_graphs.ts` (a node that runs 5 times: 5
 * durable steps, no effect).
 *
 * - `throughput`, for 1, 2 and 4 processes side by side in one run (a fresh
 *   schema each): `--runs` runs (default 2,000) of `--steps` steps (default
 *   5) are submitted, and the clock runs from the first submission until the
 *   database shows every run ended (polled every 25 ms). With `--submit
 *   store` (the default) the runs are created in the database directly (as
 *   a server creates them: the `run.created` event of a run submitted over
 *   HTTP, for a new thread id each, 32 at a time) and the processes claim
 *   them, so the figure is the runtimes' execution; with `--submit http`
 *   they are submitted over HTTP (`POST /v1/jobs/run?wait=false`,
 *   round-robin over the processes, from `--submitters` concurrent clients,
 *   default 32). A line per configuration: runs/s and durable steps/s
 *   (`step.committed` events in the database over that time), the time
 *   submitting took, and runs that did not complete. One warm-up run per
 *   process first (not counted).
 * - `workers`, for 1, 2 and 4 worker processes (`--workers`) side by side
 *   with the embedded figures above, in the same run: one server in
 *   `ORIS_EXECUTION=workers` mode and that many `oris worker` processes
 *   (`cli/main.ts worker --graphs bench/_scale_graphs.ts`, 64 leases each)
 *   execute the same runs, created in the database the same way; every step
 *   goes over HTTP (report-step, effects, heartbeats, ack). The line adds
 *   `vs_embedded`: its durable steps/s over the embedded configuration's
 *   with as many processes (the cost of remote execution, as a ratio), and
 *   `per_step_overhead`, its inverse for one step.
 * - `recovery`: `--recovery-runs` runs (default 1,000) that stay in flight
 *   (one step that waits 10 minutes) are submitted to a first process alone;
 *   once the database shows them all leased by it, a second process starts
 *   and the first is killed (SIGKILL). The line gives the time from the
 *   leases' expiry (the latest `lease_expires_at` of those runs, on the
 *   database's clock) until every one is leased by the second process
 *   (`all_reclaimed_ms`; `first_reclaimed_ms` for the first), with the lease
 *   ttl (`--ttl-ms`, default 2,000). It needs runtimes that take leases: when
 *   the first process takes none, the line is a `skip`.
 *
 * Run: `deno task bench` (with the other benches) or
 * `deno run -A bench/scale_bench.ts [--runs N] [--steps N] [--processes 1,2,4]
 * [--workers 1,2,4] [--submit store|http] [--submitters N] [--recovery-runs N] [--ttl-ms N]
 * [--no-throughput] [--no-workers] [--no-recovery]`;
 * a quick run: `--runs 200 --recovery-runs 100`. PostgreSQL from
 * `ORIS_BENCH_POSTGRES_URL`, else `ORIS_TEST_POSTGRES_URL`, else the local
 * server (a `skip` line when it is unreachable). Targets (reported, never
 * asserted): at least 10,000 durable steps/s in total at the best
 * configuration, recovery under 2 s after expiry.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { RunCreatedEvent, ThreadId } from "../kernel/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { type Cluster, type ClusterProcess, withCluster } from "../tests/_cluster.ts";
import { startWorker } from "../tests/_server_process.ts";
import { benchPostgresUrl, emit, openBenchPostgres, round } from "./_common.ts";

const GRAPHS = new URL("./_scale_graphs.ts", import.meta.url).pathname;
/** How long the in-flight runs of the recovery part wait in their step. */
const HOLD_MS = 600_000;
/** A bound on one part, so that a stuck cluster ends the benchmark. */
const PART_LIMIT_MS = 15 * 60_000;

/** The benchmark's sizes. */
export interface ScaleOptions {
  runs: number;
  steps: number;
  processes: number[];
  workers: number[];
  submit: "store" | "http";
  submitters: number;
  recoveryRuns: number;
  ttlMs: number;
  throughput: boolean;
  remote: boolean;
  recovery: boolean;
}

/**
 * Reads the sizes from the command line.
 *
 * @param args The arguments.
 * @returns The sizes.
 */
export function scaleOptions(args: string[]): ScaleOptions {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string", default: "2000" },
      steps: { type: "string", default: "5" },
      processes: { type: "string", default: "1,2,4" },
      workers: { type: "string", default: "1,2,4" },
      submit: { type: "string", default: "store" },
      submitters: { type: "string", default: "32" },
      "recovery-runs": { type: "string", default: "1000" },
      "ttl-ms": { type: "string", default: "2000" },
      "no-throughput": { type: "boolean", default: false },
      "no-workers": { type: "boolean", default: false },
      "no-recovery": { type: "boolean", default: false },
    },
  });
  const whole = (name: string, text: string) => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new TypeError(`--${name} must be a whole number from 1, got "${text}"`);
    }
    return value;
  };
  if (values.submit !== "store" && values.submit !== "http") {
    throw new TypeError(`--submit must be store or http, got "${values.submit}"`);
  }
  return {
    submit: values.submit,
    runs: whole("runs", values.runs),
    steps: whole("steps", values.steps),
    processes: values.processes.split(",").map((item) => whole("processes", item.trim())),
    workers: values.workers.split(",").map((item) => whole("workers", item.trim())),
    submitters: whole("submitters", values.submitters),
    recoveryRuns: whole("recovery-runs", values["recovery-runs"]),
    ttlMs: whole("ttl-ms", values["ttl-ms"]),
    throughput: !values["no-throughput"],
    remote: !values["no-workers"],
    recovery: !values["no-recovery"],
  };
}

/** Submits runs from `submitters` concurrent clients, round-robin over the processes. */
async function submitAll(
  cluster: Cluster,
  targets: readonly ClusterProcess[],
  ids: readonly string[],
  input: Record<string, unknown>,
  submitters: number,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(submitters, ids.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= ids.length) return;
      await cluster.submit(targets[i % targets.length]!, {
        thread_id: ids[i],
        graph: "five",
        input,
      });
    }
  }));
}

/**
 * Creates runs in the database as a server does: the `run.created` event of
 * a run already submitted over HTTP, for each new thread id.
 */
async function createAll(
  cluster: Cluster,
  model: string,
  ids: readonly string[],
  concurrency: number,
): Promise<void> {
  const [row] = await cluster.sql<{ event: string }[]>`
    SELECT event FROM ${cluster.sql(cluster.schema)}.runtime_events
     WHERE thread_id = ${model} AND seq = 1`;
  const template = JSON.parse(row!.event) as RunCreatedEvent;
  await using store = await PostgresStore.connect({
    url: cluster.url,
    schema: cluster.schema,
    max: concurrency,
  });
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= ids.length) return;
      const threadId = ids[i]! as ThreadId;
      await store.createRun({ ...template, threadId, at: Date.now(), payloadHash: threadId });
    }
  }));
}

/** Waits until `count` runs whose id starts with `prefix` ended; returns their statuses. */
function waitEnded(
  cluster: Cluster,
  prefix: string,
  count: number,
): Promise<Record<string, number>> {
  return cluster.waitFor(`${count} runs to end`, async () => {
    const rows = await cluster.sql<{ status: string; count: number }[]>`
      SELECT status, count(*)::int4 AS count FROM ${cluster.sql(cluster.schema)}.runtime_runs
       WHERE thread_id LIKE ${prefix + "%"} AND status IN ('completed', 'failed', 'cancelled')
       GROUP BY status`;
    const ended = rows.reduce((sum, row) => sum + row.count, 0);
    return ended >= count ? Object.fromEntries(rows.map((row) => [row.status, row.count])) : null;
  }, PART_LIMIT_MS);
}

/** What one throughput configuration measured. */
interface Measured {
  seconds: number;
  runsPerS: number;
  stepsPerS: number;
  submitSeconds: number;
  notCompleted: number;
}

/** Warms the executors up, submits `--runs` runs, and measures until they all ended. */
async function measure(
  cluster: Cluster,
  warmers: number,
  options: ScaleOptions,
): Promise<Measured> {
  const input = { steps: options.steps };
  const warm = Array.from({ length: warmers }, (_, i) => `warm-${i}`);
  await submitAll(cluster, cluster.processes, warm, input, warm.length);
  await waitEnded(cluster, "warm-", warm.length);
  const ids = Array.from({ length: options.runs }, (_, i) => `run-${i}`);
  const started = performance.now();
  if (options.submit === "http") {
    await submitAll(cluster, cluster.processes, ids, input, options.submitters);
  } else {
    await createAll(cluster, warm[0]!, ids, 32);
  }
  const submitted = performance.now();
  const statuses = await waitEnded(cluster, "run-", ids.length);
  const seconds = (performance.now() - started) / 1000;
  const [committed] = await cluster.sql<{ count: number }[]>`
    SELECT count(*)::int4 AS count FROM ${cluster.sql(cluster.schema)}.runtime_events
     WHERE type = 'step.committed' AND thread_id LIKE 'run-%'`;
  return {
    seconds,
    runsPerS: options.runs / seconds,
    stepsPerS: committed!.count / seconds,
    submitSeconds: (submitted - started) / 1000,
    notCompleted: options.runs - (statuses.completed ?? 0),
  };
}

/** The JSON line of a configuration. */
function line(part: string, executors: number, options: ScaleOptions, measured: Measured) {
  return {
    bench: "scale",
    part,
    processes: executors,
    submit: options.submit,
    runs: options.runs,
    steps_per_run: options.steps,
    seconds: round(measured.seconds),
    runs_per_s: round(measured.runsPerS, 1),
    durable_steps_per_s: round(measured.stepsPerS, 1),
    submit_seconds: round(measured.submitSeconds),
    not_completed: measured.notCompleted,
  };
}

/** The throughput of `processes` server processes; returns their durable steps/s. */
async function throughput(url: string, processes: number, options: ScaleOptions): Promise<number> {
  return await withCluster({ processes, url, graphs: GRAPHS }, async (cluster) => {
    const measured = await measure(cluster, cluster.processes.length, options);
    emit(line("throughput", processes, options, measured));
    return measured.stepsPerS;
  });
}

/**
 * The throughput of `workers` worker processes for one server in workers
 * mode, against the embedded figure with as many processes (if measured).
 */
async function remote(
  url: string,
  workers: number,
  options: ScaleOptions,
  embedded: number | undefined,
): Promise<void> {
  const env = { ORIS_EXECUTION: "workers" };
  await withCluster({ processes: 1, url, graphs: GRAPHS, env }, async (cluster) => {
    const [server] = cluster.processes;
    const started = await Promise.all(Array.from({ length: workers }, (_, i) =>
      startWorker({
        ORIS_SERVER_URL: server!.base,
        ORIS_WORKER_ID: `bench-w${i + 1}`,
        ORIS_MAX_ACTIVE_LEASES: "64",
        ORIS_POLL_INTERVAL_MS: "20",
      }, ["--graphs", GRAPHS])));
    try {
      const measured = await measure(cluster, workers, options);
      emit({
        ...line("workers", workers, options, measured),
        vs_embedded: embedded === undefined ? null : round(measured.stepsPerS / embedded, 3),
        per_step_overhead: embedded === undefined ? null : round(embedded / measured.stepsPerS, 3),
      });
    } finally {
      for (const worker of started) {
        try {
          Deno.kill(worker.pid, "SIGTERM");
        } catch {
          // Gone already.
        }
        await worker.exited;
        await worker.stderr;
      }
    }
  });
}

/** The recovery of in-flight runs after their owner is killed. */
async function recovery(url: string, options: ScaleOptions): Promise<void> {
  const env = {
    ORIS_LEASE_TTL_MS: String(options.ttlMs),
    ORIS_MAX_ACTIVE_RUNS: String(options.recoveryRuns * 2),
  };
  await withCluster({ processes: 1, url, graphs: GRAPHS, env }, async (cluster) => {
    const [first] = cluster.processes;
    const runs = cluster.sql`${cluster.sql(cluster.schema)}.runtime_runs`;
    const ids = Array.from({ length: options.recoveryRuns }, (_, i) => `hold-${i}`);
    await submitAll(cluster, [first!], ids, { steps: 1, step_ms: HOLD_MS }, options.submitters);
    const leased = async (owner: string) => {
      const [row] = await cluster.sql<{ count: number; now: number; expiry: number | null }[]>`
        SELECT count(*) FILTER (WHERE lease_owner = ${owner}
                                  AND lease_expires_at > extract(epoch FROM clock_timestamp()) * 1000
                                  AND status = 'running')::int4 AS count,
               (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now,
               max(lease_expires_at) AS expiry
          FROM ${runs} WHERE thread_id LIKE 'hold-%'`;
      return row!;
    };
    // A runtime that takes no leases leaves lease_owner empty: nothing to measure.
    const taken = await cluster.waitFor(
      "the first process to lease a run",
      async () => (await leased(first!.name)).count > 0,
      30_000,
    ).catch(() => false);
    if (!taken) {
      const [row] = await cluster.sql<{ leased: number }[]>`
        SELECT count(*) FILTER (WHERE lease_owner IS NOT NULL)::int4 AS leased FROM ${runs}`;
      emit({
        bench: "skip",
        part: "recovery",
        reason: `the first process leased ${row!.leased} of ${ids.length} runs`,
      });
      return;
    }
    await cluster.waitFor(
      "the first process to lease every run",
      async () => (await leased(first!.name)).count >= ids.length,
      PART_LIMIT_MS,
    );
    const second = await cluster.start();
    await cluster.kill(first!);
    const [{ expiry }] = await cluster.sql<[{ expiry: number }]>`
      SELECT max(lease_expires_at) AS expiry FROM ${runs} WHERE thread_id LIKE 'hold-%'`;
    let firstReclaimed: number | null = null;
    const done = await cluster.waitFor("the second process to lease every run", async () => {
      const state = await leased(second.name);
      if (state.count > 0) firstReclaimed ??= state.now;
      return state.count >= ids.length ? state : null;
    }, PART_LIMIT_MS);
    emit({
      bench: "scale",
      part: "recovery",
      runs: ids.length,
      ttl_ms: options.ttlMs,
      first_reclaimed_ms: round(firstReclaimed! - expiry, 1),
      all_reclaimed_ms: round(done.now - expiry, 1),
    });
  });
}

if (import.meta.main) {
  const options = scaleOptions(Deno.args);
  const postgres = await openBenchPostgres("scale");
  if (postgres !== null) {
    await postgres.close();
    const url = benchPostgresUrl();
    const embedded = new Map<number, number>();
    if (options.throughput) {
      for (const processes of options.processes) {
        embedded.set(processes, await throughput(url, processes, options));
      }
    }
    if (options.remote) {
      for (const workers of options.workers) {
        await remote(url, workers, options, embedded.get(workers));
      }
    }
    if (options.recovery) await recovery(url, options);
  }
}
