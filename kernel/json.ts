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
 * Encodes `value` as JSON text, refusing what JSON cannot carry faithfully:
 * functions, symbols, `BigInt`, `NaN` and infinities, cycles, `undefined`
 * inside arrays or at the top, and objects that are not plain (`Date`, `Map`,
 * class instances). Object properties whose value is `undefined` are left out,
 * as `JSON.stringify` does.
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
  assertJson(value, what);
  return JSON.stringify(value);
}

/**
 * Checks that `value` is JSON in the sense of {@linkcode encodeJson}.
 *
 * @param value The value to check.
 * @param what What the value is, for the error message.
 * @throws {InvalidArgumentError} naming the JSON path of the first bad value.
 *
 * @example
 * ```ts
 * import { assertJson } from "./json.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => assertJson([1, undefined], "input"), /input\[1\] is undefined/);
 * ```
 */
export function assertJson(value: unknown, what: string): asserts value is Json {
  if (isJsonFast(value, 0)) return;
  const problem = findNonJson(value, what, new Set());
  if (problem !== null) {
    throw new InvalidArgumentError(`Cannot store ${what}: ${problem.path} is ${problem.kind}`, {
      field: problem.path,
    });
  }
}

/** Nesting deeper than this is left to `findNonJson` (which also detects cycles). */
const FAST_CHECK_MAX_DEPTH = 256;

/**
 * The hot path of {@linkcode assertJson}: the same checks with no path strings
 * and no cycle set, so valid values cost one walk and no allocation. A cycle
 * shows up as nesting past {@linkcode FAST_CHECK_MAX_DEPTH}; anything it does
 * not accept goes to `findNonJson`, which finds and names the problem.
 */
function isJsonFast(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth >= FAST_CHECK_MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!isJsonFast(value[i], depth + 1)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  // `for...in` allocates no key array; `hasOwn` keeps it to own keys, as `Object.keys`.
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const child = (value as Record<string, unknown>)[key];
    if (child !== undefined && !isJsonFast(child, depth + 1)) return false;
  }
  return true;
}

interface NonJson {
  path: string;
  kind: string;
}

function findNonJson(value: unknown, path: string, seen: Set<object>): NonJson | null {
  switch (typeof value) {
    case "string":
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : { path, kind: String(value) };
    case "undefined":
      return { path, kind: "undefined" };
    case "bigint":
    case "symbol":
    case "function":
      return { path, kind: `a ${typeof value}` };
  }
  if (value === null) return null;
  const object = value as object;
  if (seen.has(object)) return { path, kind: "a cycle" };
  if (Array.isArray(object)) {
    seen.add(object);
    for (let i = 0; i < object.length; i++) {
      const found = findNonJson(object[i], `${path}[${i}]`, seen);
      if (found !== null) return found;
    }
    seen.delete(object);
    return null;
  }
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const kind = (object as { constructor?: { name?: string } }).constructor?.name ?? "object";
    return { path, kind: `a ${kind} (only plain objects are JSON)` };
  }
  seen.add(object);
  for (const key of Object.keys(object)) {
    const child = (object as Record<string, unknown>)[key];
    if (child === undefined) continue;
    const found = findNonJson(child, `${path}.${key}`, seen);
    if (found !== null) return found;
  }
  seen.delete(object);
  return null;
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
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).filter((key) => value[key] !== undefined).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(",")}}`;
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
