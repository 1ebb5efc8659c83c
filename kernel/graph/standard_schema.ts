/**
 * The Standard Schema interface (https://standardschema.dev), typed
 * structurally so the kernel depends on no validation library: zod (v3.24
 * and v4), Valibot, ArkType and others implement it. A state channel may
 * carry one (see {@linkcode defineState}); the kernel only calls its
 * `validate`, and the server reads its JSON Schema, when it has one
 * (Standard JSON Schema, which zod 4 implements), for the OpenAPI document.
 * Only types live here: nothing of a validation library is imported.
 *
 * @module
 */

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
