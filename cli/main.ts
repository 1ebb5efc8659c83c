/**
 * The `oris` command line. Today: `oris migrate` (bring a PostgreSQL schema
 * up to date) and `oris version`. Operator commands that talk to the server
 * join it with the server.
 *
 * Exit codes: 0 success, 1 failure, 2 bad usage.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { OrisError } from "../kernel/mod.ts";
import { migrate } from "../storage/postgres/mod.ts";

const USAGE = `Usage: oris <command> [options]

Commands:
  migrate   Apply Oris's PostgreSQL migrations
            --postgres-url <url>  (or ORIS_POSTGRES_DSN / ORIS_RUNTIME_DSN)
            --schema <name>       (or ORIS_POSTGRES_SCHEMA; default public)
            --no-create-schema    fail if the schema does not exist
  version   Print the version
  help      Print this help`;

/** What a command printed and its exit code. */
export interface CliResult {
  /** The exit code: 0 success, 1 failure, 2 bad usage. */
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
        return { code: 0, stdout: [`oris ${denoJson.version}`], stderr: [] };
      case undefined:
      case "help":
      case "--help":
      case "-h":
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
    const message = error instanceof OrisError ? `${error.code}: ${error.message}` : String(error);
    return { code: 1, stdout: [], stderr: [`oris: ${message}`] };
  }
}

class UsageError extends Error {}

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
  const schema = values.schema ?? env.ORIS_POSTGRES_SCHEMA ?? "public";
  const result = await migrate({ url, schema, createSchema: values["no-create-schema"] !== true });
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
