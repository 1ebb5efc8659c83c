/**
 * How a CLI command is declared ({@linkcode CommandSpec}: its flags, help
 * and examples) and run: flags parsed with `node:util` `parseArgs` (an
 * unknown flag or a missing argument is a usage error, exit code 2), `--help`
 * for every command, and the connection flags of the operator commands.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type ClientOptions,
  clientOptions,
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  UsageError,
} from "./_http.ts";
import type { Output } from "./_output.ts";

/** What a command runs with. */
export interface Context {
  /** The environment. */
  env: Record<string, string | undefined>;
  /** Where it writes. */
  output: Output;
  /** The fetch it uses. */
  fetch: typeof fetch;
  /** Reads stdin whole (`--input -`). */
  readStdin(): Promise<string>;
}

/** A flag of a command. */
export interface FlagSpec {
  /** Its type. */
  type: "string" | "boolean";
  /** Whether it may be repeated. */
  multiple?: boolean;
}

/** What a command was given. */
export interface Invocation {
  /** The flags. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** The arguments. */
  positionals: string[];
  /** The server and credentials (operator commands). */
  client: ClientOptions;
  /** `--json`. */
  json: boolean;
}

/** A command of the CLI. */
export interface CommandSpec {
  /** Its name. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The usage line after `oris `. */
  usage: string;
  /** Its flags (besides `--help`, and the connection flags of operator commands). */
  flags?: Record<string, FlagSpec>;
  /** Help lines of its flags. */
  flagHelp?: string[];
  /** Example invocations. */
  examples: string[];
  /** Whether it talks to a server (connection flags and `--json`). */
  remote: boolean;
  /** How many arguments it takes. */
  args: { min: number; max: number };
  /** Runs it; resolves with the exit code. */
  run(ctx: Context, invocation: Invocation): Promise<number>;
}

/**
 * A command's help.
 *
 * @param spec The command.
 * @returns The text.
 */
export function commandHelp(spec: CommandSpec): string {
  const flags = [...spec.flagHelp ?? [], ...(spec.remote ? CONNECTION_HELP : [])];
  return [
    `Usage: oris ${spec.usage}`,
    "",
    spec.summary,
    ...(flags.length === 0 ? [] : ["", "Options:", ...flags]),
    "  -h, --help            print this help",
    "",
    "Examples:",
    ...spec.examples.map((example) => `  ${example}`),
  ].join("\n");
}

/**
 * Parses a command's arguments and runs it (or prints its help).
 *
 * @param spec The command.
 * @param args Its arguments.
 * @param ctx The environment and output.
 * @returns The exit code.
 * @throws {UsageError} for an unknown flag, a missing value or a wrong number of arguments.
 */
export async function runCommand(spec: CommandSpec, args: string[], ctx: Context): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        ...spec.flags,
        ...(spec.remote ? { ...CONNECTION_OPTIONS, json: { type: "boolean" } } : {}),
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    // parseArgs adds advice on "--" after the first sentence: one line is enough.
    throw new UsageError(`${spec.name}: ${(error as Error).message.split(". ")[0]}`);
  }
  const values = parsed.values as Invocation["values"];
  if (values.help === true) {
    ctx.output.out(commandHelp(spec));
    return 0;
  }
  const { positionals } = parsed;
  if (positionals.length < spec.args.min) {
    throw new UsageError(
      `${spec.name} needs ${spec.usage.split(" ").slice(1, 1 + spec.args.min).join(" ")}`,
    );
  }
  if (positionals.length > spec.args.max) {
    throw new UsageError(`${spec.name}: unexpected argument "${positionals[spec.args.max]}"`);
  }
  const client = clientOptions(values as Record<string, string>, ctx.env, ctx.fetch);
  return await spec.run(ctx, { values, positionals, client, json: values.json === true });
}

/**
 * Parses a JSON flag value: JSON text, `@file` (its contents) or `-` (stdin).
 *
 * @param ctx Where stdin comes from.
 * @param flag The flag's name (for errors).
 * @param value The value.
 * @returns The parsed value.
 * @throws {UsageError} when it is not JSON, or the file cannot be read.
 */
export async function jsonFlag(ctx: Context, flag: string, value: string): Promise<unknown> {
  let text = value;
  if (value === "-") text = await ctx.readStdin();
  else if (value.startsWith("@")) {
    try {
      text = await Deno.readTextFile(value.slice(1));
    } catch (error) {
      throw new UsageError(
        `--${flag}: cannot read "${value.slice(1)}": ${(error as Error).message}`,
      );
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(
      `--${flag} must be JSON (or @file, or - for stdin), got ${JSON.stringify(text.slice(0, 60))}`,
    );
  }
}

/** A string flag's value, if given. */
export function stringFlag(invocation: Invocation, name: string): string | undefined {
  const value = invocation.values[name];
  return typeof value === "string" ? value : undefined;
}

/**
 * A query string of string flags, each under its own name.
 *
 * @param invocation The flags.
 * @param names Which flags.
 * @returns The query (without `?`).
 */
export function flagQuery(invocation: Invocation, names: readonly string[]): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of names) {
    const value = stringFlag(invocation, name);
    if (value !== undefined) query.set(name, value);
  }
  return query;
}

/** A path segment. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

/**
 * A command's subcommand: its first argument, or the first of `known`.
 *
 * @param positionals The arguments.
 * @param known The subcommands (the first is the default).
 * @param name The command (for errors).
 * @returns The subcommand.
 * @throws {UsageError} for an unknown subcommand.
 */
export function subcommand(positionals: string[], known: readonly string[], name: string): string {
  const sub = positionals[0] ?? known[0]!;
  if (!known.includes(sub)) {
    throw new UsageError(`${name}: unknown subcommand "${sub}" (${known.join(", ")})`);
  }
  return sub;
}

/**
 * A subcommand's argument (the second positional).
 *
 * @param positionals The arguments.
 * @param what What it is (for errors).
 * @param usage The subcommand (for errors).
 * @returns The argument.
 * @throws {UsageError} when it is missing.
 */
export function needs(positionals: string[], what: string, usage: string): string {
  const value = positionals[1];
  if (value === undefined) throw new UsageError(`${usage} needs ${what}`);
  return value;
}
