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

/** What a test's worker gets besides its graph. */
interface WorkerExtras {
  entered?: Parameters<typeof flow>[1];
  fetch?: typeof fetch;
  logger?: Logger;
}

interface Plane {
  runtime: Runtime;
  url: string;
  worker(id: string, counts: Counts, options?: WorkerExtras): Worker;
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
    worker(id, counts, extras = {}) {
      const worker = createWorker({
        server: url,
        graphs: { flow: flow(counts, extras.entered) },
        workerId: id,
        maxActiveRuns: 4,
        pollIntervalMs: 20,
        maxPollIntervalMs: 100,
        leaseTtlMs: 3000,
        logger: extras.logger ?? quiet,
        ...(extras.fetch === undefined ? {} : { fetch: extras.fetch }),
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

/** A test on each store, given a plane (closed at the end, whatever happens) and its store. */
function planeTest(name: string, body: (p: Plane, store: Store) => Promise<void>): void {
  storeTest(name, async (store) => {
    const p = await plane(store);
    try {
      await body(p, store);
    } finally {
      await p.close();
    }
  });
}

/** A hook that holds each run at `node` until the test calls `release()`; `holding` settles at the first. */
function holdAt(node: string): {
  entered: NonNullable<WorkerExtras["entered"]>;
  holding: Promise<void>;
  release: () => void;
} {
  const holding = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  return {
    async entered(_threadId, entered) {
      if (entered !== node) return;
      holding.resolve();
      await release.promise;
    },
    holding: holding.promise,
    release: () => release.resolve(),
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

planeTest(
  "a worker executes the server's runs: queued until taken, resumed and cancelled through the mailbox, acked",
  async (p, store) => {
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
  },
);

planeTest(
  "a stopped worker releases its leases at once and another worker continues from the last step",
  async (p, store) => {
    const hold = holdAt("a");
    const before: Counts = new Map();
    const first = p.worker("w-first", before, {
      entered: hold.entered,
    });
    await p.runtime.start("flow", { hold: true }, { threadId: "wx-stop" });
    await hold.holding;
    // Stopping lets the step in hand commit, then releases the lease (no expiry to wait for).
    const stopping = first.stop();
    hold.release();
    await stopping;
    assert.deepEqual(await committedSteps(store, "wx-stop"), [1]);
    const lease = await store.getLease("wx-stop" as ThreadId);
    assert.ok(lease === null || lease.expiresAt <= Date.now(), JSON.stringify(lease));
    const after: Counts = new Map();
    const second = p.worker("w-second", after);
    assert.equal((await p.runtime.wait("wx-stop")).status, "interrupted");
    assert.deepEqual(await committedSteps(store, "wx-stop"), [1]);
    // Each effect once, across both workers (the first may have begun step 2 before it
    // drained); step 1 is not executed again.
    assert.equal(after.get("wx-stop a"), undefined, "step a is not executed again");
    assert.equal(before.get("wx-stop a"), 1);
    assert.equal((before.get("wx-stop ask") ?? 0) + (after.get("wx-stop ask") ?? 0), 1);
    await second.stop();
  },
);

planeTest("a report under a stale fencing token writes nothing", async (p, store) => {
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
});

planeTest(
  "a worker rides out a server it cannot reach: its report waits and lands, nothing lost or repeated",
  async (p, store) => {
    let down = false;
    const flaky: typeof fetch = (input, init) =>
      down ? Promise.reject(new TypeError("connection refused")) : fetch(input, init);
    const retrying = Promise.withResolvers<void>();
    const logger: Logger = {
      ...quiet,
      warn(message) {
        if (message === "Cannot reach the server; retrying") retrying.resolve();
      },
    };
    const hold = holdAt("a");
    const counts: Counts = new Map();
    p.worker("w-flaky", counts, {
      fetch: flaky,
      logger,
      entered: hold.entered,
    });
    await p.runtime.start("flow", { hold: true }, { threadId: "wx-down" });
    await hold.holding;
    // The server goes away while step 1 finishes: its report is retried, with backoff.
    down = true;
    hold.release();
    await retrying.promise;
    assert.deepEqual(await committedSteps(store, "wx-down"), []);
    down = false;
    const run = await p.runtime.wait("wx-down");
    assert.equal(run.status, "interrupted");
    assert.deepEqual(await committedSteps(store, "wx-down"), [1]);
    assert.equal(counts.get("wx-down a"), 1);
    assert.equal(counts.get("wx-down ask"), 1);
  },
);

/** Calls a worker endpoint as a raw client would; answers the status and the envelope. */
async function call(
  url: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<{ status: number; error: { code: string; details: Record<string, unknown> } }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = await response.json();
  return { status: response.status, error: parsed.error };
}

planeTest(
  "bad input on the endpoints of a worker's runs gets the error envelope and writes nothing",
  async (p, store) => {
    await p.runtime.start("flow", {}, { threadId: "wx-bad" });
    const polled = await fetch(`${p.url}/v1/workers/poll`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ worker_id: "w-a", graphs: ["flow"] }),
    });
    const held = (await polled.json()).data;
    assert.equal(held.decision, "dispatched");
    const run = "/v1/workers/w-a/runs/wx-bad";
    const effect = {
      fencing_token: held.fencing_token,
      step: 1,
      node: "a",
      index: 0,
      name: "x",
      result: { ok: true, value: 1 },
      recorded_at: Date.now(),
    };
    const cases: [string, "GET" | "POST", string, unknown, number, string, string?][] = [
      [
        "release: unknown lease",
        "POST",
        "/v1/workers/w-a/release",
        { lease_id: "at_nope:1" },
        404,
        "not_found",
      ],
      [
        "release: wrong type",
        "POST",
        "/v1/workers/w-a/release",
        { lease_id: 5 },
        400,
        "invalid_argument",
        "lease_id",
      ],
      [
        "release: another worker's lease",
        "POST",
        "/v1/workers/w-b/release",
        { lease_id: held.lease_id },
        409,
        "conflict",
      ],
      ["run: another worker's", "GET", "/v1/workers/w-b/runs/wx-bad", undefined, 409, "conflict"],
      ["run: unknown", "GET", "/v1/workers/w-a/runs/wx-nope", undefined, 404, "not_found"],
      [
        "events: bad seq",
        "GET",
        `${run}/events?from_seq=0`,
        undefined,
        400,
        "invalid_argument",
        "from_seq",
      ],
      [
        "effects: bad step",
        "GET",
        `${run}/effects?step=x`,
        undefined,
        400,
        "invalid_argument",
        "step",
      ],
      [
        "effect: wrong type",
        "POST",
        `${run}/effects`,
        { ...effect, fencing_token: "1" },
        400,
        "invalid_argument",
        "fencing_token",
      ],
      [
        "effect: bad result",
        "POST",
        `${run}/effects`,
        { ...effect, result: { ok: "yes" } },
        400,
        "invalid_argument",
        "result",
      ],
      [
        "effect: stale token",
        "POST",
        `${run}/effects`,
        { ...effect, fencing_token: held.fencing_token + 1 },
        409,
        "conflict",
      ],
      [
        "effect: another worker",
        "POST",
        "/v1/workers/w-b/runs/wx-bad/effects",
        effect,
        409,
        "conflict",
      ],
      [
        "answer: bad seq",
        "POST",
        `${run}/mail/x/answer`,
        { fencing_token: 1, status: "applied" },
        400,
        "invalid_argument",
        "seq",
      ],
      [
        "answer: refusal without error",
        "POST",
        `${run}/mail/1/answer`,
        { fencing_token: held.fencing_token, status: "refused" },
        400,
        "invalid_argument",
        "error",
      ],
      [
        "answer: unknown message",
        "POST",
        `${run}/mail/1/answer`,
        { fencing_token: held.fencing_token, status: "applied" },
        404,
        "not_found",
      ],
    ];
    for (const [what, method, path, body, status, code, field] of cases) {
      const answer = await call(p.url, method, path, body);
      assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.error)}`);
      assert.equal(answer.error.code, code, what);
      if (field !== undefined) assert.equal(answer.error.details.field, field, what);
    }
    // Nothing was written: no effect, no event beyond the run's creation, the lease still w-a's.
    assert.deepEqual(await store.listEffects("wx-bad" as ThreadId), []);
    assert.equal((await store.readEvents("wx-bad" as ThreadId, 1)).length, 1);
    assert.equal((await store.getLease("wx-bad" as ThreadId))?.owner, "w-a");
  },
);

planeTest(
  "a cancel sent to the server reaches a run a worker is executing, and stops it",
  async (p, store) => {
    const hold = holdAt("a");
    const counts: Counts = new Map();
    p.worker("w-run", counts, {
      entered: hold.entered,
    });
    await p.runtime.start("flow", { hold: true }, { threadId: "wx-cancel" });
    await hold.holding;
    const cancelled = p.runtime.cancel("wx-cancel", "stop");
    hold.release();
    assert.equal((await cancelled).status, "cancelled");
    // It stops where it was: no step commits after the cancel, "b" never runs.
    assert.ok((await committedSteps(store, "wx-cancel")).length <= 1);
    assert.equal(counts.get("wx-cancel b"), undefined);
    const attempt = await until(
      async () => (await store.attempts.listAttempts({ status: "cancelled" }))[0],
      (a) => a !== undefined,
    );
    assert.equal(attempt?.threadId, "wx-cancel");
  },
);
