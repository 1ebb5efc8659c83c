/**
 * Test helpers for PostgreSQL: the URL of the test database, whether it is
 * reachable (decided once per process, when this module loads), and fresh
 * schemas that tests drop afterwards.
 *
 * Tests that need PostgreSQL are skipped when it is unreachable, unless
 * `ORIS_REQUIRE_POSTGRES=1` (CI), in which case they fail and say why.
 *
 * @module
 */

import postgres from "postgres";
import type { Store } from "../kernel/mod.ts";

const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test";

/**
 * The URL of the test database: `ORIS_TEST_POSTGRES_URL`, or the local server.
 *
 * @returns A PostgreSQL URL.
 *
 * @example
 * ```ts ignore
 * import { postgresTestUrl } from "./_postgres.ts";
 *
 * console.log(postgresTestUrl());
 * ```
 */
export function postgresTestUrl(): string {
  return readEnv("ORIS_TEST_POSTGRES_URL") || DEFAULT_URL;
}

/** Whether `ORIS_REQUIRE_POSTGRES=1`: then an unreachable database fails the tests. */
export const POSTGRES_REQUIRED: boolean = readEnv("ORIS_REQUIRE_POSTGRES") === "1";

/** Why PostgreSQL is unreachable, or `null` when it answered. */
export const POSTGRES_UNREACHABLE: string | null = await probe(postgresTestUrl());

/**
 * Whether tests that need PostgreSQL should be skipped (`Deno.test` `ignore`):
 * it is unreachable and not required.
 */
export const SKIP_POSTGRES: boolean = POSTGRES_UNREACHABLE !== null && !POSTGRES_REQUIRED;

/**
 * Throws the reason PostgreSQL cannot be used, if it cannot. Call it first in
 * a test that needs PostgreSQL, so that a required but unreachable database
 * fails the test with a clear message.
 *
 * @throws {Error} when PostgreSQL is unreachable.
 *
 * @example
 * ```ts ignore
 * import { assertPostgres, SKIP_POSTGRES } from "./_postgres.ts";
 *
 * Deno.test({ name: "needs postgres", ignore: SKIP_POSTGRES, fn: () => assertPostgres() });
 * ```
 */
export function assertPostgres(): void {
  if (POSTGRES_UNREACHABLE !== null) {
    throw new Error(
      `Cannot run PostgreSQL tests: ${POSTGRES_UNREACHABLE} (ORIS_REQUIRE_POSTGRES=1; ` +
        `set ORIS_TEST_POSTGRES_URL or start PostgreSQL)`,
    );
  }
}

/**
 * Registers a test that needs PostgreSQL: skipped when it is unreachable,
 * failing with the reason when it is required.
 *
 * @param name The test's name.
 * @param fn The test.
 * @param options Other `Deno.test` options (sanitizers).
 *
 * @example
 * ```ts ignore
 * import { postgresTest } from "./_postgres.ts";
 *
 * postgresTest("PostgreSQL answers", async () => {});
 * ```
 */
export function postgresTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  options: Omit<Deno.TestDefinition, "name" | "fn" | "ignore"> = {},
): void {
  Deno.test({
    ...options,
    name,
    ignore: SKIP_POSTGRES,
    async fn(t) {
      assertPostgres();
      await fn(t);
    },
  });
}

/**
 * A fresh, unused schema name: `oris_test_` and random hex.
 *
 * @returns A valid schema name that does not exist yet.
 *
 * @example
 * ```ts ignore
 * import { freshSchemaName } from "./_postgres.ts";
 *
 * console.log(freshSchemaName()); // oris_test_5f0c9a...
 * ```
 */
export function freshSchemaName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `oris_test_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Runs SQL against the test database on a short-lived connection.
 *
 * @param text One or more statements (no parameters).
 * @returns The rows of the last statement.
 *
 * @example
 * ```ts ignore
 * import { adminQuery } from "./_postgres.ts";
 *
 * await adminQuery("SELECT 1");
 * ```
 */
export async function adminQuery(text: string): Promise<Record<string, unknown>[]> {
  const sql = postgres(postgresTestUrl(), { max: 1, onnotice: () => {} });
  try {
    return [...await sql.unsafe(text)] as Record<string, unknown>[];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Drops a schema and everything in it.
 *
 * @param schema The schema.
 *
 * @example
 * ```ts ignore
 * import { dropSchema, freshSchemaName } from "./_postgres.ts";
 *
 * await dropSchema(freshSchemaName());
 * ```
 */
export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema.replaceAll('"', '""')}" CASCADE`);
}

/**
 * Makes a store's `close()` also drop its test schema, once.
 *
 * @param store A store using `schema`.
 * @param schema The schema to drop after the store closes.
 * @returns The same store.
 *
 * @example
 * ```ts ignore
 * import { dropSchemaOnClose, freshSchemaName, postgresTestUrl } from "./_postgres.ts";
 * import { PostgresStore } from "../storage/postgres/mod.ts";
 *
 * const schema = freshSchemaName();
 * await using store = dropSchemaOnClose(
 *   await PostgresStore.connect({ url: postgresTestUrl(), schema }),
 *   schema,
 * );
 * ```
 */
export function dropSchemaOnClose<S extends Store>(store: S, schema: string): S {
  const close = store.close.bind(store);
  let closing: Promise<void> | null = null;
  // An own property shadows the class's method, and `[Symbol.asyncDispose]`
  // calls `this.close()`, so `await using` drops the schema too.
  store.close = () => {
    closing ??= (async () => {
      try {
        await close();
      } finally {
        await dropSchema(schema);
      }
    })();
    return closing;
  };
  return store;
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // No --allow-env: use the defaults.
  }
}

async function probe(url: string): Promise<string | null> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return null;
  } catch (error) {
    return `PostgreSQL at ${redact(url)} is unreachable: ${
      error instanceof Error ? error.message : String(error)
    }`;
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an invalid URL)";
  }
}
