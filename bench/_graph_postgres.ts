/**
 * The graph benchmark's PostgreSQL: a fresh schema for each system, and the
 * bytes a thread's rows take on disk.
 *
 * @module
 */

import type postgres from "postgres";
import { openBenchPostgres } from "./_common.ts";

/** A fresh schema for Oris and one for LangGraph.js, dropped by `close()`. */
export interface PostgresBench {
  url: string;
  admin: postgres.Sql;
  orisSchema: string;
  lgSchema: string;
  close(): Promise<void>;
}

/**
 * Connects to the benchmarks' PostgreSQL with a fresh schema for each system,
 * or prints a `skip` line and returns `null` when it is unreachable.
 *
 * @param what The benchmarks that need it, for the skip line.
 * @returns The schemas, or `null`.
 */
export async function openPostgres(what: string): Promise<PostgresBench | null> {
  const pg = await openBenchPostgres(what);
  if (pg === null) return null;
  return {
    url: pg.url,
    admin: pg.admin,
    orisSchema: pg.freshSchema("oris_gbench"),
    lgSchema: pg.freshSchema("lg_gbench"),
    close: () => pg.close(),
  };
}

/** `sum(pg_column_size(row.*))` of a thread's rows in every table of `schema` with a `thread_id`. */
export async function diskBytes(
  sql: postgres.Sql,
  schema: string,
  threadId: string,
): Promise<number> {
  const tables = await sql<{ table_name: string }[]>`
    select table_name from information_schema.columns
    where table_schema = ${schema} and column_name = 'thread_id'`;
  if (tables.length === 0) return 0;
  const sum = tables
    .map(({ table_name }) =>
      `(select coalesce(sum(pg_column_size(t.*)), 0) from ${schema}."${table_name}" t
        where thread_id = $1)`
    )
    .join(" + ");
  const [row] = await sql.unsafe<{ bytes: string }[]>(`select ${sum} as bytes`, [threadId]);
  return Number(row!.bytes);
}
