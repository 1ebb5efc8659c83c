/**
 * The Standard Schema interface (https://standardschema.dev), typed
 * structurally so the kernel depends on no validation library: zod (v3.24
 * and v4), Valibot, ArkType and others implement it. A state channel may
 * carry one (see {@linkcode defineState}); the kernel only calls its
 * `validate`, and the server reads its JSON Schema, when it has one
 * (Standard JSON Schema, which zod 4 implements), for the OpenAPI document.
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";

/**
 * A validator that implements the Standard Schema interface, version 1.
 *
 * @typeParam Input What it accepts.
 * @typeParam Output What it returns for a valid input.
 */
export interface StandardSchema<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly "~standard": StandardSchemaProps<Input, Output>;
}

/**
 * The properties of a {@linkcode StandardSchema}.
 *
 * @typeParam Input What it accepts.
 * @typeParam Output What it returns for a valid input.
 */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  /** The version of the standard. */
  readonly version: 1;
  /** The library that made the schema, e.g. `zod`. */
  readonly vendor: string;
  /** Validates a value: its output, or the issues that make it invalid. */
  readonly validate: (
    value: unknown,
  ) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>;
  /** The input and output types, for inference only. */
  readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  /** The Standard JSON Schema converter, when the library has one (zod 4 does). */
  readonly jsonSchema?: StandardJsonSchemaConverter | undefined;
}

/**
 * What a {@linkcode StandardSchema} says of a value: its output, or its issues.
 *
 * @typeParam Output What it returns for a valid input.
 */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly StandardSchemaIssue[] };

/** Why a value is invalid, and where in it. */
export interface StandardSchemaIssue {
  /** What is wrong. */
  readonly message: string;
  /** Where: keys from the value's root. */
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** The Standard JSON Schema converter of a schema. */
export interface StandardJsonSchemaConverter {
  /** The JSON Schema of what the schema accepts, e.g. for target `draft-2020-12`. */
  readonly input: (options: { readonly target: string }) => Record<string, unknown>;
}

/** What a failed validation is about, for its error. */
export interface ValidationSubject {
  /** What could not be done, e.g. `Cannot apply the update of node "a"`. */
  action: string;
  /** What was validated, e.g. `channel "request"`. */
  subject: string;
  /** The field the error names (`details.field`). */
  field?: string;
}

/**
 * Validates a value with a {@linkcode StandardSchema}, synchronously.
 *
 * @typeParam O The schema's output.
 * @param schema The schema.
 * @param value The value.
 * @param about What the value is, for the error.
 * @returns The schema's output for the value.
 * @throws {InvalidArgumentError} with the first issue in the message and all
 * of them in `details.issues`; or when the schema validates asynchronously
 * (returns a Promise): Oris validates state while it plans a step, which is
 * synchronous, so async schemas are refused.
 *
 * @example
 * ```ts
 * import { validateStandard } from "./standard_schema.ts";
 * import assert from "node:assert/strict";
 *
 * const even = {
 *   "~standard": {
 *     version: 1 as const,
 *     vendor: "example",
 *     validate: (value: unknown) =>
 *       typeof value === "number" && value % 2 === 0
 *         ? { value }
 *         : { issues: [{ message: "Expected an even number" }] },
 *   },
 * };
 * const about = { action: "Cannot apply the input", subject: 'channel "n"' };
 * assert.equal(validateStandard(even, 4, about), 4);
 * assert.throws(
 *   () => validateStandard(even, 3, about),
 *   { message: 'Cannot apply the input: channel "n" is not valid: Expected an even number' },
 * );
 * ```
 */
export function validateStandard<O>(
  schema: StandardSchema<unknown, O>,
  value: unknown,
  about: ValidationSubject,
): O {
  const field = about.field === undefined ? {} : { field: about.field };
  const result = schema["~standard"].validate(value);
  if (isPromiseLike(result)) {
    // Its outcome is not waited for: the error below is the answer.
    result.then(undefined, () => {});
    throw new InvalidArgumentError(
      `${about.action}: the schema of ${about.subject} validates asynchronously (state schemas must be synchronous)`,
      field,
    );
  }
  if (result.issues === undefined) return result.value;
  const issues = result.issues.map((issue) => ({
    path: issuePath(issue),
    message: issue.message,
  }));
  const first = issues[0];
  const where = first === undefined || first.path === "" ? "" : ` at ${first.path}`;
  throw new InvalidArgumentError(
    `${about.action}: ${about.subject}${where} is not valid: ${
      first?.message ?? "the schema refused it"
    }`,
    { ...field, details: { issues } },
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
