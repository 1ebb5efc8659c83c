/**
 * Branded ids and their generator. Generated ids are ULIDs behind a short
 * prefix: they sort by creation time (monotonic within one generator, even
 * when the clock stands still or steps back) and carry 80 random bits, so
 * generators in different processes do not collide.
 *
 * @module
 */

import { InvalidArgumentError } from "./errors.ts";
import { sha256Hex } from "./hash.ts";

/** A run's identity, chosen by the caller: 1 to 128 of `[A-Za-z0-9-_.:]`, not only dots. */
export type ThreadId = string & { readonly __brand: "ThreadId" };
/** The id of a committed step (a checkpoint) of a run. */
export type CheckpointId = string & { readonly __brand: "CheckpointId" };
/** The id of one execution attempt of a run. */
export type AttemptId = string & { readonly __brand: "AttemptId" };
/** The id of one pending human input. */
export type InterruptId = string & { readonly __brand: "InterruptId" };

/**
 * The one pattern of caller-given ids (thread, interrupt, checkpoint, key
 * ids): 1 to 128 characters of `[A-Za-z0-9-_.:]`, not only dots (`.` and
 * `..` are path segments that URL clients normalise away, so an id made of
 * dots could not be reached in a URL). {@linkcode isValidId} tests it; the
 * server's request schemas and OpenAPI document use it too.
 *
 * @example
 * ```ts
 * import { ID_PATTERN } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(ID_PATTERN.test("order-42:v1"));
 * assert.ok(!ID_PATTERN.test("x".repeat(129)));
 * assert.ok(!ID_PATTERN.test(".."));
 * ```
 */
export const ID_PATTERN: RegExp = /^(?!\.+$)[A-Za-z0-9\-_.:]{1,128}$/;

/**
 * Checks a caller-given id: 1 to 128 characters of `[A-Za-z0-9-_.:]`, not
 * only dots.
 *
 * @param value Anything.
 * @returns Whether `value` is a valid id.
 *
 * @example
 * ```ts
 * import { isValidId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(isValidId("order-42:v1"));
 * assert.ok(!isValidId("has space"));
 * assert.ok(!isValidId("."));
 * ```
 */
export function isValidId(value: unknown): value is string {
  if (typeof value !== "string" || value.length === 0 || value.length > 128) return false;
  // `ID_PATTERN`, by character codes: ids are checked at every layer of every step.
  let dots = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || ID_CHARS[code] === 0) return false;
    if (code === 46) dots++;
  }
  return dots < value.length;
}

/** 1 for the characters an id may hold (`[A-Za-z0-9-_.:]`), by character code. */
const ID_CHARS = Uint8Array.from(
  { length: 128 },
  (_, code) => /[A-Za-z0-9\-_.:]/.test(String.fromCharCode(code)) ? 1 : 0,
);

function parseId(value: unknown, field: string): string {
  if (typeof value !== "string") {
    throw new InvalidArgumentError(`${field} must be a string`, { field });
  }
  if (value.length === 0) throw new InvalidArgumentError(`${field} must not be empty`, { field });
  if (value.length > 128) {
    throw new InvalidArgumentError(`${field} must be at most 128 characters, got ${value.length}`, {
      field,
    });
  }
  if (!isValidId(value)) {
    throw new InvalidArgumentError(
      /^\.+$/.test(value)
        ? `${field} must not be made only of dots, got ${JSON.stringify(value)}`
        : `${field} may contain only letters, digits and "-_.:", got ${JSON.stringify(value)}`,
      { field },
    );
  }
  return value;
}

/**
 * Validates a caller-given thread id.
 *
 * @param value Anything.
 * @returns The value as a {@linkcode ThreadId}.
 * @throws {InvalidArgumentError} when it is not 1 to 128 of `[A-Za-z0-9-_.:]`, or only dots.
 *
 * @example
 * ```ts
 * import { parseThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseThreadId("t-1"), "t-1");
 * assert.throws(() => parseThreadId(""), /thread_id must not be empty/);
 * ```
 */
export function parseThreadId(value: unknown): ThreadId {
  return parseId(value, "thread_id") as ThreadId;
}

/**
 * Validates a checkpoint id given by a caller.
 *
 * @param value Anything.
 * @returns The value as a {@linkcode CheckpointId}.
 * @throws {InvalidArgumentError} when it is not a well-formed id.
 *
 * @example
 * ```ts
 * import { parseCheckpointId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => parseCheckpointId("a/b"), /checkpoint_id may contain only/);
 * ```
 */
export function parseCheckpointId(value: unknown): CheckpointId {
  return parseId(value, "checkpoint_id") as CheckpointId;
}

/**
 * Validates an interrupt id given by a caller.
 *
 * @param value Anything.
 * @returns The value as an {@linkcode InterruptId}.
 * @throws {InvalidArgumentError} when it is not a well-formed id.
 *
 * @example
 * ```ts
 * import { parseInterruptId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseInterruptId("in_01"), "in_01");
 * ```
 */
export function parseInterruptId(value: unknown): InterruptId {
  return parseId(value, "interrupt_id") as InterruptId;
}

/**
 * Validates an attempt id given by a caller.
 *
 * @param value Anything.
 * @returns The value as an {@linkcode AttemptId}.
 * @throws {InvalidArgumentError} when it is not a well-formed id.
 *
 * @example
 * ```ts
 * import { parseAttemptId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseAttemptId("at_01"), "at_01");
 * ```
 */
export function parseAttemptId(value: unknown): AttemptId {
  return parseId(value, "attempt_id") as AttemptId;
}

/**
 * Validates a graph name: 1 to 128 of `[A-Za-z0-9-_.:]`, not only dots.
 *
 * @param value Anything.
 * @returns The name.
 * @throws {InvalidArgumentError} otherwise.
 *
 * @example
 * ```ts
 * import { parseGraphName } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseGraphName("hello"), "hello");
 * assert.throws(() => parseGraphName("a b"), /graph may contain only/);
 * ```
 */
export function parseGraphName(value: unknown): string {
  if (!isValidId(value)) {
    throw new InvalidArgumentError(
      `graph may contain only 1 to 128 letters, digits and "-_.:" (not only dots), got ${
        JSON.stringify(value)
      }`,
      { field: "graph" },
    );
  }
  return value;
}

/**
 * Where generated ids get their time and randomness. The kernel does no I/O:
 * the runtime injects a real source, tests inject a fixed one.
 */
export interface IdSource {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Fills `bytes` with random bytes and returns it. */
  randomBytes(bytes: Uint8Array): Uint8Array;
}

/** Makes sortable, collision-free ids. See {@linkcode createIdGenerator}. */
export interface IdGenerator {
  /** A new checkpoint id (`cp_` + ULID). */
  checkpointId(): CheckpointId;
  /** A new attempt id (`at_` + ULID). */
  attemptId(): AttemptId;
  /** A new interrupt id (`in_` + ULID). */
  interruptId(): InterruptId;
  /** A new ULID with no prefix. */
  ulid(): string;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CROCKFORD_CODES = Array.from(CROCKFORD, (digit) => digit.charCodeAt(0));
const MAX_TIME = 2 ** 48 - 1;

/**
 * Creates an id generator over an injected time and randomness source.
 * Ids from one generator are strictly increasing; ids from different
 * generators differ in 80 random bits.
 *
 * @param source The clock and random bytes.
 * @returns An {@linkcode IdGenerator}.
 *
 * @example Ids sort in creation order
 * ```ts
 * import { createIdGenerator } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const ids = createIdGenerator({ now: () => 0, randomBytes: (b) => crypto.getRandomValues(b) });
 * const a = ids.checkpointId();
 * const b = ids.checkpointId();
 * assert.ok(a < b);
 * assert.match(a, /^cp_[0-9A-HJKMNP-TV-Z]{26}$/);
 * ```
 */
export function createIdGenerator(source: IdSource): IdGenerator {
  let lastTime = -1;
  const random = new Array<number>(16).fill(0);

  /** A new ULID after `prefix` (character codes), as one flat string. */
  function next(prefix: readonly number[]): string {
    let time = Math.floor(source.now());
    if (!Number.isSafeInteger(time) || time < 0 || time > MAX_TIME) {
      throw new RangeError(`Cannot make an id: the clock returned ${time}`);
    }
    if (time <= lastTime) {
      time = lastTime;
      if (!increment(random)) {
        time = lastTime + 1;
        fillRandom();
      }
    } else {
      fillRandom();
    }
    lastTime = time;
    // One flat string from character codes: no string per digit, and ids
    // checked later (character by character) need no flattening.
    const codes = prefix.length === 3 ? prefixed : plain;
    const at = prefix.length;
    for (let i = 0; i < at; i++) codes[i] = prefix[i]!;
    for (let i = 9, t = time; i >= 0; i--, t = Math.floor(t / 32)) {
      codes[at + i] = CROCKFORD_CODES[t % 32]!;
    }
    for (let i = 0; i < 16; i++) codes[at + 10 + i] = CROCKFORD_CODES[random[i]!]!;
    return String.fromCharCode.apply(null, codes);
  }
  const plain = new Array<number>(26).fill(0);
  const prefixed = new Array<number>(29).fill(0);

  const buffer = new Uint8Array(16);
  function fillRandom(): void {
    const bytes = source.randomBytes(buffer);
    // 16 digits of 5 bits; the top bit of the first digit is kept clear so a
    // run of increments within one millisecond has room before it carries.
    for (let i = 0; i < 16; i++) random[i] = (bytes[i] ?? 0) & (i === 0 ? 0x0f : 0x1f);
  }

  return {
    checkpointId: () => next(CP) as CheckpointId,
    attemptId: () => next(AT) as AttemptId,
    interruptId: () => next(IN) as InterruptId,
    ulid: () => next(NO_PREFIX),
  };
}

const codesOf = (text: string) => Array.from(text, (char) => char.charCodeAt(0));
const CP = codesOf("cp_");
const AT = codesOf("at_");
const IN = codesOf("in_");
const NO_PREFIX: number[] = [];

function increment(digits: number[]): boolean {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i] = digits[i]! + 1;
      return true;
    }
    digits[i] = 0;
  }
  return false;
}

/**
 * The id of the interrupt raised by a task's `index`-th `interrupt()` call in
 * a superstep. Deterministic, so that an interrupt raised again (after a
 * partial resume, a crash, or in replay) keeps its id; unique because a run
 * never repeats a step number and other runs hash differently.
 *
 * @param threadId The run.
 * @param step The superstep.
 * @param taskId The task.
 * @param index Which `interrupt()` call of the task, from 0.
 * @returns `in_` and 32 hex digits.
 *
 * @example
 * ```ts
 * import { interruptIdFor, type ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * const id = interruptIdFor("t-1" as ThreadId, 3, "3:approve", 0);
 * assert.equal(id, interruptIdFor("t-1" as ThreadId, 3, "3:approve", 0));
 * assert.notEqual(id, interruptIdFor("t-1" as ThreadId, 3, "3:approve", 1));
 * ```
 */
export function interruptIdFor(
  threadId: ThreadId,
  step: number,
  taskId: string,
  index: number,
): InterruptId {
  return `in_${
    sha256Hex(JSON.stringify([threadId, step, taskId, index])).slice(0, 32)
  }` as InterruptId;
}
