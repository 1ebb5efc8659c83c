import assert from "node:assert/strict";
import { Hono } from "hono";
import { ERROR_CODES, OrisError, StorageError } from "../kernel/mod.ts";
import type { ServerEnv } from "./env.ts";
import { errorResponse, toApiError } from "./envelope.ts";
import { type ApiErrorCode, ERROR_STATUS } from "./error_codes.ts";
import { ErrorEnvelope } from "./responses.ts";

/** The error response of a route that throws `error`. */
async function thrown(error: unknown): Promise<Response> {
  const app = new Hono<ServerEnv>();
  app.get("/", () => {
    throw error;
  });
  app.onError((caught, c) => errorResponse(c, caught));
  return await app.request("/");
}

Deno.test("toApiError() maps a store that cannot be reached to 503 unavailable", () => {
  const mapped = toApiError(
    new StorageError('Cannot load run "t": connect ECONNREFUSED', { retryable: true }),
  );
  assert.equal(mapped.status, 503);
  assert.equal(mapped.body.code, "unavailable");
  assert.equal(mapped.body.message, 'Cannot load run "t": connect ECONNREFUSED');
  assert.equal(mapped.body.details, null, "no reason: the code says it");
  assert.equal(mapped.unexpected, false);
});

Deno.test("toApiError() maps a timeout to 504 timeout", () => {
  const mapped = toApiError(new OrisError("timeout", "The run took longer than 5 ms"));
  assert.equal(mapped.status, 504);
  assert.equal(mapped.body.code, "timeout");
});

Deno.test("an unavailable error carries Retry-After; other errors do not", async () => {
  const unavailable = await thrown(new StorageError("Connection refused", { retryable: true }));
  assert.equal(unavailable.status, 503);
  assert.equal(unavailable.headers.get("retry-after"), "1");
  assert.equal((await unavailable.json()).error.code, "unavailable");
  for (const error of [new Error("boom"), new OrisError("timeout", "slow")]) {
    const response = await thrown(error);
    assert.equal(response.headers.get("retry-after"), null, String(error));
    await response.body?.cancel();
  }
});

Deno.test("every kernel code has a v1 code, and the envelope schema and docs list every v1 code", async () => {
  const codes = new Set<ApiErrorCode>(ERROR_CODES.map((code) => ERROR_STATUS[code].code));
  assert.deepEqual(
    [...codes].sort(),
    [
      "conflict",
      "forbidden",
      "internal",
      "invalid_argument",
      "not_found",
      "timeout",
      "unauthorized",
      "unavailable",
    ],
  );
  assert.deepEqual([...ErrorEnvelope.shape.error.shape.code.options].sort(), [...codes].sort());
  const docs = await Deno.readTextFile(new URL("../docs/api.md", import.meta.url));
  for (const code of codes) {
    const status = Object.values(ERROR_STATUS).find((entry) => entry.code === code)!.status;
    assert.match(
      docs,
      new RegExp(`\\| \`${code}\` +\\| ${status}`),
      `${code} is not in docs/api.md`,
    );
  }
});
