/**
 * `errorHandler()`: the app's one error handler (`app.onError`). Anything a
 * middleware or route handler throws becomes the v1 error envelope with the
 * mapped status (see `envelope.ts`); an unexpected failure (a 500) is also
 * logged, with the request id and the stack.
 *
 * @module
 */

import type { ErrorHandler } from "hono";
import type { Logger } from "../kernel/mod.ts";
import { errorResponse, requestIdOf, toApiError } from "./envelope.ts";
import type { ServerEnv } from "./env.ts";

/**
 * Creates the error handler.
 *
 * @param logger Where unexpected failures are logged.
 * @returns The handler for `app.onError`.
 */
export function errorHandler(logger: Logger): ErrorHandler<ServerEnv> {
  return function errorHandler(thrown, c) {
    const mapped = toApiError(thrown);
    if (mapped.unexpected) {
      logger.error("request failed", {
        request_id: requestIdOf(c),
        error: mapped.error.message,
        stack: thrown instanceof Error ? thrown.stack : undefined,
      });
    }
    return errorResponse(c, thrown, mapped);
  };
}
