/**
 * Structural deltas between JSON values. A step's event stores the delta of
 * the run's state, not the whole state, so the bytes written per step stay
 * flat while a conversation grows: appending one message to a list of 200 is
 * a delta of one message.
 *
 * @module
 */

import { InvalidArgumentError } from "./errors.ts";
import { isJsonObject, type Json, type JsonObject } from "./json.ts";

/**
 * A change from one JSON value to another:
 * - `{ $set: v }` replaces the value with `v`;
 * - `{ $obj: { key: delta }, $del?: [keys] }` changes some keys of an object;
 * - `{ $arr: [[index, delta], ...], $len: n }` changes some items of an array
 *   and sets its length (appending is a delta of the new items only).
 */
export type JsonDelta =
  | { $set: Json }
  | { $obj: { [key: string]: JsonDelta }; $del?: string[] }
  | { $arr: [number, JsonDelta][]; $len: number };

/**
 * Computes the delta that turns `before` into `after`, or `null` when they are
 * equal. Items shared by reference are compared in constant time.
 *
 * @param before The old value.
 * @param after The new value.
 * @returns The delta, or `null` if nothing changed.
 *
 * @example An appended message is a delta of one item
 * ```ts
 * import { applyJsonDelta, diffJson } from "./json_delta.ts";
 * import assert from "node:assert/strict";
 *
 * const before = { messages: [{ role: "human", text: "hi" }] };
 * const after = { messages: [...before.messages, { role: "ai", text: "hello" }] };
 * const delta = diffJson(before, after);
 * assert.deepEqual(delta, { $obj: { messages: { $arr: [[1, { $set: { role: "ai", text: "hello" } }]], $len: 2 } } });
 * assert.deepEqual(applyJsonDelta(before, delta!), after);
 * ```
 */
export function diffJson(before: Json, after: Json): JsonDelta | null {
  if (before === after) return null;
  if (Array.isArray(before) && Array.isArray(after)) return diffArray(before, after);
  if (isJsonObject(before) && isJsonObject(after)) return diffObject(before, after);
  if (typeof before !== "object" && before === after) return null;
  return { $set: after };
}

function diffObject(before: JsonObject, after: JsonObject): JsonDelta | null {
  const changed: { [key: string]: JsonDelta } = {};
  let count = 0;
  for (const key of Object.keys(after)) {
    const next = after[key];
    if (next === undefined) continue;
    // Own properties only: `before.constructor` must not find Object's.
    const prev = Object.hasOwn(before, key) ? before[key] : undefined;
    const delta = prev === undefined ? { $set: next } : diffJson(prev, next);
    if (delta !== null) {
      changed[key] = delta;
      count++;
    }
  }
  let removed: string[] | null = null;
  for (const key in before) {
    if (!Object.hasOwn(before, key) || before[key] === undefined) continue;
    if (Object.hasOwn(after, key) && after[key] !== undefined) continue;
    (removed ??= []).push(key);
  }
  if (count === 0 && removed === null) return null;
  return removed === null ? { $obj: changed } : { $obj: changed, $del: removed };
}

function diffArray(before: Json[], after: Json[]): JsonDelta | null {
  const items: [number, JsonDelta][] = [];
  const shared = Math.min(before.length, after.length);
  for (let i = 0; i < shared; i++) {
    // Reducers that append keep the items they had: most items are the same value.
    if (before[i] === after[i]) continue;
    const delta = diffJson(before[i]!, after[i]!);
    if (delta !== null) items.push([i, delta]);
  }
  // A shifted or rewritten array costs more as item deltas than as a value.
  if (items.length > 0 && items.length * 2 > shared) return { $set: after };
  for (let i = shared; i < after.length; i++) items.push([i, { $set: after[i]! }]);
  if (items.length === 0 && before.length === after.length) return null;
  return { $arr: items, $len: after.length };
}

/**
 * Applies a delta made by {@linkcode diffJson}. `before` is not modified;
 * unchanged parts are shared with the result.
 *
 * @param before The old value.
 * @param delta The delta.
 * @returns The new value.
 * @throws {InvalidArgumentError} when `delta` is not a delta.
 *
 * @example
 * ```ts
 * import { applyJsonDelta } from "./json_delta.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(applyJsonDelta({ a: 1, b: 2 }, { $obj: { a: { $set: 3 } }, $del: ["b"] }), { a: 3 });
 * ```
 */
export function applyJsonDelta(before: Json, delta: JsonDelta): Json {
  if (!isJsonObject(delta)) throw notADelta(delta);
  if ("$set" in delta) {
    if (delta.$set === undefined) throw notADelta(delta);
    return delta.$set;
  }
  if ("$obj" in delta) {
    const changes = delta.$obj;
    const removed = delta.$del === undefined ? [] : delta.$del;
    if (
      !isJsonObject(changes) || !Array.isArray(removed) ||
      !removed.every((key) => typeof key === "string")
    ) {
      throw notADelta(delta);
    }
    const result: JsonObject = isJsonObject(before) ? { ...before } : {};
    for (const key of Object.keys(changes)) {
      const value = applyJsonDelta(Object.hasOwn(result, key) ? result[key]! : null, changes[key]!);
      if (key !== "__proto__") {
        result[key] = value;
      } else {
        // Defined, not assigned: a `__proto__` key must stay a plain property.
        Object.defineProperty(result, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    for (const key of removed) delete result[key];
    return result;
  }
  if ("$arr" in delta && Array.isArray(delta.$arr) && Number.isSafeInteger(delta.$len)) {
    const length = delta.$len;
    const base = Array.isArray(before) ? before : [];
    // Items past the old end are all listed, so a valid length is bounded by them.
    if (length < 0 || length > base.length + delta.$arr.length) {
      throw new InvalidArgumentError(`Cannot apply delta: length ${length} is out of range`);
    }
    const result: Json[] = base.slice(0, length);
    for (const entry of delta.$arr) {
      if (!Array.isArray(entry) || entry.length !== 2) throw notADelta(delta);
      const [index, item] = entry;
      if (!Number.isSafeInteger(index) || index < 0 || index >= length) {
        throw new InvalidArgumentError(`Cannot apply delta: index ${index} is out of range`);
      }
      result[index] = applyJsonDelta(result[index] ?? null, item);
    }
    for (let i = 0; i < length; i++) if (result[i] === undefined) result[i] = null;
    return result;
  }
  throw notADelta(delta);
}

function notADelta(delta: unknown): InvalidArgumentError {
  const text = JSON.stringify(delta)?.slice(0, 200) ?? String(delta);
  return new InvalidArgumentError(`Cannot apply delta: ${text} is not a delta`);
}
