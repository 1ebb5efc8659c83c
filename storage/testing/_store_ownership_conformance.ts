/**
 * The Store conformance tests of run ownership: leases and their fencing
 * tokens (a write under a lost lease is refused and writes nothing), claims
 * by priority and age within tenant caps, renewal and release, the durable
 * mailbox (messages in order, answered once, applied by the commit that
 * applies them), the queue's statistics, and signals.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type Claim,
  fold,
  InvalidArgumentError,
  LeaseLostError,
  NotFoundError,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type RunStartedEvent,
  type Store,
  type StoreSignal,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import {
  appendAll,
  type ConformanceTest,
  createdEvent,
  current,
  started,
  startRun,
  tick,
} from "./_store_fixtures.ts";

const TTL = 60_000;
const GRAPHS = ["conformance"];

/** A `run.created` event with scheduling metadata. */
function scheduled(threadId: string, priority: number, tenant: string | null): RunCreatedEvent {
  return {
    ...createdEvent(threadId, { id: threadId }),
    metadata: { priority, tenant_id: tenant },
  };
}

async function create(
  store: Store,
  threadId: string,
  priority = 0,
  tenant: string | null = null,
): Promise<RunSnapshot> {
  return (await store.createRun(scheduled(threadId, priority, tenant))).run;
}

function paused(): RunEvent {
  return { type: "run.paused", v: 1, at: tick(), reason: null };
}

function ids(claims: Claim[]): string[] {
  return claims.map((claim) => claim.threadId).sort();
}

/** Resolves with the first signal `predicate` accepts. */
async function nextSignal(
  store: Store,
  predicate: (signal: StoreSignal) => boolean,
): Promise<{ received: Promise<StoreSignal>; stop: () => Promise<void> }> {
  const { promise, resolve } = Promise.withResolvers<StoreSignal>();
  const stop = await store.subscribe((signal) => {
    if (predicate(signal)) resolve(signal);
  });
  return { received: promise, stop };
}

/**
 * Adds the ownership tests, in order.
 *
 * @param test Registers one test against a fresh store.
 */
export function registerOwnershipTests(test: ConformanceTest): void {
  test("acquireLease() grants one owner at a time, and each acquisition a higher token", async (store) => {
    const run = await create(store, "lease-1");
    const first = await store.acquireLease(run.threadId, { owner: "a", ttlMs: TTL });
    assert.ok(first !== null);
    assert.equal(first.owner, "a");
    assert.equal(first.mail, false);
    assert.ok(first.token >= 1);
    assert.ok(first.expiresAt > Date.now() - 60_000);
    assert.equal(await store.acquireLease(run.threadId, { owner: "b", ttlMs: TTL }), null);
    const again = await store.acquireLease(run.threadId, { owner: "a", ttlMs: TTL });
    assert.ok(again !== null && again.token > first.token, "the same owner acquires again");
    assert.deepEqual(await store.getLease(run.threadId), {
      threadId: run.threadId,
      owner: "a",
      token: again.token,
      expiresAt: again.expiresAt,
    });
    await assert.rejects(
      store.acquireLease("lease-none" as ThreadId, { owner: "a", ttlMs: TTL }),
      NotFoundError,
    );
    await assert.rejects(
      store.acquireLease(run.threadId, { owner: "", ttlMs: TTL }),
      InvalidArgumentError,
    );
  });

  test("createLeasedRun() creates a run leased to its creator and started, in one operation", async (store) => {
    if (store.createLeasedRun === undefined) return; // Optional: the runtime creates, then acquires.
    const event = createdEvent("leased-1", { id: "leased-1" });
    const start = started() as RunStartedEvent;
    const first = await store.createLeasedRun(event, { owner: "a", ttlMs: TTL }, start);
    assert.equal(first.created, true);
    assert.equal(first.lease?.owner, "a");
    assert.equal(first.lease?.token, 1);
    assert.equal(first.run.status, "running");
    assert.equal(first.run.version, 2);
    assert.deepEqual(first.run, fold(fold(null, event), start));
    assert.deepEqual(await current(store, "leased-1"), first.run);
    const types = (await store.readEvents(first.run.threadId, 1)).map((item) => item.event.type);
    assert.deepEqual(types, ["run.created", "run.started"]);
    assert.equal((await store.getLease(first.run.threadId))?.owner, "a");
    assert.equal(await store.acquireLease(first.run.threadId, { owner: "b", ttlMs: TTL }), null);
    // The holder's first commit carries the lease's token.
    const pausing = paused();
    await store.append(first.run.threadId, 2, [pausing], fold(first.run, pausing), { fence: 1 });
    // Created already: nothing is leased or started again.
    const again = await store.createLeasedRun(
      event,
      { owner: "b", ttlMs: TTL },
      started() as never,
    );
    assert.equal(again.created, false);
    assert.equal(again.lease, null);
    assert.equal(again.run.status, "paused");
    // Without a start, it is created queued (and leased).
    const queued = await store.createLeasedRun(createdEvent("leased-2"), {
      owner: "a",
      ttlMs: TTL,
    });
    assert.equal(queued.run.status, "queued");
    assert.equal(queued.lease?.token, 1);
  });

  test("createLeasedRun() leaves a run whose tenant is at its cap queued and unleased", async (store) => {
    if (store.createLeasedRun === undefined) return;
    const held = await create(store, "leased-cap-1", 0, "t-leased");
    assert.ok(await store.acquireLease(held.threadId, { owner: "a", ttlMs: TTL }));
    const request = { owner: "b", ttlMs: TTL, tenantMaxActive: 1 };
    const capped = await store.createLeasedRun(
      scheduled("leased-cap-2", 0, "t-leased"),
      request,
      started() as RunStartedEvent,
    );
    assert.equal(capped.created, true);
    assert.equal(capped.lease, null);
    assert.equal(capped.run.status, "queued");
    assert.equal((await current(store, "leased-cap-2"))?.version, 1);
    assert.equal(await store.getLease(capped.run.threadId), null);
  });

  test("an expired lease is taken over with a higher token; the old holder cannot renew or release it", async (store) => {
    const run = await create(store, "lease-2");
    const old = await store.acquireLease(run.threadId, { owner: "a", ttlMs: 0 });
    assert.ok(old !== null);
    const taken = await store.acquireLease(run.threadId, { owner: "b", ttlMs: TTL });
    assert.ok(taken !== null && taken.token > old.token);
    assert.deepEqual(
      await store.renewLeases("a", [{ threadId: run.threadId, token: old.token }], TTL),
      [],
    );
    assert.equal(
      await store.releaseLease("a", { threadId: run.threadId, token: old.token }),
      "lost",
    );
    assert.equal((await store.getLease(run.threadId))?.owner, "b");
  });

  test("append() under a lost lease is refused with LeaseLostError and writes nothing", async (store) => {
    const run = await create(store, "fence-1");
    const a = (await store.acquireLease(run.threadId, { owner: "a", ttlMs: 0 }))!;
    const moved = await appendAll(store, run, [started()]);
    const b = (await store.acquireLease(run.threadId, { owner: "b", ttlMs: TTL }))!;
    const event = paused();
    const next = fold(moved, event);
    const refused = await store.append(run.threadId, moved.version, [event], next, {
      fence: a.token,
    }).then(() => null, (error) => error);
    assert.ok(refused instanceof LeaseLostError, String(refused));
    assert.equal(refused.code, "conflict");
    assert.equal(refused.token, a.token);
    assert.equal(refused.currentToken, b.token);
    // A stale version under a lost lease: the lease is what the writer lost.
    await assert.rejects(
      store.append(run.threadId, run.version, [event], fold(run, event), { fence: a.token }),
      LeaseLostError,
    );
    assert.deepEqual(await current(store, "fence-1"), moved);
    assert.equal((await store.readEvents(run.threadId, 1)).length, 2);
    const result = await store.append(run.threadId, moved.version, [event], next, {
      fence: b.token,
    });
    assert.equal(result.version, moved.version + 1);
    await assert.rejects(
      store.append(run.threadId, moved.version, [event], next, { fence: b.token }),
      VersionConflictError,
    );
  });

  test("recordEffect() under a lost lease is refused with LeaseLostError and records nothing", async (store) => {
    const run = await startRun(store, "fence-2");
    const a = (await store.acquireLease(run.threadId, { owner: "a", ttlMs: 0 }))!;
    const b = (await store.acquireLease(run.threadId, { owner: "b", ttlMs: TTL }))!;
    const record = {
      threadId: run.threadId,
      step: 1,
      node: "1:a",
      index: 0,
      name: "pay",
      result: { ok: true as const, value: "paid" },
      recordedAt: tick(),
    };
    await assert.rejects(store.recordEffect(record, { fence: a.token }), LeaseLostError);
    assert.deepEqual(await store.listEffects(run.threadId), []);
    assert.deepEqual(await store.recordEffect(record, { fence: b.token }), record);
    assert.deepEqual(await store.listEffects(run.threadId), [record]);
  });

  test("claimRuns() takes queued and running runs by priority then age, within the limit and graphs", async (store) => {
    await create(store, "claim-low", 0);
    await create(store, "claim-high", 5);
    await startRun(store, "claim-running");
    const resting = await create(store, "claim-paused", 9);
    await appendAll(store, resting, [started(), paused()]);
    await store.createRun({ ...createdEvent("claim-other"), graph: "other" });
    await create(store, "claim-excluded", 7);
    const request = { owner: "a", ttlMs: TTL, graphs: GRAPHS, exclude: ["claim-excluded"] };
    const first = await store.claimRuns({ ...request, limit: 2 });
    assert.deepEqual(first.map((claim) => claim.threadId), ["claim-high", "claim-low"]);
    assert.ok(first.every((claim) => claim.owner === "a" && !claim.mail));
    const rest = await store.claimRuns({ ...request, owner: "b", limit: 10 });
    assert.deepEqual(ids(rest), ["claim-running"]);
    assert.deepEqual(await store.claimRuns({ ...request, owner: "c", limit: 10 }), []);
    assert.equal(await store.getLease("claim-paused" as ThreadId), null);
  });

  test("concurrent claimRuns() never take the same run", async (store) => {
    for (let i = 0; i < 12; i++) await create(store, `race-${String(i).padStart(2, "0")}`);
    const claims = await Promise.all(
      ["a", "b", "c"].map((owner) =>
        store.claimRuns({ owner, ttlMs: TTL, graphs: GRAPHS, limit: 5 })
      ),
    );
    const all = claims.flatMap(ids);
    assert.equal(new Set(all).size, all.length, "a run was claimed twice");
    assert.equal(all.length, 12);
  });

  test("a tenant cap bounds the live leases of a tenant across owners", async (store) => {
    await create(store, "cap-a1", 0, "acme");
    await create(store, "cap-a2", 0, "acme");
    await create(store, "cap-b1", 0, "beta");
    await create(store, "cap-free", 0, null);
    const request = { ttlMs: TTL, graphs: GRAPHS, limit: 10, tenantMaxActive: 1 };
    const first = await store.claimRuns({ ...request, owner: "a" });
    assert.deepEqual(ids(first), ["cap-a1", "cap-b1", "cap-free"]);
    assert.deepEqual(await store.claimRuns({ ...request, owner: "b" }), []);
    assert.equal(
      await store.acquireLease("cap-a2" as ThreadId, {
        owner: "b",
        ttlMs: TTL,
        tenantMaxActive: 1,
      }),
      null,
    );
    const held = first.find((claim) => claim.threadId === "cap-a1")!;
    assert.equal(await store.releaseLease("a", held), "released");
    assert.deepEqual(ids(await store.claimRuns({ ...request, owner: "b" })), ["cap-a1"]);
  });

  test("a tenant cap of 2 lets a claim take two runs of the tenant, and no more", async (store) => {
    for (let i = 0; i < 4; i++) await create(store, `cap2-${i}`, 0, "acme");
    const request = { ttlMs: TTL, graphs: GRAPHS, limit: 10, tenantMaxActive: 2 };
    assert.deepEqual(ids(await store.claimRuns({ ...request, owner: "a" })), ["cap2-0", "cap2-1"]);
    assert.deepEqual(await store.claimRuns({ ...request, owner: "b" }), []);
  });

  test("concurrent claims under a tenant cap of 1 take one run of the tenant", async (store) => {
    for (let i = 0; i < 6; i++) await create(store, `tcap-${i}`, 0, "acme");
    const claims = await Promise.all(
      ["a", "b", "c"].map((owner) =>
        store.claimRuns({ owner, ttlMs: TTL, graphs: GRAPHS, limit: 3, tenantMaxActive: 1 })
      ),
    );
    assert.equal(claims.flat().length, 1);
  });

  test("renewLeases() extends the leases the owner still holds", async (store) => {
    const one = await create(store, "renew-1");
    const two = await create(store, "renew-2");
    const a1 = (await store.acquireLease(one.threadId, { owner: "a", ttlMs: 1000 }))!;
    const a2 = (await store.acquireLease(two.threadId, { owner: "a", ttlMs: 0 }))!;
    await store.acquireLease(two.threadId, { owner: "b", ttlMs: TTL });
    const renewed = await store.renewLeases("a", [a1, a2], TTL);
    assert.deepEqual(renewed.map((lease) => lease.threadId), ["renew-1"]);
    assert.ok(renewed[0]!.expiresAt >= a1.expiresAt - 1000 + TTL - 5_000);
    assert.equal(renewed[0]!.token, a1.token);
    assert.equal(renewed[0]!.mail, false);
    await store.postMessage(one.threadId, { type: "pause", reason: null });
    assert.deepEqual((await store.renewLeases("a", [a1], TTL)).map((lease) => lease.mail), [true]);
    assert.deepEqual(await store.renewLeases("b", [a1], TTL), []);
  });

  test("releaseLease() frees the run for others", async (store) => {
    const run = await create(store, "release-1");
    const a = (await store.acquireLease(run.threadId, { owner: "a", ttlMs: TTL }))!;
    assert.equal(await store.releaseLease("a", a), "released");
    assert.equal(await store.getLease(run.threadId), null);
    const b = await store.acquireLease(run.threadId, { owner: "b", ttlMs: TTL });
    assert.ok(b !== null && b.token > a.token);
    assert.equal(await store.releaseLease("a", a), "lost");
  });

  test("the mailbox keeps messages in order; a lease with mail waiting is not released", async (store) => {
    const run = await create(store, "mail-1");
    const a = (await store.acquireLease(run.threadId, { owner: "a", ttlMs: TTL }))!;
    const first = await store.postMessage(run.threadId, { type: "pause", reason: "one" });
    const second = await store.postMessage(run.threadId, { type: "cancel", reason: "two" });
    assert.equal(second.seq, first.seq + 1);
    assert.equal(first.lease?.owner, "a");
    assert.equal(first.lease?.token, a.token);
    const pending = await store.pendingMessages(run.threadId);
    assert.deepEqual(pending.map((m) => [m.seq, m.message, m.status]), [
      [first.seq, { type: "pause", reason: "one" }, "pending"],
      [second.seq, { type: "cancel", reason: "two" }, "pending"],
    ]);
    assert.equal(await store.releaseLease("a", a), "mail");
    await store.answerMessage(run.threadId, first.seq, { status: "applied" }, a.token);
    const refusal = { name: "ConflictError", message: "no", code: "conflict" };
    await store.answerMessage(
      run.threadId,
      second.seq,
      { status: "refused", error: refusal },
      a.token,
    );
    const answered = await store.getMessage(run.threadId, second.seq);
    assert.equal(answered?.status, "refused");
    assert.deepEqual(answered?.error, refusal);
    assert.equal((await store.getMessage(run.threadId, first.seq))?.status, "applied");
    assert.deepEqual(await store.pendingMessages(run.threadId), []);
    assert.equal(await store.releaseLease("a", a), "released");
    await assert.rejects(
      store.postMessage("mail-none" as ThreadId, { type: "cancel", reason: null }),
      NotFoundError,
    );
    await assert.rejects(
      store.postMessage(run.threadId, { type: "step" } as never),
      InvalidArgumentError,
    );
  });

  test("answerMessage() under a lost lease is refused; an append with ack applies the message", async (store) => {
    const created = await create(store, "mail-2");
    const a = (await store.acquireLease(created.threadId, { owner: "a", ttlMs: 0 }))!;
    const { seq } = await store.postMessage(created.threadId, { type: "pause", reason: null });
    const b = (await store.acquireLease(created.threadId, { owner: "b", ttlMs: TTL }))!;
    assert.equal(b.mail, true);
    await assert.rejects(
      store.answerMessage(created.threadId, seq, { status: "applied" }, a.token),
      LeaseLostError,
    );
    const run = await appendAll(store, created, [started()]);
    const event = paused();
    const next = fold(run, event);
    await assert.rejects(
      store.append(run.threadId, run.version, [event], next, { fence: a.token, ack: seq }),
      LeaseLostError,
    );
    assert.equal((await store.getMessage(run.threadId, seq))?.status, "pending");
    const { version } = await store.append(run.threadId, run.version, [event], next, {
      fence: b.token,
      ack: seq,
    });
    const applied = await store.getMessage(run.threadId, seq);
    assert.equal(applied?.status, "applied");
    assert.equal(applied?.version, version);
    assert.deepEqual(await store.pendingMessages(run.threadId), []);
    assert.equal(await store.releaseLease("b", b), "released");
  });

  test("claimRuns() takes a run at rest whose mailbox has messages", async (store) => {
    const run = await create(store, "mail-3");
    await appendAll(store, run, [started(), paused()]);
    const request = { owner: "a", ttlMs: TTL, graphs: GRAPHS, limit: 10 };
    assert.deepEqual(await store.claimRuns(request), []);
    await store.postMessage(run.threadId, { type: "resume", answer: { kind: "value" } });
    const claims = await store.claimRuns(request);
    assert.deepEqual(claims.map((claim) => [claim.threadId, claim.mail]), [["mail-3", true]]);
  });

  test("queueStats() counts queued runs and the oldest one's creation time", async (store) => {
    assert.deepEqual(await store.queueStats(), { depth: 0, oldestCreatedAt: null });
    const first = await create(store, "queue-1");
    await create(store, "queue-2");
    await startRun(store, "queue-3");
    assert.deepEqual(await store.queueStats(), { depth: 2, oldestCreatedAt: first.createdAt });
  });

  test("subscribers receive mail, answer and work signals", async (store) => {
    const run = await create(store, "signal-1");
    const lease = (await store.acquireLease(run.threadId, { owner: "a", ttlMs: TTL }))!;
    const mail = await nextSignal(store, (s) => s.kind === "mail" && s.threadId === "signal-1");
    const answer = await nextSignal(store, (s) => s.kind === "answer" && s.threadId === "signal-1");
    const work = await nextSignal(store, (s) => s.kind === "work");
    try {
      const { seq } = await store.postMessage(run.threadId, { type: "pause", reason: null });
      assert.deepEqual(await mail.received, { kind: "mail", threadId: "signal-1" });
      await store.answerMessage(run.threadId, seq, { status: "applied" }, lease.token);
      assert.deepEqual(await answer.received, { kind: "answer", threadId: "signal-1", seq });
      await store.notify({ kind: "work" });
      assert.deepEqual(await work.received, { kind: "work" });
    } finally {
      await Promise.all([mail.stop(), answer.stop(), work.stop()]);
    }
  });
}
