/**
 * The graph benchmark's throughput sections: `graph_in_memory` and
 * `graph_durable` (Oris against LangGraph.js), and `step_vs_raw_commit` on
 * Postgres and Deno KV (an Oris step against one raw commit of its bytes).
 *
 * @module
 */

import { postgresClient } from "../tests/_postgres.ts";
import { emit, median, round } from "./_common.ts";
import type { Store, ThreadId } from "../mod.ts";
import { encodeJson } from "../kernel/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { alternate, ratioFields, ratios } from "./_alternating_blocks.ts";
import {
  BLOCKS,
  CONCURRENCY,
  DURABLE_RUNS,
  MEMORY_RUNS,
  nextThread,
  NODES,
  RAW_RUNS,
} from "./_graph_workload.ts";
import { orisLinear, orisRuns } from "./_oris_graphs.ts";
import { lgLinear, lgRuns, loadLangGraph, postgresSaver } from "./_langgraph.ts";
import { openPostgres } from "./_graph_postgres.ts";

// ---------------------------------------------------------------------------
// In memory

/**
 * `graph_in_memory`: Oris on the default `MemoryStore` against LangGraph.js,
 * without and with a `MemorySaver`.
 */
export async function inMemory(): Promise<void> {
  const lg = await loadLangGraph();
  const oris = orisLinear();
  const lgNone = await lgLinear();
  const lgSaver = await lgLinear(new lg.MemorySaver());
  // Rounds of 8 LangGraph.js runs and 80 Oris runs.
  const rounds = Math.max(1, Math.round(MEMORY_RUNS / 8));
  const lgChunk = Math.max(1, Math.round(MEMORY_RUNS / rounds));
  const orisChunk = lgChunk * 10;
  try {
    const perStep = await alternate([
      { name: "oris", units: orisChunk * NODES, chunk: () => orisRuns(oris, orisChunk) },
      { name: "lg_none", units: lgChunk * NODES, chunk: () => lgRuns(lgNone, lgChunk, false) },
      { name: "lg_saver", units: lgChunk * NODES, chunk: () => lgRuns(lgSaver, lgChunk, true) },
    ], rounds);
    const stepsPerSecond = (name: string) => Math.round(1000 / median(perStep.get(name)!));
    for (const [other, checkpointer] of [["lg_none", "none"], ["lg_saver", "MemorySaver"]]) {
      emit({
        bench: "graph_in_memory",
        graph: `${NODES}-node linear`,
        oris: "MemoryStore (default), durability sync",
        langgraph_checkpointer: checkpointer,
        langgraph_durability: checkpointer === "none" ? null : "sync",
        blocks: BLOCKS,
        runs_per_block: { oris: orisChunk * rounds, langgraph: lgChunk * rounds },
        ...ratioFields(ratios(perStep, "oris", other!)),
        oris_steps_per_s_median: stepsPerSecond("oris"),
        langgraph_steps_per_s_median: stepsPerSecond(other!),
        target_ratio_min: 30,
      });
    }
  } finally {
    await oris.close();
  }
}

// ---------------------------------------------------------------------------
// Raw commits of the bytes of a step

/** One step's events (JSON) and the run's final snapshot (JSON), from a finished run. */
export async function stepBytes(store: Store, threadId: string): Promise<string> {
  const events = await store.readEvents(threadId as ThreadId, 1);
  const step = events.find((item) => item.event.type === "step.committed");
  const loaded = await store.load(threadId as ThreadId);
  if (step === undefined || loaded === null) throw new Error("no step to measure");
  return encodeJson(step.event, "event") + encodeJson(loaded.snapshot, "snapshot");
}

async function stepVsRaw(
  backend: string,
  store: Store,
  raw: (key: string, body: string) => Promise<void>,
): Promise<void> {
  const app = orisLinear({ store });
  try {
    const probe = nextThread("probe");
    await app.invoke({}, { threadId: probe });
    const body = await stepBytes(store, probe);
    let key = 0;
    // Rounds of one Oris run (10 steps) and 10 raw commits.
    const perUnit = await alternate([
      {
        name: "raw",
        units: NODES,
        async chunk() {
          for (let i = 0; i < NODES; i++) await raw(`raw-${++key}`, body);
        },
      },
      { name: "oris", units: NODES, chunk: () => orisRuns(app, 1) },
    ], RAW_RUNS);
    // Here the ratio is Oris's cost over the raw commit's: ms per step / ms per commit.
    emit({
      bench: "step_vs_raw_commit",
      backend,
      graph: `${NODES}-node linear`,
      durability: "sync",
      raw_commit_bytes: body.length,
      blocks: BLOCKS,
      steps_per_block: RAW_RUNS * NODES,
      raw_commits_per_block: RAW_RUNS * NODES,
      ...ratioFields(ratios(perUnit, "raw", "oris")),
      oris_ms_per_step_median: round(median(perUnit.get("oris")!), 4),
      raw_ms_per_commit_median: round(median(perUnit.get("raw")!), 4),
      target_ratio_max: 1.5,
    });
  } finally {
    await app.close();
  }
}

// ---------------------------------------------------------------------------
// Postgres

/** `graph_durable` and `step_vs_raw_commit` on Postgres (a `skip` line when it is unreachable). */
export async function durablePostgres(): Promise<void> {
  const pg = await openPostgres("graph_durable, step_vs_raw_commit");
  if (pg === null) return;
  const store = await PostgresStore.connect({ url: pg.url, schema: pg.orisSchema });
  const saver = await postgresSaver(pg.url, pg.lgSchema);
  const raw = postgresClient({ url: pg.url });
  try {
    const [settings] = await pg.admin<{ synchronous_commit: string; fsync: string }[]>`
      select current_setting('synchronous_commit') as synchronous_commit,
             current_setting('fsync') as fsync`;
    const oris = orisLinear({ store });
    const lgApp = await lgLinear(saver);
    try {
      for (const concurrency of [1, CONCURRENCY]) {
        // Sequential: rounds of 1 LangGraph.js run and 5 Oris runs. Concurrent:
        // rounds of `concurrency` LangGraph.js runs and 5 times as many Oris runs.
        const rounds = concurrency === 1 ? DURABLE_RUNS : Math.max(1, Math.round(DURABLE_RUNS / 4));
        const lgChunk = concurrency;
        const orisChunk = 5 * concurrency;
        const perStep = await alternate([
          {
            name: "oris",
            units: orisChunk * NODES,
            chunk: () => orisRuns(oris, orisChunk, concurrency),
          },
          {
            name: "lg",
            units: lgChunk * NODES,
            chunk: () => lgRuns(lgApp, lgChunk, true, concurrency),
          },
        ], rounds);
        const orisRunsPerBlock = orisChunk * rounds;
        const lgRunsPerBlock = lgChunk * rounds;
        emit({
          bench: "graph_durable",
          backend: "postgres",
          graph: `${NODES}-node linear`,
          oris: "PostgresStore (pool of 10), durability sync",
          langgraph: "PostgresSaver (pool of 10), durability sync",
          runs_at_once: concurrency,
          postgres: settings,
          blocks: BLOCKS,
          runs_per_block: { oris: orisRunsPerBlock, langgraph: lgRunsPerBlock },
          ...ratioFields(ratios(perStep, "oris", "lg")),
          oris_steps_per_s_median: Math.round(1000 / median(perStep.get("oris")!)),
          langgraph_steps_per_s_median: Math.round(1000 / median(perStep.get("lg")!)),
          target_ratio_min: 6,
        });
      }
    } finally {
      await oris.close();
    }
    await pg.admin.unsafe(
      `create table ${pg.orisSchema}.raw_commits (key text primary key, body text not null)`,
    );
    await stepVsRaw("postgres", store, async (key, body) => {
      await raw`insert into ${raw(pg.orisSchema)}.raw_commits (key, body) values (${key}, ${body})`;
    });
  } finally {
    await raw.end();
    await saver.end();
    await store.close();
    await pg.close();
  }
}

// ---------------------------------------------------------------------------
// Deno KV

/** `step_vs_raw_commit` on Deno KV, in a temporary directory. */
export async function durableKv(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-graph-bench-" });
  try {
    const store = await KvStore.open({ path: `${dir}/oris.kv` });
    const kv = await Deno.openKv(`${dir}/raw.kv`);
    try {
      await stepVsRaw("kv", store, async (key, body) => {
        const result = await kv.atomic().set(["raw", key], body).commit();
        if (!result.ok) throw new Error("raw commit failed");
      });
    } finally {
      kv.close();
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
