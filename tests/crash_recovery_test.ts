/**
 * Crash recovery: a 50-step graph whose every step makes one journaled effect
 * (appending `<step>` to an external counter file) is killed with SIGKILL
 * mid-run several times, at seeded points; each time a fresh process
 * `recover()`s it, and the last one finishes it. Every effect ran exactly
 * once, nothing committed was lost, and the final state equals an
 * uninterrupted run's.
 *
 * The process halts at each chosen point and waits to be killed, so the kill
 * lands exactly where the plan says, and the test needs no sleeps:
 * - before the step's effect (the previous step is committed);
 * - after the effect was journaled, before the node returns (recovery runs
 *   the step again and gets the effect's result from the journal);
 * - after the node returned, while the step commits or just after.
 *
 * Effects are at-least-once in one window that every durable-execution
 * system has: a kill after the effect's side effect and before its result is
 * journaled. The last tests pin that window down exactly: the effect of that
 * one step runs again on recovery, and no other.
 *
 * Memory stores cannot outlive a process, so the memory variants abandon a
 * runtime mid-step (its node waits for ever) and recover with a second
 * runtime over the same store.
 *
 * Kill points come from a seeded generator; the seed is in every failure
 * message, and `ORIS_CRASH_SEED` replays one.
 */

import { mulberry32 } from "./_random.ts";
import assert from "node:assert/strict";
import { createRuntime, MemoryStore, type RunSnapshot, type Store, type ThreadId } from "../mod.ts";
import { currentSnapshot } from "../kernel/mod.ts";
import {
  CRASH_STEPS,
  type CrashBackend,
  crashGraph,
  type CrashGraphConfig,
  type CrashHooks,
  type HaltPhase,
  openCrashStore,
} from "./fixtures/crash_graph.ts";
import { postgresTest, postgresTestUrl, withFreshSchema } from "./_postgres.ts";
import { cutOffFromLeases, leaseExpired } from "./_helpers.ts";

const FIXTURE = new URL("./fixtures/crash_graph.ts", import.meta.url).pathname;
const KILLS = 4;
/** A bound on one child process, so that a hang fails the test instead of stalling it. */
const CHILD_LIMIT_MS = 30_000;
const SEED = Number(Deno.env.get("ORIS_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));

interface Halt {
  step: number;
  phase: HaltPhase;
}

/** The phases outside the at-least-once window. */
const SAFE_PHASES: readonly HaltPhase[] = ["before-effect", "after-effect", "during-commit"];

/**
 * `KILLS` halt points at increasing steps (one in each band of the run, never
 * the last step), cycling through the safe phases from a seeded one.
 */
function killPlan(seed: number): Halt[] {
  const random = mulberry32(seed);
  const band = Math.floor(CRASH_STEPS / KILLS);
  const first = Math.floor(random() * SAFE_PHASES.length);
  return Array.from({ length: KILLS }, (_, i) => ({
    step: 1 + i * band + Math.floor(random() * (band - 1)),
    phase: SAFE_PHASES[(first + i) % SAFE_PHASES.length]!,
  }));
}

/** The steps 1..n. */
function steps(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** The final state of the graph run without interruption, in memory. */
async function uninterruptedState(): Promise<Record<string, unknown>> {
  const calls: number[] = [];
  await using runtime = createRuntime();
  const app = crashGraph((step) => calls.push(step)).compile({ runtime, name: "crash" });
  const result = await app.invoke({}, { threadId: "uninterrupted" });
  assert.equal(result.status, "completed");
  assert.deepEqual(calls, steps(CRASH_STEPS));
  return result.state;
}

async function readCounter(path: string): Promise<number[]> {
  try {
    const text = await Deno.readTextFile(path);
    return text.split("\n").filter((line) => line !== "").map(Number);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

async function loadRun(store: Store, threadId: string, context: string): Promise<RunSnapshot> {
  const loaded = await store.load(threadId as ThreadId);
  assert.ok(loaded !== null, `${context}: the run is gone`);
  return currentSnapshot(loaded);
}

/** The journaled `count` effects, as [step, result] pairs in step order. */
async function countEffects(store: Store, threadId: string): Promise<[number, unknown][]> {
  const records = await store.listEffects(threadId as ThreadId);
  return records
    .filter((record) => record.name === "count")
    .map((record): [number, unknown] => [
      record.step,
      record.result.ok ? record.result.value : record.result.error,
    ])
    .sort((a, b) => a[0] - b[0]);
}

/**
 * Checks the store and the counter right after a kill at `halt`: the run is
 * still `running`; every step before the halted one is committed (and the
 * halted one only if the kill came after its commit); the counter holds one
 * line for each step whose effect ran, and the journal holds their results.
 * In the at-least-once window, the halted step's effect ran but is not
 * journaled.
 */
async function verifyHalted(
  store: Store,
  threadId: string,
  counter: number[],
  halt: Halt,
  reported: number,
  context: string,
): Promise<void> {
  const run = await loadRun(store, threadId, context);
  assert.equal(run.status, "running", `${context}: the run is not running`);
  assert.ok(
    run.step >= reported,
    `${context}: step ${reported} was reported committed, the store has ${run.step}`,
  );
  if (halt.phase === "during-commit") {
    assert.ok(
      run.step === halt.step - 1 || run.step === halt.step,
      `${context}: ${run.step} steps committed`,
    );
  } else {
    assert.equal(run.step, halt.step - 1, `${context}: committed steps`);
  }
  const ran = halt.phase === "before-effect" ? halt.step - 1 : halt.step;
  assert.deepEqual(counter, steps(ran), `${context}: the counter file`);
  const journaled = halt.phase === "before-effect" || halt.phase === "after-side-effect"
    ? halt.step - 1
    : halt.step;
  assert.deepEqual(
    await countEffects(store, threadId),
    steps(journaled).map((step) => [step, step]),
    `${context}: the journal`,
  );
}

/**
 * Checks a finished run: completed with the uninterrupted run's state, one
 * commit per step, one journaled effect per step, the counter as expected,
 * and a replay that matches without running an effect.
 */
async function verifyFinished(
  store: Store,
  threadId: string,
  counter: number[],
  expectedCounter: number[],
  expectedState: Record<string, unknown>,
  context: string,
): Promise<void> {
  const run = await loadRun(store, threadId, context);
  assert.equal(run.status, "completed", `${context}: status`);
  assert.deepEqual(run.state, expectedState, `${context}: the final state`);
  assert.deepEqual(counter, expectedCounter, `${context}: the counter file`);
  const events = await store.readEvents(threadId as ThreadId, 1);
  const committed = events.flatMap(({ event }) =>
    event.type === "step.committed" ? [event.step] : []
  );
  assert.deepEqual(committed, steps(CRASH_STEPS), `${context}: step commits`);
  assert.deepEqual(
    await countEffects(store, threadId),
    steps(CRASH_STEPS).map((step) => [step, step]),
    `${context}: the journal`,
  );
  const runtime = createRuntime({ store });
  try {
    const app = crashGraph(() => {
      throw new Error("Replay ran an effect");
    }).compile({ runtime, name: "crash" });
    const report = await app.replay(threadId);
    assert.equal(report.steps, CRASH_STEPS, `${context}: replayed steps`);
  } finally {
    await runtime.close();
  }
}

interface ChildResult {
  killed: boolean;
  halted: string | null;
  /** The highest step the child proved committed (`begin n` proves n - 1). */
  reported: number;
  code: number;
  lines: string[];
  stderr: string;
}

/** Runs the fixture; kills it with SIGKILL as soon as it announces its halt. */
async function runChild(config: CrashGraphConfig): Promise<ChildResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, JSON.stringify(config)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let hung = false;
  const watchdog = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, CHILD_LIMIT_MS);
  const lines: string[] = [];
  let killed = false;
  let halted: string | null = null;
  let reported = 0;
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      const begun = /^begin (\d+)$/.exec(line);
      if (begun !== null) reported = Math.max(reported, Number(begun[1]) - 1);
      const committed = /^committed (\d+)$/.exec(line);
      if (committed !== null) reported = Math.max(reported, Number(committed[1]));
      if (!killed && line.startsWith("halt ")) {
        halted = line;
        child.kill("SIGKILL");
        killed = true;
      }
    }
  }
  const status = await child.status;
  clearTimeout(watchdog);
  await child.stdin.close().catch(() => {});
  assert.ok(
    !hung,
    `The child hung for ${CHILD_LIMIT_MS} ms: ${JSON.stringify(lines)} ${await stderr}`,
  );
  return { killed, halted, reported, code: status.code, lines, stderr: await stderr };
}

/** Kills the run at every point of `plan`, recovering it each time, then finishes it. */
async function killAndRecover(
  backend: CrashBackend,
  plan: Halt[],
  expectedCounter: number[],
  label: string,
): Promise<void> {
  const expectedState = await uninterruptedState();
  const dir = await Deno.makeTempDir({ prefix: "oris-crash-graph-" });
  const counterPath = `${dir}/counter.txt`;
  const threadId = `crash-${backend.kind}`;
  try {
    for (const [round, halt] of plan.entries()) {
      const at = `${halt.phase} ${halt.step}`;
      const context = `${label} kill ${round + 1} at ${at} (ORIS_CRASH_SEED=${SEED})`;
      const result = await runChild({
        backend,
        counterPath,
        threadId,
        mode: round === 0 ? "run" : "recover",
        halt,
      });
      assert.ok(
        result.killed,
        `${context}: the child exited by itself (${result.code}): ${result.stderr}`,
      );
      assert.equal(result.halted, `halt ${halt.phase} ${halt.step}`, context);
      if (round > 0) assert.equal(result.lines[0], `recovered ${threadId}`, context);
      await using store = await openCrashStore(backend);
      await verifyHalted(
        store,
        threadId,
        await readCounter(counterPath),
        halt,
        result.reported,
        context,
      );
    }
    const context = `${label} final recovery (ORIS_CRASH_SEED=${SEED})`;
    const result = await runChild({ backend, counterPath, threadId, mode: "recover", halt: null });
    assert.equal(result.code, 0, `${context}: ${result.stderr}`);
    assert.equal(result.lines[0], `recovered ${threadId}`, context);
    assert.equal(result.lines.at(-1), "done completed", context);
    await using store = await openCrashStore(backend);
    await verifyFinished(
      store,
      threadId,
      await readCounter(counterPath),
      expectedCounter,
      expectedState,
      context,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Hooks that, at `halt`, report it was reached and never return. For
 * `during-commit` the node returns and the runtime is abandoned at the start
 * of the next step, after the commit.
 */
function abandonAt(halt: Halt, reached: () => void): CrashHooks {
  const stop = (phase: HaltPhase, step: number): Promise<void> | void => {
    if (halt.phase !== phase || halt.step !== step) return;
    reached();
    return new Promise<void>(() => {}); // The runtime is abandoned here.
  };
  return {
    begin: (step) =>
      halt.phase === "during-commit" && halt.step === step - 1
        ? stop("during-commit", step - 1)
        : stop("before-effect", step),
    sideEffected: (step) => stop("after-side-effect", step),
    effected: (step) => stop("after-effect", step),
  };
}

/**
 * The in-process equivalent for the memory store: a runtime is abandoned at
 * each point of `plan` (never closed; its node waits for ever), and a fresh
 * runtime over the same store recovers the run.
 */
async function abandonAndRecover(
  plan: Halt[],
  expectedCounter: number[],
  label: string,
): Promise<void> {
  const expectedState = await uninterruptedState();
  await using store = new MemoryStore();
  const counter: number[] = [];
  const threadId = "crash-memory";
  const sink = (step: number) => counter.push(step);
  for (const [round, halt] of plan.entries()) {
    const at = `${halt.phase} ${halt.step}`;
    const context = `${label} abandon ${round + 1} at ${at} (ORIS_CRASH_SEED=${SEED})`;
    const { promise: reached, resolve } = Promise.withResolvers<void>();
    // Abandoned: never closed, and cut off from its leases (as a dead process).
    const runtime = createRuntime({ store: cutOffFromLeases(store), leaseTtlMs: 150 });
    crashGraph(sink, abandonAt(halt, resolve)).compile({ runtime, name: "crash" });
    if (round === 0) {
      // Started, not invoked: no caller waits in a dead process (a caller would follow the run
      // once the lease is lost, and take it back).
      await runtime.start("crash", {}, { threadId });
    } else {
      await leaseExpired(store, threadId);
      assert.deepEqual((await runtime.recover()).recovered, [threadId], context);
    }
    await reached;
    await verifyHalted(store, threadId, [...counter], halt, 0, context);
  }
  const context = `${label} final recovery (ORIS_CRASH_SEED=${SEED})`;
  await using runtime = createRuntime({ store });
  crashGraph(sink).compile({ runtime, name: "crash" });
  await leaseExpired(store, threadId);
  assert.deepEqual((await runtime.recover()).recovered, [threadId], context);
  const result = await runtime.wait(threadId);
  assert.equal(result.status, "completed", context);
  await verifyFinished(store, threadId, [...counter], expectedCounter, expectedState, context);
}

async function withBackend(
  kind: "kv" | "postgres",
  fn: (backend: CrashBackend) => Promise<void>,
): Promise<void> {
  if (kind === "postgres") {
    await withFreshSchema((schema) => fn({ kind: "postgres", url: postgresTestUrl(), schema }));
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "oris-crash-kv-" });
  try {
    await fn({ kind: "kv", path: `${dir}/runs.kv` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A halt inside the at-least-once window, at a seeded step. */
function windowHalt(): Halt {
  const random = mulberry32(SEED ^ 0x5eed);
  return { step: 2 + Math.floor(random() * (CRASH_STEPS - 2)), phase: "after-side-effect" };
}

/** The counter after a kill in the window at `step`: that step's effect twice, the rest once. */
function windowCounter(step: number): number[] {
  return [...steps(step), ...steps(CRASH_STEPS).slice(step - 1)];
}

const NAME = "crash recovery: a 50-step graph killed (SIGKILL) several times mid-run and " +
  "recovered by a fresh process runs every effect exactly once and ends in the " +
  "uninterrupted run's state";
const WINDOW = "crash recovery: a kill between an effect's side effect and its journal write " +
  "runs that one effect again on recovery, and no other (the at-least-once window)";

Deno.test(`${NAME} (kv)`, async () => {
  await withBackend(
    "kv",
    (backend) => killAndRecover(backend, killPlan(SEED), steps(CRASH_STEPS), "kv"),
  );
});

postgresTest(`${NAME} (postgres)`, async () => {
  await withBackend(
    "postgres",
    (backend) => killAndRecover(backend, killPlan(SEED), steps(CRASH_STEPS), "postgres"),
  );
});

Deno.test(
  "crash recovery: a 50-step graph whose runtime is abandoned mid-step several times and " +
    "recovered by a fresh runtime runs every effect exactly once and ends in the " +
    "uninterrupted run's state (memory)",
  async () => {
    await abandonAndRecover(killPlan(SEED), steps(CRASH_STEPS), "memory");
  },
);

Deno.test(`${WINDOW} (kv)`, async () => {
  const halt = windowHalt();
  await withBackend(
    "kv",
    (backend) => killAndRecover(backend, [halt], windowCounter(halt.step), "kv window"),
  );
});

postgresTest(`${WINDOW} (postgres)`, async () => {
  const halt = windowHalt();
  await withBackend(
    "postgres",
    (backend) => killAndRecover(backend, [halt], windowCounter(halt.step), "postgres window"),
  );
});

Deno.test(`${WINDOW} (memory)`, async () => {
  const halt = windowHalt();
  await abandonAndRecover([halt], windowCounter(halt.step), "memory window");
});
