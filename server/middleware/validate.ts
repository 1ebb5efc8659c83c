/**
 * Validation of a route's input, in the order the API has always checked it
 * (`routeHandler()` calls these): `checkParams()` (every path parameter is an
 * id of the kernel's pattern), then the query and the body against the
 * route's zod schemas (`queryValidator()`, `validate()`: zod's issues become
 * one clear `invalid_argument` error). The validated values are the `query`
 * and `body` variables.
 *
 * Messages name the field, then say what is wrong with it:
 * `Invalid body: thread_id is required`, `Invalid query: limit must be a
 * whole number from 1 to 200`, `Invalid body: unknown field "bogus"`. The
 * schemas give sentences for their own bounds; {@linkcode issueSentence}
 * words zod's other issues the same way.
 *
 * @module
 */

import type { z } from "zod";
import { InvalidArgumentError, isValidId } from "../../kernel/mod.ts";
import { idPatternMessage } from "../schemas.ts";

/**
 * Checks every path parameter is a valid id.
 *
 * @param params The request's path parameters.
 * @throws {InvalidArgumentError} naming the first that is not.
 */
export function checkParams(params: Record<string, string>): void {
  for (const name in params) {
    const value = params[name]!;
    if (!isValidId(value)) {
      const length = (value as string).length;
      const message = length === 0 || length > 128
        ? `${name} may contain only 1 to 128 letters, digits and "-_.:"`
        : `${name} ${idPatternMessage(value)}`;
      throw new InvalidArgumentError(message, { field: name });
    }
  }
}

/**
 * The validator of a route's query string: an empty query is validated once
 * (its outcome is the same for every request), any other at each request.
 *
 * @param schema The route's query schema.
 * @returns The validated query of a request's URL and its parsed parameters.
 * @throws {InvalidArgumentError} when the query is not valid.
 */
export function queryValidator(
  schema: z.ZodType,
): (url: string, parse: () => Record<string, string>) => unknown {
  let empty: { value: unknown } | null = null;
  return (url, parse) => {
    const mark = url.indexOf("?");
    if (mark !== -1 && mark !== url.length - 1) return validate(schema, parse(), "query");
    // Frozen: every request without a query shares it.
    empty ??= { value: Object.freeze(validate(schema, {}, "query")) };
    return empty.value;
  };
}

/**
 * Validates a value with a schema, turning zod's issues into one clear
 * `invalid_argument` error.
 *
 * @param schema The schema.
 * @param value The value.
 * @param where `body` or `query`, for the message.
 * @returns The parsed value.
 * @throws {InvalidArgumentError} listing the issues.
 */
export function validate<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const noun = where === "query" ? "parameter" : "field";
  const result = schema.safeParse(value, { error: (issue) => issueSentence(issue, noun) });
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.join("."),
    message: issue.message,
  }));
  const first = issues[0]!;
  const field = first.path === "" ? undefined : first.path;
  // A sentence about the field follows its name; zod's own messages (capitalised) follow a colon.
  const text = field === undefined
    ? first.message
    : /^[A-Z]/.test(first.message)
    ? `${field}: ${first.message}`
    : `${field} ${first.message}`;
  throw new InvalidArgumentError(
    `Invalid ${where}: ${text}`,
    { ...(field === undefined ? {} : { field }), details: { issues } },
  );
}

/** An issue as zod hands it to an error map (before its message is set). */
type RawIssue = z.core.$ZodRawIssue;

const ARTICLE: Record<string, string> = {
  array: "an array",
  int: "a whole number",
  object: "an object",
  record: "an object",
};

/**
 * Words a zod issue that its schema gave no message for as a sentence about
 * the field (`is required`, `must be an object`, `must be one of "a", "b"`),
 * or `undefined` to keep zod's message.
 *
 * @param issue The issue.
 * @param noun What the keys of the validated object are (`field` or `parameter`).
 * @returns The sentence.
 */
export function issueSentence(issue: RawIssue, noun: string): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? "is required"
        : `must be ${ARTICLE[issue.expected] ?? `a ${issue.expected}`}`;
    case "invalid_union":
      // The JSON value (z.json()) is the only union: it takes anything JSON.
      return issue.input === undefined ? "is required (any JSON value)" : undefined;
    case "invalid_value":
      if (issue.input === undefined) return "is required";
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(", ")}`;
    case "unrecognized_keys":
      return `unknown ${noun}${issue.keys.length === 1 ? "" : "s"} ${
        issue.keys.map((key) => JSON.stringify(key)).join(", ")
      }`;
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const side = issue.code === "too_small" ? "at least" : "at most";
      if (issue.origin !== "string") return `must be ${side} ${bound}`;
      return issue.code === "too_small" && bound === 1
        ? "must not be empty"
        : `must be ${side} ${bound} characters`;
    }
    default:
      return undefined;
  }
}
