/**
 * JSON values: their types, a strict encoder that refuses anything JSON cannot
 * carry faithfully, a canonical form for hashing, and deep equality.
 *
 * @module
 */

import { InvalidArgumentError } from "./errors.ts";

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  /** A member. */
  [key: string]: Json;
}

/**
 * How deeply a JSON value accepted from outside may nest, by default: an
 * array or object counts one level, so `1` is 0 levels deep, `{"a": [1]}` 2.
 * Values deeper than the limit are refused before any recursive work
 * (validators, hashing, reducers) touches them, so a deep value is a clear
 * `invalid_argument` error, never a stack overflow. A runtime's limit is its
 * `maxJsonDepth` option (the server's `ORIS_MAX_JSON_DEPTH`).
 */
export const DEFAULT_MAX_JSON_DEPTH = 256;

/**
 * The highest nesting limit a runtime may be given: deeper values would
 * overflow the stack of recursive code that handles accepted values (schema
 * validators, canonical hashing, equality).
 */
export const MAX_JSON_DEPTH_LIMIT = 1000;

/** Options of {@linkcode assertJson}. */
export interface JsonCheckOptions {
  /**
   * The deepest nesting accepted (`Infinity`: no limit, only what JSON can
   * carry is checked).
   * @default {256}
   */
  maxDepth?: number;
}

/**
 * Encodes `value` as JSON text, refusing what JSON cannot carry faithfully:
 * functions, symbols, `BigInt`, `NaN` and infinities, cycles, `undefined`
 * inside arrays or at the top, and objects that are not plain (`Date`, `Map`,
 * class instances). Object properties whose value is `undefined` are left out,
 * as `JSON.stringify` does. It sets no nesting limit: what it encodes was
 * accepted (with {@linkcode assertJson}'s limit) before.
 *
 * @param value The value to encode.
 * @param what What the value is, for the error message (e.g. `state`).
 * @returns The JSON text.
 * @throws {InvalidArgumentError} naming the JSON path of the first bad value.
 *
 * @example Refuse a BigInt
 * ```ts
 * import { encodeJson } from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeJson({ a: [1, "x"] }, "state"), '{"a":[1,"x"]}');
 * assert.throws(() => encodeJson({ n: 1n }, "state"), /state\.n is a bigint/);
 * ```
 */
export function encodeJson(value: unknown, what: string): string {
  assertJson(value, what, UNLIMITED);
  return JSON.stringify(value);
}

const UNLIMITED: JsonCheckOptions = { maxDepth: Infinity };

/**
 * Checks that `value` is JSON in the sense of {@linkcode encodeJson}, nested
 * at most `maxDepth` levels (see {@linkcode DEFAULT_MAX_JSON_DEPTH}). The
 * check is iterative: a value of any depth (a cycle too) is an error, never
 * a stack overflow. This is the check of every JSON value Oris accepts:
 * request bodies, run input, node updates, effect results, interrupt and
 * resume values, state edits.
 *
 * @param value The value to check.
 * @param what What the value is, for the error message.
 * @param options The nesting limit.
 * @throws {InvalidArgumentError} naming the JSON path of the first bad value,
 * or the nesting limit (with `details.max_depth`).
 *
 * @example
 * ```ts
 * import { assertJson } from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => assertJson([1, undefined], "input"), /input\[1\] is undefined/);
 * assert.throws(() => assertJson([[[1]]], "input", { maxDepth: 2 }), /more than 2 levels deep/);
 * ```
 */
export function assertJson(
  value: unknown,
  what: string,
  options: JsonCheckOptions = {},
): asserts value is Json {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  if (isJsonFast(value, Math.min(maxDepth, FAST_CHECK_MAX_DEPTH))) return;
  const problem = findNonJson(value, what, maxDepth);
  if (problem === null) return;
  if (problem.kind === TOO_DEEP) {
    throw new InvalidArgumentError(
      `Cannot accept ${what}: it is nested more than ${maxDepth} levels deep (the JSON nesting limit)`,
      { details: { max_depth: maxDepth } },
    );
  }
  throw new InvalidArgumentError(`Cannot store ${what}: ${problem.path} is ${problem.kind}`, {
    field: problem.path,
  });
}

/**
 * Checks a configured nesting limit: a whole number from 1 to
 * {@linkcode MAX_JSON_DEPTH_LIMIT}.
 *
 * @param value The limit.
 * @param field The setting's name, for the error message.
 * @returns The limit.
 * @throws {InvalidArgumentError} for anything else.
 *
 * @example
 * ```ts
 * import { checkMaxJsonDepth } from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkMaxJsonDepth(64, "maxJsonDepth"), 64);
 * assert.throws(() => checkMaxJsonDepth(0, "maxJsonDepth"), /from 1 to 1000/);
 * ```
 */
export function checkMaxJsonDepth(value: unknown, field: string): number {
  if (
    !Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_JSON_DEPTH_LIMIT
  ) {
    throw new InvalidArgumentError(
      `${field} must be a whole number from 1 to ${MAX_JSON_DEPTH_LIMIT}, got ${String(value)}`,
      { field },
    );
  }
  return value as number;
}

/**
 * Nesting deeper than this is left to `findNonJson` (which also detects
 * cycles): the fast check keeps no set of the objects it is inside, so a
 * cycle shows up as nesting past it.
 */
const FAST_CHECK_MAX_DEPTH = 256;

/** Whether a value is a JSON scalar (a leaf that needs no further walk). */
function isJsonScalar(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      return value === null;
    default:
      return false;
  }
}

/** Whether a value is an array or a plain object (one that JSON can carry). */
function isJsonContainer(value: unknown): value is object {
  if (typeof value !== "object" || value === null) return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The hot path of {@linkcode assertJson}: the same checks with no path
 * strings and no cycle set, recursive but bounded by `maxDepth` (at most
 * {@linkcode FAST_CHECK_MAX_DEPTH} frames), so that it allocates nothing.
 * Nesting past `maxDepth` and anything it does not accept goes to
 * `findNonJson`, which finds and names the problem.
 */
function isJsonFast(value: unknown, maxDepth: number): boolean {
  if (isJsonScalar(value)) return true;
  return isJsonContainer(value) && maxDepth >= 1 && isJsonInside(value, maxDepth - 1);
}

/** Whether a container's children are JSON, nested at most `depthLeft` more levels. */
function isJsonInside(container: object, depthLeft: number): boolean {
  if (Array.isArray(container)) {
    for (let i = 0; i < container.length; i++) {
      const child: unknown = container[i];
      if (isJsonScalar(child)) continue;
      if (!isJsonContainer(child) || depthLeft < 1 || !isJsonInside(child, depthLeft - 1)) {
        return false;
      }
    }
    return true;
  }
  // `for...in` allocates no key array; `hasOwn` keeps it to own keys, as `Object.keys`.
  for (const key in container) {
    if (!Object.hasOwn(container, key)) continue;
    const child = (container as Record<string, unknown>)[key];
    if (child === undefined || isJsonScalar(child)) continue;
    if (!isJsonContainer(child) || depthLeft < 1 || !isJsonInside(child, depthLeft - 1)) {
      return false;
    }
  }
  return true;
}

const TOO_DEEP = "nested too deep";

interface NonJson {
  path: string;
  kind: string;
}

/** A container being walked by `findNonJson`: its children by key, and where the walk is. */
interface Frame {
  object: object;
  path: string;
  depth: number;
  keys: readonly string[] | null;
  next: number;
}

/**
 * Finds the first value JSON cannot carry (in key order), a cycle, or
 * nesting past `maxDepth`, with its path; depth-first on an explicit stack,
 * keeping the containers it is inside to tell a cycle from a shared value.
 */
function findNonJson(root: unknown, rootPath: string, maxDepth: number): NonJson | null {
  const inside = new Set<object>();
  const stack: Frame[] = [];
  /** Checks a value; enters it when it is a container. */
  function visit(value: unknown, path: string, depth: number): NonJson | null {
    const problem = describeNonJson(value);
    if (problem !== null) return { path, kind: problem };
    if (typeof value !== "object" || value === null) return null;
    if (inside.has(value)) return { path, kind: "a cycle" };
    if (depth + 1 > maxDepth) return { path, kind: TOO_DEEP };
    inside.add(value);
    stack.push({
      object: value,
      path,
      depth: depth + 1,
      keys: Array.isArray(value) ? null : Object.keys(value),
      next: 0,
    });
    return null;
  }
  const first = visit(root, rootPath, 0);
  if (first !== null) return first;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    let found: NonJson | null = null;
    if (frame.keys === null) {
      const array = frame.object as unknown[];
      if (frame.next < array.length) {
        const i = frame.next++;
        found = visit(array[i], `${frame.path}[${i}]`, frame.depth);
      } else {
        stack.pop();
        inside.delete(frame.object);
      }
    } else if (frame.next < frame.keys.length) {
      const key = frame.keys[frame.next++]!;
      const child = (frame.object as Record<string, unknown>)[key];
      if (child !== undefined) found = visit(child, `${frame.path}.${key}`, frame.depth);
    } else {
      stack.pop();
      inside.delete(frame.object);
    }
    if (found !== null) return found;
  }
  return null;
}

/** What a value is when JSON cannot carry it (`null` for JSON scalars and containers). */
function describeNonJson(value: unknown): string | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : String(value);
    case "undefined":
      return "undefined";
    case "bigint":
    case "symbol":
    case "function":
      return `a ${typeof value}`;
  }
  if (value === null || isJsonContainer(value)) return null;
  const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
  return `a ${kind} (only plain objects are JSON)`;
}

/**
 * Encodes a JSON value with object keys sorted, so that equal values have
 * equal text. Used for payload hashes.
 *
 * @param value A JSON value.
 * @returns Its canonical JSON text.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(canonicalJson({ b: 1, a: [true, null] }), '{"a":[true,null],"b":1}');
 * ```
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) text += ",";
      text += canonicalJson(value[i]!);
    }
    return `${text}]`;
  }
  const keys = Object.keys(value);
  // Objects built in key order (most are small) need no sort.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys.sort();
      break;
    }
  }
  let text = "{";
  for (const key of keys) {
    const item = value[key];
    if (item === undefined) continue;
    if (text.length > 1) text += ",";
    text += `${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${text}}`;
}

/**
 * Deep equality of JSON values (object key order does not matter; a property
 * whose value is `undefined` counts as absent).
 *
 * @param a A JSON value.
 * @param b Another.
 * @returns Whether they are equal.
 *
 * @example
 * ```ts
 * import { jsonEqual } from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(jsonEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }));
 * assert.ok(!jsonEqual([1, 2], [2, 1]));
 * ```
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const aKeys = Object.keys(ao).filter((key) => ao[key] !== undefined);
  const bKeys = Object.keys(bo).filter((key) => bo[key] !== undefined);
  if (aKeys.length !== bKeys.length) return false;
  for (const key of aKeys) {
    if (!Object.hasOwn(bo, key) || !jsonEqual(ao[key], bo[key])) return false;
  }
  return true;
}

/**
 * Checks that `value` is a plain JSON object (not an array, not null).
 *
 * @param value Anything.
 * @returns Whether it is a JSON object.
 *
 * @example
 * ```ts
 * import { isJsonObject } from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isJsonObject({}));
 * assert.ok(!isJsonObject([]));
 * ```
 */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
