/**
 * The `oris` command line: the processes (`oris server`, `oris worker`, `oris migrate`) and
 * the operator commands that drive a server over its v1 API (`run`, `list`,
 * `inspect`, `timeline`, `state`, `resume`, `pause`, `cancel`, `replay`,
 * `fork`, `interrupts`, `audit`, `keys`, `dlq`, `attempts`). See docs/cli.md.
 *
 * Exit codes: 0 success; 1 a server or network failure (or a run that
 * failed, with `run --wait`); 2 bad usage or bad input; 3 not found; 4
 * conflict; 5 unauthorized or forbidden. An error is one plain line on
 * stderr, `oris: <message>` (with the server's code and request id; bad
 * usage adds the usage).
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { OrisError } from "../kernel/mod.ts";
import { type CommandSpec, type Context, runCommand } from "./_command.ts";
import { CliError, UsageError } from "./_http.ts";
import type { Output } from "./_output.ts";
import { ADMIN_COMMANDS } from "./commands/admin.ts";
import { CONTROL_COMMANDS } from "./commands/control.ts";
import { DLQ_COMMANDS } from "./commands/dlq.ts";
import { JOB_COMMANDS } from "./commands/jobs.ts";
import { INIT_COMMANDS } from "./commands/init.ts";
import { PROCESS_COMMANDS, serverCommand } from "./commands/process.ts";
import { workerCommand } from "./commands/worker.ts";

const COMMANDS: readonly CommandSpec[] = [
  ...PROCESS_COMMANDS,
  ...INIT_COMMANDS,
  ...JOB_COMMANDS,
  ...CONTROL_COMMANDS,
  ...ADMIN_COMMANDS,
  ...DLQ_COMMANDS,
];

const USAGE = [
  "Usage: oris <command> [options]    (oris <command> --help for its options and examples)",
  "",
  "Processes:",
  "  server       Run the server (--graphs <module> serves your graphs)",
  "  worker       Run a worker: execute a server's runs of your graphs (--graphs <module>)",
  ...[...PROCESS_COMMANDS, ...INIT_COMMANDS].map((spec) =>
    `  ${spec.name.padEnd(12)} ${spec.summary}`
  ),
  "",
  "Operator commands (against --server, default ORIS_SERVER_URL or http://127.0.0.1:8080):",
  ...[...JOB_COMMANDS, ...CONTROL_COMMANDS, ...ADMIN_COMMANDS, ...DLQ_COMMANDS].map((spec) =>
    `  ${spec.name.padEnd(12)} ${spec.summary}`
  ),
  "",
  "  version      Print the version (also oris --version)",
  "  help         Print this help",
].join("\n");

/** What a command printed and its exit code. */
export interface CliResult {
  /** The exit code: 0 success, 1 failure, 2 bad usage or input, 3 not found, 4 conflict, 5 denied. */
  code: number;
  /** Lines for stdout. */
  stdout: string[];
  /** Lines for stderr. */
  stderr: string[];
}

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  /** Called with each line as it is printed (besides collecting it). */
  write?: (stream: "stdout" | "stderr", line: string) => void;
  /** Rewrites the live status line of a terminal. */
  status?: (line: string) => void;
  /** Whether colors may be used (default: no). */
  color?: boolean;
  /** The fetch to use (default: `fetch`). */
  fetch?: typeof fetch;
  /** Reads stdin whole (default: Deno's stdin). */
  readStdin?: () => Promise<string>;
}

/**
 * Runs the CLI on arguments and an environment, without exiting the process.
 *
 * @param args The arguments after the program name.
 * @param env Environment variables.
 * @param options Where lines go as they are printed, colors, fetch and stdin.
 * @returns The exit code and output.
 */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  options: RunCliOptions = {},
): Promise<CliResult> {
  const result: CliResult = { code: 0, stdout: [], stderr: [] };
  const output: Output = {
    out(line) {
      result.stdout.push(line);
      options.write?.("stdout", line);
    },
    err(line) {
      result.stderr.push(line);
      options.write?.("stderr", line);
    },
    status: options.status ?? (() => {}),
    color: options.color === true && env.NO_COLOR === undefined,
  };
  const ctx: Context = {
    env,
    output,
    fetch: options.fetch ?? fetch,
    readStdin: options.readStdin ?? (() => new Response(Deno.stdin.readable).text()),
  };
  const [command, ...rest] = args;
  const spec = COMMANDS.find((item) => item.name === command);
  try {
    switch (command) {
      case "version":
      case "--version":
      case "-V":
        noArguments(command, rest);
        output.out(`oris ${denoJson.version}`);
        return result;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        if (command !== undefined) noArguments(command, rest);
        output.out(USAGE);
        result.code = command === undefined ? 2 : 0;
        return result;
      case "server":
        result.code = await serverCommand(ctx, rest);
        return result;
      case "worker":
        result.code = await workerCommand(ctx, rest);
        return result;
    }
    if (spec === undefined) throw new UsageError(`unknown command "${command}"`);
    result.code = await runCommand(spec, rest, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(`oris: ${error.message}`);
      output.err(
        spec === undefined
          ? USAGE
          : `Usage: oris ${spec.usage}\n(oris ${spec.name} --help for more)`,
      );
      result.code = 2;
    } else if (error instanceof CliError) {
      output.err(`oris: ${error.message}`);
      result.code = error.exitCode;
    } else if (error instanceof OrisError && error.code === "invalid_argument") {
      // Bad input (an invalid URL or schema name) is the user's to fix, like bad usage.
      output.err(`oris: ${error.message}`);
      result.code = 2;
    } else if (error instanceof OrisError && error.code === "not_found") {
      output.err(`oris: ${error.message}`);
      result.code = 3;
    } else {
      output.err(`oris: ${error instanceof Error ? error.message : String(error)}`);
      result.code = 1;
    }
  }
  return result;
}

function noArguments(command: string, rest: string[]): void {
  if (rest.length > 0) throw new UsageError(`${command} takes no arguments, got "${rest[0]}"`);
}

if (import.meta.main) {
  const terminal = Deno.stdout.isTerminal();
  const statusLine = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const result = await runCli(Deno.args, Deno.env.toObject(), {
    write: (stream, line) => (stream === "stdout" ? console.log : console.error)(line),
    status: (line) => {
      if (statusLine) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    },
    color: terminal,
  });
  Deno.exit(result.code);
}
