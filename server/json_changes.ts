/**
 * The changes between two JSON values as a flat list (what a console or a
 * CLI shows as a diff), read off the kernel's structural delta
 * ({@linkcode diffJson}): each change has a path, an op (`add`, `remove`,
 * `replace`) and the values before and after.
 *
 * @module
 */

import { diffJson, type Json, type JsonDelta } from "../kernel/mod.ts";

/** One change: at `path`, `before` became `after` (absent when added or removed). */
export interface JsonChange {
  /** Keys and indexes from the root. */
  path: (string | number)[];
  /** What happened there. */
  op: "add" | "remove" | "replace";
  /** The value before (not for `add`). */
  before?: Json;
  /** The value after (not for `remove`). */
  after?: Json;
}

/**
 * The changes that turn `before` into `after`, in document order.
 *
 * @param before The old value.
 * @param after The new value.
 * @returns The changes (empty when equal).
 *
 * @example
 * ```ts
 * import { jsonChanges } from "./json_changes.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(jsonChanges({ a: 1, log: ["x"] }, { log: ["x", "y"] }), [
 *   { path: ["log", 1], op: "add", after: "y" },
 *   { path: ["a"], op: "remove", before: 1 },
 * ]);
 * ```
 */
export function jsonChanges(before: Json, after: Json): JsonChange[] {
  const delta = diffJson(before, after);
  const changes: JsonChange[] = [];
  if (delta !== null) walk(before, after, delta, [], changes);
  return changes;
}

function walk(
  before: Json | undefined,
  after: Json,
  delta: JsonDelta,
  path: (string | number)[],
  out: JsonChange[],
): void {
  if ("$set" in delta) {
    out.push(
      before === undefined
        ? { path, op: "add", after: delta.$set }
        : { path, op: "replace", before, after: delta.$set },
    );
    return;
  }
  if ("$obj" in delta) {
    const old = (before ?? {}) as Record<string, Json>;
    const next = after as Record<string, Json>;
    for (const [key, inner] of Object.entries(delta.$obj)) {
      walk(Object.hasOwn(old, key) ? old[key] : undefined, next[key]!, inner, [...path, key], out);
    }
    for (const key of delta.$del ?? []) {
      out.push({ path: [...path, key], op: "remove", before: old[key]! });
    }
    return;
  }
  const old = (before ?? []) as Json[];
  const next = after as Json[];
  for (const [index, inner] of delta.$arr) {
    walk(index < old.length ? old[index] : undefined, next[index]!, inner, [...path, index], out);
  }
  for (let index = delta.$len; index < old.length; index++) {
    out.push({ path: [...path, index], op: "remove", before: old[index]! });
  }
}
