/**
 * Before/after on the same machine at the same time: Oris from another
 * checkout (`base`, e.g. `git archive <commit> | tar -x -C /tmp/base`)
 * against this one, the graph bench's 10-node linear graph, in alternating
 * rounds (as the graph bench compares peers), plus raw commits of one step's
 * bytes for the durable backends. Each line gives the per-block ratios
 * (median, min, max) of base over this checkout: above 1, this one is faster.
 * In memory the cost is the process's CPU time (`process.cpuUsage()`), so
 * that other processes on a shared machine count less; durable backends
 * are timed by the clock, since they wait for I/O.
 *
 * Run: `deno run -A --config deno.json bench/ab_compare.ts <base dir> memory|kv|postgres`
 * (`ORIS_BENCH_GRAPH_BLOCKS`, `ORIS_BENCH_GRAPH_RAW_RUNS` size it, as in the
 * graph bench).
 *
 * @module
 */

import process from "node:process";
import { postgresClient } from "../tests/_postgres.ts";
import type { CompiledGraph, Store } from "../mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { encodeJson } from "../kernel/mod.ts";
import { emit, median, openBenchPostgres, round } from "./_common.ts";
import { alternate, type Contender, ratioFields, ratios } from "./_alternating_blocks.ts";
import { nextThread, NODES, RAW_RUNS } from "./_graph_workload.ts";
import { orisLinear } from "./_oris_graphs.ts";

type Linear = CompiledGraph<Record<string, never>>;
type Graphs = { orisLinear(options?: { store?: unknown }): Linear };
type Stores = {
  KvStore: { open(options: { path: string }): Promise<Store & { close(): Promise<void> }> };
  PostgresStore: {
    connect(options: { url: string; schema: string }): Promise<Store & { close(): Promise<void> }>;
  };
};

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

async function runs(app: Linear, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const result = await app.invoke({}, { threadId: nextThread("ab") });
    if ((result.state as { count?: number }).count !== NODES) {
      throw new Error(`a run ended ${result.status}`);
    }
  }
}

if (import.meta.main) {
  const [baseDir, backend = "memory"] = Deno.args;
  if (baseDir === undefined) {
    throw new TypeError("Usage: ab_compare.ts <base dir> memory|kv|postgres");
  }
  const root = new URL(`file://${await Deno.realPath(baseDir)}/`);
  const base = await import(new URL("bench/_oris_graphs.ts", root).href) as Graphs;
  const baseStores = {
    ...(await import(new URL("storage/kv/mod.ts", root).href)),
    ...(await import(new URL("storage/postgres/mod.ts", root).href)),
  } as Stores;
  const cleanup: (() => Promise<void>)[] = [];
  try {
    let raw: ((key: string, body: string) => Promise<void>) | null = null;
    let apps: [Linear, Linear];
    if (backend === "memory") {
      apps = [base.orisLinear(), orisLinear() as unknown as Linear];
    } else if (backend === "kv") {
      const dir = await Deno.makeTempDir({ prefix: "oris-ab-" });
      cleanup.push(() => Deno.remove(dir, { recursive: true }));
      const baseStore = await baseStores.KvStore.open({ path: `${dir}/base.kv` });
      const store = await KvStore.open({ path: `${dir}/new.kv` });
      const kv = await Deno.openKv(`${dir}/raw.kv`);
      cleanup.unshift(async () => {
        kv.close();
        await baseStore.close();
        await store.close();
      });
      apps = [base.orisLinear({ store: baseStore }), orisLinear({ store }) as unknown as Linear];
      raw = async (key, body) => {
        if (!(await kv.atomic().set(["raw", key], body).commit()).ok) throw new Error("raw failed");
      };
    } else if (backend === "postgres") {
      const pg = await openBenchPostgres("ab_compare");
      if (pg === null) Deno.exit(0);
      cleanup.push(() => pg.close());
      const baseStore = await baseStores.PostgresStore.connect({
        url: pg.url,
        schema: pg.freshSchema("ab_base"),
      });
      const schema = pg.freshSchema("ab_new");
      const store = await PostgresStore.connect({ url: pg.url, schema });
      const sql = postgresClient({ url: pg.url });
      cleanup.unshift(async () => {
        await sql.end();
        await baseStore.close();
        await store.close();
      });
      await pg.admin.unsafe(`create table ${schema}.raw_commits (key text primary key, body text)`);
      apps = [base.orisLinear({ store: baseStore }), orisLinear({ store }) as unknown as Linear];
      raw = async (key, body) => {
        await sql`insert into ${sql(schema)}.raw_commits (key, body) values (${key}, ${body})`;
      };
    } else {
      throw new TypeError(`Unknown backend "${backend}"`);
    }
    cleanup.unshift(async () => {
      await apps[0].close();
      await apps[1].close();
    });
    const perChunk = backend === "memory" ? 100 : 1;
    const contenders: Contender[] = [
      { name: "base", units: perChunk * NODES, chunk: () => runs(apps[0], perChunk) },
      { name: "new", units: perChunk * NODES, chunk: () => runs(apps[1], perChunk) },
    ];
    if (raw !== null) {
      const body = encodeJson({ type: "step.committed", pad: "x".repeat(700) }, "body");
      let key = 0;
      const commit = raw;
      contenders.push({
        name: "raw",
        units: NODES,
        async chunk() {
          for (let i = 0; i < NODES; i++) await commit(`raw-${++key}`, body);
        },
      });
    }
    const rounds = backend === "memory" ? 10 : RAW_RUNS;
    const clock = backend === "memory" ? cpuMs : () => performance.now();
    const perUnit = await alternate(contenders, rounds, clock);
    const line: Record<string, unknown> = {
      bench: "ab_compare",
      backend,
      base: baseDir,
      timed_by: backend === "memory" ? "cpu" : "clock",
      ...ratioFields(ratios(perUnit, "new", "base")),
      base_ms_per_step_median: round(median(perUnit.get("base")!), 4),
      new_ms_per_step_median: round(median(perUnit.get("new")!), 4),
    };
    if (raw !== null) {
      line.base_over_raw = ratioFields(ratios(perUnit, "raw", "base"));
      line.new_over_raw = ratioFields(ratios(perUnit, "raw", "new"));
    }
    emit(line);
  } finally {
    for (const step of cleanup) await step();
  }
}
