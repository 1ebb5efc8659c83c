import assert from "node:assert/strict";
import { InvalidArgumentError } from "../kernel/mod.ts";
import { validate } from "./middleware/validate.ts";
import {
  CancelJobBody,
  HistoryQuery,
  ListAuditQuery,
  ListInterruptsQuery,
  ListJobsQuery,
  ResumeInterruptBody,
  ResumeJobBody,
  RunJobBody,
  StreamJobQuery,
} from "./schemas.ts";
import type { z } from "zod";

/** The message and field of the error `validate()` throws for `value`. */
function refusal(
  schema: z.ZodType,
  value: unknown,
  where = "body",
): { message: string; field: string | undefined } {
  try {
    validate(schema, value, where);
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, String(error));
    return { message: error.message, field: error.field };
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
}

function assertMessage(schema: z.ZodType, value: unknown, message: string, where = "body"): void {
  assert.equal(refusal(schema, value, where).message, message, JSON.stringify(value));
}

Deno.test("validate() says a missing field is required, and a wrong type what it must be", () => {
  assertMessage(RunJobBody, {}, "Invalid body: thread_id is required");
  assertMessage(RunJobBody, { thread_id: 5 }, "Invalid body: thread_id must be a string");
  assertMessage(RunJobBody, { thread_id: null }, "Invalid body: thread_id must be a string");
  assertMessage(
    RunJobBody,
    { thread_id: "t", timeout_policy: {} },
    "Invalid body: timeout_policy.timeout_ms is required",
  );
  assertMessage(
    RunJobBody,
    { thread_id: "t", timeout_policy: { timeout_ms: 10 } },
    "Invalid body: timeout_policy.on_timeout_status is required",
  );
  assertMessage(
    RunJobBody,
    { thread_id: "t", timeout_policy: 5 },
    "Invalid body: timeout_policy must be an object",
  );
  assertMessage(CancelJobBody, { reason: ["no"] }, "Invalid body: reason must be a string");
  assertMessage(ResumeJobBody, { values: 5 }, "Invalid body: values must be an object");
  assert.equal(refusal(RunJobBody, {}).field, "thread_id");
});

Deno.test("validate() says what a resume's value is when it is missing", () => {
  assertMessage(ResumeInterruptBody, {}, "Invalid body: value is required (any JSON value)");
  // Neither value nor values continues a paused run: the route refuses it for other runs.
  assert.deepEqual(validate(ResumeJobBody, {}, "body"), {});
  assertMessage(
    ResumeJobBody,
    { value: 1, values: { in_1: 1 } },
    "Invalid body: value and values cannot both be given: value answers the only pending interrupt",
  );
  // null is an answer.
  assert.deepEqual(validate(ResumeInterruptBody, { value: null }, "body"), { value: null });
});

Deno.test("validate() gives one message for every value outside a bound: the whole range", () => {
  for (const priority of [-1, 101, 1.5, "high"]) {
    assertMessage(
      RunJobBody,
      { thread_id: "t", priority },
      "Invalid body: priority must be a whole number from 0 to 100",
    );
  }
  for (const wait_ms of [-1, 300_001, "10"]) {
    assertMessage(
      RunJobBody,
      { thread_id: "t", wait_ms },
      "Invalid body: wait_ms must be a whole number from 0 to 300000",
    );
  }
  for (const idempotency_key of ["", "k".repeat(257)]) {
    assertMessage(
      RunJobBody,
      { thread_id: "t", idempotency_key },
      "Invalid body: idempotency_key must be 1 to 256 characters",
    );
  }
  assertMessage(
    CancelJobBody,
    { reason: "x".repeat(1001) },
    "Invalid body: reason must be at most 1000 characters",
  );
  assertMessage(
    RunJobBody,
    { thread_id: "t", timeout_policy: { timeout_ms: 0, on_timeout_status: "failed" } },
    "Invalid body: timeout_policy.timeout_ms must be a whole number from 1 to 604800000",
  );
  for (const limit of ["-1", "0", "201", "abc", "1.5", "", "99999999999999999999"]) {
    assertMessage(
      ListJobsQuery,
      { limit },
      "Invalid query: limit must be a whole number from 1 to 200",
      "query",
    );
  }
  for (const offset of ["-1", "100001", "x"]) {
    assertMessage(
      ListJobsQuery,
      { offset },
      "Invalid query: offset must be a whole number from 0 to 100000",
      "query",
    );
  }
  assertMessage(
    ListInterruptsQuery,
    { limit: "0" },
    "Invalid query: limit must be a whole number from 1 to 200",
    "query",
  );
  assertMessage(
    ListAuditQuery,
    { limit: "-1" },
    "Invalid query: limit must be a whole number from 1 to 500",
    "query",
  );
  assertMessage(
    HistoryQuery,
    { limit: "1001" },
    "Invalid query: limit must be a whole number from 1 to 1000",
    "query",
  );
  assertMessage(
    StreamJobQuery,
    { from_seq: "0" },
    "Invalid query: from_seq must be a whole number from 1 to 9007199254740991",
    "query",
  );
});

Deno.test("validate() names unknown fields and parameters, and the allowed values of enums", () => {
  assertMessage(RunJobBody, { thread_id: "t", bogus: 1 }, 'Invalid body: unknown field "bogus"');
  assertMessage(
    RunJobBody,
    { thread_id: "t", a: 1, b: 2 },
    'Invalid body: unknown fields "a", "b"',
  );
  assertMessage(ListJobsQuery, { foo: "1" }, 'Invalid query: unknown parameter "foo"', "query");
  assertMessage(
    RunJobBody,
    { thread_id: "t", timeout_policy: { timeout_ms: 10, on_timeout_status: "paused" } },
    'Invalid body: timeout_policy.on_timeout_status must be one of "failed", "cancelled"',
  );
  assertMessage(
    ListAuditQuery,
    { from_ms: "5", to_ms: "1" },
    "Invalid query: from_ms must not be after to_ms",
    "query",
  );
  assertMessage(
    ListAuditQuery,
    { request_id: "" },
    'Invalid query: request_id must be 1 to 128 of letters, digits and "-_.:" (as x-request-id)',
    "query",
  );
});
