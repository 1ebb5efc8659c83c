import assert from "node:assert/strict";
import { InvalidArgumentError } from "./errors.ts";
import {
  createIdGenerator,
  type IdSource,
  isValidId,
  parseAttemptId,
  parseCheckpointId,
  parseInterruptId,
  parseThreadId,
} from "./ids.ts";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** Deterministic "random" bytes from a seeded PRNG (mulberry32). */
function seededBytes(seed: number): (bytes: Uint8Array) => Uint8Array {
  let a = seed >>> 0;
  return function randomBytes(bytes: Uint8Array): Uint8Array {
    for (let i = 0; i < bytes.length; i++) {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      bytes[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
    }
    return bytes;
  };
}

/** A source whose clock returns the given times in turn (then the last one forever). */
function source(times: number[] | number, seed = 1): IdSource {
  const list = typeof times === "number" ? [times] : times;
  let i = 0;
  return {
    now: () => list[Math.min(i++, list.length - 1)]!,
    randomBytes: seededBytes(seed),
  };
}

function decodeTime(ulid: string): number {
  let time = 0;
  for (const char of ulid.slice(0, 10)) time = time * 32 + CROCKFORD.indexOf(char);
  return time;
}

function assertStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1]! < ids[i]!, `id ${i - 1} ${ids[i - 1]} is not before ${ids[i]}`);
  }
}

// ---------------------------------------------------------------------------
// Caller-given ids

const VALID_IDS = [
  "a",
  "0",
  "t-1",
  "order-42:v1",
  "a.b_c-d:e",
  "ABCxyz0189",
  "-",
  ":",
  ".a",
  "a..",
  "..:",
  "x".repeat(128),
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:",
];

Deno.test("parseThreadId() accepts 1 to 128 of [A-Za-z0-9-_.:]", () => {
  for (const id of VALID_IDS) {
    assert.equal(parseThreadId(id), id);
    assert.ok(isValidId(id));
  }
});

function assertRefusedId(parse: (value: unknown) => string, value: unknown, field: string) {
  assert.throws(
    () => parse(value),
    (error: unknown) => {
      assert.ok(error instanceof InvalidArgumentError, `${String(value)}: ${error}`);
      assert.equal(error.code, "invalid_argument");
      assert.equal(error.field, field);
      assert.deepEqual(error.details, { field });
      assert.ok(error.message.startsWith(`${field} `), error.message);
      return true;
    },
  );
}

Deno.test("parseThreadId() refuses empty, too long and ill-formed ids", () => {
  const cases: [unknown, RegExp][] = [
    ["", /: thread_id must not be empty$/],
    ["x".repeat(129), /: thread_id must be at most 128 characters, got 129$/],
    ["a b", /may contain only/],
    [" a", /may contain only/],
    ["a ", /may contain only/],
    ["a/b", /may contain only/],
    ["/", /may contain only/],
    ["a\\b", /may contain only/],
    ["a\n", /may contain only/],
    ["\ta", /may contain only/],
    ["é", /may contain only/],
    ["日本", /may contain only/],
    ["💬", /may contain only/],
    ["a?b", /may contain only/],
    ["a#b", /may contain only/],
    ["a%20b", /may contain only/],
    ["a,b", /may contain only/],
    ["a\u0000", /may contain only/],
    [".", /: thread_id must not be made only of dots, got "\."$/],
    ["..", /: thread_id must not be made only of dots, got "\.\."$/],
    ["...", /must not be made only of dots/],
    [".".repeat(128), /must not be made only of dots/],
  ];
  for (const [value, message] of cases) {
    assertRefusedId(parseThreadId, value, "thread_id");
    assert.throws(() => parseThreadId(value), message);
    assert.ok(!isValidId(value));
  }
});

Deno.test("parseThreadId() refuses values that are not strings", () => {
  for (const value of [undefined, null, 1, 0, true, {}, [], ["a"], new String("a"), Symbol("a")]) {
    assertRefusedId(parseThreadId, value, "thread_id");
    assert.throws(() => parseThreadId(value), /^InvalidArgumentError: thread_id must be a string$/);
    assert.ok(!isValidId(value));
  }
});

Deno.test("parseThreadId() quotes the bad id in its message", () => {
  assert.throws(() => parseThreadId("a/b"), {
    message: 'thread_id may contain only letters, digits and "-_.:", got "a/b"',
  });
});

Deno.test("parseCheckpointId(), parseInterruptId() and parseAttemptId() name their field", () => {
  const parsers: [(value: unknown) => string, string][] = [
    [parseCheckpointId, "checkpoint_id"],
    [parseInterruptId, "interrupt_id"],
    [parseAttemptId, "attempt_id"],
  ];
  for (const [parse, field] of parsers) {
    for (const id of VALID_IDS) assert.equal(parse(id), id);
    for (const value of ["", "x".repeat(129), "a/b", "é", null, 7]) {
      assertRefusedId(parse, value, field);
    }
  }
});

// ---------------------------------------------------------------------------
// Generated ids

Deno.test("createIdGenerator() makes ids in the documented formats", () => {
  const ids = createIdGenerator(source(1_700_000_000_000));
  for (let i = 0; i < 50; i++) {
    assert.match(ids.checkpointId(), /^cp_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.match(ids.attemptId(), /^at_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.match(ids.interruptId(), /^in_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.match(ids.ulid(), ULID);
  }
});

Deno.test("createIdGenerator() makes ids that are valid caller ids", () => {
  const ids = createIdGenerator(source(1_700_000_000_000));
  assert.equal(parseCheckpointId(ids.checkpointId()).length, 29);
  assert.equal(parseAttemptId(ids.attemptId()).length, 29);
  assert.equal(parseInterruptId(ids.interruptId()).length, 29);
});

Deno.test("createIdGenerator() makes 10,000 strictly increasing ids while the clock stands still", () => {
  const ids = createIdGenerator(source(1_700_000_000_000));
  const made = Array.from({ length: 10_000 }, () => ids.checkpointId());
  assertStrictlyIncreasing(made);
  assert.equal(new Set(made).size, made.length);
  for (const id of made) assert.equal(decodeTime(id.slice(3)), 1_700_000_000_000);
});

Deno.test("createIdGenerator() makes 10,000 strictly increasing ids while the clock goes backwards", () => {
  const times = Array.from({ length: 10_000 }, (_, i) => 1_700_000_000_000 - i * 7);
  const ids = createIdGenerator(source(times));
  const made = Array.from({ length: 10_000 }, () => ids.ulid());
  assertStrictlyIncreasing(made);
  // Time never goes back: every id keeps the latest time seen.
  for (const id of made) assert.equal(decodeTime(id), 1_700_000_000_000);
});

Deno.test("createIdGenerator() stays increasing when the clock jumps back and forth", () => {
  const times: number[] = [];
  for (let i = 0; i < 10_000; i++) times.push(1_000_000 + ((i * 7919) % 1000) - 500);
  const ids = createIdGenerator(source(times, 9));
  const made = Array.from({ length: 10_000 }, () => ids.ulid());
  assertStrictlyIncreasing(made);
});

Deno.test("createIdGenerator() stays increasing when the random bytes are all ones", () => {
  const ids = createIdGenerator({ now: () => 5, randomBytes: (bytes) => bytes.fill(0xff) });
  const made = Array.from({ length: 10_000 }, () => ids.ulid());
  assertStrictlyIncreasing(made);
  // The top bit of the random part starts clear, leaving room to count.
  assert.equal(made[0], "0000000005FZZZZZZZZZZZZZZZ");
  assert.equal(made[1], "0000000005G000000000000000");
});

Deno.test("createIdGenerator() is increasing across its id kinds", () => {
  const ids = createIdGenerator(source(42));
  const made = [
    ids.checkpointId().slice(3),
    ids.attemptId().slice(3),
    ids.interruptId().slice(3),
    ids.ulid(),
  ];
  assertStrictlyIncreasing(made);
});

Deno.test("createIdGenerator() generators with different random sources do not collide", () => {
  const a = createIdGenerator(source(1_700_000_000_000, 1));
  const b = createIdGenerator(source(1_700_000_000_000, 2));
  const fromA = Array.from({ length: 1000 }, () => a.ulid());
  const fromB = Array.from({ length: 1000 }, () => b.ulid());
  assert.notEqual(fromA[0], fromB[0]);
  assert.equal(fromA[0]!.slice(0, 10), fromB[0]!.slice(0, 10));
  const all = new Set([...fromA, ...fromB]);
  assert.equal(all.size, 2000);
});

Deno.test("createIdGenerator() is deterministic for a deterministic source", () => {
  const a = createIdGenerator(source([1, 2, 2, 1, 9], 77));
  const b = createIdGenerator(source([1, 2, 2, 1, 9], 77));
  for (let i = 0; i < 20; i++) assert.equal(a.ulid(), b.ulid());
});

Deno.test("createIdGenerator() encodes the time as a sortable prefix", () => {
  const times = [0, 1, 31, 32, 33, 1023, 1024, 2 ** 40, 1_700_000_000_000, 2 ** 48 - 1];
  const made = times.map((time) => createIdGenerator(source(time)).ulid());
  made.forEach((id, i) => assert.equal(decodeTime(id), times[i]));
  assert.equal(made[0]!.slice(0, 10), "0000000000");
  assert.equal(made[1]!.slice(0, 10), "0000000001");
  assert.equal(made[3]!.slice(0, 10), "0000000010");
  assert.equal(made.at(-1)!.slice(0, 10), "7ZZZZZZZZZ");
  assertStrictlyIncreasing(made.map((id) => id.slice(0, 10)));
  // Even when the random part of the earlier id is larger.
  const early = createIdGenerator({ now: () => 100, randomBytes: (b) => b.fill(0xff) }).ulid();
  const late = createIdGenerator({ now: () => 101, randomBytes: (b) => b.fill(0) }).ulid();
  assert.ok(early < late);
});

Deno.test("createIdGenerator() uses the clock's whole milliseconds", () => {
  const ids = createIdGenerator(source(1234.9));
  assert.equal(decodeTime(ids.ulid()), 1234);
});

Deno.test("createIdGenerator() asks for 16 random bytes per new millisecond", () => {
  const requests: number[] = [];
  let time = 0;
  const ids = createIdGenerator({
    now: () => time,
    randomBytes: (bytes) => {
      requests.push(bytes.length);
      return bytes;
    },
  });
  ids.ulid();
  ids.ulid();
  time = 1;
  ids.ulid();
  assert.deepEqual(requests, [16, 16]);
});

Deno.test("createIdGenerator() throws RangeError for a clock that is not a time", () => {
  for (const bad of [Number.NaN, -1, -0.5, Infinity, -Infinity, 2 ** 48, Number.MAX_VALUE]) {
    const ids = createIdGenerator(source(bad));
    assert.throws(() => ids.ulid(), RangeError, String(bad));
    assert.throws(() => ids.checkpointId(), /^RangeError: Cannot make an id: the clock returned/);
  }
});

Deno.test("createIdGenerator() keeps working after a bad clock reading", () => {
  const ids = createIdGenerator(source([100, Number.NaN, 100]));
  const first = ids.ulid();
  assert.throws(() => ids.ulid(), RangeError);
  const second = ids.ulid();
  assert.ok(first < second);
});
