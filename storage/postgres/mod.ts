/**
 * The PostgreSQL storage adapter: {@linkcode PostgresStore}, a durable
 * `Store` and `ControlStore` (idempotency keys, the interrupt index, audit
 * logs, API keys) that several processes can share, and {@linkcode migrate},
 * which brings a database's Oris schema up to date (`oris migrate`).
 *
 * Tables live in a configurable schema and carry the `runtime_` prefix; they
 * are created by forward-only migrations ({@linkcode MIGRATIONS}) recorded in
 * `runtime_schema_migrations`. `PostgresStore.connect()` applies missing
 * migrations itself.
 *
 * @example Open a store
 * ```ts ignore
 * import { PostgresStore } from "./mod.ts";
 *
 * await using store = await PostgresStore.connect({
 *   url: "postgres://postgres@127.0.0.1:5432/oris",
 *   schema: "oris",
 *   max: 10,
 * });
 * console.log((await store.listRuns({ limit: 10 })).items);
 * ```
 *
 * @module
 */

export { PostgresStore, type PostgresStoreOptions } from "./postgres_store.ts";
export {
  migrate,
  type MigrateOptions,
  type MigrateResult,
  type Migration,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  SCHEMA_MISSING,
} from "./migrations.ts";
export {
  type AppliedMigration,
  type MigrationStatus,
  migrationStatus,
  type MigrationStatusOptions,
} from "./migration_status.ts";
