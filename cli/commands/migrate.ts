/**
 * `oris migrate`: brings a store's schema up to date, or with `--status`
 * shows which migrations it has and which are pending, changing nothing.
 * PostgreSQL (`--postgres-url`, `--schema`): the migrations of
 * `runtime_schema_migrations`; Deno KV (`--kv-path`): the store's key layout.
 *
 * @module
 */

import { OrisError } from "../../kernel/mod.ts";
import type { MigrationStatus } from "../../storage/postgres/mod.ts";
import { UsageError } from "../_http.ts";
import { json, type Output, table } from "../_output.ts";
import { type CommandSpec, type Context, type Invocation, stringFlag } from "../_command.ts";

type Row = Record<string, unknown>;

/** The PostgreSQL adapter, loaded when a command needs it (its driver is not small). */
function postgres() {
  return import("../../storage/postgres/mod.ts");
}

/** The PostgreSQL URL and schema of the flags or the environment. */
function postgresTarget(invocation: Invocation, env: Context["env"]) {
  const url = stringFlag(invocation, "postgres-url") ?? env.ORIS_POSTGRES_DSN ??
    env.ORIS_RUNTIME_DSN;
  if (url === undefined || url === "") {
    throw new UsageError("migrate needs --postgres-url (or ORIS_POSTGRES_DSN), or --kv-path");
  }
  // The public schema is migrated only when --schema names it: never by default.
  const given = stringFlag(invocation, "schema");
  const schema = given ?? (env.ORIS_POSTGRES_SCHEMA || undefined);
  if (schema === undefined || (given === undefined && schema === "public")) {
    throw new UsageError(
      "migrate needs --schema (or ORIS_POSTGRES_SCHEMA); it migrates the public schema " +
        "only when asked: --schema public",
    );
  }
  return { url, schema };
}

async function postgresStatus(output: Output, invocation: Invocation, url: string, schema: string) {
  const { migrationStatus } = await postgres();
  const status: MigrationStatus = await migrationStatus({ url, schema });
  const applied = status.applied.map((row) => ({
    version: row.version,
    name: row.name,
    applied_at: row.appliedAt.toISOString(),
  }));
  const pending = status.pending.map((row) => ({ version: row.version, name: row.name }));
  if (invocation.json) {
    json(output, {
      backend: "postgres",
      schema,
      exists: status.exists,
      version: status.version,
      latest: status.latest,
      applied,
      pending,
    });
    return;
  }
  if (!status.exists) {
    output.out(`schema "${schema}" does not exist: ${pending.length} migrations pending`);
  } else if (status.version > status.latest) {
    output.out(
      `schema "${schema}" is at version ${status.version}, newer than this Oris (knows up to ` +
        `${status.latest}): upgrade Oris`,
    );
  } else {
    output.out(
      `schema "${schema}" is at version ${status.version} of ${status.latest}: ` +
        (pending.length === 0 ? "up to date" : `${pending.length} pending (oris migrate applies)`),
    );
  }
  table(output, [
    ["version", (row: Row) => row.version],
    ["name", (row: Row) => row.name],
    ["applied_at", (row: Row) => row.applied_at ?? "pending"],
  ], [...applied, ...pending]);
}

async function postgresMigrate(
  output: Output,
  invocation: Invocation,
  target: { url: string; schema: string },
) {
  const { url, schema } = target;
  const { migrate, SCHEMA_MISSING } = await postgres();
  let result;
  try {
    result = await migrate({
      url,
      schema,
      createSchema: invocation.values["no-create-schema"] !== true,
    });
  } catch (error) {
    // The library's message names its option (createSchema): name this command's flag.
    if (error instanceof OrisError && error.details.reason === SCHEMA_MISSING) {
      throw new OrisError(
        error.code,
        `Cannot use schema "${schema}": it does not exist (create it, or run oris migrate ` +
          `without --no-create-schema)`,
        { cause: error, details: error.details },
      );
    }
    throw error;
  }
  if (invocation.json) {
    json(output, {
      backend: "postgres",
      schema: result.schema,
      from: result.from,
      to: result.to,
      applied: result.applied.map((row) => ({ version: row.version, name: row.name })),
    });
    return;
  }
  output.out(
    result.applied.length === 0
      ? `schema "${result.schema}" is up to date at version ${result.to}`
      : `schema "${result.schema}" migrated from version ${result.from} to ${result.to}: ${
        result.applied.map((migration) => migration.name).join(", ")
      }`,
  );
}

async function kvCommand(output: Output, invocation: Invocation, path: string) {
  const { KvStore, layoutStatus } = await import("../../storage/kv/mod.ts");
  if (invocation.values.status === true) {
    const status = await layoutStatus({ path });
    if (invocation.json) {
      json(output, { backend: "kv", ...status });
      return;
    }
    output.out(
      status.version > status.latest
        ? `store "${path}" has key layout ${status.version}, newer than this Oris (knows up to ` +
          `${status.latest}): upgrade Oris`
        : status.version === 0
        ? `store "${path}" holds no Oris data yet: layout ${status.latest} is recorded when it opens`
        : status.pending
        ? `store "${path}" has key layout ${status.version}: pending an upgrade to ` +
          `${status.latest} (oris migrate, or the server's start, does it)`
        : `store "${path}" is up to date at key layout ${status.version}`,
    );
    return;
  }
  let from = 0;
  try {
    from = (await layoutStatus({ path })).version;
  } catch (error) {
    // A store that does not exist yet is created at the latest layout, as the server does.
    if (!(error instanceof OrisError && error.code === "not_found")) throw error;
  }
  await (await KvStore.open({ path })).close();
  const { version } = await layoutStatus({ path });
  if (invocation.json) {
    json(output, { backend: "kv", path, from, to: version });
    return;
  }
  output.out(
    from >= 1 && from < version
      ? `store "${path}" upgraded from key layout ${from} to ${version}`
      : `store "${path}" is up to date at key layout ${version}`,
  );
}

const migrateCommand: CommandSpec = {
  name: "migrate",
  summary:
    "Apply Oris's migrations to a PostgreSQL schema or a Deno KV store (--status: show them)",
  usage:
    "migrate [--status] (--schema <name> [--postgres-url <url>] [--no-create-schema] | --kv-path <path>) [--json]",
  flags: {
    "postgres-url": { type: "string" },
    schema: { type: "string" },
    "no-create-schema": { type: "boolean" },
    "kv-path": { type: "string" },
    status: { type: "boolean" },
    json: { type: "boolean" },
  },
  flagHelp: [
    "  --status              show applied and pending migrations; change nothing",
    "  --postgres-url <url>  (or ORIS_POSTGRES_DSN / ORIS_RUNTIME_DSN)",
    "  --schema <name>       (or ORIS_POSTGRES_SCHEMA); required, and the public schema",
    "                        only with --schema public",
    "  --no-create-schema    fail if the schema does not exist",
    "  --kv-path <path>      a Deno KV store instead (the server's ORIS_KV_PATH): its key layout",
    "  --json                print the result as JSON",
  ],
  examples: [
    "oris migrate --postgres-url postgres://oris@db/oris --schema oris",
    "oris migrate --status --postgres-url postgres://oris@db/oris --schema oris",
    "oris migrate --status --kv-path oris.kv --json",
  ],
  remote: false,
  args: { min: 0, max: 0 },
  async run(ctx, invocation) {
    const kvPath = stringFlag(invocation, "kv-path");
    if (kvPath !== undefined) {
      for (const flag of ["postgres-url", "schema", "no-create-schema"]) {
        if (invocation.values[flag] !== undefined) {
          throw new UsageError(`migrate: --kv-path and --${flag} do not go together`);
        }
      }
      await kvCommand(ctx.output, invocation, kvPath);
      return 0;
    }
    const target = postgresTarget(invocation, ctx.env);
    if (invocation.values.status === true) {
      await postgresStatus(ctx.output, invocation, target.url, target.schema);
    } else {
      await postgresMigrate(ctx.output, invocation, target);
    }
    return 0;
  },
};

/** The `migrate` command. */
export const MIGRATE_COMMANDS: readonly CommandSpec[] = [migrateCommand];
