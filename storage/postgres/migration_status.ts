/**
 * Which of Oris's migrations a PostgreSQL schema has, and which it lacks,
 * read without changing anything (`oris migrate --status`).
 *
 * @module
 */

import { openClient } from "./_client.ts";
import { toStorageError } from "./_errors.ts";
import {
  type Migration,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  parseSchemaName,
  quoteIdentifier,
} from "./migrations.ts";

/** A migration recorded in a schema. */
export interface AppliedMigration {
  /** Its number. */
  version: number;
  /** Its name, as recorded. */
  name: string;
  /** When it was applied. */
  appliedAt: Date;
}

/** Options of {@linkcode migrationStatus}. */
export interface MigrationStatusOptions {
  /** A PostgreSQL connection URL, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /**
   * The schema that holds Oris's tables.
   * @default {"public"}
   */
  schema?: string;
}

/** What {@linkcode migrationStatus} found. */
export interface MigrationStatus {
  /** The schema. */
  schema: string;
  /** Whether the schema exists. */
  exists: boolean;
  /** Its schema version (0: no Oris tables). */
  version: number;
  /** The last migration this Oris knows: above `version`, migrations are pending. */
  latest: number;
  /** The migrations recorded in the schema, in order. */
  applied: AppliedMigration[];
  /** The migrations `migrate()` would apply now, in order. */
  pending: Migration[];
}

/**
 * Reads which migrations a schema has and which are pending, changing
 * nothing: it creates neither the schema nor the migrations table. A schema
 * at a newer version than this Oris knows has no pending migrations and
 * `version > latest`.
 *
 * @param options Where to connect and which schema.
 * @returns The applied and pending migrations.
 * @throws {StorageError} when the database cannot be reached or read.
 * @throws {InvalidArgumentError} when the schema name or the URL is not valid.
 *
 * @example Show what `oris migrate` would do
 * ```ts ignore
 * import { migrationStatus } from "./migration_status.ts";
 *
 * const status = await migrationStatus({ url: "postgres://postgres@127.0.0.1:5432/oris", schema: "oris" });
 * console.log(`version ${status.version} of ${status.latest}`, status.pending.map((m) => m.name));
 * ```
 */
export async function migrationStatus(options: MigrationStatusOptions): Promise<MigrationStatus> {
  const schema = parseSchemaName(options.schema ?? "public");
  const latest = MIGRATIONS.at(-1)?.version ?? 0;
  const sql = openClient(options.url, { max: 1 });
  try {
    const found = await sql`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ${schema}`;
    const [table] = await sql`SELECT to_regclass(${`${
      quoteIdentifier(schema)
    }.${MIGRATIONS_TABLE}`}) IS NOT NULL AS found`;
    const rows = table?.found === true
      ? await sql.unsafe(
        `SELECT version::int4 AS version, name, applied_at FROM ${
          quoteIdentifier(schema)
        }.${MIGRATIONS_TABLE} ORDER BY version`,
      )
      : [];
    const applied = rows.map((row) => ({
      version: Number(row.version),
      name: String(row.name),
      appliedAt: new Date(row.applied_at as Date),
    }));
    const version = applied.reduce((max, row) => Math.max(max, row.version), 0);
    return {
      schema,
      exists: found.length > 0,
      version,
      latest,
      applied,
      pending: MIGRATIONS.filter((migration) => migration.version > version),
    };
  } catch (error) {
    throw toStorageError(`read the migrations of schema "${schema}"`, error);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
