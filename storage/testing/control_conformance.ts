/**
 * The ControlStore conformance suite: idempotency keys, the interrupt index
 * (kept by appends, atomically with the events), audit logs and API keys;
 * their paging while items change is in `_control_paging_conformance.ts`.
 * Every storage adapter's test file runs it against a fresh store.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type ApiKeyRecord,
  type AttemptId,
  type AuditRecord,
  type CheckpointId,
  type ControlStore,
  decide,
  fold,
  foldAll,
  type IdempotencyRecord,
  type InterruptId,
  InvalidArgumentError,
  type RunEvent,
  type RunSnapshot,
  type Store,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { registerControlPagingTests } from "./_control_paging_conformance.ts";

/** Makes a fresh, empty store with control records; the suite closes it. */
export type ControlStoreFactory = () => Promise<Store & ControlStore>;

let clock = 1_800_000_000_000;
const tick = () => ++clock;

async function appendAll(store: Store, run: RunSnapshot, events: RunEvent[]): Promise<RunSnapshot> {
  const next = foldAll(run, events)!;
  await store.append(run.threadId, run.version, events, next);
  return next;
}

async function runningRun(store: Store, threadId: string): Promise<RunSnapshot> {
  const { run } = await store.createRun({
    type: "run.created",
    v: 1,
    at: tick(),
    threadId: threadId as ThreadId,
    graph: "control",
    input: null,
    payloadHash: "h",
    state: {},
    next: [{ id: "1:a", node: "a" }, { id: "1:b", node: "b" }],
  });
  return appendAll(store, run, [{
    type: "run.started",
    v: 1,
    at: tick(),
    attemptId: "at_1" as never,
  }]);
}

function raised(step: number, ...ids: string[]): RunEvent {
  return {
    type: "interrupt.raised",
    v: 1,
    at: tick(),
    step,
    interrupts: ids.map((id, index) => ({
      id: id as InterruptId,
      step,
      taskId: `${step}:${index === 0 ? "a" : "b"}`,
      node: index === 0 ? "a" : "b",
      index: 0,
      value: { question: id },
    })),
    writes: [],
  };
}

function idempotency(key: string, payloadHash = "p1"): IdempotencyRecord {
  return {
    key,
    operation: "job.run",
    threadId: "t-1",
    payloadHash,
    response: null,
    createdAt: tick(),
  };
}

/**
 * Registers the control-record conformance tests for one adapter.
 *
 * @param name The adapter's name, prefixed to every test name.
 * @param factory Makes a fresh, empty store.
 */
export function runControlStoreConformance(name: string, factory: ControlStoreFactory): void {
  function test(title: string, body: (store: Store & ControlStore) => Promise<void>): void {
    Deno.test(`${name}: ${title}`, async () => {
      await using store = await factory();
      await body(store);
    });
  }

  test("claimIdempotency() lets exactly one caller claim a key", async (store) => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.claimIdempotency(idempotency("key-1", `p${i}`))),
    );
    const winners = results.filter((result) => result.claimed);
    assert.equal(winners.length, 1);
    for (const result of results) assert.deepEqual(result.record, winners[0]!.record);
    assert.equal(results.filter((result) => !result.claimed).length, 7);
  });

  test("completeIdempotency() stores the response that later claims see; release frees the key", async (store) => {
    const first = idempotency("key-2");
    await store.claimIdempotency(first);
    const response = { thread_id: "t-1", status: "completed", unicode: "✓ 你好" };
    await store.completeIdempotency("key-2", response);
    const again = await store.claimIdempotency(idempotency("key-2", "other"));
    assert.equal(again.claimed, false);
    assert.deepEqual(again.record, { ...first, response });
    await store.claimIdempotency(idempotency("key-3"));
    await store.releaseIdempotency("key-3");
    assert.equal((await store.claimIdempotency(idempotency("key-3", "p2"))).claimed, true);
    await assert.rejects(() => store.claimIdempotency(idempotency("")), InvalidArgumentError);
    await assert.rejects(
      () => store.claimIdempotency(idempotency("x".repeat(300))),
      InvalidArgumentError,
    );
  });

  test("an answer the run never used is closed with the run, in the same append or a later one", async (store) => {
    // Resumed, then cancelled before the node ran again: the record agrees with the run.
    let run = await runningRun(store, "unused-1");
    run = await appendAll(store, run, [raised(1, "in_u1")]);
    run = await appendAll(store, run, [{
      type: "run.resumed",
      v: 1,
      at: tick(),
      values: { in_u1: "yes" },
    }]);
    await appendAll(store, run, [{ type: "run.cancelled", v: 1, at: tick(), reason: null }]);
    const closed = await store.getInterrupt("in_u1");
    assert.equal(closed?.status, "cancelled");
    assert.equal(closed?.resumeValue, "yes");

    // The same in one append.
    let one = await runningRun(store, "unused-2");
    one = await appendAll(store, one, [raised(1, "in_u2")]);
    await appendAll(store, one, [
      { type: "run.resumed", v: 1, at: tick(), values: { in_u2: 7 } },
      { type: "run.cancelled", v: 1, at: tick(), reason: null },
    ]);
    assert.equal((await store.getInterrupt("in_u2"))?.status, "cancelled");
    assert.equal((await store.getInterrupt("in_u2"))?.resumeValue, 7);

    // An answer whose step committed stays resumed when the run ends later.
    let used = await runningRun(store, "unused-3");
    used = await appendAll(store, used, [raised(1, "in_u3")]);
    used = await appendAll(store, used, [{
      type: "run.resumed",
      v: 1,
      at: tick(),
      values: { in_u3: true },
    }]);
    used = await appendAll(store, used, [{
      type: "step.committed",
      v: 1,
      at: tick(),
      step: 1,
      checkpointId: "cp_unused3" as CheckpointId,
      parentCheckpointId: null,
      tasks: [{ taskId: "1:a", node: "a", update: null }],
      delta: null,
      next: [{ id: "2:a", node: "a" }],
    }]);
    await appendAll(store, used, [{ type: "run.cancelled", v: 1, at: tick(), reason: null }]);
    assert.equal((await store.getInterrupt("in_u3"))?.status, "resumed");
  });

  test("an update that moves the run on closes the answers it drops, as decide says", async (store) => {
    const env = {
      now: 0,
      stepLimit: 100,
      attemptId: () => "at_2" as AttemptId,
      checkpointId: () => `cp_${tick()}` as CheckpointId,
    };
    /** Commits what `decide` makes of an update as node `a` that moves the run on. */
    async function moveOn(run: RunSnapshot): Promise<RunSnapshot> {
      env.now = tick();
      const decision = decide(run, {
        type: "update.planned",
        update: { edited: true },
        asNode: "a",
        plan: { state: { edited: true }, next: [{ id: `${run.step + 2}:c`, node: "c" }] },
      }, env);
      assert.equal(decision.kind, "commit");
      if (decision.kind !== "commit") throw new Error("unreachable");
      await store.append(run.threadId, run.version, decision.events, decision.run);
      return decision.run;
    }

    // One of two interrupts answered, the run not yet executed again: both are dropped.
    let run = await runningRun(store, "upd-1");
    run = await appendAll(store, run, [raised(1, "in_x", "in_y")]);
    run = await appendAll(store, run, [{
      type: "run.resumed",
      v: 1,
      at: tick(),
      values: { in_x: "yes" },
    }]);
    run = await moveOn(run);
    assert.equal(run.status, "running");
    const x = await store.getInterrupt("in_x");
    assert.equal(x?.status, "cancelled", "the answer the update dropped is closed");
    assert.equal(x?.resumeValue, "yes");
    assert.equal((await store.getInterrupt("in_y"))?.status, "cancelled");
    assert.deepEqual(
      (await store.listInterrupts({ threadId: "upd-1" })).items.map((row) => row.status),
      ["cancelled", "cancelled"],
    );

    // An answer whose task ran again with it stays resumed; the other pending one is closed.
    let used = await runningRun(store, "upd-2");
    used = await appendAll(store, used, [raised(1, "in_p", "in_q")]);
    used = await appendAll(store, used, [{
      type: "run.resumed",
      v: 1,
      at: tick(),
      values: { in_p: 1 },
    }]);
    used = await appendAll(store, used, [{
      type: "interrupt.raised",
      v: 1,
      at: tick(),
      step: 1,
      interrupts: [{
        id: "in_q" as InterruptId,
        step: 1,
        taskId: "1:b",
        node: "b",
        index: 0,
        value: { question: "in_q" },
      }],
      writes: [{ taskId: "1:a", node: "a", update: null }],
    }]);
    used = await moveOn(used);
    assert.equal(used.status, "paused");
    assert.equal((await store.getInterrupt("in_p"))?.status, "resumed");
    assert.equal((await store.getInterrupt("in_q"))?.status, "cancelled");

    // A later update drops nothing more, and a cancel afterwards changes no closed row.
    used = await moveOn(used);
    await appendAll(store, used, [{ type: "run.cancelled", v: 1, at: tick(), reason: null }]);
    assert.equal((await store.getInterrupt("in_p"))?.status, "resumed");
    assert.equal((await store.getInterrupt("in_q"))?.status, "cancelled");
  });

  test("appends keep the interrupt index: raised, resumed, re-raised, rejected, cancelled", async (store) => {
    let run = await runningRun(store, "int-1");
    run = await appendAll(store, run, [raised(1, "in_a", "in_b")]);
    const pending = await store.listInterrupts({ status: "pending" });
    assert.deepEqual(pending.items.map((row) => row.interruptId).sort(), ["in_a", "in_b"]);
    const a = await store.getInterrupt("in_a");
    assert.deepEqual(a, {
      interruptId: "in_a",
      threadId: "int-1",
      node: "a",
      step: 1,
      value: { question: "in_a" },
      status: "pending",
      resumeValue: null,
      createdAt: a!.createdAt,
      resolvedAt: null,
    });
    // Answer one; the other task raises its interrupt again with the same id.
    run = await appendAll(store, run, [{
      type: "run.resumed",
      v: 1,
      at: tick(),
      values: { in_a: { ok: true } },
    }]);
    const resumed = await store.getInterrupt("in_a");
    assert.equal(resumed?.status, "resumed");
    assert.deepEqual(resumed?.resumeValue, { ok: true });
    assert.ok(resumed!.resolvedAt !== null);
    // Task a ran again with its answer and finished; task b raises again.
    run = await appendAll(store, run, [{
      type: "interrupt.raised",
      v: 1,
      at: tick(),
      step: 1,
      interrupts: [{
        id: "in_b" as InterruptId,
        step: 1,
        taskId: "1:b",
        node: "b",
        index: 0,
        value: { question: "in_b" },
      }],
      writes: [{ taskId: "1:a", node: "a", update: null }],
    }]);
    assert.equal((await store.getInterrupt("in_b"))?.status, "pending");
    run = await appendAll(store, run, [{
      type: "run.cancelled",
      v: 1,
      at: tick(),
      reason: "interrupt rejected",
      rejectedInterruptId: "in_b" as InterruptId,
    }]);
    assert.equal((await store.getInterrupt("in_b"))?.status, "rejected");
    assert.equal((await store.getInterrupt("in_a"))?.status, "resumed");
    assert.equal(run.status, "cancelled");

    let other = await runningRun(store, "int-2");
    other = await appendAll(store, other, [raised(1, "in_c")]);
    await appendAll(store, other, [{ type: "run.cancelled", v: 1, at: tick(), reason: null }]);
    assert.equal((await store.getInterrupt("in_c"))?.status, "cancelled");

    // A run that fails closes its pending interrupts too.
    let failing = await runningRun(store, "int-fail");
    failing = await appendAll(store, failing, [raised(1, "in_d")]);
    await appendAll(store, failing, [{
      type: "run.failed",
      v: 1,
      at: tick(),
      error: { code: "timeout", message: "too slow" },
    }]);
    assert.equal((await store.getInterrupt("in_d"))?.status, "cancelled");

    let third = await runningRun(store, "int-3");
    third = await appendAll(store, third, [raised(1, "in_d")]);
    await appendAll(store, third, [{
      type: "state.updated",
      v: 1,
      at: tick(),
      step: 1,
      checkpointId: "cp_upd" as CheckpointId,
      parentCheckpointId: null,
      asNode: "a",
      update: null,
      delta: null,
      next: [],
    }]);
    assert.equal((await store.getInterrupt("in_d"))?.status, "cancelled");
    assert.equal(await store.getInterrupt("in_missing"), null);
  });

  test("a stale append changes nothing in the interrupt index", async (store) => {
    const run = await runningRun(store, "int-stale");
    await appendAll(store, run, [{ type: "run.paused", v: 1, at: tick(), reason: null }]);
    const event = raised(1, "in_stale");
    await assert.rejects(
      () => store.append(run.threadId, run.version, [event], fold(run, event)),
      VersionConflictError,
    );
    assert.equal(await store.getInterrupt("in_stale"), null);
  });

  test("listInterrupts() filters by status and run, pages newest first", async (store) => {
    for (let i = 0; i < 7; i++) {
      const run = await runningRun(store, `page-${i}`);
      await appendAll(store, run, [raised(1, `in_p${i}`)]);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await store.listInterrupts({ status: "pending", limit: 3, cursor });
      seen.push(...page.items.map((row) => row.interruptId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, ["in_p6", "in_p5", "in_p4", "in_p3", "in_p2", "in_p1", "in_p0"]);
    const one = await store.listInterrupts({ threadId: "page-3" });
    assert.deepEqual(one.items.map((row) => row.interruptId), ["in_p3"]);
    assert.deepEqual((await store.listInterrupts({ status: "resumed" })).items, []);
  });

  test("audit entries list newest first with filters and paging", async (store) => {
    const base = tick();
    const entry = (i: number, action: string, requestId: string): AuditRecord => ({
      auditId: `au_${String(i).padStart(4, "0")}`,
      actorType: i % 2 === 0 ? "bearer" : "anonymous",
      actorId: i % 2 === 0 ? "admin" : null,
      actorRole: i % 2 === 0 ? "admin" : null,
      action,
      resourceType: "thread",
      resourceId: `t-${i}`,
      result: i % 3 === 0 ? "error" : "success",
      requestId,
      details: { method: "POST", path: `/v1/jobs/t-${i}/cancel`, status_code: 200 },
      createdAt: base + i,
    });
    for (let i = 0; i < 9; i++) {
      await store.appendAudit(entry(i, i < 5 ? "job.run" : "job.cancel", `req-${i % 3}`));
    }
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await store.listAudit({ limit: 4, cursor });
      all.push(...page.items.map((item) => item.auditId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(
      all,
      Array.from({ length: 9 }, (_, i) => `au_${String(8 - i).padStart(4, "0")}`),
    );
    const runs = await store.listAudit({ action: "job.run" });
    assert.equal(runs.items.length, 5);
    const byRequest = await store.listAudit({ requestId: "req-1" });
    assert.deepEqual(byRequest.items.map((item) => item.auditId), [
      "au_0007",
      "au_0004",
      "au_0001",
    ]);
    const window = await store.listAudit({ fromMs: base + 2, toMs: base + 4 });
    assert.deepEqual(window.items.map((item) => item.auditId), ["au_0004", "au_0003", "au_0002"]);
    assert.deepEqual(
      (await store.listAudit({ limit: 1 })).items[0],
      entry(8, "job.cancel", "req-2"),
    );
  });

  test("API keys are stored, replaced and counted", async (store) => {
    assert.equal(await store.countApiKeys(), 0);
    const key: ApiKeyRecord = {
      keyId: "ops-1",
      secretHash: "ab".repeat(32),
      role: "operator",
      status: "active",
      createdAt: tick(),
      updatedAt: tick(),
    };
    await store.putApiKey(key);
    assert.deepEqual(await store.getApiKey("ops-1"), key);
    await store.putApiKey({ ...key, status: "disabled", updatedAt: tick() });
    assert.equal((await store.getApiKey("ops-1"))?.status, "disabled");
    await store.putApiKey({ ...key, keyId: "worker-1", role: "worker" });
    assert.equal(await store.countApiKeys(), 2);
    assert.equal(await store.getApiKey("nobody"), null);
  });

  registerControlPagingTests(test);
}
