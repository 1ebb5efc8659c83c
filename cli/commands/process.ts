/**
 * The processes: `oris server` (the server of `deno task start`, with
 * `--graphs`) and `oris migrate` (cli/commands/migrate.ts).
 *
 * @module
 */

import { UsageError } from "../_http.ts";
import type { CommandSpec, Context } from "../_command.ts";
import { MIGRATE_COMMANDS } from "./migrate.ts";

/**
 * `oris server`: parses its own arguments (the server's: `--graphs`,
 * `--help`) and runs the server until SIGINT or SIGTERM.
 *
 * @param ctx The environment and output.
 * @param args Its arguments.
 * @returns The exit code.
 */
export async function serverCommand(ctx: Context, args: string[]): Promise<number> {
  // Loaded here: the server (and the example agents' model clients) are heavy, and only
  // `oris server` needs them.
  const { configHelp, main: serverMain, parseServerArgs } = await import("../../server/main.ts");
  let parsed;
  try {
    parsed = parseServerArgs(args);
  } catch (error) {
    throw new UsageError(`server: ${(error as Error).message}`);
  }
  if (parsed.help) {
    ctx.output.out(configHelp().replace("Usage: deno task start", "Usage: oris server"));
    ctx.output.out(
      [
        "",
        "Examples:",
        "  oris server",
        "  oris server --graphs ./graphs.ts",
        "  ORIS_RUNTIME_BACKEND=postgres ORIS_POSTGRES_DSN=postgres://oris@db/oris oris server",
      ].join("\n"),
    );
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

/** The process commands run by spec (`server` parses its own arguments). */
export const PROCESS_COMMANDS: readonly CommandSpec[] = [...MIGRATE_COMMANDS];
