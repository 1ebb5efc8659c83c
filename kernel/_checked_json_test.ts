import assert from "node:assert/strict";
import { isCheckedJson, markCheckedJson } from "./_checked_json.ts";

Deno.test("markCheckedJson marks the value itself: no copy of it is marked, JSON and equality do not see it", () => {
  const event = markCheckedJson({ type: "run.completed", v: 1, at: 3 });
  assert.equal(isCheckedJson(event), true);
  assert.equal(markCheckedJson(event), event, "marked twice: still the same value");
  assert.equal(isCheckedJson(event), true);
  assert.equal(isCheckedJson({ ...event }), false);
  assert.equal(isCheckedJson(structuredClone(event)), false);
  assert.equal(isCheckedJson(JSON.parse(JSON.stringify(event))), false);
  assert.equal(JSON.stringify(event), '{"type":"run.completed","v":1,"at":3}');
  assert.deepStrictEqual(event, { type: "run.completed", v: 1, at: 3 });
  assert.deepEqual(Object.getOwnPropertySymbols(event), []);
  assert.equal(isCheckedJson({ type: "run.completed", v: 1, at: 3 }), false);
  assert.equal(isCheckedJson(null), false);
  assert.equal(isCheckedJson("text"), false);
});

Deno.test("markCheckedJson leaves a value that cannot be extended unmarked (it is checked where it is encoded)", () => {
  const frozen = Object.freeze({ type: "run.completed", v: 1, at: 3 });
  assert.equal(markCheckedJson(frozen), frozen);
  assert.equal(isCheckedJson(frozen), false);
});
