import assert from "node:assert/strict";
import {
  type AttemptRecord,
  ConflictError,
  leaseIdOf,
  parseAttemptId,
  type RunEvent,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import { WorkerReports } from "./worker_reports.ts";
import { commitEvents, loadRun } from "./worker_runs.ts";

const THREAD = "wr-1" as ThreadId;

/** A memory store that counts the loads of runs and the reads of their events. */
function countingStore(): { store: Store; reads: () => number } {
  const inner = new MemoryStore();
  let reads = 0;
  const store = new Proxy(inner, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (key === "load" || key === "readEvents") {
        return (...args: unknown[]) => {
          reads++;
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { store, reads: () => reads };
}

/** A queued run with a lease held by `w-1`, and its attempt as the plane would have read it. */
async function heldRun(store: Store): Promise<{ attempt: AttemptRecord; token: number }> {
  await store.createRun({
    type: "run.created",
    v: 1,
    at: 1,
    threadId: THREAD,
    graph: "gate",
    input: null,
    payloadHash: "h",
    state: {},
    next: [],
  });
  const claim = await store.acquireLease(THREAD, { owner: "w-1", ttlMs: 60_000 });
  assert.ok(claim !== null);
  const attempt: AttemptRecord = {
    attemptId: "a-1",
    threadId: THREAD,
    attemptNo: 1,
    status: "leased",
    workerId: "w-1",
    fencingToken: claim.token,
    leaseExpiresAt: claim.expiresAt,
    startedAt: 1,
    nextRetryAt: null,
    tenantId: null,
    timeoutMs: null,
    onTimeoutStatus: null,
    retryPolicy: null,
    retries: [],
    version: 1,
    createdAt: 1,
    updatedAt: 1,
  };
  return { attempt, token: claim.token };
}

const started: RunEvent = { type: "run.started", v: 1, at: 2, attemptId: parseAttemptId("a-1") };
const paused: RunEvent = { type: "run.paused", v: 1, at: 3, reason: "wait" };
const resumed: RunEvent = { type: "run.resumed", v: 1, at: 4, values: {} };

function step(token: number, expectedVersion: number, events: RunEvent[]) {
  return {
    attemptId: "a-1",
    leaseId: leaseIdOf("a-1", token),
    fencingToken: token,
    expectedVersion,
    events,
  };
}

Deno.test("WorkerReports keeps the run folded between an attempt's reports: no read of the log after the first", async () => {
  const { store, reads } = countingStore();
  const { attempt, token } = await heldRun(store);
  const reports = new WorkerReports(store);
  assert.deepEqual(await reports.report(attempt, step(token, 1, [started])), {
    version: 2,
    repeated: false,
  });
  const afterFirst = reads();
  assert.equal((await reports.report(attempt, step(token, 2, [paused]))).version, 3);
  assert.equal((await reports.report(attempt, step(token, 3, [resumed]))).version, 4);
  assert.equal(reads(), afterFirst);
  assert.deepEqual(
    [(await loadRun(store, THREAD))?.status, (await loadRun(store, THREAD))?.version],
    ["running", 4],
  );
  assert.equal((await store.readEvents(THREAD, 1)).length, 4);
});

Deno.test("WorkerReports answers a repeat from the run's log and writes nothing; other events at a passed version are a conflict", async () => {
  const { store } = countingStore();
  const { attempt, token } = await heldRun(store);
  const reports = new WorkerReports(store);
  await reports.report(attempt, step(token, 1, [started]));
  await reports.report(attempt, step(token, 2, [paused, resumed]));
  // Both repeated (their answers lost): the log has their events.
  assert.deepEqual(await reports.report(attempt, step(token, 1, [started])), {
    version: 2,
    repeated: true,
  });
  assert.deepEqual(await reports.report(attempt, step(token, 2, [paused, resumed])), {
    version: 4,
    repeated: true,
  });
  assert.equal((await store.readEvents(THREAD, 1)).length, 4);
  // The same version with other events: a conflict naming both versions.
  await assert.rejects(
    reports.report(attempt, step(token, 2, [{ ...paused, reason: "other" }])),
    (error: unknown) =>
      error instanceof ConflictError && error.details?.actual_version === 4 &&
      error.details?.expected_version === 2,
  );
  // Part of the reported events at the end of the log is not a repeat.
  await assert.rejects(reports.report(attempt, step(token, 3, [resumed, paused])), ConflictError);
  assert.equal((await store.readEvents(THREAD, 1)).length, 4);
});

Deno.test("WorkerReports reads the run afresh when its kept copy is stale, and never writes past the fence", async () => {
  const { store, reads } = countingStore();
  const { attempt, token } = await heldRun(store);
  const reports = new WorkerReports(store);
  await reports.report(attempt, step(token, 1, [started]));
  // Another server process appends for the same holder: the kept copy (version 2) is stale.
  const loaded = reads();
  await commitEvents(store, (await loadRun(store, THREAD))!, [paused], token);
  assert.equal((await reports.report(attempt, step(token, 3, [resumed]))).version, 4);
  assert.ok(reads() > loaded);
  // A report under a token the store no longer honours writes nothing, kept copy or not.
  await store.releaseLease("w-1", { threadId: THREAD, token });
  const next = await store.acquireLease(THREAD, { owner: "w-2", ttlMs: 60_000 });
  assert.ok(next !== null && next.token > token);
  await assert.rejects(
    reports.report(attempt, step(token, 4, [{ type: "run.completed", v: 1, at: 5 }])),
    ConflictError,
  );
  assert.equal((await store.readEvents(THREAD, 1)).length, 4);
});
