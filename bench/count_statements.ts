/**
 * Counts the statements `PostgresStore` sends for one run of the graph
 * bench's 10-node linear graph (after a first run that prepares them), and
 * prints each one's start: the round trips a run costs. Then the rows the
 * database wrote per step, by table, and how many updates were HOT (wrote no
 * index entry), from `pg_stat_user_tables` once the store's connections
 * closed: over `ROW_RUNS` runs one at a time, and over `IN_FLIGHT_CHUNKS`
 * chunks of `IN_FLIGHT` runs at once (as the graph bench's
 * `in_flight_vs_raw_commits`), with the statements those sent, by kind.
 *
 * Run: `deno run -A bench/count_statements.ts` (PostgreSQL as in the benches).
 *
 * @module
 */

import { PostgresContext } from "../storage/postgres/_context.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { createRuntime } from "../mod.ts";
import { postgresClient } from "../tests/_postgres.ts";
import { benchPostgresUrl } from "./_common.ts";
import { orisLinear, orisRuns } from "./_oris_graphs.ts";
import { nextThread, NODES } from "./_graph_workload.ts";

/** The runs one at a time whose rows are counted. */
const ROW_RUNS = 50;
/** Runs at once, and how many chunks of them. */
const IN_FLIGHT = 100;
const IN_FLIGHT_CHUNKS = 4;

const sent: string[] = [];

/**
 * Runs `drive` on a store of a fresh schema, and reports the rows written per
 * step once its connections closed (their backends report as they exit).
 */
async function counted(
  name: string,
  steps: number,
  drive: (store: PostgresStore) => Promise<void>,
): Promise<void> {
  const schema = `count_${crypto.randomUUID().slice(0, 8)}`;
  const store = await PostgresStore.connect({ url: benchPostgresUrl(), schema });
  try {
    await drive(store);
  } finally {
    await store.close();
  }
  const admin = postgresClient({ url: benchPostgresUrl() });
  try {
    type Row = { relname: string; ins: number; upd: number; hot: number };
    let rows: Row[] = [];
    for (let i = 0; i < 50; i++) {
      rows = await admin.unsafe<Row[]>(
        `select relname, n_tup_ins::int as ins, n_tup_upd::int as upd, n_tup_hot_upd::int as hot
           from pg_stat_user_tables where schemaname = '${schema}' and n_tup_ins + n_tup_upd > 0
          order by relname`,
      );
      const runs = rows.find((row) => row.relname === "runtime_runs");
      if (runs !== undefined && runs.ins * NODES >= steps) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const perStep = (n: number) => Math.round((n / steps) * 100) / 100;
    const tables = Object.fromEntries(
      rows.filter((row) => row.relname !== "runtime_schema_migrations").map((row) => [
        row.relname,
        { inserted: perStep(row.ins), updated: perStep(row.upd), hot: perStep(row.hot) },
      ]),
    );
    console.log(JSON.stringify({ bench: "rows_per_step", runs: name, steps, tables }));
  } finally {
    await admin.unsafe(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

if (import.meta.main) {
  const query = PostgresContext.prototype.query;
  PostgresContext.prototype.query = function (text, parameters) {
    sent.push(text.trim().replace(/\s+/g, " ").slice(0, 90));
    return query.call(this, text, parameters) as never;
  };
  const transaction = PostgresContext.prototype.transaction;
  PostgresContext.prototype.transaction = function (body) {
    sent.push("(transaction)");
    return transaction.call(this, body) as never;
  };
  await counted("one at a time", (ROW_RUNS + 2) * NODES, async (store) => {
    const app = orisLinear({ store });
    await app.invoke({}, { threadId: nextThread("count") });
    sent.length = 0;
    await app.invoke({}, { threadId: nextThread("count") });
    await app.close(); // Its lease's release, sent once the run's actor is dropped.
    for (const text of sent) console.log(text);
    console.log(
      JSON.stringify({ bench: "statements_per_run", steps: NODES, statements: sent.length }),
    );
    const more = orisLinear({ store });
    for (let i = 0; i < ROW_RUNS; i++) await more.invoke({}, { threadId: nextThread("count") });
    await more.close();
  });
  await counted(`${IN_FLIGHT} at once`, IN_FLIGHT * IN_FLIGHT_CHUNKS * NODES, async (store) => {
    // Room for every run at once, as in the graph bench; a pause between chunks lets the
    // previous chunk's leases go (a run created while they are held waits in the queue).
    const runtime = createRuntime({
      store,
      maxActiveRuns: IN_FLIGHT,
      maxConcurrentRuns: IN_FLIGHT,
    });
    const app = orisLinear({ runtime });
    sent.length = 0;
    for (let i = 0; i < IN_FLIGHT_CHUNKS; i++) {
      await orisRuns(app, IN_FLIGHT, IN_FLIGHT);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await app.close();
    await runtime.close();
    const kinds = new Map<string, number>();
    for (const text of sent) kinds.set(text.slice(0, 60), (kinds.get(text.slice(0, 60)) ?? 0) + 1);
    for (const [text, count] of kinds) console.log(count, text);
    console.log(JSON.stringify({
      bench: "statements_in_flight",
      runs_at_once: IN_FLIGHT,
      steps: IN_FLIGHT * IN_FLIGHT_CHUNKS * NODES,
      statements: sent.length,
    }));
  });
}
