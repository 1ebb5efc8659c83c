/**
 * Tools an agent's model can call: {@linkcode tool} makes one from a zod
 * schema and a function; `mcpTools` makes them from an MCP server.
 *
 * @module
 */

import { z } from "zod";
import { InvalidArgumentError, type JsonObject } from "../mod.ts";
import type { ToolDefinition } from "./model.ts";

/** What a tool gets besides its arguments. */
export interface ToolContext {
  /** Fires when the run is cancelled. */
  readonly signal: AbortSignal;
  /** The run. */
  readonly threadId: string;
  /** The id of the model's tool call this run answers. */
  readonly callId: string;
  /**
   * A key unique to this tool call and stable across recovery, resume,
   * takeover and retries: pass it to a service that deduplicates requests,
   * so a call repeated after a crash (before its result was journaled) is
   * not done twice.
   */
  readonly idempotencyKey: string;
  /**
   * Runs one of the tool's own steps as a journaled effect (see the node
   * context's `effect`): once done, it is not done again when the tool runs
   * again after a crash.
   *
   * @param name A stable name.
   * @param fn The step; its result must be JSON.
   * @returns Its (journaled) result.
   */
  effect<T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T>;
}

/** A tool an agent can call. Make one with {@linkcode tool} or `mcpTools`. */
export interface Tool extends ToolDefinition {
  /**
   * Whether a failure of this tool fails the run (otherwise it becomes an
   * observation the model sees).
   */
  readonly fatal: boolean;
  /**
   * Checks the model's arguments, before anything runs.
   *
   * @param args The arguments the model gave.
   * @returns The arguments as the tool takes them.
   * @throws {InvalidArgumentError} saying what is wrong with them.
   */
  parse(args: JsonObject): unknown;
  /**
   * Runs the tool.
   *
   * @param args The parsed arguments.
   * @param ctx The run's signal and id, the call's idempotency key, and journaled steps.
   * @returns Its result: a string, or anything JSON (shown to the model as JSON).
   */
  run(args: unknown, ctx: ToolContext): Promise<unknown>;
}

/**
 * What {@linkcode tool} needs of a zod schema (`z.object(...)`): its
 * `safeParse`. (It also reads the schema's JSON Schema with `z.toJSONSchema`.)
 *
 * @typeParam T The arguments' type once parsed.
 */
export interface ArgumentsSchema<T> {
  /**
   * Parses the model's arguments.
   *
   * @param data The arguments.
   * @returns The parsed arguments, or the issues.
   */
  safeParse(data: unknown):
    | { success: true; data: T }
    | {
      success: false;
      error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
    };
}

/**
 * Options of {@linkcode tool}.
 *
 * @typeParam T The arguments' type, from the schema.
 */
export interface ToolOptions<T> {
  /** The name the model calls it by: letters, digits, `_` and `-`, at most 64. */
  name: string;
  /** What it does, for the model. */
  description: string;
  /** The arguments (a zod object schema); the model is sent its JSON Schema. */
  schema: ArgumentsSchema<T>;
  /**
   * Does the work.
   *
   * @param args The arguments, checked by `schema`.
   * @param ctx The run's signal and id, the call's idempotency key, and journaled steps.
   * @returns A string, or anything JSON.
   */
  run(args: T, ctx: ToolContext): unknown;
  /**
   * Fail the run when the tool throws, instead of showing the model the error.
   * @default {false}
   */
  fatal?: boolean;
}

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Checks a tool's name.
 *
 * @param name The name.
 * @throws {InvalidArgumentError} for a name providers refuse.
 */
export function checkToolName(name: string): void {
  if (typeof name !== "string" || !TOOL_NAME.test(name)) {
    throw new InvalidArgumentError(
      `Cannot define tool ${JSON.stringify(name)}: a name is 1 to 64 letters, digits, "_" or "-"`,
      { field: "name" },
    );
  }
}

/**
 * Makes a tool from a zod schema and a function. The model's arguments are
 * checked by the schema before `run`: a call with bad arguments becomes an
 * error the model sees, never a crash.
 *
 * @typeParam T The arguments' type, from the schema.
 * @param options Name, description, schema, `run`, and whether a failure is fatal.
 * @returns The tool.
 * @throws {InvalidArgumentError} for a bad name or a schema that is not an object.
 *
 * @example A tool with a checked argument
 * ```ts
 * import { tool } from "./mod.ts";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const weather = tool({
 *   name: "get_weather",
 *   description: "The weather in a city",
 *   schema: z.object({ city: z.string().describe("The city") }),
 *   run: ({ city }) => `Sunny in ${city}`,
 * });
 * assert.deepEqual(weather.parameters.required, ["city"]);
 * assert.throws(() => weather.parse({ city: 3 }), /city: Invalid input: expected string/);
 * ```
 */
export function tool<T>(options: ToolOptions<T>): Tool {
  const { name, description, schema, run, fatal = false } = options;
  checkToolName(name);
  if (!(schema instanceof z.ZodType)) {
    throw new InvalidArgumentError(`Cannot define tool "${name}": schema must be a zod schema`, {
      field: "schema",
    });
  }
  if (typeof run !== "function") {
    throw new InvalidArgumentError(`Cannot define tool "${name}": run must be a function`, {
      field: "run",
    });
  }
  const { $schema: _, ...parameters } = z.toJSONSchema(schema as z.ZodType) as JsonObject;
  if (parameters.type !== "object") {
    throw new InvalidArgumentError(
      `Cannot define tool "${name}": its schema must be an object (z.object), not ${
        JSON.stringify(parameters.type ?? "any")
      }`,
      { field: "schema" },
    );
  }
  return {
    name,
    description: String(description ?? ""),
    parameters,
    fatal,
    parse(args: JsonObject): unknown {
      const result = schema.safeParse(args);
      if (result.success) return result.data;
      const problems = result.error.issues
        .map((issue) => `${issue.path.join(".") || "(arguments)"}: ${issue.message}`)
        .join("; ");
      throw new InvalidArgumentError(`Invalid arguments for tool "${name}": ${problems}`);
    },
    async run(args: unknown, ctx: ToolContext): Promise<unknown> {
      return await run(args as T, ctx);
    },
  };
}
