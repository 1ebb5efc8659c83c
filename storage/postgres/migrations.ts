/**
 * The PostgreSQL schema of Oris as forward-only migrations, kept as
 * TypeScript strings so that they ship with the JSR package and with
 * `deno compile`. Each applied migration is recorded in
 * `runtime_schema_migrations`; {@linkcode migrate} applies the missing ones
 * under an advisory lock, so that processes starting together do not race.
 *
 * @module
 */

import type postgres from "postgres";
import { InvalidArgumentError, StorageError } from "../../kernel/mod.ts";
import { openClient } from "./_client.ts";
import { toStorageError } from "./_errors.ts";

/** One step of the schema: applied once, in order, never edited once released. */
export interface Migration {
  /** Its number: 1, 2, 3 ... without gaps. */
  readonly version: number;
  /** A short description, recorded with it. */
  readonly name: string;
  /**
   * The SQL, one or more statements. It runs with `search_path` set to the
   * target schema, so tables are named without a schema.
   */
  readonly sql: string;
}

/**
 * Every migration this version of Oris knows, in order. A database recorded
 * at a higher version than the last of these is refused.
 *
 * Tables:
 * - `runtime_runs`: one row per run, its listing line and current version.
 * - `runtime_events`: the append-only log, by `(thread_id, seq)`, JSON as `text`.
 * - `runtime_snapshots`: the latest persisted snapshot of each run.
 * - `runtime_checkpoints`: the committed steps of each run (a view (6) of
 *   the events that make them, whose rows carry the checkpoint's columns).
 * - `runtime_effects`: the effect journal, by `(thread_id, step, node, idx)`.
 * - `runtime_idempotency_keys` (2): claimed idempotency keys and their responses.
 * - `runtime_interrupts` (2): the interrupt index, written by appends in the
 *   same statement as their events.
 * - `runtime_audit_logs` (2): control-plane audit entries.
 * - `runtime_api_keys` (2): API keys (the secret's hash, never the secret).
 * - (3) `runtime_runs` is listed by creation (indexes on `created_at`).
 * - (4) `runtime_runs` gains the run's scheduling (`priority`, `tenant_id`),
 *   its lease (`lease_owner`, `lease_token` (the fencing token),
 *   `lease_expires_at`), its mailbox counters (`mail_posted`, `mail_done`)
 *   and its durable timers (`wake_at`, `timers`).
 * - `runtime_mailbox` (4): control messages for runs owned by another
 *   process, and their answers.
 * - `runtime_attempts` (5): the worker plane's attempts (the record as JSON,
 *   at most one open per run), and `runtime_dead_letters` (5): attempts
 *   that failed for good, and their replays.
 * - (6) `runtime_events` gains the checkpoint an event makes
 *   (`checkpoint_id`, `parent_checkpoint_id`, `step`), and
 *   `runtime_checkpoints` becomes a view of those rows; `runtime_runs` gets
 *   `fillfactor` 80 and no index on a lease's expiry, so that the updates of
 *   a step and of a lease renewal are HOT (no index entry written).
 *
 * JSON is stored as `text`, not `jsonb`: it reads back byte for byte, and
 * `jsonb` refuses `\u0000`. Ids are `COLLATE "C"` so that the database orders
 * them as the kernel does.
 *
 * @example
 * ```ts
 * import { MIGRATIONS } from "./migrations.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(MIGRATIONS.map((migration) => migration.version), [1, 2, 3, 4, 5, 6]);
 * ```
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "create runs, events, snapshots, checkpoints and effects",
    sql: `
CREATE TABLE runtime_runs (
  thread_id     text COLLATE "C" PRIMARY KEY,
  status        text NOT NULL,
  graph         text NOT NULL,
  payload_hash  text NOT NULL,
  version       bigint NOT NULL,
  created_at    double precision NOT NULL,
  updated_at    double precision NOT NULL
);
CREATE INDEX runtime_runs_updated_idx ON runtime_runs (updated_at, thread_id);
CREATE INDEX runtime_runs_status_updated_idx ON runtime_runs (status, updated_at, thread_id);

CREATE TABLE runtime_events (
  thread_id  text COLLATE "C" NOT NULL,
  seq        bigint NOT NULL,
  type       text NOT NULL,
  at         double precision NOT NULL,
  event      text NOT NULL,
  PRIMARY KEY (thread_id, seq)
);

CREATE TABLE runtime_snapshots (
  thread_id  text COLLATE "C" PRIMARY KEY,
  version    bigint NOT NULL,
  snapshot   text NOT NULL
);

CREATE TABLE runtime_checkpoints (
  thread_id             text COLLATE "C" NOT NULL,
  version               bigint NOT NULL,
  checkpoint_id         text COLLATE "C" NOT NULL,
  parent_checkpoint_id  text,
  step                  bigint NOT NULL,
  created_at            double precision NOT NULL,
  PRIMARY KEY (thread_id, version)
);
CREATE INDEX runtime_checkpoints_id_idx ON runtime_checkpoints (thread_id, checkpoint_id);

CREATE TABLE runtime_effects (
  thread_id  text COLLATE "C" NOT NULL,
  step       bigint NOT NULL,
  node       text COLLATE "C" NOT NULL,
  idx        bigint NOT NULL,
  name       text NOT NULL,
  record     text NOT NULL,
  PRIMARY KEY (thread_id, step, node, idx)
);
`,
  },
  {
    version: 2,
    name: "create idempotency keys, interrupts, audit logs and API keys",
    sql: `
CREATE TABLE runtime_idempotency_keys (
  key           text COLLATE "C" PRIMARY KEY,
  operation     text NOT NULL,
  thread_id     text COLLATE "C" NOT NULL,
  payload_hash  text NOT NULL,
  response      text,
  created_at    double precision NOT NULL
);

CREATE TABLE runtime_interrupts (
  interrupt_id  text COLLATE "C" PRIMARY KEY,
  thread_id     text COLLATE "C" NOT NULL,
  node          text COLLATE "C" NOT NULL,
  step          bigint NOT NULL,
  value         text NOT NULL,
  status        text NOT NULL
    CHECK (status IN ('pending', 'resumed', 'rejected', 'cancelled')),
  resume_value  text,
  created_at    double precision NOT NULL,
  resolved_at   double precision
);
CREATE INDEX runtime_interrupts_created_idx
  ON runtime_interrupts (created_at DESC, interrupt_id DESC);
CREATE INDEX runtime_interrupts_status_created_idx
  ON runtime_interrupts (status, created_at DESC, interrupt_id DESC);
CREATE INDEX runtime_interrupts_thread_created_idx
  ON runtime_interrupts (thread_id, created_at DESC, interrupt_id DESC);

CREATE TABLE runtime_audit_logs (
  audit_id       text COLLATE "C" PRIMARY KEY,
  actor_type     text NOT NULL,
  actor_id       text,
  actor_role     text,
  action         text NOT NULL,
  resource_type  text NOT NULL,
  resource_id    text,
  result         text NOT NULL,
  request_id     text NOT NULL,
  details        text NOT NULL,
  created_at     double precision NOT NULL
);
CREATE INDEX runtime_audit_logs_created_idx
  ON runtime_audit_logs (created_at DESC, audit_id DESC);
CREATE INDEX runtime_audit_logs_action_created_idx
  ON runtime_audit_logs (action, created_at DESC, audit_id DESC);
CREATE INDEX runtime_audit_logs_request_created_idx
  ON runtime_audit_logs (request_id, created_at DESC, audit_id DESC);

CREATE TABLE runtime_api_keys (
  key_id       text COLLATE "C" PRIMARY KEY,
  secret_hash  text NOT NULL,
  role         text NOT NULL,
  status       text NOT NULL CHECK (status IN ('active', 'disabled')),
  created_at   double precision NOT NULL,
  updated_at   double precision NOT NULL
);
`,
  },
  {
    version: 3,
    name: "list runs by creation, not by last update",
    // Runs page by (created_at, thread_id), which never changes; the indexes
    // on updated_at, which every append changed, go.
    sql: `
DROP INDEX runtime_runs_updated_idx;
DROP INDEX runtime_runs_status_updated_idx;
CREATE INDEX runtime_runs_created_idx ON runtime_runs (created_at DESC, thread_id DESC);
CREATE INDEX runtime_runs_status_created_idx
  ON runtime_runs (status, created_at DESC, thread_id DESC);
  `,
  },
  {
    version: 4,
    name: "run leases, scheduling, durable mailbox and timers",
    sql: `
ALTER TABLE runtime_runs
  ADD COLUMN priority          integer NOT NULL DEFAULT 0,
  ADD COLUMN tenant_id         text COLLATE "C",
  ADD COLUMN lease_owner       text,
  ADD COLUMN lease_token       bigint NOT NULL DEFAULT 0,
  ADD COLUMN lease_expires_at  double precision,
  ADD COLUMN mail_posted       bigint NOT NULL DEFAULT 0,
  ADD COLUMN mail_done         bigint NOT NULL DEFAULT 0,
  ADD COLUMN wake_at           double precision,
  ADD COLUMN timers            text;

UPDATE runtime_runs AS r
   SET priority = CASE WHEN m.priority ~ '^-?[0-9]{1,9}$' THEN m.priority::integer ELSE 0 END,
       tenant_id = nullif(m.tenant_id, '')
  FROM (SELECT e.thread_id,
               (e.event::json -> 'metadata' ->> 'priority') AS priority,
               (e.event::json -> 'metadata' ->> 'tenant_id') AS tenant_id
          FROM runtime_events AS e
         WHERE e.seq = 1) AS m
 WHERE r.thread_id = m.thread_id
   AND r.status NOT IN ('completed', 'failed', 'cancelled');

CREATE INDEX runtime_runs_runnable_idx ON runtime_runs (priority DESC, created_at, thread_id)
  WHERE status IN ('queued', 'running');
CREATE INDEX runtime_runs_mail_idx ON runtime_runs (priority DESC, created_at, thread_id)
  WHERE mail_posted > mail_done;
CREATE INDEX runtime_runs_wake_idx ON runtime_runs (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX runtime_runs_tenant_leases_idx ON runtime_runs (tenant_id, lease_expires_at)
  WHERE lease_owner IS NOT NULL;
CREATE INDEX runtime_runs_queued_idx ON runtime_runs (created_at) WHERE status = 'queued';

CREATE TABLE runtime_mailbox (
  thread_id    text COLLATE "C" NOT NULL,
  seq          bigint NOT NULL,
  message      text NOT NULL,
  status       text NOT NULL CHECK (status IN ('pending', 'applied', 'refused')),
  error        text,
  version      bigint,
  posted_at    double precision NOT NULL,
  answered_at  double precision,
  PRIMARY KEY (thread_id, seq)
);
`,
  },
  {
    version: 5,
    name: "worker attempts and dead letters",
    sql: `
CREATE TABLE runtime_attempts (
  attempt_id  text COLLATE "C" PRIMARY KEY,
  thread_id   text COLLATE "C" NOT NULL,
  status      text NOT NULL CHECK (status IN
                ('queued', 'leased', 'retry_backoff', 'completed', 'failed', 'cancelled')),
  worker_id   text,
  version     bigint NOT NULL,
  created_at  double precision NOT NULL,
  record      text NOT NULL
);
CREATE UNIQUE INDEX runtime_attempts_open_idx ON runtime_attempts (thread_id)
  WHERE status IN ('queued', 'leased', 'retry_backoff');
CREATE INDEX runtime_attempts_status_idx ON runtime_attempts (status, created_at, attempt_id);

CREATE TABLE runtime_dead_letters (
  attempt_id     text COLLATE "C" PRIMARY KEY,
  dead_at        double precision NOT NULL,
  replay_status  text NOT NULL CHECK (replay_status IN ('pending', 'replayed')),
  record         text NOT NULL
);
CREATE INDEX runtime_dead_letters_time_idx ON runtime_dead_letters (dead_at DESC, attempt_id DESC);
`,
  },
  {
    version: 6,
    name: "checkpoints in their event rows, room for HOT updates of runs",
    // A step's commit wrote three rows (the run's, the event's, the
    // checkpoint's); the checkpoint is a few columns of the event that
    // makes it, so it goes there: two rows. `runtime_checkpoints` stays, as
    // a view. The run's row is updated by every commit: free space in its
    // page (fillfactor; runs created together fill a page at once) and no
    // index on what a step or a lease renewal changes (version, update
    // time, lease expiry) keep those updates HOT, writing no index entry.
    sql: `
ALTER TABLE runtime_events
  ADD COLUMN checkpoint_id         text COLLATE "C",
  ADD COLUMN parent_checkpoint_id  text,
  ADD COLUMN step                  bigint;
UPDATE runtime_events AS e
   SET checkpoint_id = c.checkpoint_id, parent_checkpoint_id = c.parent_checkpoint_id,
       step = c.step
  FROM runtime_checkpoints AS c
 WHERE e.thread_id = c.thread_id AND e.seq = c.version;
DROP TABLE runtime_checkpoints;
CREATE INDEX runtime_events_checkpoint_idx ON runtime_events (thread_id, checkpoint_id)
  WHERE checkpoint_id IS NOT NULL;
CREATE VIEW runtime_checkpoints AS
  SELECT thread_id, seq AS version, checkpoint_id, parent_checkpoint_id, step, at AS created_at
    FROM runtime_events
   WHERE checkpoint_id IS NOT NULL;

ALTER TABLE runtime_runs SET (fillfactor = 80);
DROP INDEX runtime_runs_tenant_leases_idx;
CREATE INDEX runtime_runs_tenant_leases_idx ON runtime_runs (tenant_id)
  WHERE lease_owner IS NOT NULL;
`,
  },
];

/**
 * The `details.reason` of the error raised when the schema does not exist and
 * may not be created (`createSchema: false`). Its message names this
 * library's option; a program with its own setting for it (the Oris server,
 * `oris migrate`) recognises the error by this reason and names its setting
 * instead. `details.schema` is the schema.
 *
 * @example Name your own setting
 * ```ts ignore
 * import { OrisError } from "@oris/runtime";
 * import { PostgresStore, SCHEMA_MISSING } from "@oris/runtime/storage/postgres";
 *
 * try {
 *   await PostgresStore.connect({ url: "postgres://127.0.0.1/oris", schema: "app", createSchema: false });
 * } catch (error) {
 *   if (error instanceof OrisError && error.details.reason === SCHEMA_MISSING) {
 *     throw new Error(`Schema "${error.details.schema}" is missing: set MYAPP_CREATE_SCHEMA=true`);
 *   }
 *   throw error;
 * }
 * ```
 */
export const SCHEMA_MISSING = "schema_missing";

/** The table that records applied migrations. */
export const MIGRATIONS_TABLE = "runtime_schema_migrations";

/** The first key of the advisory lock taken while migrating (`'Oris'` in ASCII). */
const LOCK_CLASS = 0x4f726973;

const SCHEMA_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Validates a schema name: 1 to 63 ASCII letters, digits and underscores,
 * not starting with a digit or with `pg_` (reserved by PostgreSQL).
 *
 * @internal Used by the PostgreSQL adapter.
 * @param schema Anything.
 * @returns The schema name.
 * @throws {InvalidArgumentError} when it is not a valid schema name.
 *
 * @example
 * ```ts
 * import { parseSchemaName } from "./migrations.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseSchemaName("oris"), "oris");
 * assert.throws(() => parseSchemaName('x"; DROP TABLE y; --'), /Cannot use schema/);
 * ```
 */
export function parseSchemaName(schema: unknown): string {
  if (
    typeof schema !== "string" || !SCHEMA_PATTERN.test(schema) ||
    schema.toLowerCase().startsWith("pg_")
  ) {
    throw new InvalidArgumentError(
      `Cannot use schema ${JSON.stringify(schema)}: a schema name must be 1 to 63 letters, ` +
        `digits and underscores, not starting with a digit or "pg_"`,
      { field: "schema" },
    );
  }
  return schema;
}

/**
 * Quotes an identifier for SQL text.
 *
 * @internal Used by the PostgreSQL adapter.
 * @param name The identifier.
 * @returns It in double quotes, inner double quotes doubled.
 *
 * @example
 * ```ts
 * import { quoteIdentifier } from "./migrations.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(quoteIdentifier('My"Schema'), '"My""Schema"');
 * ```
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Options of {@linkcode migrate}. */
export interface MigrateOptions {
  /** A PostgreSQL connection URL, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /**
   * The schema that holds Oris's tables.
   * @default {"public"}
   */
  schema?: string;
  /**
   * Create the schema when it does not exist; when `false`, a missing schema
   * is an error.
   * @default {true}
   */
  createSchema?: boolean;
}

/** What {@linkcode migrate} did. */
export interface MigrateResult {
  /** The schema. */
  schema: string;
  /** Its version before (0: no Oris tables). */
  from: number;
  /** Its version after. */
  to: number;
  /** The migrations applied now, in order (empty when it was up to date). */
  applied: Migration[];
}

/**
 * Brings a database's Oris schema up to date: applies, in one transaction,
 * every migration it has not recorded yet. Safe to run from several
 * processes at once. `PostgresStore.connect()` does this too; `oris migrate`
 * calls it on its own.
 *
 * @param options Where to connect and which schema.
 * @returns The versions before and after, and what was applied.
 * @throws {StorageError} when the database cannot be reached, when the schema
 * does not exist and `createSchema` is `false` (`details.reason` is
 * {@linkcode SCHEMA_MISSING}), or when the database is at a newer schema
 * version than this Oris knows.
 * @throws {InvalidArgumentError} when the schema name is not valid.
 *
 * @example Migrate a database
 * ```ts ignore
 * import { migrate } from "./migrations.ts";
 *
 * const { from, to } = await migrate({ url: "postgres://postgres@127.0.0.1:5432/oris" });
 * console.log(`schema version ${from} -> ${to}`);
 * ```
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const schema = parseSchemaName(options.schema ?? "public");
  const sql = openClient(options.url, { max: 1 });
  try {
    return await applyMigrations(sql, schema, { createSchema: options.createSchema ?? true });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Options of {@linkcode applyMigrations}. */
export interface ApplyMigrationsOptions {
  /** Create the schema when missing (else fail). */
  createSchema: boolean;
  /** The migrations to apply, for tests (default {@linkcode MIGRATIONS}). */
  migrations?: readonly Migration[];
}

/**
 * Applies the missing migrations over an existing client. One transaction
 * under `pg_advisory_xact_lock`: concurrent callers wait, then find nothing
 * left to do.
 *
 * @internal Used by `PostgresStore.connect()` and {@linkcode migrate}.
 * @param sql A postgres.js client.
 * @param schema A schema name that passed {@linkcode parseSchemaName}.
 * @param options Whether to create the schema, and which migrations.
 * @returns What was done.
 * @throws {StorageError} as {@linkcode migrate}.
 *
 * @example
 * ```ts ignore
 * import type postgres from "postgres";
 * import { applyMigrations } from "./migrations.ts";
 *
 * const sql = postgres("postgres://postgres@127.0.0.1:5432/test");
 * await applyMigrations(sql, "public", { createSchema: true });
 * await sql.end();
 * ```
 */
export async function applyMigrations(
  sql: postgres.Sql,
  schema: string,
  options: ApplyMigrationsOptions,
): Promise<MigrateResult> {
  const migrations = options.migrations ?? MIGRATIONS;
  checkMigrations(migrations);
  const latest = migrations.at(-1)?.version ?? 0;
  const q = quoteIdentifier(schema);
  try {
    return await sql.begin(async (tx): Promise<MigrateResult> => {
      await tx`SELECT pg_advisory_xact_lock(${LOCK_CLASS}::int4, hashtext(${schema}))`;
      const found = await tx`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ${schema}`;
      if (found.length === 0) {
        if (!options.createSchema) {
          throw new StorageError(
            `Cannot use schema "${schema}": it does not exist (create it, or connect with createSchema: true)`,
            { details: { schema, reason: SCHEMA_MISSING } },
          );
        }
        await tx.unsafe(`CREATE SCHEMA ${q}`);
      }
      const [table] =
        await tx`SELECT to_regclass(${`${q}.${MIGRATIONS_TABLE}`}) IS NOT NULL AS found`;
      if (table?.found !== true) {
        await tx.unsafe(
          `CREATE TABLE ${q}.${MIGRATIONS_TABLE} (
            version     integer PRIMARY KEY,
            name        text NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
          )`,
        );
      }
      const [row] = await tx.unsafe(
        `SELECT coalesce(max(version), 0)::int4 AS version FROM ${q}.${MIGRATIONS_TABLE}`,
      );
      const from = Number(row?.version ?? 0);
      if (from > latest) {
        throw new StorageError(
          `Cannot use schema "${schema}": its schema version ${from} is newer than this Oris ` +
            `(knows up to ${latest}): upgrade Oris`,
          { details: { schema, version: from, known: latest } },
        );
      }
      const applied: Migration[] = [];
      for (const migration of migrations) {
        if (migration.version <= from) continue;
        await tx.unsafe(`SET LOCAL search_path TO ${q}`);
        await tx.unsafe(migration.sql);
        await tx.unsafe(
          `INSERT INTO ${q}.${MIGRATIONS_TABLE} (version, name) VALUES ($1, $2)`,
          [migration.version, migration.name],
        );
        applied.push(migration);
      }
      return { schema, from, to: Math.max(from, latest), applied };
    });
  } catch (error) {
    throw toStorageError(`migrate schema "${schema}"`, error);
  }
}

function checkMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((migration, i) => {
    if (migration.version !== i + 1) {
      throw new StorageError(
        `Cannot migrate: migration ${
          i + 1
        } is numbered ${migration.version} (versions must be 1, 2, 3 ...)`,
      );
    }
  });
}
