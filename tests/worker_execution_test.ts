/**
 * Guarantee: a remote worker (`createWorker`) executes runs for a server
 * whose runtime does not (`execution: "none"`, as `ORIS_EXECUTION=workers`),
 * through the `/v1/workers/*` endpoints only, on every store: runs wait
 * `queued` until the worker takes them; every step is committed once and
 * every journaled effect made once; a resume and a cancel sent to the
 * server reach the run through its mailbox and the worker applies them; the
 * attempt is acked with the run's terminal status; a stopped worker
 * releases its leases at once and another worker continues; a stale fencing
 * token writes nothing. (Real processes: `tests/worker_cluster_test.ts`.)
 */

import assert from "node:assert/strict";
import { createJsonLogger, createRuntime, type Runtime } from "../actors/mod.ts";
import { defineState, END, type Logger, START, type Store, type ThreadId } from "../kernel/mod.ts";
import { StateGraph } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { createWorker, type Worker } from "../worker/mod.ts";
import { storeTest } from "./_stores.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
  hold: { default: () => false },
});

/** Effects made, by `<thread> <node>`. */
type Counts = Map<string, number>;

/** Graph "flow": a -> ask (interrupt) -> b; each node makes one journaled effect. */
function flow(counts: Counts, entered?: (threadId: string, node: string) => Promise<void>) {
  const node = (name: string, ask = false) => async (state: { hold: boolean }, ctx: never) => {
    const c = ctx as unknown as {
      threadId: string;
      effect<T>(name: string, fn: () => T): Promise<T>;
      interrupt(value: unknown): Promise<unknown>;
    };
    await c.effect(`do-${name}`, () => {
      const key = `${c.threadId} ${name}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      return key;
    });
    if (state.hold) await entered?.(c.threadId, name);
    if (ask) await c.interrupt(`approve ${name}?`);
    return { log: [name] };
  };
  return new StateGraph(State)
    .addNode("a", node("a") as never)
    .addNode("ask", node("ask", true) as never)
    .addNode("b", node("b") as never)
    .addEdge(START, "a").addEdge("a", "ask").addEdge("ask", "b").addEdge("b", END)
    .compile();
}

const quiet: Logger = createJsonLogger({ level: "error" });

interface Plane {
  runtime: Runtime;
  url: string;
  worker(id: string, counts: Counts, entered?: Parameters<typeof flow>[1]): Worker;
  close(): Promise<void>;
}

async function plane(store: Store): Promise<Plane> {
  const runtime = createRuntime({
    store,
    execution: "none",
    pollIntervalMs: 50,
    logger: quiet,
    graphs: { flow: flow(new Map()) },
  });
  const server = await createServer({ runtime, logger: quiet });
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, server.app.fetch);
  const url = `http://127.0.0.1:${http.addr.port}`;
  const workers: Worker[] = [];
  return {
    runtime,
    url,
    worker(id, counts, entered) {
      const worker = createWorker({
        server: url,
        graphs: { flow: flow(counts, entered) },
        workerId: id,
        maxActiveRuns: 4,
        pollIntervalMs: 20,
        maxPollIntervalMs: 100,
        leaseTtlMs: 3000,
        logger: quiet,
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      for (const worker of workers) await worker.stop();
      await http.shutdown();
      await server.close();
      await runtime.close();
    },
  };
}

/** Reads `read` until `done` holds (store state the test waits for). */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const guard = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    assert.ok(Date.now() < guard, `never reached: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function committedSteps(store: Store, threadId: string): Promise<number[]> {
  const steps: number[] = [];
  for (const { event } of await store.readEvents(threadId as ThreadId, 1)) {
    if (event.type === "step.committed") steps.push(event.step);
  }
  return steps;
}

storeTest(
  "a worker executes the server's runs: queued until taken, resumed and cancelled through the mailbox, acked",
  async (store) => {
    const p = await plane(store);
    try {
      const started = await p.runtime.start("flow", {}, { threadId: "wx-1" });
      assert.equal(started.status, "queued");
      assert.equal((await p.runtime.start("flow", {}, { threadId: "wx-2" })).status, "queued");
      const counts: Counts = new Map();
      p.worker("w-a", counts);
      const first = await p.runtime.wait("wx-1");
      assert.equal(first.status, "interrupted");
      assert.deepEqual(first.state.log, ["a"]);
      assert.equal((await p.runtime.wait("wx-2")).status, "interrupted");
      // At rest, the worker released the lease: the attempt waits, queued, for the resume.
      const open = await until(
        () => store.attempts.openAttempt("wx-1"),
        (a) => a?.status === "queued",
      );
      assert.equal(open?.workerId, "w-a");
      const resumed = await p.runtime.resume("wx-1", "yes");
      assert.equal(resumed.status, "completed");
      assert.deepEqual(resumed.state.log, ["a", "ask", "b"]);
      assert.equal((await p.runtime.cancel("wx-2", "no")).status, "cancelled");
      assert.deepEqual(await committedSteps(store, "wx-1"), [1, 2, 3]);
      // Every journaled effect once, although "ask" ran twice (before and after its interrupt).
      assert.deepEqual(
        Object.fromEntries([...counts].filter(([key]) => key.startsWith("wx-1"))),
        { "wx-1 a": 1, "wx-1 ask": 1, "wx-1 b": 1 },
      );
      const journal = await store.listEffects("wx-1" as ThreadId);
      assert.deepEqual(journal.map((e) => e.name), ["do-a", "do-ask", "do-b"]);
      // A remote worker's effects keep when they started, as an embedded runtime's do.
      assert.ok(
        journal.every((e) => typeof e.startedAt === "number" && e.startedAt <= e.recordedAt),
      );
      // The attempts ended with the runs' statuses (the worker acks right after its report).
      for (const [threadId, status] of [["wx-1", "completed"], ["wx-2", "cancelled"]]) {
        const attempt = await until(
          async () => (await store.attempts.listAttempts({ status: status as "completed" }))[0],
          (a) => a !== undefined,
        );
        assert.deepEqual([attempt?.threadId, attempt?.workerId], [threadId, "w-a"]);
      }
    } finally {
      await p.close();
    }
  },
);

storeTest(
  "a stopped worker releases its leases at once and another worker continues from the last step",
  async (store) => {
    const p = await plane(store);
    try {
      const holding = Promise.withResolvers<void>();
      const release = Promise.withResolvers<void>();
      const before: Counts = new Map();
      const first = p.worker("w-first", before, async (_threadId, node) => {
        if (node !== "a") return;
        holding.resolve();
        await release.promise;
      });
      await p.runtime.start("flow", { hold: true }, { threadId: "wx-stop" });
      await holding.promise;
      // Stopping lets the step in hand commit, then releases the lease (no expiry to wait for).
      const stopping = first.stop();
      release.resolve();
      await stopping;
      assert.deepEqual(await committedSteps(store, "wx-stop"), [1]);
      const lease = await store.getLease("wx-stop" as ThreadId);
      assert.ok(lease === null || lease.expiresAt <= Date.now(), JSON.stringify(lease));
      const after: Counts = new Map();
      const second = p.worker("w-second", after);
      assert.equal((await p.runtime.wait("wx-stop")).status, "interrupted");
      assert.deepEqual(await committedSteps(store, "wx-stop"), [1]);
      assert.equal(after.get("wx-stop a"), undefined, "step a is not executed again");
      assert.equal(after.get("wx-stop ask"), 1);
      assert.equal(before.get("wx-stop a"), 1);
      await second.stop();
    } finally {
      await p.close();
    }
  },
);

storeTest("a report under a stale fencing token writes nothing", async (store) => {
  const p = await plane(store);
  try {
    await p.runtime.start("flow", {}, { threadId: "wx-stale" });
    const poll = async (worker: string) => {
      const response = await fetch(`${p.url}/v1/workers/poll`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ worker_id: worker, graphs: ["flow"], lease_ttl_seconds: 1 }),
      });
      return (await response.json()).data;
    };
    const old = await poll("w-old");
    assert.equal(old.decision, "dispatched");
    // The old lease expires; another worker takes the run with a higher token.
    let next = await poll("w-new");
    while (next.decision !== "dispatched") {
      await new Promise((resolve) => setTimeout(resolve, 100));
      next = await poll("w-new");
    }
    assert.ok(next.fencing_token > old.fencing_token);
    const version = (await store.load("wx-stale" as ThreadId))!.snapshot.version;
    const response = await fetch(`${p.url}/v1/workers/w-old/report-step`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        attempt_id: old.attempt_id,
        lease_id: old.lease_id,
        fencing_token: old.fencing_token,
        dedupe_token: "stale-1",
        expected_version: version,
        events: [{ type: "run.started", v: 1, at: Date.now(), attemptId: old.attempt_id }],
      }),
    });
    assert.equal(response.status, 409);
    assert.equal((await response.json()).error.code, "conflict");
    const effect = await fetch(`${p.url}/v1/workers/w-old/runs/wx-stale/effects`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        fencing_token: old.fencing_token,
        step: 1,
        node: "a",
        index: 0,
        name: "x",
        result: { ok: true, value: 1 },
        recorded_at: Date.now(),
      }),
    });
    assert.equal(effect.status, 409);
    await effect.body?.cancel();
    assert.equal((await store.readEvents("wx-stale" as ThreadId, 1)).length, version);
    assert.deepEqual(await store.listEffects("wx-stale" as ThreadId), []);
  } finally {
    await p.close();
  }
});
