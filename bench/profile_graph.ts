/**
 * A profiling driver: runs only Oris's 10-node linear graph (the graph
 * bench's), one run at a time, on one backend, so that a CPU profile of the
 * process shows the engine's per-step cost without the peers'. It prints one
 * JSON line with the runs, steps and ms per step; nothing is asserted.
 *
 * Run under the profiler (see `bench/PROFILE.md`):
 * `deno run -A --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile_graph.ts memory|kv|postgres [runs]`
 *
 * @module
 */

import { PostgresStore } from "../storage/postgres/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import type { Store } from "../mod.ts";
import { emit, openBenchPostgres, round } from "./_common.ts";
import { nextThread, NODES } from "./_graph_workload.ts";
import { orisLinear } from "./_oris_graphs.ts";

async function drive(store: Store | undefined, runs: number): Promise<number> {
  const app = orisLinear(store === undefined ? {} : { store });
  try {
    for (let i = 0; i < Math.min(200, runs); i++) {
      await app.invoke({}, { threadId: nextThread("w") });
    }
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) {
      const result = await app.invoke({}, { threadId: nextThread("p") });
      if (result.state.count !== NODES) throw new Error(`run ended with ${result.status}`);
    }
    return (performance.now() - t0) / (runs * NODES);
  } finally {
    await app.close();
  }
}

if (import.meta.main) {
  const backend = Deno.args[0] ?? "memory";
  const runs = Number(Deno.args[1] ?? (backend === "memory" ? 20000 : 1000));
  let ms: number;
  if (backend === "memory") {
    ms = await drive(undefined, runs);
  } else if (backend === "kv") {
    const dir = await Deno.makeTempDir({ prefix: "oris-profile-" });
    try {
      const store = await KvStore.open({ path: `${dir}/oris.kv` });
      try {
        ms = await drive(store, runs);
      } finally {
        await store.close();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } else if (backend === "postgres") {
    const pg = await openBenchPostgres("profile");
    if (pg === null) Deno.exit(0);
    try {
      const store = await PostgresStore.connect({ url: pg.url, schema: pg.freshSchema("prof") });
      try {
        ms = await drive(store, runs);
      } finally {
        await store.close();
      }
    } finally {
      await pg.close();
    }
  } else {
    throw new TypeError(`Unknown backend "${backend}": memory, kv or postgres`);
  }
  emit({ bench: "profile_graph", backend, runs, steps: runs * NODES, ms_per_step: round(ms, 4) });
}
