/**
 * The graph benchmark's `peers` section, on PostgreSQL: Oris against DBOS
 * Transact TS (`_dbos.ts`) on the same server, and Oris with many runs in
 * flight against the raw commits 10 connections can make.
 *
 * - `graph_durable_peer`: steps/s of Oris (`PostgresStore`, pool of 10,
 *   `sync`) over DBOS (its system database, pool of 10), 10 sequential
 *   durable steps per run/workflow, one at a time and `IN_FLIGHT` at once,
 *   in alternating rounds. Targets: 3x one at a time, 10x in flight.
 * - `in_flight_vs_raw_commits`: Oris's durable steps/s with `IN_FLIGHT` runs
 *   in flight over the commits/s of 10 connections each inserting one
 *   step's bytes (its event and the run's snapshot) in a loop, in
 *   alternating rounds of the same number of steps and commits. Above 1,
 *   group commit takes Oris past the floor of one commit per step. Target: 2.5.
 *
 * @module
 */

import { postgresClient } from "../tests/_postgres.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { createRuntime } from "../mod.ts";
import { emit, median } from "./_common.ts";
import { alternate, ratioFields, ratios } from "./_alternating_blocks.ts";
import { BLOCKS, DURABLE_RUNS, IN_FLIGHT, nextThread, NODES } from "./_graph_workload.ts";
import { orisLinear, orisRuns } from "./_oris_graphs.ts";
import { openPostgres } from "./_graph_postgres.ts";
import { type DbosPeer, launchDbos } from "./_dbos.ts";
import { stepBytes } from "./_graph_throughput.ts";

/** `graph_durable_peer` and `in_flight_vs_raw_commits` (a `skip` line when PostgreSQL is unreachable). */
export async function durablePeers(): Promise<void> {
  const pg = await openPostgres("graph_durable_peer, in_flight_vs_raw_commits");
  if (pg === null) return;
  const dbosDatabase = `oris_bench_dbos_${crypto.randomUUID().slice(0, 8)}`;
  const store = await PostgresStore.connect({ url: pg.url, schema: pg.orisSchema });
  // Room for every run in flight (the defaults are 64), as DBOS has no such cap.
  const runtime = createRuntime({ store, maxActiveRuns: IN_FLIGHT, maxConcurrentRuns: IN_FLIGHT });
  const oris = orisLinear({ runtime });
  const raw = postgresClient({ url: pg.url, max: 10 });
  let dbos: DbosPeer | null = null;
  try {
    dbos = await launchDbos(pg.url, dbosDatabase);
    const peer = dbos;
    for (const concurrency of [1, IN_FLIGHT]) {
      // One at a time: rounds of 1 DBOS workflow and 3 Oris runs. In flight: rounds of
      // `concurrency` workflows and as many Oris runs.
      const single = concurrency === 1;
      const rounds = single ? DURABLE_RUNS : Math.max(1, Math.round(DURABLE_RUNS / 4));
      const orisChunk = single ? 3 : concurrency;
      const dbosChunk = single ? 1 : concurrency;
      const perStep = await alternate([
        {
          name: "oris",
          units: orisChunk * NODES,
          chunk: () => orisRuns(oris, orisChunk, concurrency),
        },
        { name: "dbos", units: dbosChunk * NODES, chunk: () => peer.runs(dbosChunk, concurrency) },
      ], rounds);
      emit({
        bench: "graph_durable_peer",
        backend: "postgres",
        peer:
          `DBOS Transact TS ${peer.version} (Deno, system database of its own, pool of ${peer.poolSize})`,
        graph: `${NODES} sequential durable steps`,
        oris: `PostgresStore (pool of 10), durability sync, maxActiveRuns ${IN_FLIGHT}`,
        runs_at_once: concurrency,
        blocks: BLOCKS,
        runs_per_block: { oris: orisChunk * rounds, dbos: dbosChunk * rounds },
        ...ratioFields(ratios(perStep, "oris", "dbos")),
        oris_steps_per_s_median: Math.round(1000 / median(perStep.get("oris")!)),
        dbos_steps_per_s_median: Math.round(1000 / median(perStep.get("dbos")!)),
        target_ratio_min: single ? 3 : 10,
      });
    }
    const probe = nextThread("probe");
    await oris.invoke({}, { threadId: probe });
    const body = await stepBytes(store, probe);
    await pg.admin.unsafe(
      `create table ${pg.orisSchema}.raw_commits (key text primary key, body text not null)`,
    );
    const table = raw(pg.orisSchema);
    let key = 0;
    const connections = 10;
    const perUnit = await alternate([
      {
        name: "raw",
        units: IN_FLIGHT * NODES,
        chunk: () =>
          Promise.all(Array.from({ length: connections }, async () => {
            for (let i = 0; i < (IN_FLIGHT * NODES) / connections; i++) {
              await raw`insert into ${table}.raw_commits (key, body) values (${`r${++key}`}, ${body})`;
            }
          })).then(() => {}),
      },
      { name: "oris", units: IN_FLIGHT * NODES, chunk: () => orisRuns(oris, IN_FLIGHT, IN_FLIGHT) },
    ], Math.max(1, Math.round(DURABLE_RUNS / 4)));
    emit({
      bench: "in_flight_vs_raw_commits",
      backend: "postgres",
      graph: `${NODES}-node linear`,
      durability: "sync",
      runs_in_flight: IN_FLIGHT,
      raw_connections: connections,
      raw_commit_bytes: body.length,
      blocks: BLOCKS,
      // Durable steps/s over raw commits/s.
      ...ratioFields(ratios(perUnit, "oris", "raw")),
      oris_steps_per_s_median: Math.round(1000 / median(perUnit.get("oris")!)),
      raw_commits_per_s_median: Math.round(1000 / median(perUnit.get("raw")!)),
      target_ratio_min: 2.5,
    });
  } finally {
    await dbos?.close();
    await runtime.close();
    await raw.end();
    await store.close();
    await pg.admin.unsafe(`drop database if exists ${dbosDatabase} with (force)`).catch(() => {});
    await pg.close();
  }
}
