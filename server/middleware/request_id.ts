/**
 * `requestId()`: gives every request an id. A valid `x-request-id` sent by
 * the caller (an id of the kernel's pattern: 1 to 128 of `[A-Za-z0-9-_.:]`, not only dots)
 * is kept, anything else is replaced by a random UUID; the id is the
 * `requestId` variable and the response's `x-request-id` header.
 *
 * Hono's own `requestId()` accepts other characters (`\w` and `-`, up to 255)
 * and would refuse ids with `.` or `:`, so the server has its own.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { isValidId } from "../../kernel/mod.ts";
import type { ServerEnv } from "../env.ts";

/**
 * Creates the request-id middleware.
 *
 * @returns The middleware.
 */
export function requestId(): MiddlewareHandler<ServerEnv> {
  return async function requestId(c, next) {
    const sent = c.req.header("x-request-id");
    const id = isValidId(sent) ? sent : crypto.randomUUID();
    c.set("requestId", id);
    await next();
    c.res.headers.set("x-request-id", id);
  };
}
