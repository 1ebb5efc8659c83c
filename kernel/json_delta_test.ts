import assert from "node:assert/strict";
import { InvalidArgumentError } from "./errors.ts";
import type { Json, JsonObject } from "./json.ts";
import { applyJsonDelta, diffJson, type JsonDelta } from "./json_delta.ts";

// ---------------------------------------------------------------------------
// Helpers

/** A tiny seeded PRNG (mulberry32): the same seed gives the same sequence. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Defines an own enumerable property, even for keys such as `__proto__`. */
function setOwn(object: JsonObject, key: string, value: Json): void {
  Object.defineProperty(object, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Builds an object from entries with own properties only (`__proto__` included). */
function objectOf(entries: [string, Json][]): JsonObject {
  const object: JsonObject = {};
  for (const [key, value] of entries) setOwn(object, key, value);
  return object;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Round-trips `before` → `after` and checks `before` is left alone. */
function assertRoundTrip(before: Json, after: Json, label = ""): JsonDelta | null {
  const snapshot = structuredClone(before);
  const delta = diffJson(before, after);
  const result = delta === null ? before : applyJsonDelta(before, delta);
  assert.deepEqual(result, after, `round trip ${label}: ${JSON.stringify(delta)}`);
  assert.deepEqual(before, snapshot, `before was modified ${label}`);
  // The delta is itself JSON and survives storage.
  if (delta !== null) {
    const stored = JSON.parse(JSON.stringify(delta)) as JsonDelta;
    assert.deepEqual(applyJsonDelta(before, stored), after, `stored delta ${label}`);
  }
  return delta;
}

// Keys include names that objects inherit, to catch prototype lookups.
const KEYS = ["a", "b", "c", "id", "text", "constructor", "toString", "__proto__", "0", ""];

function randomValue(random: () => number, depth: number): Json {
  const pick = Math.floor(random() * (depth > 3 ? 5 : 7));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return Math.floor(random() * 10) - 3;
    case 3:
      return random() < 0.2 ? random() * 1e6 : -0.5;
    case 4:
      return ["", "x", "y", "héllo", "💬"][Math.floor(random() * 5)]!;
    case 5: {
      const length = Math.floor(random() * 5);
      return Array.from({ length }, () => randomValue(random, depth + 1));
    }
    default: {
      const object: JsonObject = {};
      const count = Math.floor(random() * 5);
      for (let i = 0; i < count; i++) {
        setOwn(object, KEYS[Math.floor(random() * KEYS.length)]!, randomValue(random, depth + 1));
      }
      return object;
    }
  }
}

/** A changed copy of `value` (or the same value now and then); `value` is not modified. */
function mutate(random: () => number, value: Json, depth: number): Json {
  const roll = random();
  if (roll < 0.1) return randomValue(random, depth);
  if (roll < 0.2) return structuredClone(value);
  if (Array.isArray(value)) {
    const copy = value.slice();
    const edits = 1 + Math.floor(random() * 3);
    for (let e = 0; e < edits; e++) {
      const op = Math.floor(random() * 7);
      const index = Math.floor(random() * (copy.length + 1));
      if (op === 0) copy.push(randomValue(random, depth + 1));
      else if (op === 1) copy.pop();
      else if (op === 2) copy.unshift(randomValue(random, depth + 1));
      else if (op === 3) copy.splice(index, 1);
      else if (op === 4) copy.length = Math.min(copy.length, index);
      else if (copy.length > 0) {
        const at = index % copy.length;
        copy[at] = mutate(random, copy[at]!, depth + 1);
      }
    }
    return copy;
  }
  if (value !== null && typeof value === "object") {
    const copy = objectOf(Object.entries(value));
    const edits = 1 + Math.floor(random() * 3);
    for (let e = 0; e < edits; e++) {
      const key = KEYS[Math.floor(random() * KEYS.length)]!;
      const op = Math.floor(random() * 3);
      if (op === 0) delete copy[key];
      else if (op === 1) setOwn(copy, key, randomValue(random, depth + 1));
      else if (Object.hasOwn(copy, key)) setOwn(copy, key, mutate(random, copy[key]!, depth + 1));
    }
    return copy;
  }
  return randomValue(random, depth);
}

// ---------------------------------------------------------------------------
// Hand-picked round trips

const messages = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ role: i % 2 ? "ai" : "human", text: `m${from + i}` }));

const CASES: [string, Json, Json][] = [
  ["append to a list", [1, 2], [1, 2, 3]],
  ["append several", [1], [1, 2, 3, 4]],
  ["append to an empty list", [], [{ a: 1 }]],
  ["replace one item by index", [1, 2, 3, 4], [1, 9, 3, 4]],
  ["replace in an object in a list", messages(6), [
    ...messages(3),
    { role: "ai", text: "edited" },
    ...messages(2, 4),
  ]],
  ["truncate", [1, 2, 3, 4, 5], [1, 2]],
  ["truncate to empty", [1, 2, 3], []],
  ["truncate and change", [1, 2, 3, 4, 5, 6], [1, 0, 3]],
  ["add a key", { a: 1 }, { a: 1, b: 2 }],
  ["remove a key", { a: 1, b: 2 }, { a: 1 }],
  ["remove every key", { a: 1, b: 2 }, {}],
  ["add, remove and change keys", { a: 1, b: 2, c: 3 }, { a: 1, c: 4, d: 5 }],
  ["number to string", 1, "1"],
  ["string to number", "1", 1],
  ["object to array", { a: 1 }, [1]],
  ["array to object", [1], { 0: 1 }],
  ["object to null", { a: 1 }, null],
  ["null to object", null, { a: 1 }],
  ["null to array", null, [null]],
  ["false to true", false, true],
  ["number to null", 0, null],
  ["nested change", { a: { b: { c: [1, { d: 1 }] } } }, { a: { b: { c: [1, { d: 2 }] } } }],
  ["nested key type change", { a: { b: [1] } }, { a: { b: { 0: 1 } } }],
  ["nested null", { a: { b: null } }, { a: { b: { c: null } } }],
  ["value to null in a list", [1, 2, 3], [1, null, 3]],
  ["null items", [null, null], [null, null, null]],
  ["arrays of objects", [{ id: 1, t: "a" }, { id: 2, t: "b" }], [{ id: 1, t: "a" }, {
    id: 2,
    t: "c",
    x: [1],
  }, { id: 3 }]],
  ["shift an array", [1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]],
  ["remove the head of an array", [1, 2, 3, 4, 5], [2, 3, 4, 5]],
  ["reverse an array", [1, 2, 3, 4], [4, 3, 2, 1]],
  ["empty strings and keys", { "": "" }, { "": "x", " ": "" }],
  ["unicode keys", { "ключ": 1 }, { "ключ": 2, "🔑": [] }],
  ["keys that look like delta operators", { $set: 1 }, { $set: 2, $obj: { $arr: [] } }],
  ["floats and negative zero", [0.1, -5], [0.2, -5, 1e300]],
  ["inherited names as new keys", {}, { constructor: 1, toString: "x", hasOwnProperty: [] }],
  ["inherited names removed", { constructor: 1, toString: "x", valueOf: null }, {}],
  ["inherited names changed", { constructor: { a: 1 } }, { constructor: { a: 2 } }],
  ["inherited names as nested objects", {}, { constructor: { b: 1 } }],
  ["__proto__ added", {}, JSON.parse('{"__proto__":{"polluted":true}}')],
  ["__proto__ removed", JSON.parse('{"__proto__":1,"a":1}'), { a: 1 }],
  ["__proto__ changed", JSON.parse('{"__proto__":[1]}'), JSON.parse('{"__proto__":[1,2]}')],
  ["__proto__ to a value", JSON.parse('{"__proto__":{"x":1}}'), JSON.parse('{"__proto__":2}')],
];

for (const [name, before, after] of CASES) {
  Deno.test(`applyJsonDelta() undoes diffJson(): ${name}`, () => {
    assertRoundTrip(before, after, name);
    assertRoundTrip(after, before, `${name} (reversed)`);
  });
}

Deno.test("applyJsonDelta() does not add a prototype from a __proto__ key", () => {
  const after = JSON.parse('{"__proto__":{"polluted":true}}') as JsonObject;
  const result = applyJsonDelta({}, diffJson({}, after)!) as JsonObject;
  assert.equal(Object.getPrototypeOf(result), Object.prototype);
  assert.ok(Object.hasOwn(result, "__proto__"));
  assert.equal((result as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("diffJson() and applyJsonDelta() round-trip 500 random pairs", () => {
  const random = mulberry32(0x5eed);
  let changed = 0;
  for (let i = 0; i < 500; i++) {
    const before = randomValue(random, 0);
    let after = before;
    const rounds = 1 + Math.floor(random() * 3);
    for (let r = 0; r < rounds; r++) after = mutate(random, after, 0);
    deepFreeze(before);
    const delta = assertRoundTrip(before, after, `pair ${i}`);
    if (delta !== null) changed++;
  }
  // The generator really exercises deltas, not only equal values.
  assert.ok(changed > 300, `only ${changed} of 500 pairs differ`);
});

Deno.test("diffJson() and applyJsonDelta() round-trip random edits of a deep object", () => {
  const random = mulberry32(42);
  let value: Json = { messages: messages(20), meta: { tags: ["a"], n: 0 } };
  for (let i = 0; i < 200; i++) {
    const next = mutate(random, value, 0);
    assertRoundTrip(deepFreeze(value), next, `edit ${i}`);
    value = next;
  }
});

// ---------------------------------------------------------------------------
// diffJson

Deno.test("diffJson() returns null for equal values", () => {
  const shared = { a: [1, { b: null }] };
  const pairs: [Json, Json][] = [
    [null, null],
    [true, true],
    [0, 0],
    ["x", "x"],
    [[], []],
    [{}, {}],
    [shared, shared],
    [shared, structuredClone(shared)],
    [{ a: 1, b: 2 }, { b: 2, a: 1 }],
    [messages(50), messages(50)],
  ];
  for (const [a, b] of pairs) assert.equal(diffJson(a, b), null, JSON.stringify(a));
});

Deno.test("diffJson() treats an undefined property as absent", () => {
  const withUndefined = { a: 1, b: undefined } as unknown as JsonObject;
  assert.equal(diffJson({ a: 1 }, withUndefined), null);
  assert.equal(diffJson(withUndefined, { a: 1 }), null);
  assert.deepEqual(diffJson(withUndefined, { a: 1, b: 2 }), { $obj: { b: { $set: 2 } } });
});

Deno.test("diffJson() describes an append as the new items only", () => {
  assert.deepEqual(diffJson([1, 2], [1, 2, 3, 4]), {
    $arr: [[2, { $set: 3 }], [3, { $set: 4 }]],
    $len: 4,
  });
});

Deno.test("diffJson() describes a truncation as a length", () => {
  assert.deepEqual(diffJson([1, 2, 3], [1]), { $arr: [], $len: 1 });
});

Deno.test("diffJson() describes a key change, addition and removal", () => {
  assert.deepEqual(diffJson({ a: 1, b: 2, c: 3 }, { a: 1, b: 5, d: 4 }), {
    $obj: { b: { $set: 5 }, d: { $set: 4 } },
    $del: ["c"],
  });
  assert.deepEqual(diffJson({ a: 1 }, { a: 1, b: 2 }), { $obj: { b: { $set: 2 } } });
});

Deno.test("diffJson() falls back to $set for a shifted array", () => {
  const before = [1, 2, 3, 4, 5, 6];
  const after = [0, ...before];
  assert.deepEqual(diffJson(before, after), { $set: after });
  assert.deepEqual(diffJson([1, 2, 3, 4], [2, 3, 4]), { $set: [2, 3, 4] });
});

Deno.test("diffJson() replaces a value whose type changes", () => {
  assert.deepEqual(diffJson({ a: 1 }, [1]), { $set: [1] });
  assert.deepEqual(diffJson([1], { 0: 1 }), { $set: { 0: 1 } });
  assert.deepEqual(diffJson(null, {}), { $set: {} });
  assert.deepEqual(diffJson(1, "1"), { $set: "1" });
});

Deno.test("diffJson() keeps the delta of one appended message small", () => {
  const before = {
    messages: Array.from({ length: 200 }, (_, i) => ({
      id: `msg_${i}`,
      role: i % 2 === 0 ? "human" : "ai",
      text: `This is message number ${i} of a long conversation about durable runs.`,
    })),
    summary: null,
  };
  const after = {
    ...before,
    messages: [...before.messages, { id: "msg_200", role: "ai", text: "One more answer." }],
  };
  const delta = diffJson(before, after);
  assert.deepEqual(delta, {
    $obj: {
      messages: {
        $arr: [[200, { $set: { id: "msg_200", role: "ai", text: "One more answer." } }]],
        $len: 201,
      },
    },
  });
  const deltaSize = JSON.stringify(delta).length;
  const valueSize = JSON.stringify(after).length;
  assert.ok(deltaSize * 50 < valueSize, `delta ${deltaSize} bytes vs value ${valueSize} bytes`);
  assert.deepEqual(applyJsonDelta(before, delta!), after);
});

// ---------------------------------------------------------------------------
// applyJsonDelta

Deno.test("applyJsonDelta() does not modify before and shares unchanged parts", () => {
  const before = deepFreeze({ keep: { big: [1, 2, 3] }, list: [{ a: 1 }, { b: 2 }], gone: 1 });
  const after = { keep: before.keep, list: [before.list[0]!, { b: 3 }, { c: 4 }] };
  const result = applyJsonDelta(before, diffJson(before, after)!) as typeof after;
  assert.deepEqual(result, after);
  assert.equal(result.keep, before.keep);
  assert.equal(result.list[0], before.list[0]);
  assert.notEqual(result, before);
  assert.notEqual(result.list, before.list);
});

Deno.test("applyJsonDelta() fills array holes with null", () => {
  assert.deepEqual(
    applyJsonDelta([1], { $arr: [[0, { $set: 0 }], [2, { $set: 3 }]], $len: 3 }),
    [0, null, 3],
  );
});

Deno.test("applyJsonDelta() returns the $set value whatever before is", () => {
  assert.deepEqual(applyJsonDelta({ a: 1 }, { $set: [1] }), [1]);
  assert.equal(applyJsonDelta([1], { $set: null }), null);
});

Deno.test("applyJsonDelta() refuses malformed deltas with InvalidArgumentError", () => {
  const malformed: unknown[] = [
    null,
    undefined,
    5,
    "x",
    true,
    [],
    [{ $set: 1 }],
    {},
    { set: 1 },
    { $set: undefined },
    { $obj: null },
    { $obj: 5 },
    { $obj: [] },
    { $obj: { a: 5 } },
    { $obj: { a: null } },
    { $obj: { a: {} } },
    { $obj: { a: { $obj: { b: "x" } } } },
    { $obj: {}, $del: "a" },
    { $obj: {}, $del: [1] },
    { $obj: {}, $del: null },
    { $arr: [] },
    { $arr: [], $len: -1 },
    { $arr: [], $len: 1.5 },
    { $arr: [], $len: "1" },
    { $arr: [], $len: Number.NaN },
    { $arr: [], $len: 1e300 },
    { $arr: "x", $len: 1 },
    { $arr: null, $len: 1 },
    { $arr: [5], $len: 1 },
    { $arr: [[0]], $len: 1 },
    { $arr: [[0, 5]], $len: 1 },
    { $arr: [[0, { $set: 1 }, "extra"]], $len: 1 },
    { $arr: [[-1, { $set: 1 }]], $len: 1 },
    { $arr: [[1, { $set: 1 }]], $len: 1 },
    { $arr: [[0.5, { $set: 1 }]], $len: 1 },
    { $arr: [["0", { $set: 1 }]], $len: 1 },
    // A length far beyond the items given would make a huge array of nulls.
    { $arr: [], $len: 2 ** 40 },
    { $arr: [[0, { $set: 1 }]], $len: 1e9 },
  ];
  for (const delta of malformed) {
    assert.throws(
      () => applyJsonDelta([1, 2, 3], delta as JsonDelta),
      (error: unknown) => {
        assert.ok(
          error instanceof InvalidArgumentError,
          `${JSON.stringify(delta)} threw ${error}`,
        );
        assert.match(error.message, /^Cannot apply delta/);
        return true;
      },
      JSON.stringify(delta),
    );
  }
});
