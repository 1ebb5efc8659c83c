/**
 * The graph benchmark's durable-execution peer, DBOS Transact TS (a
 * bench-only npm import, pinned; it runs under Deno): the 10-node linear
 * graph as a workflow of 10 sequential durable steps (`DBOS.runStep`), each
 * adding 1 to a counter and appending a short string to a list, as an Oris
 * node does. DBOS keeps its state in a system database of its own on the
 * same PostgreSQL server, made for the benchmark and dropped after it.
 *
 * @module
 */

import { repeat } from "./_alternating_blocks.ts";
import { NODES } from "./_graph_workload.ts";

const DBOS_SDK = "npm:@dbos-inc/dbos-sdk@5.3.0";
type DbosModule = typeof import("npm:@dbos-inc/dbos-sdk@5.3.0");

/** DBOS, launched on its own system database. */
export interface DbosPeer {
  /** The pinned version. */
  version: string;
  /** The system database's pool size. */
  poolSize: number;
  /** Runs the workflow `runs` times, at most `concurrency` at once. */
  runs(runs: number, concurrency: number): Promise<void>;
  /** Shuts DBOS down (its system database is left to the caller to drop). */
  close(): Promise<void>;
}

interface Counter {
  count: number;
  log: string[];
}

/**
 * Launches DBOS (a process-wide singleton: once per process) on `database`
 * of the server at `url`; DBOS creates the database.
 *
 * @param url The server (its database part is replaced).
 * @param database The system database's name.
 * @returns The peer.
 */
export async function launchDbos(url: string, database: string): Promise<DbosPeer> {
  const { DBOS } = await import(DBOS_SDK) as DbosModule;
  const linear = DBOS.registerWorkflow(async (): Promise<number> => {
    let state: Counter = { count: 0, log: [] };
    for (let i = 0; i < NODES; i++) {
      const before = state;
      state = await DBOS.runStep(
        () => Promise.resolve({ count: before.count + 1, log: [...before.log, `n${i}`] }),
        { name: `n${i}` },
      );
    }
    return state.count;
  }, { name: "linear" });
  const system = new URL(url);
  system.pathname = `/${database}`;
  const poolSize = 10;
  DBOS.setConfig(
    {
      name: "oris-graph-bench",
      applicationVersion: "0.1.0",
      systemDatabaseUrl: system.href,
      systemDatabasePoolSize: poolSize,
      logLevel: "error",
    } as Parameters<typeof DBOS.setConfig>[0],
  );
  await DBOS.launch();
  return {
    version: DBOS_SDK.slice(DBOS_SDK.lastIndexOf("@") + 1),
    poolSize,
    runs: (runs, concurrency) =>
      repeat(runs, concurrency, async () => {
        const count = await linear();
        if (count !== NODES) throw new Error(`DBOS workflow ended with count ${count}`);
      }),
    close: () => DBOS.shutdown(),
  };
}
