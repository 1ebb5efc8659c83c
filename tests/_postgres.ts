/**
 * Test helpers for PostgreSQL, in one place for every test (and benchmark)
 * that needs it: the URL of the test database, whether it is reachable
 * (decided once per process, when this module loads), clients that do not
 * print notices, fresh schemas that tests drop afterwards, and fresh stores
 * that drop their schema when they close.
 *
 * Tests that need PostgreSQL are skipped when it is unreachable, unless
 * `ORIS_REQUIRE_POSTGRES=1` (CI), in which case they fail and say why.
 *
 * @module
 */

import postgres from "postgres";
import { PostgresStore, type PostgresStoreOptions } from "../storage/postgres/mod.ts";

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

/** Options of {@linkcode postgresClient}. */
export interface PostgresClientOptions {
  /**
   * The database.
   * @default {postgresTestUrl()}
   */
  url?: string;
  /**
   * The most connections the client opens.
   * @default {1}
   */
  max?: number;
  /** Seconds to wait for a connection (postgres.js's default when not given). */
  connectTimeout?: number;
}

/**
 * A postgres.js client that does not print notices ("schema exists,
 * skipping" ...), by default one connection to the test database.
 *
 * @param options Where to connect, and how many connections.
 * @returns The client; `end()` it.
 *
 * @example
 * ```ts ignore
 * import { postgresClient } from "./_postgres.ts";
 *
 * const sql = postgresClient({ max: 2 });
 * await sql`SELECT 1`;
 * await sql.end();
 * ```
 */
export function postgresClient(options: PostgresClientOptions = {}): postgres.Sql {
  return postgres(options.url ?? postgresTestUrl(), {
    max: options.max ?? 1,
    onnotice: ignoreNotice,
    ...(options.connectTimeout === undefined ? {} : { connect_timeout: options.connectTimeout }),
  });
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
 * A fresh, unused schema name: the prefix, `_` and random hex.
 *
 * @param prefix How the name starts (a valid schema name).
 * @returns A valid schema name that does not exist yet.
 *
 * @example
 * ```ts ignore
 * import { freshSchemaName } from "./_postgres.ts";
 *
 * console.log(freshSchemaName()); // oris_test_5f0c9a...
 * ```
 */
export function freshSchemaName(prefix = "oris_test"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `${prefix}_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Runs `fn` with a fresh schema name, then drops that schema (whether `fn`
 * created it or not, and whether it succeeded or not).
 *
 * @typeParam T What `fn` returns.
 * @param fn The work, given the schema.
 * @returns What `fn` returns.
 *
 * @example
 * ```ts ignore
 * import { postgresTestUrl, withFreshSchema } from "./_postgres.ts";
 * import { migrate } from "../storage/postgres/mod.ts";
 *
 * await withFreshSchema((schema) => migrate({ url: postgresTestUrl(), schema }));
 * ```
 */
export async function withFreshSchema<T>(fn: (schema: string) => Promise<T>): Promise<T> {
  const schema = freshSchemaName();
  try {
    return await fn(schema);
  } finally {
    await dropSchema(schema);
  }
}

/**
 * Connects a {@linkcode PostgresStore} to a fresh schema of the test
 * database, which its `close()` drops. Fails with the reason when
 * PostgreSQL is unreachable.
 *
 * @param options Store options other than the URL and the schema.
 * @returns The store.
 *
 * @example
 * ```ts ignore
 * import { freshPostgresStore } from "./_postgres.ts";
 *
 * await using store = await freshPostgresStore({ snapshotEvery: 1 });
 * ```
 */
export async function freshPostgresStore(
  options: Omit<PostgresStoreOptions, "url" | "schema"> = {},
): Promise<PostgresStore> {
  assertPostgres();
  const schema = freshSchemaName();
  const store = await PostgresStore.connect({ ...options, url: postgresTestUrl(), schema });
  return dropSchemaOnClose(store, schema);
}

/**
 * Runs SQL on a short-lived connection, by default to the test database.
 *
 * @param text One or more statements (no parameters).
 * @param url The database.
 * @returns The rows of the last statement.
 *
 * @example
 * ```ts ignore
 * import { adminQuery } from "./_postgres.ts";
 *
 * await adminQuery("SELECT 1");
 * ```
 */
export async function adminQuery(
  text: string,
  url: string = postgresTestUrl(),
): Promise<Record<string, unknown>[]> {
  const sql = postgresClient({ url });
  try {
    return [...await sql.unsafe(text)] as Record<string, unknown>[];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Drops a schema and everything in it, if it exists.
 *
 * @param schema The schema.
 * @param url The database (default: the test database).
 *
 * @example
 * ```ts ignore
 * import { dropSchema, freshSchemaName } from "./_postgres.ts";
 *
 * await dropSchema(freshSchemaName());
 * ```
 */
export async function dropSchema(schema: string, url: string = postgresTestUrl()): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema.replaceAll('"', '""')}" CASCADE`, url);
}

/** Makes a store's `close()` also drop its test schema, once. */
function dropSchemaOnClose(store: PostgresStore, schema: string): PostgresStore {
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
  const sql = postgresClient({ url, connectTimeout: 3 });
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

/** Notices are not errors and are not printed. */
function ignoreNotice(): void {}
