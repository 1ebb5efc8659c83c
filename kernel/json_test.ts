import assert from "node:assert/strict";
import { InvalidArgumentError } from "./errors.ts";
import {
  assertJson,
  canonicalJson,
  checkMaxJsonDepth,
  DEFAULT_MAX_JSON_DEPTH,
  encodeJson,
  isJsonObject,
  type Json,
  jsonEqual,
} from "./json.ts";

/**
 * Checks that `value` is refused by both entry points, at `path`, as `kind`
 * (`assertJson` with `maxDepth`, default its own).
 */
function assertRefused(
  value: unknown,
  path: string,
  kind: string | RegExp,
  options: { maxDepth?: number } = {},
): void {
  for (
    const check of [() => encodeJson(value, "state"), () => assertJson(value, "state", options)]
  ) {
    assert.throws(check, (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError, `${error}`);
      assert.equal(error.code, "invalid_argument");
      assert.equal(error.field, path);
      assert.deepEqual(error.details, { field: path });
      if (typeof kind === "string") {
        assert.equal(error.message, `Cannot store state: ${path} is ${kind}`);
      } else {
        assert.ok(error.message.startsWith(`Cannot store state: ${path} is `), error.message);
        assert.match(error.message, kind);
      }
      return true;
    });
  }
}

function nested(depth: number, leaf: unknown, kind: "array" | "object"): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = kind === "array" ? [value] : { d: value };
  return value;
}

// ---------------------------------------------------------------------------
// Refused values

Deno.test("encodeJson() refuses functions, symbols and bigints with their path", () => {
  assertRefused(() => 1, "state", "a function");
  assertRefused(Symbol("s"), "state", "a symbol");
  assertRefused(1n, "state", "a bigint");
  assertRefused({ a: { f() {} } }, "state.a.f", "a function");
  assertRefused({ list: [1, Symbol.iterator] }, "state.list[1]", "a symbol");
  assertRefused([[0, [1, 2n]]], "state[0][1][1]", "a bigint");
  assertRefused({ toJSON: () => "x" }, "state.toJSON", "a function");
});

Deno.test("encodeJson() refuses NaN and the infinities", () => {
  assertRefused(Number.NaN, "state", "NaN");
  assertRefused(Infinity, "state", "Infinity");
  assertRefused(-Infinity, "state", "-Infinity");
  assertRefused({ score: 0 / 0 }, "state.score", "NaN");
  assertRefused([1, [Number.POSITIVE_INFINITY]], "state[1][0]", "Infinity");
  assertRefused({ a: [{ b: -1 / 0 }] }, "state.a[0].b", "-Infinity");
});

Deno.test("encodeJson() refuses undefined at the top and in arrays", () => {
  assertRefused(undefined, "state", "undefined");
  assertRefused([1, undefined], "state[1]", "undefined");
  assertRefused({ a: [undefined] }, "state.a[0]", "undefined");
  // A hole in a sparse array reads as undefined.
  // deno-lint-ignore no-sparse-arrays
  assertRefused([, 1], "state[0]", "undefined");
  assertRefused(new Array(3), "state[0]", "undefined");
});

Deno.test("encodeJson() refuses cycles", () => {
  const object: Record<string, unknown> = { a: 1 };
  object.self = object;
  assertRefused(object, "state.self", "a cycle");
  const array: unknown[] = [1];
  array.push(array);
  assertRefused(array, "state[1]", "a cycle");
  const deep: Record<string, unknown> = { b: { c: [] } };
  ((deep.b as Record<string, unknown>).c as unknown[]).push({ back: deep });
  assertRefused(deep, "state.b.c[0].back", "a cycle");
  const a: Record<string, unknown> = {};
  const b: Record<string, unknown> = { a };
  a.b = b;
  assertRefused({ root: a }, "state.root.b.a", "a cycle");
});

Deno.test("encodeJson() accepts a shared reference that is not a cycle", () => {
  const shared = { x: [1, 2] };
  assert.equal(encodeJson({ a: shared, b: shared }, "state"), '{"a":{"x":[1,2]},"b":{"x":[1,2]}}');
  assert.equal(
    encodeJson([shared, [shared], shared], "state"),
    JSON.stringify([shared, [shared], shared]),
  );
  const list = [1];
  assert.equal(encodeJson({ a: list, b: { c: list } }, "state"), '{"a":[1],"b":{"c":[1]}}');
});

Deno.test("encodeJson() refuses objects that are not plain", () => {
  class Point {
    x = 1;
  }
  assertRefused(new Date(0), "state", "a Date (only plain objects are JSON)");
  assertRefused(new Map(), "state", "a Map (only plain objects are JSON)");
  assertRefused(new Set([1]), "state", "a Set (only plain objects are JSON)");
  assertRefused({ p: new Point() }, "state.p", "a Point (only plain objects are JSON)");
  assertRefused([/re/], "state[0]", "a RegExp (only plain objects are JSON)");
  assertRefused({ bytes: new Uint8Array(2) }, "state.bytes", /Uint8Array/);
  assertRefused(new String("boxed"), "state", /String/);
  assertRefused({ e: new Error("x") }, "state.e", /Error/);
  assertRefused(Object.create({ inherited: 1 }), "state", /only plain objects are JSON/);
});

Deno.test("encodeJson() names the first bad value in key order", () => {
  assertRefused({ a: 1, b: [1, 2, { c: 1n }], d: Number.NaN }, "state.b[2].c", "a bigint");
});

Deno.test("assertJson() uses the given name as the root of the path", () => {
  assert.throws(() => assertJson({ n: 1n }, "input"), {
    name: "InvalidArgumentError",
    message: "Cannot store input: input.n is a bigint",
  });
});

// ---------------------------------------------------------------------------
// Accepted values

Deno.test("encodeJson() drops object properties that are undefined", () => {
  assert.equal(encodeJson({ a: 1, b: undefined, c: { d: undefined } }, "state"), '{"a":1,"c":{}}');
  assert.doesNotThrow(() => assertJson({ a: undefined }, "state"));
});

Deno.test("encodeJson() accepts objects with a null prototype", () => {
  const object = Object.create(null) as Record<string, unknown>;
  object.a = [1, Object.assign(Object.create(null), { b: true })];
  assert.equal(encodeJson(object, "state"), '{"a":[1,{"b":true}]}');
});

Deno.test("encodeJson() accepts every kind of JSON value", () => {
  const value = {
    null: null,
    true: true,
    false: false,
    zero: 0,
    negative: -1.5,
    big: 1e300,
    tiny: Number.MIN_VALUE,
    text: 'héllo "quoted" \n 💬',
    empty: "",
    list: [[], {}, [null]],
    "": "empty key",
    "weird key.[0]": 1,
  };
  assert.equal(encodeJson(value, "state"), JSON.stringify(value));
  for (const primitive of [null, true, 0, -0, "x"]) {
    assert.equal(encodeJson(primitive, "state"), JSON.stringify(primitive));
  }
});

Deno.test("encodeJson() accepts values nested 2000 deep", () => {
  for (const kind of ["array", "object"] as const) {
    const value = nested(2000, "leaf", kind);
    // node:assert's deepEqual itself recurses too deep here: compare the text.
    const text = encodeJson(value, "state");
    assert.equal(text, JSON.stringify(value));
    assert.equal(text.length, JSON.stringify(nested(2000, "leaf", kind)).length);
    assert.ok(jsonEqual(JSON.parse(text), value));
  }
});

Deno.test("encodeJson() finds a bad value 2000 deep", () => {
  const path = "state" + "[0]".repeat(2000);
  assertRefused(nested(2000, 1n, "array"), path, "a bigint", { maxDepth: Infinity });
});

// ---------------------------------------------------------------------------
// The nesting limit

/** Checks that `assertJson` refuses `value` for its nesting, naming `limit`. */
function assertTooDeep(value: unknown, options: { maxDepth?: number }, limit: number): void {
  assert.throws(() => assertJson(value, "the input", options), (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, `${error}`);
    assert.equal(
      error.message,
      `Cannot accept the input: it is nested more than ${limit} levels deep (the JSON nesting limit)`,
    );
    assert.deepEqual(error.details, { max_depth: limit });
    return true;
  });
}

Deno.test("assertJson() accepts 256 levels of nesting by default, and refuses 257", () => {
  assert.equal(DEFAULT_MAX_JSON_DEPTH, 256);
  for (const kind of ["array", "object"] as const) {
    assert.doesNotThrow(() => assertJson(nested(256, "leaf", kind), "the input"));
    assert.doesNotThrow(() => assertJson(nested(255, [], kind), "the input"));
    assertTooDeep(nested(257, "leaf", kind), {}, 256);
    assertTooDeep(nested(256, {}, kind), {}, 256);
  }
  // Depth is counted on the deepest branch, whatever comes before it.
  const wide = { a: 1, b: [nested(10, 1, "object")], c: nested(255, 1, "array") };
  assert.doesNotThrow(() => assertJson(wide, "the input"));
  assertTooDeep({ ...wide, d: [nested(255, 1, "array")] }, {}, 256);
  // Scalars are not a level.
  assert.doesNotThrow(() => assertJson("x", "the input", { maxDepth: 1 }));
  assert.doesNotThrow(() => assertJson({ a: 1, b: "x", c: null }, "the input", { maxDepth: 1 }));
  assertTooDeep({ a: [] }, { maxDepth: 1 }, 1);
});

Deno.test("assertJson() takes its nesting limit from maxDepth", () => {
  assert.doesNotThrow(() => assertJson(nested(3, 1, "array"), "the input", { maxDepth: 3 }));
  assertTooDeep(nested(4, 1, "array"), { maxDepth: 3 }, 3);
  assert.doesNotThrow(() => assertJson(nested(900, 1, "object"), "the input", { maxDepth: 900 }));
  assertTooDeep(nested(901, 1, "object"), { maxDepth: 900 }, 900);
  // Infinity checks only what JSON can carry.
  assert.doesNotThrow(() =>
    assertJson(nested(5000, 1, "array"), "the input", { maxDepth: Infinity })
  );
});

Deno.test("assertJson() refuses values nested far too deep without recursing", () => {
  // Recursive code (zod, the old check) overflows the stack around 2,500 levels.
  for (const depth of [2_500, 100_000]) {
    for (const kind of ["array", "object"] as const) {
      assertTooDeep(nested(depth, "leaf", kind), {}, 256);
    }
  }
  // With no limit, a 100,000-deep value is checked to its leaf.
  assertRefused(nested(100_000, 1n, "object"), `state${".d".repeat(100_000)}`, "a bigint", {
    maxDepth: Infinity,
  });
  assert.doesNotThrow(() => encodeJson(nested(100_000, 1, "array"), "state"));
});

Deno.test("assertJson() tells a cycle from nesting past the limit", () => {
  const object: Record<string, unknown> = { a: 1 };
  object.self = object;
  assertRefused(object, "state.self", "a cycle", { maxDepth: 1 });
  assertRefused(object, "state.self", "a cycle", { maxDepth: Infinity });
});

Deno.test("checkMaxJsonDepth() takes whole numbers from 1 to 1000", () => {
  for (const value of [1, 256, 1000]) assert.equal(checkMaxJsonDepth(value, "maxJsonDepth"), value);
  for (const value of [0, -1, 1001, 1.5, Number.NaN, Infinity, "256", null]) {
    assert.throws(() => checkMaxJsonDepth(value, "maxJsonDepth"), {
      name: "InvalidArgumentError",
      message: `maxJsonDepth must be a whole number from 1 to 1000, got ${String(value)}`,
    });
  }
});

// ---------------------------------------------------------------------------
// canonicalJson

Deno.test("canonicalJson() sorts object keys at every depth", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }),
    '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}',
  );
});

Deno.test("canonicalJson() gives equal text for reordered objects", () => {
  const a = { name: "run", tags: ["x", "y"], meta: { created: 1, by: { id: 7, kind: "user" } } };
  const b = { meta: { by: { kind: "user", id: 7 }, created: 1 }, tags: ["x", "y"], name: "run" };
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.notEqual(JSON.stringify(a), JSON.stringify(b));
});

Deno.test("canonicalJson() keeps array order", () => {
  assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
  assert.equal(canonicalJson([3, 1, 2]), "[3,1,2]");
});

Deno.test("canonicalJson() drops undefined properties", () => {
  assert.equal(canonicalJson({ b: 1, a: undefined } as unknown as Json), '{"b":1}');
});

Deno.test("canonicalJson() encodes like JSON.stringify apart from key order", () => {
  const values: Json[] = [
    null,
    true,
    -0,
    1e21,
    0.1,
    'line\nbreak \u2028 "q" \\ 💬',
    [],
    {},
    { "": [{}] },
    ["a", { b: [null, false] }],
  ];
  for (const value of values) {
    assert.equal(canonicalJson(value), JSON.stringify(value));
    assert.ok(jsonEqual(JSON.parse(canonicalJson(value)), value));
  }
});

// ---------------------------------------------------------------------------
// jsonEqual

Deno.test("jsonEqual() compares JSON values deeply", () => {
  const equal: [unknown, unknown][] = [
    [null, null],
    [1, 1],
    [0, -0],
    ["a", "a"],
    [[], []],
    [{}, {}],
    [{ a: 1, b: 2 }, { b: 2, a: 1 }],
    [{ a: [1, { b: [null] }] }, { a: [1, { b: [null] }] }],
    [{ a: undefined }, {}],
    [{}, { a: undefined }],
    [{ a: 1, b: undefined }, { a: 1, c: undefined }],
  ];
  for (const [a, b] of equal) {
    assert.ok(jsonEqual(a, b), `${JSON.stringify(a)} = ${JSON.stringify(b)}`);
    assert.ok(jsonEqual(b, a), `${JSON.stringify(b)} = ${JSON.stringify(a)}`);
  }
  const different: [unknown, unknown][] = [
    [null, {}],
    [null, 0],
    [0, false],
    ["1", 1],
    ["", null],
    [[], {}],
    [[1, 2], [2, 1]],
    [[1], [1, 1]],
    [{ a: 1 }, { a: 2 }],
    [{ a: 1 }, { b: 1 }],
    [{ a: null }, {}],
    [{ a: 1 }, { a: 1, b: 2 }],
    [{ a: [1, { b: 1 }] }, { a: [1, { b: 2 }] }],
    [{ 0: "x" }, ["x"]],
    [Number.NaN, Number.NaN],
  ];
  for (const [a, b] of different) {
    assert.ok(!jsonEqual(a, b), `${JSON.stringify(a)} != ${JSON.stringify(b)}`);
    assert.ok(!jsonEqual(b, a), `${JSON.stringify(b)} != ${JSON.stringify(a)}`);
  }
});

Deno.test("jsonEqual() ignores inherited properties", () => {
  const inherits = Object.assign(Object.create({ a: 1 }), { b: 1 });
  assert.ok(!jsonEqual({ a: 1 }, inherits));
  assert.ok(!jsonEqual(inherits, { a: 1 }));
  assert.ok(!jsonEqual({ constructor: {} }, { other: {} }));
});

// ---------------------------------------------------------------------------
// isJsonObject

Deno.test("isJsonObject() is true only for objects that are not arrays", () => {
  assert.ok(isJsonObject({}));
  assert.ok(isJsonObject(Object.create(null)));
  for (const value of [null, [], 1, "x", true, undefined]) assert.ok(!isJsonObject(value));
});
