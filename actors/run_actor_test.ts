/**
 * The run actor alone, over a scripted store (a MemoryStore whose appends a
 * test can hold or fail): the order of its messages, the races between them,
 * and a store that fails a commit, in every durability mode.
 */
import assert from "node:assert/strict";
import { deferred, recordingLogger } from "./_fixtures_test.ts";
import {
  ConflictError,
  createIdGenerator,
  defineState,
  END,
  parseThreadId,
  planStart,
  type RunEvent,
  type RunSnapshot,
  START,
  StorageError,
  type Store,
  type ThreadId,
} from "../kernel/mod.ts";
import { MemoryStore } from "../mod.ts";
import type { Durability } from "./committer.ts";
import type { NodeContext } from "./context.ts";
import { RunActor } from "./run_actor.ts";
import { Semaphore } from "./semaphore.ts";
import { StateGraphBase } from "./state_graph.ts";

const MODES: readonly Durability[] = ["sync", "async", "exit"];

/** A MemoryStore whose next append, or its n-th append, can be made to fail. */
class ScriptedStore extends MemoryStore {
  #appends = 0;
  #failures = new Map<number, Error>();

  /** The next append fails with `error` and writes nothing. */
  failNextAppend(error: Error): void {
    this.#failures.set(this.#appends + 1, error);
  }

  /** The `n`-th append since the store was made (from 1) fails with `error`. */
  failAppend(n: number, error: Error): void {
    this.#failures.set(n, error);
  }

  override async append(
    threadId: ThreadId,
    expectedVersion: number,
    events: readonly RunEvent[],
    snapshot: RunSnapshot,
  ): Promise<{ version: number }> {
    const failure = this.#failures.get(++this.#appends);
    if (failure !== undefined) throw failure;
    return await super.append(threadId, expectedVersion, events, snapshot);
  }
}

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

interface Harness {
  store: ScriptedStore;
  actor: RunActor;
  logger: ReturnType<typeof recordingLogger>;
  /** Makes a new actor for the run from what the store holds (as a runtime would after a drop). */
  reload(): Promise<RunActor>;
  types(): Promise<string[]>;
}

/**
 * An actor over a graph `a -> b -> END`, with the given node bodies, in a
 * durability mode, for a new run.
 */
async function harness(
  durability: Durability,
  nodes: {
    a?: (ctx: NodeContext) => Promise<unknown> | unknown;
    b?: (ctx: NodeContext) => Promise<unknown> | unknown;
  } = {},
): Promise<Harness> {
  const store = new ScriptedStore();
  const logger = recordingLogger();
  const spec = new StateGraphBase(State)
    .addNode("a", async (_state, ctx) => ({ log: [`a:${JSON.stringify(await nodes.a?.(ctx))}`] }))
    .addNode("b", async (_state, ctx) => ({ log: [`b:${JSON.stringify(await nodes.b?.(ctx))}`] }))
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", END)
    .compile({ store }).definition.spec;
  const ids = createIdGenerator({
    now: () => Date.now(),
    randomBytes: (b) => crypto.getRandomValues(b),
  });
  const threadId = parseThreadId(`t-${durability}`);
  const plan = await planStart(spec, spec.schema.initial({}) as never);
  const { run } = await store.createRun({
    type: "run.created",
    v: 1,
    at: 1,
    threadId,
    graph: "g",
    input: {},
    payloadHash: "h",
    state: plan.state,
    next: plan.next,
  });
  const claim = await store.acquireLease(threadId, { owner: "test", ttlMs: 60_000 });
  const deps = {
    store: store as Store,
    fence: { token: () => claim!.token, lost() {} },
    graph: spec,
    ids,
    limiter: new Semaphore(4),
    durability,
    stepLimit: 100,
    logger,
    now: () => Date.now(),
    random: () => 0.5,
    uuid: () => crypto.randomUUID(),
    sleep: () => Promise.resolve(),
    maxJsonDepth: 256,
  };
  const reload = async () => {
    const loaded = await store.load(threadId);
    const { currentSnapshot } = await import("../kernel/mod.ts");
    return new RunActor(currentSnapshot(loaded!), deps);
  };
  return {
    store,
    actor: new RunActor(run, deps),
    logger,
    reload,
    types: async () => (await store.readEvents(threadId, 1)).map((item) => item.event.type),
  };
}

async function interrupted(h: Harness): Promise<RunSnapshot> {
  await h.actor.send({ type: "start" });
  const run = await h.actor.rest();
  assert.equal(run.status, "interrupted");
  return run;
}

for (const mode of MODES) {
  Deno.test(`RunActor (${mode}) handles messages in the order they were sent`, async () => {
    const h = await harness(mode, { a: (ctx) => ctx.interrupt("approve?") });
    await interrupted(h);
    const sent = [
      h.actor.send({ type: "update", update: { log: ["one"] }, asNode: null }),
      h.actor.send({ type: "update", update: { log: ["two"] }, asNode: null }),
      h.actor.send({ type: "cancel", reason: "done" }),
      h.actor.send({ type: "update", update: { log: ["three"] }, asNode: null }),
    ];
    const outcomes = await Promise.allSettled(sent);
    assert.deepEqual(outcomes.map((o) => o.status), [
      "fulfilled",
      "fulfilled",
      "fulfilled",
      "rejected",
    ]);
    const refused = (outcomes[3] as PromiseRejectedResult).reason;
    assert.ok(refused instanceof ConflictError, String(refused));
    assert.deepEqual(h.actor.run.state.log, ["one", "two"]);
    assert.deepEqual((await h.types()).slice(-3), [
      "state.updated",
      "state.updated",
      "run.cancelled",
    ]);
  });

  Deno.test(`RunActor (${mode}) resume racing cancel: the first sent wins, the second is refused or ends the run`, async () => {
    // Resume first: the answer is committed, then the cancel ends the run
    // before the node runs again; the interrupt's record agrees with the run.
    let runs = 0;
    const h = await harness(mode, {
      a: (ctx) => {
        runs++;
        return ctx.interrupt("approve?");
      },
    });
    await interrupted(h);
    const [resumed, cancelled] = await Promise.all([
      h.actor.send({ type: "resume", answer: { kind: "value", value: true } }),
      h.actor.send({ type: "cancel", reason: "no longer needed" }),
    ]);
    assert.equal(resumed.status, "running");
    assert.equal(cancelled.status, "cancelled");
    assert.equal((await h.actor.rest()).status, "cancelled");
    assert.equal(runs, 1);
    assert.deepEqual((await h.types()).slice(-2), ["run.resumed", "run.cancelled"]);
    const [record] = (await h.store.listInterrupts({ threadId: "t-" + mode })).items;
    assert.equal(record?.status, "cancelled");

    // Cancel first: the resume is refused and changes nothing.
    const other = await harness(mode, { a: (ctx) => ctx.interrupt("approve?") });
    await interrupted(other);
    const outcomes = await Promise.allSettled([
      other.actor.send({ type: "cancel", reason: null }),
      other.actor.send({ type: "resume", answer: { kind: "value", value: true } }),
    ]);
    assert.equal(outcomes[0].status, "fulfilled");
    assert.equal(outcomes[1].status, "rejected");
    assert.match(
      String((outcomes[1] as PromiseRejectedResult).reason),
      /cancelled, not interrupted/,
    );
    assert.equal((await other.types()).at(-1), "run.cancelled");
  });

  Deno.test(`RunActor (${mode}) pause racing a step: the step commits, then the run pauses`, async () => {
    const entered = deferred();
    const gate = deferred();
    let bRuns = 0;
    const h = await harness(mode, {
      a: async () => {
        entered.resolve();
        await gate.promise;
        return "slow";
      },
      b: () => ++bRuns,
    });
    const started = h.actor.send({ type: "start" });
    await entered.promise;
    const paused = h.actor.send({ type: "pause", reason: "operator" });
    gate.resolve();
    await started;
    assert.equal((await paused).status, "paused");
    assert.equal((await h.actor.rest()).status, "paused");
    assert.equal(bRuns, 0);
    assert.equal(h.actor.run.step, 1);
    assert.deepEqual(h.actor.run.state.log, ['a:"slow"']);
    const resumed = await h.actor.send({ type: "resume", answer: { kind: "value" } });
    assert.equal(resumed.status, "running");
    assert.equal((await h.actor.rest()).status, "completed");
    assert.equal(bRuns, 1);
  });

  Deno.test(`RunActor (${mode}) a timeout aborts the running node with code timeout and ends the run`, async () => {
    const entered = deferred();
    let reason: unknown = null;
    const h = await harness(mode, {
      a: (ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            reason = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
          entered.resolve();
        }),
    });
    const started = h.actor.send({ type: "start" });
    await entered.promise;
    const ended = await h.actor.send({ type: "timeout", ms: 10, status: "failed" });
    await started;
    assert.equal(ended.status, "failed");
    assert.equal((reason as { code?: string } | null)?.code, "timeout");
    const run = await h.actor.rest();
    assert.equal(run.status === "failed" ? run.error.code : null, "timeout");
    assert.equal((await h.types()).at(-1), "run.failed");
  });

  Deno.test(`RunActor (${mode}) two resumes of one interrupt: one answer is taken, the other refused`, async () => {
    const answers: unknown[] = [];
    const h = await harness(mode, {
      a: async (ctx) => {
        const answer = await ctx.interrupt("approve?");
        answers.push(answer);
        return answer;
      },
    });
    await interrupted(h);
    const outcomes = await Promise.allSettled([
      h.actor.send({ type: "resume", answer: { kind: "value", value: "first" } }),
      h.actor.send({ type: "resume", answer: { kind: "value", value: "second" } }),
    ]);
    assert.equal(outcomes[0].status, "fulfilled");
    assert.equal(outcomes[1].status, "rejected");
    assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof ConflictError);
    const run = await h.actor.rest();
    assert.equal(run.status, "completed");
    assert.deepEqual(answers, ["first"]);
    assert.equal((await h.types()).filter((type) => type === "run.resumed").length, 1);
  });

  Deno.test(`RunActor (${mode}) an update sent during a step applies after the step's commit`, async () => {
    const entered = deferred();
    const gate = deferred();
    const h = await harness(mode, {
      a: async () => {
        entered.resolve();
        await gate.promise;
        return 1;
      },
      b: (ctx) => ctx.interrupt("look"),
    });
    const started = h.actor.send({ type: "start" });
    await entered.promise;
    const updated = h.actor.send({ type: "update", update: { log: ["edit"] }, asNode: null });
    gate.resolve();
    await started;
    await updated;
    const run = await h.actor.rest();
    assert.equal(run.status, "interrupted");
    assert.deepEqual(run.state.log, ["a:1", "edit"]);
    const types = await h.types();
    assert.ok(types.indexOf("state.updated") > types.indexOf("step.committed"), types.join());
  });

  Deno.test(`RunActor (${mode}) a commit the store refuses is reported, and the store keeps what was committed`, async () => {
    let aRuns = 0;
    const h = await harness(mode, {
      a: async (ctx) => {
        aRuns++;
        return await ctx.effect("charge", () => "receipt");
      },
    });
    const before = await h.types();
    // The commit after the start fails: in sync mode the first step's, in
    // async mode the first step's (in the background), in exit mode the one
    // at rest.
    h.store.failAppend(2, new StorageError("disk full"));
    await h.actor.send({ type: "start" });
    await assert.rejects(() => h.actor.rest(), /disk full/);
    assert.ok(h.actor.broken);
    await assert.rejects(() => h.actor.send({ type: "pause", reason: null }), /disk full/);
    const reported = h.logger.entries.find((entry) => entry.level === "error");
    assert.equal(reported?.fields.thread_id, `t-${mode}`);
    // The store holds a consistent run: a new actor takes it up, and the
    // journaled effect is not run again.
    const stored = await h.types();
    assert.deepEqual(stored.slice(0, before.length), before);
    const next = await h.reload();
    await next.send({ type: "start" });
    const done = await next.rest();
    assert.equal(done.status, "completed");
    assert.deepEqual(done.state.log, ['a:"receipt"', "b:undefined"]);
    assert.ok(aRuns <= 2);
    const effects = await h.store.listEffects(`t-${mode}` as ThreadId);
    assert.equal(effects.filter((effect) => effect.name === "charge").length, 1);
  });

  Deno.test(`RunActor (${mode}) a refused control message leaves the run as it was`, async () => {
    const h = await harness(mode, { a: (ctx) => ctx.interrupt("approve?") });
    await interrupted(h);
    const log = await h.types();
    h.store.failNextAppend(new StorageError("connection reset", { retryable: true }));
    await assert.rejects(() => h.actor.send({ type: "cancel", reason: null }), /connection reset/);
    // Sync mode never got ahead of the store; the other modes hold a run
    // that did not land, so the actor stops and a new one starts from the store.
    const actor = mode === "sync" ? h.actor : await h.reload();
    assert.equal(h.actor.broken, mode !== "sync");
    assert.equal(actor.run.status, "interrupted");
    assert.equal((await actor.send({ type: "cancel", reason: null })).status, "cancelled");
    const after = await h.types();
    assert.deepEqual(after.slice(0, log.length), log);
    assert.equal(after.length, log.length + 1);
  });
}
