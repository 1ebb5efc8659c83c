/**
 * The Store conformance tests of the worker plane's attempts and dead
 * letters: one open attempt per run, optimistic saves (a stale version
 * writes nothing), listings by status and worker, dead letters written with
 * the attempt that ends, listed newest first with paging, and replayed once.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type AttemptRecord,
  ConflictError,
  type DeadLetterRecord,
  NotFoundError,
  type Store,
} from "../../kernel/mod.ts";
import { type ConformanceTest, createdEvent, startRun, tick } from "./_store_fixtures.ts";

let serial = 0;

/** A fresh attempt of a run (ids sort by creation). */
function attemptOf(threadId: string, overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  const now = tick();
  serial++;
  return {
    attemptId: `at_${String(now).padStart(15, "0")}_${String(serial).padStart(6, "0")}`,
    threadId,
    attemptNo: 1,
    status: "queued",
    workerId: null,
    fencingToken: null,
    leaseExpiresAt: null,
    startedAt: null,
    nextRetryAt: null,
    tenantId: null,
    timeoutMs: null,
    onTimeoutStatus: null,
    retryPolicy: null,
    retries: [],
    version: 1,
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

function letterOf(attempt: AttemptRecord, deadAt = tick()): DeadLetterRecord {
  return {
    attemptId: attempt.attemptId,
    threadId: attempt.threadId,
    attemptNo: attempt.attemptNo,
    terminalStatus: "failed",
    reason: "terminal_failed",
    deadAt,
    replayStatus: "pending",
    replayCount: 0,
    lastReplayedAt: null,
  };
}

/** Creates an attempt and fails it for good, with its dead letter. */
async function deadLettered(store: Store, threadId: string): Promise<AttemptRecord> {
  const attempt = attemptOf(threadId);
  assert.ok(await store.attempts.createAttempt(attempt));
  const failed = { ...attempt, status: "failed" as const, updatedAt: tick() };
  return await store.attempts.saveAttempt(failed, letterOf(attempt));
}

/**
 * Adds the attempt and dead letter tests, in order.
 *
 * @param test Registers one test against a fresh store.
 */
export function registerAttemptTests(test: ConformanceTest): void {
  test("claimRuns() skips a run whose open attempt waits for its retry, and takes it once its time came", async (store) => {
    await startRun(store, "retry-wait");
    await store.createRun(createdEvent("retry-free"));
    const hour = 3_600_000;
    const waiting = attemptOf("retry-wait", {
      status: "retry_backoff",
      attemptNo: 2,
      nextRetryAt: Date.now() + hour,
    });
    assert.ok(await store.attempts.createAttempt(waiting));
    const claim = async (owner: string) =>
      (await store.claimRuns({ owner, ttlMs: 60_000, graphs: ["conformance"], limit: 10 }))
        .map((c) => c.threadId as string);
    assert.deepEqual(await claim("a"), ["retry-free"], "the waiting run is not claimed");
    await store.attempts.saveAttempt({ ...waiting, nextRetryAt: Date.now() - hour });
    assert.deepEqual(await claim("b"), ["retry-wait"], "claimed once its retry is due");
  });

  test("createAttempt() keeps one open attempt per run; getAttempt() and openAttempt() read it", async (store) => {
    const first = attemptOf("t-att-1");
    assert.equal(await store.attempts.createAttempt(first), true);
    assert.equal(await store.attempts.createAttempt(first), false);
    assert.equal(await store.attempts.createAttempt(attemptOf("t-att-1")), false);
    assert.deepEqual(await store.attempts.getAttempt(first.attemptId), first);
    assert.deepEqual(await store.attempts.openAttempt("t-att-1"), first);
    assert.equal(await store.attempts.openAttempt("t-att-none"), null);
    assert.equal(await store.attempts.getAttempt("at_none"), null);
    // Once it ended, the run may open another.
    await store.attempts.saveAttempt({ ...first, status: "completed" });
    assert.equal(await store.attempts.openAttempt("t-att-1"), null);
    assert.equal(await store.attempts.createAttempt(attemptOf("t-att-1")), true);
  });

  test("saveAttempt() stores at version + 1; a stale version is a conflict and writes nothing", async (store) => {
    const attempt = attemptOf("t-att-2");
    await store.attempts.createAttempt(attempt);
    const leased = await store.attempts.saveAttempt({
      ...attempt,
      status: "leased",
      workerId: "w-1",
      fencingToken: 3,
    });
    assert.equal(leased.version, 2);
    assert.deepEqual(await store.attempts.getAttempt(attempt.attemptId), leased);
    await assert.rejects(
      store.attempts.saveAttempt({ ...attempt, status: "failed" }),
      ConflictError,
    );
    assert.deepEqual(await store.attempts.getAttempt(attempt.attemptId), leased);
    await assert.rejects(store.attempts.saveAttempt(attemptOf("t-att-x")), NotFoundError);
  });

  test("listAttempts() lists by status, oldest first, of one worker if asked", async (store) => {
    const a = attemptOf("t-att-3a");
    const b = attemptOf("t-att-3b");
    const c = attemptOf("t-att-3c");
    for (const attempt of [a, b, c]) await store.attempts.createAttempt(attempt);
    await store.attempts.saveAttempt({ ...a, status: "leased", workerId: "w-1" });
    await store.attempts.saveAttempt({ ...c, status: "leased", workerId: "w-2" });
    const leased = await store.attempts.listAttempts({ status: "leased" });
    assert.deepEqual(leased.map((x) => x.attemptId), [a.attemptId, c.attemptId]);
    const mine = await store.attempts.listAttempts({ status: "leased", workerId: "w-2" });
    assert.deepEqual(mine.map((x) => x.attemptId), [c.attemptId]);
    const queued = await store.attempts.listAttempts({ status: "queued", limit: 5 });
    assert.deepEqual(queued.map((x) => x.attemptId), [b.attemptId]);
    assert.equal((await store.attempts.listAttempts({ status: "leased", limit: 1 })).length, 1);
  });

  test("a dead letter is written with the attempt that ends, listed newest first with paging", async (store) => {
    const one = await deadLettered(store, "t-dl-1");
    const two = await deadLettered(store, "t-dl-2");
    const three = await deadLettered(store, "t-dl-3");
    const letter = await store.attempts.getDeadLetter(two.attemptId);
    assert.equal(letter?.threadId, "t-dl-2");
    assert.equal(letter?.replayStatus, "pending");
    assert.equal(await store.attempts.getDeadLetter("at_none"), null);
    const first = await store.attempts.listDeadLetters({ limit: 2 });
    assert.deepEqual(first.items.map((x) => x.attemptId), [three.attemptId, two.attemptId]);
    assert.notEqual(first.nextCursor, null);
    const rest = await store.attempts.listDeadLetters({ limit: 2, cursor: first.nextCursor });
    assert.deepEqual(rest.items.map((x) => x.attemptId), [one.attemptId]);
    assert.equal(rest.nextCursor, null);
  });

  test("replayDeadLetter() requeues the attempt once; again is a conflict; unknown is not found", async (store) => {
    const attempt = await deadLettered(store, "t-dl-r");
    const now = tick();
    const replayed = await store.attempts.replayDeadLetter(attempt.attemptId, now);
    assert.equal(replayed.deadLetter.replayStatus, "replayed");
    assert.equal(replayed.deadLetter.replayCount, 1);
    assert.equal(replayed.deadLetter.lastReplayedAt, now);
    assert.equal(replayed.attempt.status, "queued");
    assert.deepEqual(await store.attempts.openAttempt("t-dl-r"), replayed.attempt);
    await assert.rejects(store.attempts.replayDeadLetter(attempt.attemptId, tick()), ConflictError);
    assert.deepEqual(
      await store.attempts.getDeadLetter(attempt.attemptId),
      replayed.deadLetter,
    );
    await assert.rejects(store.attempts.replayDeadLetter("at_none", tick()), NotFoundError);
    const pending = await store.attempts.listDeadLetters({ status: "pending" });
    assert.deepEqual(pending.items, []);
    const done = await store.attempts.listDeadLetters({ status: "replayed" });
    assert.deepEqual(done.items.map((x) => x.attemptId), [attempt.attemptId]);
  });

  test("replayDeadLetter() is refused while the run has another open attempt", async (store) => {
    const attempt = await deadLettered(store, "t-dl-o");
    assert.ok(await store.attempts.createAttempt(attemptOf("t-dl-o")));
    await assert.rejects(store.attempts.replayDeadLetter(attempt.attemptId, tick()), ConflictError);
    assert.equal(
      (await store.attempts.getDeadLetter(attempt.attemptId))?.replayStatus,
      "pending",
    );
  });
}
