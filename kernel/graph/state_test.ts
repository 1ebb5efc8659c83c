import assert from "node:assert/strict";
import { z } from "zod";
import { InvalidArgumentError } from "../errors.ts";
import { defineState, type UpdateOf } from "./state.ts";
import type { StandardSchema } from "./standard_schema.ts";

/** A Standard Schema written by hand (no library): even numbers. */
const even: StandardSchema<number, number> = {
  "~standard": {
    version: 1,
    vendor: "hand-made",
    validate: (value) =>
      typeof value === "number" && value % 2 === 0
        ? { value }
        : { issues: [{ message: "Expected an even number" }] },
  },
};

/** Asserts an `invalid_argument` error with this message, field and (optionally) issues. */
function assertInvalid(
  fn: () => unknown,
  message: string,
  field: string,
  issues?: { path: string; message: string }[],
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidArgumentError, String(error));
    assert.equal(error.message, message);
    assert.equal(error.field, field);
    if (issues !== undefined) assert.deepEqual(error.details.issues, issues);
    return true;
  });
}

Deno.test("defineState() checks input and updates against a channel's zod schema", () => {
  const State = defineState({
    request: { schema: z.string(), default: () => "" },
    free: { default: (): unknown => null },
  });
  assert.deepEqual(State.initial({ request: "order 42" }), { request: "order 42", free: null });
  assertInvalid(
    () => State.initial({ request: 42 }),
    'Cannot apply the update of input: channel "request" is not valid: Invalid input: expected string, received number',
    "request",
    [{ path: "", message: "Invalid input: expected string, received number" }],
  );
  const state = State.initial();
  assertInvalid(
    () => State.merge(state, [{ source: 'node "a"', update: { request: null } }]),
    'Cannot apply the update of node "a": channel "request" is not valid: Invalid input: expected string, received null',
    "request",
  );
  // A channel without a schema takes any JSON, as before.
  for (const free of [42, "x", [1, { a: null }], null, { deep: [true] }]) {
    assert.deepEqual(State.merge(state, [{ source: "b", update: { free } }]).free, free);
  }
  // An update that does not write the typed channel is not checked against it.
  assert.deepEqual(State.merge(state, [{ source: "b", update: { free: 1 } }]).request, "");
});

Deno.test("defineState() names where in a value its schema found the problem", () => {
  const State = defineState({
    items: { schema: z.array(z.object({ name: z.string() })), default: () => [] },
  });
  assertInvalid(
    () => State.initial({ items: [{ name: "a" }, { name: 7 }] }),
    'Cannot apply the update of input: channel "items" at [1].name is not valid: Invalid input: expected string, received number',
    "items",
    [{ path: "[1].name", message: "Invalid input: expected string, received number" }],
  );
});

Deno.test("defineState() takes any Standard Schema, not only zod", () => {
  const State = defineState({ n: { schema: even, default: () => 0 } });
  assert.deepEqual(State.initial({ n: 4 }), { n: 4 });
  assertInvalid(
    () => State.initial({ n: 3 }),
    'Cannot apply the update of input: channel "n" is not valid: Expected an even number',
    "n",
  );
});

Deno.test("defineState() checks a reducer channel's updates before the reducer", () => {
  const seen: unknown[] = [];
  const State = defineState({
    total: {
      schema: z.number().int().positive(),
      default: () => 0,
      reducer: (a: number, b: number) => {
        seen.push(b);
        return a + b;
      },
    },
  });
  const state = State.merge(State.initial(), [
    { source: "a", update: { total: 2 } },
    { source: "b", update: { total: 3 } },
  ]);
  assert.equal(state.total, 5);
  assertInvalid(
    () => State.merge(state, [{ source: 'node "c"', update: { total: -1 } }]),
    'Cannot apply the update of node "c": channel "total" is not valid: Too small: expected number to be >0',
    "total",
  );
  assert.deepEqual(seen, [2, 3]);
});

Deno.test("defineState() merges a schema's output, which must be JSON", () => {
  const State = defineState({
    name: { schema: z.string().trim().toLowerCase(), default: () => "" },
    when: { schema: z.coerce.date() },
  });
  assert.deepEqual(State.parseUpdate({ name: "  Ada " }, "input"), { name: "ada" });
  assert.equal(State.initial({ name: "  Ada " }).name, "ada");
  // An update the schema leaves as it is is returned as it is.
  const update = { name: "ada" };
  assert.equal(State.parseUpdate(update, "input"), update);
  assert.equal(State.parseUpdate(null, "input"), null);
  assertInvalid(
    () => State.initial({ when: "2026-01-01" }),
    'Cannot store the output of the schema of channel "when" in the update of input: the output of the schema of channel "when" in the update of input is a Date (only plain objects are JSON)',
    'the output of the schema of channel "when" in the update of input',
  );
});

Deno.test("defineState() refuses a schema that validates asynchronously", async () => {
  let settled = false;
  const State = defineState({
    slow: {
      schema: z.string().refine(async (value) => {
        await Promise.resolve();
        settled = true;
        return value.length > 0;
      }),
    },
  });
  assertInvalid(
    () => State.initial({ slow: "x" }),
    'Cannot apply the update of input: the schema of channel "slow" validates asynchronously (state schemas must be synchronous)',
    "slow",
  );
  // An async validation that rejects is not left unhandled.
  const rejecting = defineState({
    slow: {
      schema: {
        "~standard": {
          version: 1,
          vendor: "hand-made",
          validate: () => Promise.reject(new Error("network down")),
        },
      },
    },
  });
  assert.throws(() => rejecting.initial({ slow: 1 }), /validates asynchronously/);
  await Promise.resolve();
  await Promise.resolve();
  assert.ok(settled);
});

Deno.test("defineState() refuses a schema that is not a Standard Schema", () => {
  for (const schema of [{}, { parse: () => 1 }, "string", { "~standard": {} }]) {
    assertInvalid(
      () => defineState({ a: { schema: schema as never } }),
      'Cannot define state: the schema of "a" must be a Standard Schema (e.g. a zod schema)',
      "a",
    );
  }
});

Deno.test("defineState() infers channel types from schemas", () => {
  const State = defineState({
    request: { schema: z.string(), default: () => "" },
    count: { schema: z.number() },
  });
  const state = State.initial();
  const request: string = state.request;
  const count: number | null = state.count;
  assert.deepEqual({ request, count }, { request: "", count: null });
  // @ts-expect-error: a number is not a string.
  const bad: UpdateOf<typeof State.spec> = { request: 1 };
  assert.ok(bad);
});
