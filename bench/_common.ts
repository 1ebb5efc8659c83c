/**
 * What the benchmarks share: JSON-line output, medians, and a PostgreSQL
 * connection that makes fresh schemas and drops them afterwards (with the
 * tests' PostgreSQL helpers, `tests/_postgres.ts`).
 *
 * @module
 */

import type postgres from "postgres";
import {
  dropSchema,
  freshSchemaName,
  postgresClient,
  postgresTestUrl,
} from "../tests/_postgres.ts";

/** Prints one JSON line. */
export function emit(line: Record<string, unknown>): void {
  console.log(JSON.stringify(line));
}

/** The median of some numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A number with at most `digits` decimals. */
export function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}

/** The benchmarks' PostgreSQL: `ORIS_BENCH_POSTGRES_URL`, `ORIS_TEST_POSTGRES_URL`, or the local server. */
export function benchPostgresUrl(): string {
  return Deno.env.get("ORIS_BENCH_POSTGRES_URL") ?? postgresTestUrl();
}

/** An admin connection to the benchmarks' PostgreSQL. */
export interface BenchPostgres {
  /** Its URL. */
  url: string;
  /** A connection for setup and cleanup. */
  admin: postgres.Sql;
  /** A fresh schema name (`<prefix>_<hex>`), dropped by `close()`. */
  freshSchema(prefix: string): string;
  /** Drops the schemas it named and ends the connection. */
  close(): Promise<void>;
}

/**
 * Connects to the benchmarks' PostgreSQL, or prints a `skip` line and
 * returns `null` when it is unreachable.
 *
 * @param part What needs it, for the skip line.
 * @returns The connection, or `null`.
 */
export async function openBenchPostgres(part: string): Promise<BenchPostgres | null> {
  const url = benchPostgresUrl();
  const admin = postgresClient({ url, max: 2, connectTimeout: 3 });
  try {
    await admin`select 1`;
  } catch (error) {
    emit({ bench: "skip", backend: "postgres", part, reason: String(error) });
    await admin.end({ timeout: 1 });
    return null;
  }
  const schemas: string[] = [];
  return {
    url,
    admin,
    freshSchema(prefix) {
      const schema = freshSchemaName(prefix);
      schemas.push(schema);
      return schema;
    },
    async close() {
      try {
        for (const schema of schemas) await dropSchema(schema, url);
      } finally {
        await admin.end();
      }
    },
  };
}
