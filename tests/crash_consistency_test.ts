/**
 * Crash consistency: a subprocess appends steps in a loop and is killed with
 * SIGKILL at arbitrary moments. After every kill, the reopened store holds a
 * gap-free prefix of the log that includes every append the child reported
 * as committed, the stored snapshot equals the fold of the log, and appending
 * continues. Two processes appending to one run on PostgreSQL write every
 * version exactly once.
 *
 * The kill points are drawn from a seeded generator; the seed is printed in
 * failure messages (`ORIS_CRASH_SEED` replays one).
 */

import { mulberry32 } from "./_random.ts";
import assert from "node:assert/strict";
import type { Store, ThreadId } from "../mod.ts";
import { currentSnapshot, foldAll } from "../kernel/mod.ts";
import {
  appendStep,
  type CrashAppenderConfig,
  loadOrStart,
  openStore,
} from "./fixtures/crash_appender.ts";
import { postgresTest, postgresTestUrl, withFreshSchema } from "./_postgres.ts";

const FIXTURE = new URL("./fixtures/crash_appender.ts", import.meta.url).pathname;
const ROUNDS = 6;
const SEED = Number(Deno.env.get("ORIS_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));

interface ChildResult {
  /** The highest version the child reported as committed. */
  committed: number;
  /** Whether we killed it (otherwise it exited by itself). */
  killed: boolean;
  code: number;
  stderr: string;
}

/**
 * Runs the appender; kills it with SIGKILL once it has reported `killAfter`
 * commits (`null`: let it finish).
 */
async function runChild(
  config: CrashAppenderConfig,
  killAfter: number | null,
): Promise<ChildResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, JSON.stringify(config)],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let committed = 0;
  let seen = 0;
  let killed = false;
  let buffer = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) {
      const match = /^committed (\d+)$/.exec(line);
      if (match !== null) {
        committed = Math.max(committed, Number(match[1]));
        seen++;
      }
      const ready = line.startsWith("ready ");
      if (!killed && killAfter !== null && (seen >= killAfter && (ready || match !== null))) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
  }
  const status = await child.status;
  return { committed, killed, code: status.code, stderr: await stderr };
}

/** Checks the run's log and snapshot; returns its version. */
async function verify(
  store: Store,
  threadId: string,
  atLeast: number,
  context: string,
): Promise<number> {
  const events = await store.readEvents(threadId as ThreadId, 1);
  assert.deepEqual(
    events.map((item) => item.seq),
    Array.from({ length: events.length }, (_, i) => i + 1),
    `${context}: the log has a gap`,
  );
  assert.ok(
    events.length >= atLeast,
    `${context}: version ${atLeast} was reported committed but is lost`,
  );
  const folded = foldAll(null, events);
  const loaded = await store.load(threadId as ThreadId);
  assert.ok(loaded !== null, `${context}: the run is gone`);
  assert.deepEqual(
    currentSnapshot(loaded),
    folded,
    `${context}: the snapshot is not the fold of the log`,
  );
  const log = folded!.state.log as string[];
  assert.equal(log.length, folded!.step, `${context}: one log entry per step`);
  return events.length;
}

async function killLoop(config: CrashAppenderConfig): Promise<void> {
  const random = mulberry32(SEED);
  let version = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const context = `${config.backend} round ${round} (ORIS_CRASH_SEED=${SEED})`;
    // 0 kills it as soon as it is ready (often inside its first write).
    const killAfter = Math.floor(random() * 25);
    const result = await runChild(config, killAfter);
    assert.ok(
      result.killed,
      `${context}: the child exited by itself (${result.code}): ${result.stderr}`,
    );
    await using store = await openStore(config);
    version = await verify(store, config.threadId, Math.max(result.committed, version), context);
  }
  await using store = await openStore(config);
  const run = await loadOrStart(store, config.threadId);
  const next = await appendStep(store, run, "after");
  assert.equal(next.version, version + 1);
  await verify(store, config.threadId, next.version, `${config.backend} after the crashes`);
}

Deno.test("crash consistency (kv): SIGKILL at arbitrary moments leaves a gap-free log whose fold is the snapshot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-crash-" });
  try {
    await killLoop({
      backend: "kv",
      path: `${dir}/runs.kv`,
      threadId: "crash-kv",
      tag: "kv",
      count: null,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

postgresTest(
  "crash consistency (postgres): SIGKILL at arbitrary moments leaves a gap-free log whose fold is the snapshot",
  async () => {
    await withFreshSchema(async (schema) => {
      await killLoop({
        backend: "postgres",
        url: postgresTestUrl(),
        schema,
        threadId: "crash-pg",
        tag: "pg",
        count: null,
      });
    });
  },
);

postgresTest(
  "crash consistency (postgres): two processes appending to one run write each version exactly once",
  async () => {
    await withFreshSchema(async (schema) => {
      const base = {
        backend: "postgres",
        url: postgresTestUrl(),
        schema,
        threadId: "two-writers",
      } as const;
      {
        // Create the run first so that both writers append to it.
        await using store = await openStore({ ...base, tag: "setup", count: 0 });
        await loadOrStart(store, base.threadId);
      }
      const perWriter = 25;
      const results = await Promise.all(
        ["a", "b"].map((tag) => runChild({ ...base, tag, count: perWriter }, null)),
      );
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      await using store = await openStore({ ...base, tag: "check", count: 0 });
      const version = await verify(store, base.threadId, 2 + 2 * perWriter, "two writers");
      assert.equal(version, 2 + 2 * perWriter);
      const run = currentSnapshot((await store.load(base.threadId as ThreadId))!);
      const log = run.state.log as string[];
      for (const tag of ["a", "b"]) {
        assert.equal(log.filter((entry) => entry.startsWith(`${tag}:`)).length, perWriter);
      }
      // Each entry names the version its writer appended; every version appears once.
      assert.deepEqual(
        log.map((entry) => Number(entry.split(":")[1])),
        Array.from({ length: 2 * perWriter }, (_, i) => i + 3),
      );
    });
  },
);
