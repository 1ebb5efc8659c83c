/**
 * Counts the statements `PostgresStore` sends for one run of the graph
 * bench's 10-node linear graph (after a first run that prepares them), and
 * prints each one's start: the round trips a run costs. Then, over
 * `ROW_RUNS` more runs, the rows the database wrote per step, by table, and
 * how many updates of the run's row were HOT (wrote no index entry), from
 * `pg_stat_user_tables` once the store's connections closed.
 *
 * Run: `deno run -A bench/count_statements.ts` (PostgreSQL as in the benches).
 *
 * @module
 */

import { PostgresContext } from "../storage/postgres/_context.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { benchPostgresUrl } from "./_common.ts";
import { orisLinear } from "./_oris_graphs.ts";
import { nextThread, NODES } from "./_graph_workload.ts";

/** The runs whose rows are counted. */
const ROW_RUNS = 50;

if (import.meta.main) {
  const sent: string[] = [];
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
  const schema = `count_${crypto.randomUUID().slice(0, 8)}`;
  const store = await PostgresStore.connect({ url: benchPostgresUrl(), schema });
  const app = orisLinear({ store });
  try {
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
  } finally {
    await store.close();
  }
  const admin = (await import("../tests/_postgres.ts")).postgresClient({ url: benchPostgresUrl() });
  try {
    // The closed connections' backends report their statistics as they exit.
    type Row = { relname: string; ins: number; upd: number; hot: number };
    let rows: Row[] = [];
    for (let i = 0; i < 50; i++) {
      rows = await admin.unsafe<Row[]>(
        `select relname, n_tup_ins::int as ins, n_tup_upd::int as upd, n_tup_hot_upd::int as hot
           from pg_stat_user_tables where schemaname = '${schema}' and n_tup_ins + n_tup_upd > 0
          order by relname`,
      );
      if (rows.find((row) => row.relname === "runtime_runs")?.ins === ROW_RUNS + 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const steps = (ROW_RUNS + 2) * NODES;
    const perStep = (n: number) => Math.round((n / steps) * 100) / 100;
    const tables = Object.fromEntries(
      rows.filter((row) => row.relname !== "runtime_schema_migrations").map((row) => [
        row.relname,
        { inserted: perStep(row.ins), updated: perStep(row.upd), hot: perStep(row.hot) },
      ]),
    );
    console.log(JSON.stringify({ bench: "rows_per_step", runs: ROW_RUNS + 2, steps, tables }));
  } finally {
    await admin.unsafe(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}
