/**
 * State schemas: a graph's state is an object of channels, each with an
 * optional default, an optional reducer that merges updates (without one,
 * the last write wins) and an optional schema that every update written to
 * it must satisfy.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import { assertJson, isJsonObject } from "../json.ts";
import type { StandardSchema, StandardSchemaIssue } from "./standard_schema.ts";

/**
 * One channel of the state. Declared with method syntax so that channels of
 * specific types fit a schema of unknown ones.
 *
 * @typeParam T The channel's value.
 * @typeParam U What an update to it carries (for a reducer channel).
 */
export interface ChannelSpec<T = unknown, U = T> {
  /** The value before any update (default: `null`). */
  default?(): T;
  /** Merges an update into the current value (default: replace). */
  reducer?(current: T, update: U): T;
  /**
   * Checks every update written to the channel (a run's input, `updateState`,
   * node updates) before its reducer; without a reducer, that is the
   * channel's value. Any synchronous Standard Schema validator (zod,
   * Valibot, ArkType): its output is what is merged. An invalid update is an
   * `invalid_argument` error naming the channel (and the node that wrote
   * it); the default is not checked. Without a schema, any JSON is accepted.
   */
  schema?: StandardSchema<unknown, U>;
}

/** A state's channels by name. */
export type StateSpec = Record<string, ChannelSpec<unknown, unknown>>;

/** The value type of a channel (a channel with a schema and no default starts `null`). */
export type ChannelValue<C> = C extends { default(): infer T } ? T
  : C extends { reducer(current: infer T, update: infer _U): unknown } ? T
  : C extends { schema: StandardSchema<infer _I, infer O> } ? O | null
  : unknown;

/** The update type of a channel. */
export type ChannelUpdate<C> = C extends { reducer(current: infer _T, update: infer U): unknown }
  ? U
  : C extends { schema: StandardSchema<infer I, infer _O> } ? I
  : ChannelValue<C>;

/** The state object of a spec. */
export type StateOf<S extends StateSpec> = { [K in keyof S]: ChannelValue<S[K]> };

/** A partial update of a spec's state. */
export type UpdateOf<S extends StateSpec> = { [K in keyof S]?: ChannelUpdate<S[K]> };

/** A defined state: its channels, initial value and merge. See {@linkcode defineState}. */
export interface StateSchema<S extends StateSpec = StateSpec> {
  /** The channels. */
  readonly spec: S;
  /** The channel names, in declaration order. */
  readonly keys: readonly string[];
  /**
   * The initial state: every channel's default, then `input` merged as an update.
   *
   * @param input The caller's input, if any.
   */
  initial(input?: unknown): StateOf<S>;
  /**
   * Merges updates in order through the reducers. Pure: `state` is not modified.
   *
   * @param state The current state.
   * @param updates Updates, each tagged with who made it (for error messages).
   * @throws {InvalidArgumentError} for an update that is not an object, names
   * an unknown channel, is not JSON, or fails a channel's schema.
   */
  merge(state: StateOf<S>, updates: readonly { source: string; update: unknown }[]): StateOf<S>;
  /**
   * Checks an update without merging it, as {@linkcode StateSchema.merge}
   * does: an object of known channels, JSON, each value valid for its
   * channel's schema (`null` and `undefined` are no update).
   *
   * @param update The update.
   * @param source Who made it, for error messages (e.g. `input`, `node "a"`).
   * @returns The update with each schema's output, or `null` for no update.
   * @throws {InvalidArgumentError} as `merge` does.
   */
  parseUpdate(update: unknown, source: string): Record<string, unknown> | null;
}

/**
 * Defines a graph's state from its channels.
 *
 * @typeParam S The channels.
 * @param spec Each channel's default and reducer.
 * @returns The schema.
 *
 * @example A counter, a log and a last-write-wins field
 * ```ts
 * import { defineState } from "./state.ts";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({
 *   count: { default: () => 0, reducer: (a: number, b: number) => a + b },
 *   log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
 *   last: { default: () => "" },
 * });
 * const state = State.merge(State.initial({ count: 1 }), [
 *   { source: "a", update: { count: 2, log: ["a"] } },
 *   { source: "b", update: { last: "b" } },
 * ]);
 * assert.deepEqual(state, { count: 3, log: ["a"], last: "b" });
 * ```
 *
 * @example A typed channel (any Standard Schema validator; zod here)
 * ```ts
 * import { defineState } from "./state.ts";
 * import { z } from "zod";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({ request: { schema: z.string(), default: () => "" } });
 * assert.deepEqual(State.initial({ request: "order 42" }), { request: "order 42" });
 * assert.throws(() => State.initial({ request: 42 }), {
 *   code: "invalid_argument",
 *   message: 'Cannot apply the update of input: channel "request" is not valid: Invalid input: expected string, received number',
 * });
 * ```
 */
export function defineState<S extends StateSpec>(spec: S): StateSchema<S> {
  const keys = Object.keys(spec);
  for (const key of keys) {
    const channel = spec[key];
    if (typeof channel !== "object" || channel === null) {
      throw new InvalidArgumentError(`Cannot define state: channel "${key}" must be an object`, {
        field: key,
      });
    }
    if (channel.reducer !== undefined && typeof channel.reducer !== "function") {
      throw new InvalidArgumentError(
        `Cannot define state: the reducer of "${key}" must be a function`,
        {
          field: key,
        },
      );
    }
    if (
      channel.schema !== undefined &&
      typeof (channel.schema as Partial<StandardSchema>)?.["~standard"]?.validate !== "function"
    ) {
      throw new InvalidArgumentError(
        `Cannot define state: the schema of "${key}" must be a Standard Schema (e.g. a zod schema)`,
        { field: key },
      );
    }
  }
  const schema: StateSchema<S> = {
    spec,
    keys,
    initial(input?: unknown): StateOf<S> {
      const state: Record<string, unknown> = {};
      for (const key of keys) state[key] = spec[key]!.default?.() ?? null;
      const initial = state as StateOf<S>;
      return input === undefined || input === null
        ? initial
        : schema.merge(initial, [{ source: "input", update: input }]);
    },
    merge(state, updates) {
      let next: Record<string, unknown> | null = null;
      for (const { source, update } of updates) {
        const parsed = schema.parseUpdate(update, source);
        if (parsed === null) continue;
        for (const key of Object.keys(parsed)) {
          const value = parsed[key];
          if (value === undefined) continue;
          const reducer = spec[key]!.reducer;
          next ??= { ...state };
          next[key] = reducer === undefined ? value : reducer(next[key], value);
        }
      }
      return (next ?? state) as StateOf<S>;
    },
    parseUpdate(update, source) {
      if (update === undefined || update === null) return null;
      if (!isJsonObject(update)) {
        throw new InvalidArgumentError(
          `Cannot apply the update of ${source}: it must be an object of channels, got ${
            describe(update)
          }`,
        );
      }
      let parsed: Record<string, unknown> | null = null;
      for (const key of Object.keys(update)) {
        const value = (update as Record<string, unknown>)[key];
        if (value === undefined) continue;
        const channel = spec[key];
        if (channel === undefined) {
          throw new InvalidArgumentError(
            `Cannot apply the update of ${source}: unknown channel "${key}" (channels: ${
              keys.join(", ")
            })`,
            { field: key },
          );
        }
        const what = `channel "${key}" in the update of ${source}`;
        // Nesting was limited where the value was accepted (the runtime's limit).
        assertJson(value, what, UNLIMITED);
        if (channel.schema === undefined) continue;
        const output = validateStandard(channel.schema, value, {
          action: `Cannot apply the update of ${source}`,
          subject: `channel "${key}"`,
          field: key,
        });
        if (output !== value) {
          assertJson(output, `the output of the schema of ${what}`, UNLIMITED);
          parsed ??= { ...update };
          parsed[key] = output;
        }
      }
      return parsed ?? update;
    },
  };
  return schema;
}

const UNLIMITED = { maxDepth: Infinity };

function describe(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? "a string" : typeof value;
}

/** What a failed validation is about, for its error. */
interface ValidationSubject {
  /** What could not be done, e.g. `Cannot apply the update of node "a"`. */
  action: string;
  /** What was validated, e.g. `channel "request"`. */
  subject: string;
  /** The field the error names (`details.field`). */
  field: string;
}

/**
 * Validates a value with a Standard Schema, synchronously: its output, or an
 * `InvalidArgumentError` with the first issue in the message and all of
 * them in `details.issues`. A schema that validates asynchronously (returns
 * a Promise) is refused: state is validated while a step is planned, which
 * is synchronous.
 */
function validateStandard(
  schema: StandardSchema,
  value: unknown,
  about: ValidationSubject,
): unknown {
  const result = schema["~standard"].validate(value);
  if (isPromiseLike(result)) {
    // Its outcome is not waited for: the error below is the answer.
    result.then(undefined, () => {});
    throw new InvalidArgumentError(
      `${about.action}: the schema of ${about.subject} validates asynchronously (state schemas must be synchronous)`,
      { field: about.field },
    );
  }
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map((issue) => ({ path: issuePath(issue), message: issue.message }));
  const first = issues[0];
  const where = first === undefined || first.path === "" ? "" : ` at ${first.path}`;
  throw new InvalidArgumentError(
    `${about.action}: ${about.subject}${where} is not valid: ${
      first?.message ?? "the schema refused it"
    }`,
    { field: about.field, details: { issues } },
  );
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}

/** An issue's path as text: `items[0].name`. */
function issuePath(issue: StandardSchemaIssue): string {
  let text = "";
  for (const segment of issue.path ?? []) {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment;
    text += typeof key === "number" ? `[${key}]` : text === "" ? String(key) : `.${String(key)}`;
  }
  return text;
}
