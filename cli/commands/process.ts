/**
 * The processes: `oris server` (the server of `deno task start`, with
 * `--graphs`) and `oris migrate` (bring a PostgreSQL schema up to date).
 *
 * @module
 */

import { OrisError } from "../../kernel/mod.ts";
import { configHelp, main as serverMain, parseServerArgs } from "../../server/main.ts";
import { migrate, SCHEMA_MISSING } from "../../storage/postgres/mod.ts";
import { UsageError } from "../_http.ts";
import type { CommandSpec, Context } from "../_command.ts";

/**
 * `oris server`: parses its own arguments (the server's: `--graphs`,
 * `--help`) and runs the server until SIGINT or SIGTERM.
 *
 * @param ctx The environment and output.
 * @param args Its arguments.
 * @returns The exit code.
 */
export async function serverCommand(ctx: Context, args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseServerArgs(args);
  } catch (error) {
    throw new UsageError(`server: ${(error as Error).message}`);
  }
  if (parsed.help) {
    ctx.output.out(configHelp().replace("Usage: deno task start", "Usage: oris server"));
    return 0;
  }
  const env = {
    ...ctx.env,
    ...(parsed.graphs === undefined ? {} : { ORIS_GRAPHS: parsed.graphs.join(",") }),
  };
  try {
    await serverMain(env);
  } catch (error) {
    ctx.output.err(`oris: cannot start: ${(error as Error).message}`);
    return 1;
  }
  return 0;
}

const migrateCommand: CommandSpec = {
  name: "migrate",
  summary: "Apply Oris's PostgreSQL migrations to a schema",
  usage: "migrate --schema <name> [--postgres-url <url>] [--no-create-schema]",
  flags: {
    "postgres-url": { type: "string" },
    schema: { type: "string" },
    "no-create-schema": { type: "boolean" },
  },
  flagHelp: [
    "  --postgres-url <url>  (or ORIS_POSTGRES_DSN / ORIS_RUNTIME_DSN)",
    "  --schema <name>       (or ORIS_POSTGRES_SCHEMA); required, and the public schema",
    "                        only with --schema public",
    "  --no-create-schema    fail if the schema does not exist",
  ],
  examples: ["oris migrate --postgres-url postgres://oris@db/oris --schema oris"],
  remote: false,
  args: { min: 0, max: 0 },
  async run(ctx, invocation) {
    const { values } = invocation;
    const env = ctx.env;
    const url = (values["postgres-url"] as string | undefined) ?? env.ORIS_POSTGRES_DSN ??
      env.ORIS_RUNTIME_DSN;
    if (url === undefined || url === "") {
      throw new UsageError("migrate needs --postgres-url (or ORIS_POSTGRES_DSN)");
    }
    // The public schema is migrated only when --schema names it: never by default.
    const given = values.schema as string | undefined;
    const schema = given ?? (env.ORIS_POSTGRES_SCHEMA || undefined);
    if (schema === undefined || (given === undefined && schema === "public")) {
      throw new UsageError(
        "migrate needs --schema (or ORIS_POSTGRES_SCHEMA); it migrates the public schema " +
          "only when asked: --schema public",
      );
    }
    const createSchema = values["no-create-schema"] !== true;
    let result;
    try {
      result = await migrate({ url, schema, createSchema });
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
    ctx.output.out(
      result.applied.length === 0
        ? `schema "${result.schema}" is up to date at version ${result.to}`
        : `schema "${result.schema}" migrated from version ${result.from} to ${result.to}: ${
          result.applied.map((migration) => migration.name).join(", ")
        }`,
    );
    return 0;
  },
};

/** The process commands run by spec (`server` parses its own arguments). */
export const PROCESS_COMMANDS: readonly CommandSpec[] = [migrateCommand];
