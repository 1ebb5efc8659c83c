/**
 * The error hierarchy: one root class ({@linkcode OrisError}) with a stable
 * machine `code`, and subclasses that carry the facts of what went wrong.
 *
 * The kernel knows nothing of HTTP; `server/` maps codes to statuses.
 *
 * @module
 */

/**
 * The stable machine codes of every error Oris raises.
 *
 * `invalid_argument`, `not_found`, `conflict`, `unauthorized`, `forbidden`
 * and `internal` are the control-plane codes of the Oris v1 API;
 * `nondeterminism`, `cancelled`, `timeout`, `unavailable`, `terminal` and
 * `graph_changed` (a run needs a node its graph no longer has) are kernel
 * codes.
 */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "conflict"
  | "unauthorized"
  | "forbidden"
  | "internal"
  | "nondeterminism"
  | "cancelled"
  | "timeout"
  | "unavailable"
  | "terminal"
  | "graph_changed";

/** Every code of {@linkcode ErrorCode}, in a stable order. */
export const ERROR_CODES: readonly ErrorCode[] = [
  "invalid_argument",
  "not_found",
  "conflict",
  "unauthorized",
  "forbidden",
  "internal",
  "nondeterminism",
  "cancelled",
  "timeout",
  "unavailable",
  "terminal",
  "graph_changed",
];

/** Options of {@linkcode OrisError}. */
export interface OrisErrorOptions extends ErrorOptions {
  /** Structured, JSON-safe facts about the error, shown to API clients. */
  details?: Record<string, unknown>;
}

/**
 * The root of every error Oris raises. `code` is stable and safe to branch on;
 * `message` is for people.
 *
 * @example Branch on the code
 * ```ts
 * import { OrisError, NotFoundError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error: unknown = new NotFoundError("run", "t-1");
 * assert.ok(error instanceof OrisError);
 * assert.equal(error.code, "not_found");
 * ```
 */
export class OrisError extends Error {
  /** The stable machine code. */
  readonly code: ErrorCode;
  /** Structured facts about the error. */
  readonly details: Record<string, unknown>;
  /** The error class name. */
  override name = "OrisError";

  /**
   * Creates the error.
   *
   * @param code The stable machine code.
   * @param message A sentence-case message for people.
   * @param options `cause` and `details`.
   */
  constructor(code: ErrorCode, message: string, options: OrisErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/**
 * A caller passed something that can never work: bad ids, values that are not
 * JSON, unknown fields.
 *
 * @example
 * ```ts
 * import { InvalidArgumentError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new InvalidArgumentError("Thread id must not be empty", { field: "thread_id" });
 * assert.equal(error.field, "thread_id");
 * ```
 */
export class InvalidArgumentError extends OrisError {
  /** The offending field or JSON path, when known. */
  readonly field: string | undefined;
  /** The error class name. */
  override name = "InvalidArgumentError";

  /**
   * Creates the error.
   *
   * @param message What is wrong, e.g. `Thread id must not be empty`.
   * @param options The offending `field`, plus `cause` and `details`.
   */
  constructor(message: string, options: OrisErrorOptions & { field?: string } = {}) {
    super("invalid_argument", message, {
      ...options,
      details: {
        ...(options.field === undefined ? {} : { field: options.field }),
        ...options.details,
      },
    });
    this.field = options.field;
  }
}

/**
 * A thing that was asked for does not exist.
 *
 * @example
 * ```ts
 * import { NotFoundError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new NotFoundError("checkpoint", "cp_1");
 * assert.equal(error.message, 'Cannot find checkpoint "cp_1"');
 * ```
 */
export class NotFoundError extends OrisError {
  /** What kind of thing was missing: `run`, `checkpoint`, ... */
  readonly resource: string;
  /** Its id. */
  readonly id: string;
  /** The error class name. */
  override name = "NotFoundError";

  /**
   * Creates the error.
   *
   * @param resource The kind of thing, e.g. `run`.
   * @param id Its id.
   * @param options `cause` and extra `details`.
   */
  constructor(resource: string, id: string, options: OrisErrorOptions = {}) {
    super("not_found", `Cannot find ${resource} "${id}"`, {
      ...options,
      details: { resource, id, ...options.details },
    });
    this.resource = resource;
    this.id = id;
  }
}

/**
 * The request is valid but clashes with the current state of the world.
 * Subclasses say how.
 *
 * @example
 * ```ts
 * import { ConflictError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ConflictError('Thread "t" is cancelled').code, "conflict");
 * ```
 */
export class ConflictError extends OrisError {
  /** The error class name. */
  override name = "ConflictError";

  /**
   * Creates the error.
   *
   * @param message What clashes, e.g. `Thread "t-1" is cancelled`.
   * @param options `cause` and `details`.
   */
  constructor(message: string, options: OrisErrorOptions = {}) {
    super("conflict", message, options);
  }
}

/**
 * An append was made against a version of the run that is no longer current
 * (optimistic concurrency). Nothing of it was written.
 *
 * @example
 * ```ts
 * import { VersionConflictError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new VersionConflictError("t-1", 4, 5);
 * assert.equal(error.message, 'Cannot append to run "t-1": expected version 4, current version is 5');
 * ```
 */
export class VersionConflictError extends ConflictError {
  /** The run. */
  readonly threadId: string;
  /** The version the writer expected. */
  readonly expectedVersion: number;
  /** The version in the store, or `null` when the run does not exist. */
  readonly actualVersion: number | null;
  /** The error class name. */
  override name = "VersionConflictError";

  /**
   * Creates the error.
   *
   * @param threadId The run.
   * @param expectedVersion The version the writer expected.
   * @param actualVersion The version in the store (`null`: no such run).
   */
  constructor(threadId: string, expectedVersion: number, actualVersion: number | null) {
    super(
      `Cannot append to run "${threadId}": expected version ${expectedVersion}, ` +
        (actualVersion === null ? "the run does not exist" : `current version is ${actualVersion}`),
      {
        details: {
          thread_id: threadId,
          expected_version: expectedVersion,
          actual_version: actualVersion,
        },
      },
    );
    this.threadId = threadId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/**
 * A commit (or effect record) of a run was made under a lease that is no
 * longer the run's current one: another runtime acquired the run since (its
 * fencing token is higher). Nothing of it was written; the runtime that gets
 * it stops executing the run at once.
 *
 * @example
 * ```ts
 * import { LeaseLostError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new LeaseLostError("t-1", 3, 4);
 * assert.equal(error.code, "conflict");
 * assert.equal(error.message, 'Cannot write to run "t-1": its lease 3 was lost (current lease 4)');
 * ```
 */
export class LeaseLostError extends ConflictError {
  /** The run. */
  readonly threadId: string;
  /** The fencing token the writer held. */
  readonly token: number;
  /** The run's current fencing token, or `null` when unknown. */
  readonly currentToken: number | null;
  /** The error class name. */
  override name = "LeaseLostError";

  /**
   * Creates the error.
   *
   * @param threadId The run.
   * @param token The fencing token the writer held.
   * @param currentToken The run's current token (`null`: unknown, e.g. the lease expired locally).
   */
  constructor(threadId: string, token: number, currentToken: number | null) {
    super(
      `Cannot write to run "${threadId}": its lease ${token} was lost` +
        (currentToken === null ? "" : ` (current lease ${currentToken})`),
      { details: { thread_id: threadId, token, current_token: currentToken } },
    );
    this.threadId = threadId;
    this.token = token;
    this.currentToken = currentToken;
  }
}

/**
 * A run was created again with the same thread id but a different payload.
 *
 * @example
 * ```ts
 * import { IdempotencyConflictError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new IdempotencyConflictError("t-1").threadId, "t-1");
 * ```
 */
export class IdempotencyConflictError extends ConflictError {
  /** The run. */
  readonly threadId: string;
  /** The error class name. */
  override name = "IdempotencyConflictError";

  /**
   * Creates the error.
   *
   * @param threadId The run that already exists with another payload.
   */
  constructor(threadId: string) {
    super(`Cannot create run "${threadId}": it exists with a different payload`, {
      details: { thread_id: threadId },
    });
    this.threadId = threadId;
  }
}

/**
 * An event does not apply to the run in its current status, e.g. anything
 * after a terminal state, or a resume without a pending interrupt.
 *
 * @example
 * ```ts
 * import { IllegalTransitionError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new IllegalTransitionError("t-1", "completed", "run.resumed");
 * assert.equal(error.code, "conflict");
 * assert.equal(error.status, "completed");
 * ```
 */
export class IllegalTransitionError extends ConflictError {
  /** The run. */
  readonly threadId: string;
  /** The run's status when the event arrived. */
  readonly status: string;
  /** The event type that does not apply. */
  readonly eventType: string;
  /** The error class name. */
  override name = "IllegalTransitionError";

  /**
   * Creates the error.
   *
   * @param threadId The run.
   * @param status Its current status.
   * @param eventType The event that does not apply.
   * @param reason Why, when more than the status explains it.
   */
  constructor(threadId: string, status: string, eventType: string, reason?: string) {
    super(
      `Cannot apply "${eventType}" to run "${threadId}": ` + (reason ?? `the run is ${status}`),
      { details: { thread_id: threadId, status, event_type: eventType } },
    );
    this.threadId = threadId;
    this.status = status;
    this.eventType = eventType;
  }
}

/**
 * Replay produced a different result from the recorded one: the graph or a
 * node is not deterministic.
 *
 * @example
 * ```ts
 * import { NondeterminismError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new NondeterminismError({ threadId: "t", step: 3, node: "plan", recorded: 1, replayed: 2 });
 * assert.equal(error.node, "plan");
 * ```
 */
export class NondeterminismError extends OrisError {
  /** The run. */
  readonly threadId: string;
  /** The superstep where replay diverged. */
  readonly step: number;
  /** The node whose output differs. */
  readonly node: string;
  /** What the log recorded. */
  readonly recorded: unknown;
  /** What replay produced. */
  readonly replayed: unknown;
  /** The error class name. */
  override name = "NondeterminismError";

  /**
   * Creates the error.
   *
   * @param facts The run, step, node and the two values.
   */
  constructor(
    facts: { threadId: string; step: number; node: string; recorded: unknown; replayed: unknown },
  ) {
    super(
      "nondeterminism",
      `Replay of run "${facts.threadId}" diverged at step ${facts.step} in node "${facts.node}"`,
      {
        details: {
          thread_id: facts.threadId,
          step: facts.step,
          node: facts.node,
          recorded: facts.recorded,
          replayed: facts.replayed,
        },
      },
    );
    this.threadId = facts.threadId;
    this.step = facts.step;
    this.node = facts.node;
    this.recorded = facts.recorded;
    this.replayed = facts.replayed;
  }
}

/**
 * A storage backend failed (the driver error is the `cause`). `retryable`
 * says whether the same call may succeed later.
 *
 * @example
 * ```ts
 * import { StorageError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new StorageError("Connection refused", { retryable: true });
 * assert.equal(error.code, "unavailable");
 * ```
 */
export class StorageError extends OrisError {
  /** Whether retrying the same call may succeed. */
  readonly retryable: boolean;
  /** The error class name. */
  override name = "StorageError";

  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options `retryable` (default `false`; `true` maps to code `unavailable`), `cause`, `details`.
   */
  constructor(message: string, options: OrisErrorOptions & { retryable?: boolean } = {}) {
    super(options.retryable ? "unavailable" : "internal", message, options);
    this.retryable = options.retryable ?? false;
  }
}

/**
 * Thrown by a node to fail its run for good: the node is not retried, whatever
 * its retry policy says, and the run ends `failed` with code `terminal` and
 * this message (as Restate's `TerminalError`). Use it for failures that no
 * retry can mend: a refused payment, an invalid order.
 *
 * @example Fail a run without retries
 * ```ts
 * import { TerminalError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new TerminalError("Card declined", { details: { order: 42 } });
 * assert.equal(error.code, "terminal");
 * assert.deepEqual(error.details, { order: 42 });
 * ```
 */
export class TerminalError extends OrisError {
  /** The error class name. */
  override name = "TerminalError";

  /**
   * Creates the error.
   *
   * @param message Why the run fails, for people.
   * @param options `details` (JSON-safe facts) and `cause`.
   */
  constructor(message: string, options: OrisErrorOptions = {}) {
    super("terminal", message, options);
  }
}

/**
 * Returns `error` if it is an {@linkcode OrisError}, otherwise wraps it as an
 * `internal` error with the original as `cause`.
 *
 * @param error Anything thrown.
 * @returns An `OrisError`.
 *
 * @example
 * ```ts
 * import { toOrisError } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toOrisError(new Error("boom")).code, "internal");
 * ```
 */
export function toOrisError(error: unknown): OrisError {
  if (error instanceof OrisError) return error;
  const message = error instanceof Error ? error.message : describe(error);
  return new OrisError("internal", message, { cause: error });
}

// `String()` throws for objects with no string form (e.g. `Object.create(null)`).
function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
