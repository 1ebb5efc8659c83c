/**
 * Validation of a route's input, in the order the API has always checked it:
 * `validateParams()` (every path parameter is an id of the kernel's
 * pattern), `validateQuery()` and `validateBody()` (the route's zod schemas;
 * zod's issues become one clear `invalid_argument` error). The validated
 * values are the `query` and `body` variables.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import type { z } from "zod";
import { InvalidArgumentError, isValidId } from "../../kernel/mod.ts";
import type { ServerEnv } from "../env.ts";
import { idPatternMessage } from "../schemas.ts";

/**
 * Creates the middleware that checks every path parameter is a valid id.
 *
 * @returns The middleware.
 */
export function validateParams(): MiddlewareHandler<ServerEnv> {
  return async function validateParams(c, next) {
    for (const [name, value] of Object.entries(c.req.param() as Record<string, string>)) {
      if (!isValidId(value)) {
        const length = (value as string).length;
        const message = length === 0 || length > 128
          ? `${name} may contain only 1 to 128 letters, digits and "-_.:"`
          : idPatternMessage(name, value);
        throw new InvalidArgumentError(message, { field: name });
      }
    }
    await next();
  };
}

/**
 * Creates the middleware that validates the query string.
 *
 * @param schema The route's query schema.
 * @returns The middleware.
 */
export function validateQuery(schema: z.ZodType): MiddlewareHandler<ServerEnv> {
  return async function validateQuery(c, next) {
    c.set("query", validate(schema, c.req.query(), "query"));
    await next();
  };
}

/**
 * Creates the middleware that validates the JSON body read by `jsonBody()`.
 *
 * @param schema The route's body schema.
 * @returns The middleware.
 */
export function validateBody(schema: z.ZodType): MiddlewareHandler<ServerEnv> {
  return async function validateBody(c, next) {
    c.set("body", validate(schema, c.var.json ?? {}, "body"));
    await next();
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
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.join("."),
    message: issue.message,
  }));
  const first = issues[0]!;
  const field = first.path === "" ? undefined : first.path;
  throw new InvalidArgumentError(
    `Invalid ${where}: ${field === undefined ? "" : `${field}: `}${first.message}`,
    { ...(field === undefined ? {} : { field }), details: { issues } },
  );
}
