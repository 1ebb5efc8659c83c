import assert from "node:assert/strict";
import type {
  LeaseLostError,
  LogFields,
  Logger,
  RunCreatedEvent,
  Store,
  ThreadId,
} from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import { type HeldLease, LeaseKeeper } from "./leases.ts";

function recordingLogger(): Logger & { lines: { msg: string; fields: LogFields }[] } {
  const lines: { msg: string; fields: LogFields }[] = [];
  const at = (msg: string, fields: LogFields = {}) => void lines.push({ msg, fields });
  return { lines, debug: at, info: at, warn: at, error: at };
}

async function createRun(store: Store, threadId: string): Promise<ThreadId> {
  const event: RunCreatedEvent = {
    type: "run.created",
    v: 1,
    at: Date.now(),
    threadId: threadId as ThreadId,
    graph: "g",
    input: {},
    payloadHash: "h",
    state: {},
    next: [],
  };
  await store.createRun(event);
  return threadId as ThreadId;
}

function keeperOn(store: Store, owner: string, ttlMs: number) {
  const lost: { lease: HeldLease; error: LeaseLostError }[] = [];
  const logger = recordingLogger();
  const keeper = new LeaseKeeper({
    store,
    owner,
    ttlMs,
    tenantMaxActive: undefined,
    now: () => Date.now(),
    logger,
    onLost: (lease, error) => lost.push({ lease, error }),
    onMail: () => {},
  });
  return { keeper, lost, logger };
}

Deno.test("LeaseKeeper keeps a lease past its ttl by renewing it, and releases it", async () => {
  await using store = new MemoryStore();
  const threadId = await createRun(store, "t-renew");
  const { keeper, lost } = keeperOn(store, "a", 600);
  try {
    const lease = await keeper.acquire(threadId);
    assert.ok(lease !== null);
    assert.equal(await keeper.acquire(threadId), lease, "held: never acquired twice");
    const first = (await store.getLease(threadId))!.expiresAt;
    // Longer than the ttl: only renewals keep it.
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    assert.deepEqual(lost, []);
    assert.ok((await store.getLease(threadId))!.expiresAt > first, "renewed");
    assert.equal(lease.token(), lease.tokenValue);
    const other = keeperOn(store, "b", 90);
    assert.equal(await other.keeper.acquire(threadId), null, "another owner cannot take it");
    await keeper.release(threadId);
    assert.equal(await store.getLease(threadId), null);
    assert.equal(keeper.size, 0);
  } finally {
    await keeper.close();
  }
});

Deno.test("LeaseKeeper loses a lease it cannot renew before the lease ends, once", async () => {
  await using store = new MemoryStore();
  const threadId = await createRun(store, "t-lost");
  const cut = new Proxy(store, {
    get(target, property) {
      if (property === "renewLeases") return () => Promise.reject(new Error("down"));
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const { keeper, lost, logger } = keeperOn(cut, "a", 150);
  try {
    const lease = (await keeper.acquire(threadId))!;
    const { expiresAt } = (await store.getLease(threadId))!;
    // Its writes stop at a deadline before the lease ends in the store.
    assert.ok(lease.deadline < expiresAt);
    while (lost.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(lost[0]!.lease, lease);
    assert.throws(() => lease.token(), (error: Error) => error.name === "LeaseLostError");
    assert.equal(keeper.get(threadId), undefined);
    assert.equal(logger.lines.filter((line) => line.msg === "lease lost").length, 1);
    assert.equal(lost.length, 1);
  } finally {
    await keeper.close();
  }
});

Deno.test("LeaseKeeper loses a lease another owner took over", async () => {
  await using store = new MemoryStore();
  const threadId = await createRun(store, "t-taken");
  const a = keeperOn(store, "a", 60);
  try {
    const lease = (await a.keeper.acquire(threadId))!;
    await a.keeper.close(); // A stops renewing (and releases).
    const b = keeperOn(store, "b", 60_000);
    const taken = (await b.keeper.acquire(threadId))!;
    assert.ok(taken.tokenValue > lease.tokenValue);
    const effect = {
      threadId,
      step: 1,
      node: "n",
      index: 0,
      name: "e",
      result: { ok: true as const, value: null },
      recordedAt: 1,
    };
    await assert.rejects(
      store.recordEffect(effect, { fence: lease.tokenValue }),
      (error: Error) => error.name === "LeaseLostError",
    );
    await b.keeper.close();
  } finally {
    await a.keeper.close();
  }
});

Deno.test("LeaseKeeper does not count a lease it is releasing as a place taken, and keeps it out of claims until released", async () => {
  await using store = new MemoryStore();
  const first = await createRun(store, "t-place-1");
  const second = await createRun(store, "t-place-2");
  const gate = Promise.withResolvers<void>();
  const slow = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === "releaseLease") {
        return async (...args: Parameters<MemoryStore["releaseLease"]>) => {
          await gate.promise;
          return await target.releaseLease(...args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const { keeper } = keeperOn(slow, "a", 60_000);
  try {
    assert.ok(await keeper.acquire(first) !== null);
    assert.equal(keeper.size, 1);
    const releasing = keeper.release(first);
    assert.equal(keeper.size, 0, "a run at rest whose lease is being released takes no place");
    // Not claimed back while its release is in flight.
    const claims = await keeper.claim(10, ["g"]);
    assert.deepEqual(claims.map((claim) => claim.threadId), [second]);
    assert.equal(keeper.size, 1);
    gate.resolve();
    await releasing;
    assert.equal(await store.getLease(first), null);
    assert.equal(keeper.size, 1);
  } finally {
    gate.resolve();
    await keeper.close();
  }
});

Deno.test("LeaseKeeper, its timers kept between leases, still loses a later lease at its own deadline", async () => {
  await using store = new MemoryStore();
  const first = await createRun(store, "t-again-1");
  const second = await createRun(store, "t-again-2");
  const down = { renew: false };
  const flaky = new Proxy(store, {
    get(target, property) {
      if (property === "renewLeases" && down.renew) return () => Promise.reject(new Error("down"));
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const { keeper, lost } = keeperOn(flaky, "a", 150);
  try {
    // One lease held and released: its expiry timer stays armed for its deadline.
    assert.ok(await keeper.acquire(first) !== null);
    await keeper.release(first);
    assert.equal(keeper.size, 0);
    down.renew = true;
    const lease = (await keeper.acquire(second))!;
    // Not lost before its deadline (the timer armed for the first one's fires first).
    while (lost.length === 0) {
      assert.ok(!lease.isLost);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(Date.now() >= lease.deadline, "lost at its deadline, not before");
    assert.equal(lost[0]!.lease, lease);
    assert.equal(lost.length, 1);
    assert.throws(() => lease.token(), (error: Error) => error.name === "LeaseLostError");
  } finally {
    await keeper.close();
  }
});

Deno.test("LeaseKeeper holding no lease does not keep the process alive", async () => {
  // A process whose keeper held a lease and released it, never closed, exits
  // at once although the keeper's timers (ttl of a minute) are kept.
  const script = `
    import { MemoryStore } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
    import { LeaseKeeper } from ${JSON.stringify(new URL("./leases.ts", import.meta.url).href)};
    const store = new MemoryStore();
    await store.createRun({ type: "run.created", v: 1, at: Date.now(), threadId: "t-exit",
      graph: "g", input: {}, payloadHash: "h", state: {}, next: [] });
    const quiet = () => {};
    const keeper = new LeaseKeeper({ store, owner: "a", ttlMs: 60_000, tenantMaxActive: undefined,
      now: () => Date.now(), logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
      onLost: quiet, onMail: quiet });
    await keeper.acquire("t-exit");
    await keeper.release("t-exit");
    console.log("released");
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.equal(new TextDecoder().decode(output.stderr), "");
  assert.equal(new TextDecoder().decode(output.stdout), "released\n");
  assert.ok(output.success, "it exited by itself, without waiting for the keeper's timers");
});
