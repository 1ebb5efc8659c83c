/**
 * Counts the statements `PostgresStore` sends for one run of the graph
 * bench's 10-node linear graph (after a first run that prepares them), and
 * prints each one's start: the round trips a run costs.
 *
 * Run: `deno run -A bench/count_statements.ts` (PostgreSQL as in the benches).
 *
 * @module
 */

import { PostgresContext } from "../storage/postgres/_context.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { benchPostgresUrl } from "./_common.ts";
import { orisLinear } from "./_oris_graphs.ts";
import { nextThread } from "./_graph_workload.ts";

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
      JSON.stringify({ bench: "statements_per_run", steps: 10, statements: sent.length }),
    );
  } finally {
    await store.close();
    const admin = (await import("../tests/_postgres.ts")).postgresClient({
      url: benchPostgresUrl(),
    });
    await admin.unsafe(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}
