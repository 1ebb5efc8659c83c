/**
 * The `oris` command line. Today: `oris migrate` (bring a PostgreSQL schema
 * up to date) and `oris version`. Operator commands that talk to the server
 * join it with the server.
 *
 * Exit codes: 0 success, 1 failure (e.g. the database cannot be reached),
 * 2 bad usage or bad input (an unknown flag, an invalid URL or schema name).
 * An error is one plain line, `oris: <message>` (bad usage adds the usage).
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { OrisError } from "../kernel/mod.ts";
import { migrate, SCHEMA_MISSING } from "../storage/postgres/mod.ts";

const USAGE = `Usage: oris <command> [options]

Commands:
  migrate   Apply Oris's PostgreSQL migrations
            --postgres-url <url>  (or ORIS_POSTGRES_DSN / ORIS_RUNTIME_DSN)
            --schema <name>       (or ORIS_POSTGRES_SCHEMA); required, and the
                                  public schema only with --schema public
            --no-create-schema    fail if the schema does not exist
  version   Print the version (also oris --version)
  help      Print this help`;

/** What a command printed and its exit code. */
export interface CliResult {
  /** The exit code: 0 success, 1 failure, 2 bad usage or bad input. */
  code: number;
  /** Lines for stdout. */
  stdout: string[];
  /** Lines for stderr. */
  stderr: string[];
}

/**
 * Runs the CLI on arguments and an environment, without touching the process.
 *
 * @param args The arguments after the program name.
 * @param env Environment variables.
 * @returns The exit code and output.
 */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliResult> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "version":
      case "--version":
      case "-V":
        noArguments(command, rest);
        return { code: 0, stdout: [`oris ${denoJson.version}`], stderr: [] };
      case undefined:
      case "help":
      case "--help":
      case "-h":
        if (command !== undefined) noArguments(command, rest);
        return { code: command === undefined ? 2 : 0, stdout: [USAGE], stderr: [] };
      case "migrate":
        return await migrateCommand(rest, env);
      default:
        return { code: 2, stdout: [], stderr: [`oris: unknown command "${command}"`, USAGE] };
    }
  } catch (error) {
    if (error instanceof UsageError) {
      return { code: 2, stdout: [], stderr: [`oris: ${error.message}`, USAGE] };
    }
    // Bad input (an invalid URL or schema name) is the user's to fix, like bad usage.
    if (error instanceof OrisError && error.code === "invalid_argument") {
      return { code: 2, stdout: [], stderr: [`oris: ${error.message}`] };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { code: 1, stdout: [], stderr: [`oris: ${message}`] };
  }
}

class UsageError extends Error {}

function noArguments(command: string, rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`${command} takes no arguments, got "${rest[0]}"`);
}

async function migrateCommand(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliResult> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        "postgres-url": { type: "string" },
        schema: { type: "string" },
        "no-create-schema": { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const url = values["postgres-url"] ?? env.ORIS_POSTGRES_DSN ?? env.ORIS_RUNTIME_DSN;
  if (url === undefined || url === "") {
    throw new UsageError("migrate needs --postgres-url (or ORIS_POSTGRES_DSN)");
  }
  // The public schema is migrated only when --schema names it: never by default.
  const schema = values.schema ?? (env.ORIS_POSTGRES_SCHEMA || undefined);
  if (schema === undefined || (values.schema === undefined && schema === "public")) {
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
  const line = result.applied.length === 0
    ? `schema "${result.schema}" is up to date at version ${result.to}`
    : `schema "${result.schema}" migrated from version ${result.from} to ${result.to}: ${
      result.applied.map((migration) => migration.name).join(", ")
    }`;
  return { code: 0, stdout: [line], stderr: [] };
}

if (import.meta.main) {
  const result = await runCli(Deno.args, Deno.env.toObject());
  for (const line of result.stdout) console.log(line);
  for (const line of result.stderr) console.error(line);
  Deno.exit(result.code);
}
