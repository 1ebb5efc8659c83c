import assert from "node:assert/strict";
import { applyJsonDelta, diffJson } from "../kernel/mod.ts";
import { jsonChanges } from "./json_changes.ts";

Deno.test("jsonChanges() lists additions, removals and replacements by path", () => {
  const before = { n: 1, gone: true, list: [1, 2, 3], deep: { a: { b: "x" } } };
  const after = { n: 2, list: [1, 5], deep: { a: { b: "x", c: null } }, fresh: [1] };
  assert.deepEqual(jsonChanges(before, after), [
    { path: ["n"], op: "replace", before: 1, after: 2 },
    { path: ["list", 1], op: "replace", before: 2, after: 5 },
    { path: ["list", 2], op: "remove", before: 3 },
    { path: ["deep", "a", "c"], op: "add", after: null },
    { path: ["fresh"], op: "add", after: [1] },
    { path: ["gone"], op: "remove", before: true },
  ]);
  // The kernel's delta agrees: the changes are read off it.
  assert.deepEqual(applyJsonDelta(before, diffJson(before, after)!), after);
});

Deno.test("jsonChanges() of equal values is empty, of a replaced root one change", () => {
  assert.deepEqual(jsonChanges({ a: [1] }, { a: [1] }), []);
  assert.deepEqual(jsonChanges(1, "x"), [{ path: [], op: "replace", before: 1, after: "x" }]);
});
