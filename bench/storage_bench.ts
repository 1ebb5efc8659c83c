/**
 * Storage benchmark: prints JSON lines. Every figure is measured side by side
 * in one run, in alternating blocks, so that the ratios do not depend on
 * what else the machine is doing.
 *
 * - `append_vs_raw`: one step append (one `step.committed` event and a ~1 KiB
 *   snapshot, written every step) against one raw commit of the same bytes
 *   through the same driver. Target: at most 1.5x.
 * - `concurrent_appends`: 100 runs appending at once (each run one append
 *   after another), in appends/s, and against 100 clients making raw commits
 *   of the same bytes. Target on Postgres: at least 10,000 appends/s.
 *
 * Run: `deno task bench` (Postgres from `ORIS_BENCH_POSTGRES_URL`, else
 * `ORIS_TEST_POSTGRES_URL`, else the local server; skipped if unreachable).
 *
 * @module
 */

import { postgresClient } from "../tests/_postgres.ts";
import { emit, median, openBenchPostgres } from "./_common.ts";
import type { JsonObject, RunSnapshot, Store, ThreadId } from "../mod.ts";
import {
  type CheckpointId,
  diffJson,
  encodeJson,
  fold,
  foldAll,
  type RunEvent,
} from "../kernel/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";

const BLOCKS = Number(Deno.env.get("ORIS_BENCH_BLOCKS") ?? 10);
const PER_BLOCK = Number(Deno.env.get("ORIS_BENCH_PER_BLOCK") ?? 200);
const CONCURRENT_RUNS = 100;
const CONCURRENT_APPENDS_PER_RUN = Number(Deno.env.get("ORIS_BENCH_CONCURRENT_PER_RUN") ?? 60);

let at = 1_700_000_000_000;
let checkpoint = 0;

/** A state of about 1 KiB whose `n` changes at every step. */
function stateAt(n: number): JsonObject {
  return { n, note: "x".repeat(900), tags: ["bench", "storage"], last: `step ${n}` };
}

function stepEvent(run: RunSnapshot): RunEvent {
  const state = stateAt(run.step + 1);
  return {
    type: "step.committed",
    v: 1,
    at: ++at,
    step: run.step + 1,
    checkpointId: `cp_${String(++checkpoint).padStart(20, "0")}` as CheckpointId,
    parentCheckpointId: run.checkpointId,
    tasks: [{ taskId: `${run.step + 1}:node`, node: "node", update: { n: run.step + 1 } }],
    delta: diffJson(run.state, state),
    next: [{ id: `${run.step + 2}:node`, node: "node" }],
  };
}

async function startRun(store: Store, threadId: string): Promise<RunSnapshot> {
  const { run } = await store.createRun({
    type: "run.created",
    v: 1,
    at: ++at,
    threadId: threadId as ThreadId,
    graph: "bench",
    input: {},
    payloadHash: "bench",
    state: stateAt(0),
    next: [{ id: "1:node", node: "node" }],
  });
  const started: RunEvent = { type: "run.started", v: 1, at: ++at, attemptId: "at_bench" as never };
  const next = fold(run, started);
  await store.append(run.threadId, run.version, [started], next);
  return next;
}

/** The bytes one append writes: its event and its snapshot. */
function appendBytes(run: RunSnapshot): string {
  const event = stepEvent(run);
  return encodeJson(event, "event") + encodeJson(foldAll(run, [event]), "snapshot");
}

interface Backend {
  name: string;
  store: Store;
  /** One raw commit of `body` under a fresh key. */
  raw(key: string, body: string): Promise<void>;
  close(): Promise<void>;
}

async function kvBackend(): Promise<Backend> {
  const dir = await Deno.makeTempDir({ prefix: "oris-bench-" });
  const store = await KvStore.open({ path: `${dir}/oris.kv`, snapshotEvery: 1 });
  const kv = await Deno.openKv(`${dir}/raw.kv`);
  return {
    name: "kv",
    store,
    async raw(key, body) {
      const result = await kv.atomic().set(["raw", key], body).commit();
      if (!result.ok) throw new Error("raw commit failed");
    },
    async close() {
      await store.close();
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function postgresBackend(): Promise<Backend | null> {
  const pg = await openBenchPostgres("storage");
  if (pg === null) return null;
  const schema = pg.freshSchema("oris_bench");
  await pg.admin.unsafe(`create schema ${schema}`);
  await pg.admin.unsafe(
    `create table ${schema}.raw_commits (key text primary key, body text not null)`,
  );
  const raw = postgresClient({ url: pg.url, max: 10 });
  const store = await PostgresStore.connect({ url: pg.url, schema, snapshotEvery: 1 });
  return {
    name: "postgres",
    store,
    async raw(key, body) {
      await raw`insert into ${raw(schema)}.raw_commits (key, body) values (${key}, ${body})`;
    },
    async close() {
      await store.close();
      await raw.end();
      await pg.close();
    },
  };
}

async function appendVsRaw(backend: Backend): Promise<void> {
  let run = await startRun(backend.store, `single-${backend.name}`);
  const body = appendBytes(run);
  let rawKey = 0;
  const ratios: number[] = [];
  const oris: number[] = [];
  const raws: number[] = [];
  // One warm-up block of each, not counted.
  for (let block = -1; block < BLOCKS; block++) {
    let t0 = performance.now();
    for (let i = 0; i < PER_BLOCK; i++) await backend.raw(`raw-${++rawKey}`, body);
    const rawMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < PER_BLOCK; i++) {
      const event = stepEvent(run);
      const next = fold(run, event);
      await backend.store.append(run.threadId, run.version, [event], next);
      run = next;
    }
    const orisMs = performance.now() - t0;
    if (block < 0) continue;
    ratios.push(orisMs / rawMs);
    oris.push(orisMs / PER_BLOCK);
    raws.push(rawMs / PER_BLOCK);
  }
  emit({
    bench: "append_vs_raw",
    backend: backend.name,
    bytes_per_append: body.length,
    blocks: BLOCKS,
    appends_per_block: PER_BLOCK,
    ratio_median: Number(median(ratios).toFixed(3)),
    ratio_min: Number(Math.min(...ratios).toFixed(3)),
    ratio_max: Number(Math.max(...ratios).toFixed(3)),
    oris_ms_per_append_median: Number(median(oris).toFixed(4)),
    raw_ms_per_commit_median: Number(median(raws).toFixed(4)),
    target_ratio_max: 1.5,
  });
}

async function concurrentAppends(backend: Backend): Promise<void> {
  const runs = await Promise.all(
    Array.from(
      { length: CONCURRENT_RUNS },
      (_, i) => startRun(backend.store, `conc-${backend.name}-${i}`),
    ),
  );
  const body = appendBytes(runs[0]!);
  const total = CONCURRENT_RUNS * CONCURRENT_APPENDS_PER_RUN;
  let rawKey = 0;

  const rawStart = performance.now();
  await Promise.all(runs.map(async () => {
    for (let i = 0; i < CONCURRENT_APPENDS_PER_RUN; i++) {
      await backend.raw(`conc-raw-${++rawKey}`, body);
    }
  }));
  const rawSeconds = (performance.now() - rawStart) / 1000;

  const orisStart = performance.now();
  await Promise.all(runs.map(async (start) => {
    let run = start;
    for (let i = 0; i < CONCURRENT_APPENDS_PER_RUN; i++) {
      const event = stepEvent(run);
      const next = fold(run, event);
      await backend.store.append(run.threadId, run.version, [event], next);
      run = next;
    }
  }));
  const orisSeconds = (performance.now() - orisStart) / 1000;

  emit({
    bench: "concurrent_appends",
    backend: backend.name,
    runs: CONCURRENT_RUNS,
    appends: total,
    oris_appends_per_s: Math.round(total / orisSeconds),
    raw_commits_per_s: Math.round(total / rawSeconds),
    ratio_oris_over_raw_throughput: Number(
      ((total / orisSeconds) / (total / rawSeconds)).toFixed(3),
    ),
    target_appends_per_s_min: backend.name === "postgres" ? 10_000 : null,
  });
}

if (import.meta.main) {
  for (const make of [kvBackend, postgresBackend]) {
    const backend = await make();
    if (backend === null) continue;
    try {
      await appendVsRaw(backend);
      await concurrentAppends(backend);
    } finally {
      await backend.close();
    }
  }
}
