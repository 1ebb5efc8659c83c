import assert from "node:assert/strict";
import {
  ConflictError,
  ERROR_CODES,
  IdempotencyConflictError,
  IllegalTransitionError,
  InvalidArgumentError,
  NondeterminismError,
  NotFoundError,
  OrisError,
  StorageError,
  TerminalError,
  toOrisError,
  VersionConflictError,
} from "./errors.ts";

Deno.test("OrisError keeps its code, message, details and cause", () => {
  const cause = new TypeError("driver");
  const error = new OrisError("timeout", "Cannot finish the step: it took too long", {
    cause,
    details: { ms: 10 },
  });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "OrisError");
  assert.equal(error.code, "timeout");
  assert.equal(error.message, "Cannot finish the step: it took too long");
  assert.deepEqual(error.details, { ms: 10 });
  assert.equal(error.cause, cause);
  assert.equal(String(error), "OrisError: Cannot finish the step: it took too long");
  assert.ok(error.stack?.includes("OrisError"));
});

Deno.test("OrisError has empty details and no cause by default", () => {
  const error = new OrisError("internal", "Cannot go on");
  assert.deepEqual(error.details, {});
  assert.equal(error.cause, undefined);
  assert.ok(!("cause" in error));
});

Deno.test("OrisError keeps a cause that is not an Error", () => {
  assert.equal(new OrisError("internal", "x", { cause: "text" }).cause, "text");
  assert.equal(new OrisError("internal", "x", { cause: null }).cause, null);
});

Deno.test("ERROR_CODES lists each code once", () => {
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  assert.deepEqual([...ERROR_CODES].sort(), [
    "cancelled",
    "conflict",
    "forbidden",
    "graph_changed",
    "internal",
    "invalid_argument",
    "nondeterminism",
    "not_found",
    "terminal",
    "timeout",
    "unauthorized",
    "unavailable",
  ]);
});

Deno.test("InvalidArgumentError carries its field in the details", () => {
  const error = new InvalidArgumentError("Cannot store state: state.n is a bigint", {
    field: "state.n",
  });
  assert.ok(error instanceof OrisError);
  assert.equal(error.name, "InvalidArgumentError");
  assert.equal(error.code, "invalid_argument");
  assert.equal(error.field, "state.n");
  assert.deepEqual(error.details, { field: "state.n" });
  assert.equal(error.message, "Cannot store state: state.n is a bigint");
});

Deno.test("InvalidArgumentError without a field has no field detail", () => {
  const error = new InvalidArgumentError("Cannot parse the body");
  assert.equal(error.field, undefined);
  assert.deepEqual(error.details, {});
});

Deno.test("InvalidArgumentError merges extra details and keeps the cause", () => {
  const cause = new SyntaxError("bad JSON");
  const error = new InvalidArgumentError("Cannot parse the body", {
    field: "body",
    details: { at: 3 },
    cause,
  });
  assert.deepEqual(error.details, { field: "body", at: 3 });
  assert.equal(error.cause, cause);
});

Deno.test("NotFoundError names the resource and id", () => {
  const error = new NotFoundError("checkpoint", "cp_1", { details: { thread_id: "t" } });
  assert.ok(error instanceof OrisError);
  assert.equal(error.name, "NotFoundError");
  assert.equal(error.code, "not_found");
  assert.equal(error.resource, "checkpoint");
  assert.equal(error.id, "cp_1");
  assert.equal(error.message, 'Cannot find checkpoint "cp_1"');
  assert.deepEqual(error.details, { resource: "checkpoint", id: "cp_1", thread_id: "t" });
});

Deno.test("ConflictError has code conflict", () => {
  const cause = new Error("raced");
  const error = new ConflictError('Cannot resume run "t": it is cancelled', { cause });
  assert.ok(error instanceof OrisError);
  assert.equal(error.name, "ConflictError");
  assert.equal(error.code, "conflict");
  assert.equal(error.message, 'Cannot resume run "t": it is cancelled');
  assert.deepEqual(error.details, {});
  assert.equal(error.cause, cause);
});

Deno.test("VersionConflictError carries both versions", () => {
  const error = new VersionConflictError("t-1", 4, 5);
  assert.ok(error instanceof VersionConflictError);
  assert.ok(error instanceof ConflictError);
  assert.ok(error instanceof OrisError);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "VersionConflictError");
  assert.equal(error.code, "conflict");
  assert.equal(error.threadId, "t-1");
  assert.equal(error.expectedVersion, 4);
  assert.equal(error.actualVersion, 5);
  assert.equal(
    error.message,
    'Cannot append to run "t-1": expected version 4, current version is 5',
  );
  assert.deepEqual(error.details, { thread_id: "t-1", expected_version: 4, actual_version: 5 });
});

Deno.test("VersionConflictError says when the run does not exist", () => {
  const error = new VersionConflictError("t-2", 3, null);
  assert.equal(error.actualVersion, null);
  assert.equal(
    error.message,
    'Cannot append to run "t-2": expected version 3, the run does not exist',
  );
  assert.deepEqual(error.details, { thread_id: "t-2", expected_version: 3, actual_version: null });
});

Deno.test("IdempotencyConflictError names the run", () => {
  const error = new IdempotencyConflictError("t-1");
  assert.ok(error instanceof ConflictError);
  assert.equal(error.name, "IdempotencyConflictError");
  assert.equal(error.code, "conflict");
  assert.equal(error.threadId, "t-1");
  assert.equal(error.message, 'Cannot create run "t-1": it exists with a different payload');
  assert.deepEqual(error.details, { thread_id: "t-1" });
});

Deno.test("IllegalTransitionError names the run, status and event", () => {
  const error = new IllegalTransitionError("t-1", "completed", "run.resumed");
  assert.ok(error instanceof ConflictError);
  assert.equal(error.name, "IllegalTransitionError");
  assert.equal(error.code, "conflict");
  assert.equal(error.threadId, "t-1");
  assert.equal(error.status, "completed");
  assert.equal(error.eventType, "run.resumed");
  assert.equal(error.message, 'Cannot apply "run.resumed" to run "t-1": the run is completed');
  assert.deepEqual(error.details, {
    thread_id: "t-1",
    status: "completed",
    event_type: "run.resumed",
  });
});

Deno.test("IllegalTransitionError uses the reason when given", () => {
  const error = new IllegalTransitionError(
    "t",
    "running",
    "run.resumed",
    "no interrupt is pending",
  );
  assert.equal(error.message, 'Cannot apply "run.resumed" to run "t": no interrupt is pending');
  assert.equal(error.status, "running");
});

Deno.test("NondeterminismError carries the diverging step, node and values", () => {
  const error = new NondeterminismError({
    threadId: "t",
    step: 3,
    node: "plan",
    recorded: { a: 1 },
    replayed: { a: 2 },
  });
  assert.ok(error instanceof OrisError);
  assert.ok(!(error instanceof ConflictError));
  assert.equal(error.name, "NondeterminismError");
  assert.equal(error.code, "nondeterminism");
  assert.equal(error.threadId, "t");
  assert.equal(error.step, 3);
  assert.equal(error.node, "plan");
  assert.deepEqual(error.recorded, { a: 1 });
  assert.deepEqual(error.replayed, { a: 2 });
  assert.equal(error.message, 'Replay of run "t" diverged at step 3 in node "plan"');
  assert.deepEqual(error.details, {
    thread_id: "t",
    step: 3,
    node: "plan",
    recorded: { a: 1 },
    replayed: { a: 2 },
  });
});

Deno.test("StorageError maps retryable to unavailable and keeps the driver error", () => {
  const cause = new Error("ECONNREFUSED");
  const retryable = new StorageError("Cannot reach the database", { retryable: true, cause });
  assert.ok(retryable instanceof OrisError);
  assert.equal(retryable.name, "StorageError");
  assert.equal(retryable.code, "unavailable");
  assert.equal(retryable.retryable, true);
  assert.equal(retryable.cause, cause);
  assert.equal(retryable.message, "Cannot reach the database");

  const permanent = new StorageError("Cannot write: disk full", { details: { table: "events" } });
  assert.equal(permanent.code, "internal");
  assert.equal(permanent.retryable, false);
  assert.deepEqual(permanent.details, { table: "events" });
  assert.equal(new StorageError("x", { retryable: false }).code, "internal");
});

Deno.test("every error class sets its name and a code from ERROR_CODES", () => {
  const errors: [OrisError, string][] = [
    [new OrisError("cancelled", "x"), "OrisError"],
    [new InvalidArgumentError("x"), "InvalidArgumentError"],
    [new NotFoundError("run", "t"), "NotFoundError"],
    [new ConflictError("x"), "ConflictError"],
    [new VersionConflictError("t", 1, 2), "VersionConflictError"],
    [new IdempotencyConflictError("t"), "IdempotencyConflictError"],
    [new IllegalTransitionError("t", "queued", "run.completed"), "IllegalTransitionError"],
    [
      new NondeterminismError({ threadId: "t", step: 1, node: "n", recorded: 1, replayed: 2 }),
      "NondeterminismError",
    ],
    [new StorageError("x"), "StorageError"],
    [new TerminalError("x"), "TerminalError"],
  ];
  for (const [error, name] of errors) {
    assert.equal(error.name, name);
    assert.equal(error.constructor.name, name);
    assert.ok(ERROR_CODES.includes(error.code), `${name}: ${error.code}`);
    assert.ok(String(error).startsWith(`${name}: `));
    assert.ok(error instanceof Error);
  }
});

Deno.test("toOrisError() returns an OrisError unchanged", () => {
  const error = new VersionConflictError("t", 1, 2);
  assert.equal(toOrisError(error), error);
  const plain = new OrisError("timeout", "x");
  assert.equal(toOrisError(plain), plain);
});

Deno.test("toOrisError() wraps other errors as internal with the original as cause", () => {
  const original = new TypeError("Cannot read properties of undefined");
  const wrapped = toOrisError(original);
  assert.ok(wrapped instanceof OrisError);
  assert.equal(wrapped.code, "internal");
  assert.equal(wrapped.name, "OrisError");
  assert.equal(wrapped.message, "Cannot read properties of undefined");
  assert.equal(wrapped.cause, original);
  assert.deepEqual(wrapped.details, {});
});

Deno.test("toOrisError() wraps thrown values that are not errors", () => {
  const cases: [unknown, string][] = [
    ["boom", "boom"],
    [42, "42"],
    [undefined, "undefined"],
    [null, "null"],
    [{ toString: () => "custom" }, "custom"],
    [Symbol("s"), "Symbol(s)"],
  ];
  for (const [value, message] of cases) {
    const wrapped = toOrisError(value);
    assert.equal(wrapped.code, "internal");
    assert.equal(wrapped.message, message);
    assert.equal(wrapped.cause, value);
  }
});

Deno.test("toOrisError() wraps a thrown value that has no string form", () => {
  const bare = Object.create(null);
  const wrapped = toOrisError(bare);
  assert.equal(wrapped.code, "internal");
  assert.equal(wrapped.message, "[object Object]");
  assert.equal(wrapped.cause, bare);
  const hostile = {
    toString() {
      throw new Error("no");
    },
  };
  assert.equal(toOrisError(hostile).code, "internal");
});
