/**
 * Graph benchmark: Oris against LangGraph.js (a bench-only import, pinned) in
 * the same process, printing JSON lines. Throughput figures are ratios measured
 * side by side: after a warm-up block, each block is a series of rounds in
 * which every contender runs one small chunk of work in turn, so that load
 * elsewhere on the machine falls on all of them alike; the lines give the
 * median, min and max of the per-block ratios. Absolute rates are printed for
 * context only, and nothing is asserted.
 *
 * Every throughput figure runs the same 10-node linear graph: each node adds 1
 * to a counter and appends a short string to a list. One run is 10 steps.
 *
 * - `graph_in_memory`: steps/s of Oris (default `MemoryStore`, `sync`
 *   durability) over LangGraph.js, once with no checkpointer and once with a
 *   `MemorySaver` (a `thread_id` per run, `durability: "sync"`). One run at a
 *   time. Target: 30x.
 * - `graph_durable` (Postgres): steps/s of Oris on `PostgresStore` (`sync`)
 *   over LangGraph.js on `PostgresSaver` (`durability: "sync"`), both with
 *   their default pool of 10 connections, one run at a time and
 *   `ORIS_BENCH_GRAPH_CONCURRENCY` runs at a time. Target: 6x.
 * - `step_vs_raw_commit` (Postgres and Deno KV): Oris's time per step (graph
 *   execution and all its commits, run creation included: 12 commits per
 *   10-step run) over one raw commit, through the same driver, of one step's
 *   event plus the run's snapshot (at least what an Oris step writes: it
 *   rewrites its snapshot only once the events after it outweigh it, and at
 *   rest). Target: 1.5x.
 * - `messages_conversation`: one thread whose graph loops `human -> ai` for
 *   200 turns (a `MessagesState`, a human and an AI message of ~90 characters
 *   per turn, 2 steps per turn, one run: a thread is one run), in both
 *   systems; bytes per step over turns 3-10 and 193-200 (windows of 16
 *   steps), measured after every commit of the thread. Oris rewrites a
 *   running run's snapshot once the events after it outweigh it (at least
 *   4 KiB of them), so late in the conversation a rewrite comes every few
 *   dozen turns and a 16-step window may hold none; Oris's `written` is
 *   therefore also given amortized, per step over turns 11-100 and 101-200
 *   (`oris_written_bytes_per_step_amortized`):
 *   - Postgres, both systems: `logical` = payload bytes of the thread's rows
 *     (Oris: `event`, `snapshot` and effect `record` texts and checkpoint ids;
 *     LangGraph.js: `checkpoint` and `metadata` as text, `checkpoint_blobs.blob`,
 *     `checkpoint_writes.blob`); `disk` = `sum(pg_column_size(row.*))` over
 *     every table of the schema with a `thread_id` column (what the heap
 *     keeps, after TOAST compression). Both are bytes stored: Oris's snapshot
 *     row is replaced, so it adds only its growth. Oris's `written` counts
 *     each snapshot replacement in full (the whole state).
 *   - Deno KV (Oris): bytes of every value the store sets (`Deno.Kv.set` and
 *     `AtomicOperation.set`): bytes written, snapshot rewrites included.
 *   - LangGraph.js `MemorySaver`: bytes of its serialized checkpoints and writes.
 *   Both conversations run 2 turns past the last window, so that the snapshot
 *   Oris writes when the run comes to rest is not counted as a step's cost.
 *   Target: flat for Oris (deltas, not whole states).
 * - `interrupted_runs`: a child process (a fresh heap, LangGraph.js not
 *   loaded) starts 100,000 runs, 32 at a time, on a `KvStore` in a temporary
 *   file, each stopping at an `interrupt()`; resident memory
 *   (`Deno.memoryUsage().rss`, after a GC) before and after, and
 *   `runtime.activeRuns()` (actors at rest are passivated). Target: under
 *   200 MB. Each run makes 3 KV commits, so on a slow disk it stops starting
 *   runs after `ORIS_BENCH_GRAPH_INTERRUPTED_SECONDS` and prints an
 *   extrapolation to 100,000, marked as such.
 *
 * Run: `deno task bench` (storage then graph), or only this file with
 * `deno run -A --v8-flags=--expose-gc bench/graph_bench.ts [section...]`
 * where sections are `memory`, `postgres`, `kv`, `conversation`, `interrupted`
 * (default: all). Postgres from `ORIS_BENCH_POSTGRES_URL`, else
 * `ORIS_TEST_POSTGRES_URL`, else the local server; the Postgres parts print a
 * `skip` line when it is unreachable. Each Postgres part uses fresh schemas,
 * and KV parts temporary directories, all removed at the end. Sizes:
 * - `ORIS_BENCH_GRAPH_BLOCKS` (8): measured blocks per comparison;
 * - `ORIS_BENCH_GRAPH_MEMORY_RUNS` (80): LangGraph.js runs per in-memory block,
 *   in rounds of 8 (Oris runs 10 times as many);
 * - `ORIS_BENCH_GRAPH_DURABLE_RUNS` (8): rounds per Postgres block, each of
 *   one LangGraph.js run and 5 Oris runs (concurrent: a quarter as many
 *   rounds, each of `concurrency` and 5 times `concurrency` runs);
 * - `ORIS_BENCH_GRAPH_CONCURRENCY` (32): runs at a time in the concurrent part;
 * - `ORIS_BENCH_GRAPH_RAW_RUNS` (30): rounds per block against raw commits,
 *   each of one Oris run and 10 raw commits;
 * - `ORIS_BENCH_GRAPH_TURNS` (200): turns of the conversation;
 * - `ORIS_BENCH_GRAPH_INTERRUPTED` (100000): runs left interrupted;
 * - `ORIS_BENCH_GRAPH_INTERRUPTED_SECONDS` (300): time allowed to start them.
 *
 * @module
 */

import type postgres from "postgres";
import { postgresClient } from "../tests/_postgres.ts";
import { emit, median, openBenchPostgres, round } from "./_common.ts";
import {
  aiMessage,
  type CompiledGraph,
  defineState,
  END,
  humanMessage,
  MessagesState,
  type RunSnapshot,
  START,
  StateGraph,
  type Store,
  type ThreadId,
} from "../mod.ts";
import { encodeJson } from "../kernel/mod.ts";
import { createRuntime } from "../actors/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";

/** The LangGraph.js packages (pinned; loaded only by the sections that use them). */
const LANGGRAPH = "npm:@langchain/langgraph@1.7.3";
const LANGCHAIN_MESSAGES = "npm:@langchain/core@1.4.0/messages";
const LANGGRAPH_POSTGRES = "npm:@langchain/langgraph-checkpoint-postgres@1.0.5";

const NODES = 10;
const BLOCKS = envInt("ORIS_BENCH_GRAPH_BLOCKS", 8);
const MEMORY_RUNS = envInt("ORIS_BENCH_GRAPH_MEMORY_RUNS", 80);
const DURABLE_RUNS = envInt("ORIS_BENCH_GRAPH_DURABLE_RUNS", 8);
const RAW_RUNS = envInt("ORIS_BENCH_GRAPH_RAW_RUNS", 30);
const CONCURRENCY = envInt("ORIS_BENCH_GRAPH_CONCURRENCY", 32);
const TURNS = envInt("ORIS_BENCH_GRAPH_TURNS", 200);
const INTERRUPTED = envInt("ORIS_BENCH_GRAPH_INTERRUPTED", 100_000);
const INTERRUPTED_SECONDS = envInt("ORIS_BENCH_GRAPH_INTERRUPTED_SECONDS", 300);
/** The early window of the conversation ends at this turn. Each window is 8 turns (16 steps). */
const EARLY_TURN = 10;
const WINDOW = 8;
const SECTIONS = ["memory", "postgres", "kv", "conversation", "interrupted"] as const;

function envInt(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a whole number from 1, got "${raw}"`);
  }
  return value;
}

function mb(bytes: number): number {
  return round(bytes / 1024 / 1024, 1);
}

let threads = 0;
function nextThread(prefix: string): string {
  return `${prefix}-${++threads}`;
}

// ---------------------------------------------------------------------------
// Alternating blocks

/** One side of a comparison: a chunk of work and how many steps (or commits) it makes. */
interface Contender {
  name: string;
  units: number;
  chunk(): Promise<void>;
}

/**
 * Runs one warm-up block then `BLOCKS` measured blocks. A block is `rounds`
 * rounds, and in each round every contender runs one chunk, in turn, so that
 * a burst of load elsewhere on the machine falls on all of them alike.
 * Returns ms per unit, by contender, per block.
 */
async function alternate(
  contenders: Contender[],
  rounds: number,
): Promise<Map<string, number[]>> {
  const perUnit = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let block = -1; block < BLOCKS; block++) {
    const total = contenders.map(() => 0);
    for (let round = 0; round < rounds; round++) {
      for (const [i, contender] of contenders.entries()) {
        const t0 = performance.now();
        await contender.chunk();
        total[i]! += performance.now() - t0;
      }
    }
    if (block < 0) continue;
    for (const [i, contender] of contenders.entries()) {
      perUnit.get(contender.name)!.push(total[i]! / (contender.units * rounds));
    }
  }
  return perUnit;
}

/** Per-block ratios `slow / fast` of ms per unit, i.e. how many times faster `fast` is. */
function ratios(perUnit: Map<string, number[]>, fast: string, slow: string): number[] {
  const a = perUnit.get(fast)!;
  const b = perUnit.get(slow)!;
  return a.map((ms, i) => b[i]! / ms);
}

function ratioFields(values: number[]): Record<string, number> {
  return {
    ratio_median: round(median(values)),
    ratio_min: round(Math.min(...values)),
    ratio_max: round(Math.max(...values)),
  };
}

// ---------------------------------------------------------------------------
// The graphs

const Counter = defineState({
  count: { default: () => 0, reducer: (a: number, b: number) => a + b },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** The 10-node linear graph in Oris. */
function orisLinear(options: { store?: Store } = {}): CompiledGraph<typeof Counter.spec> {
  const graph = new StateGraph(Counter);
  for (let i = 0; i < NODES; i++) {
    graph.addNode(`n${i}`, () => ({ count: 1, log: [`n${i}`] }));
  }
  graph.addEdge(START, "n0");
  for (let i = 1; i < NODES; i++) graph.addEdge(`n${i - 1}`, `n${i}`);
  graph.addEdge(`n${NODES - 1}`, END);
  return graph.compile({ name: "linear", ...options });
}

const FILLER = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor";

function humanText(turn: number): string {
  return `turn ${turn}: ${FILLER}`;
}

function aiText(turn: number): string {
  return `answer ${turn}: ${FILLER}`;
}

/** The conversation in Oris: `human -> ai -> human ...` until `turns` turns are done. */
function orisConversation(store: Store, turns: number): CompiledGraph<typeof MessagesState.spec> {
  return new StateGraph(MessagesState)
    .addNode("human", (state) => ({
      messages: [humanMessage(humanText(state.messages.length / 2 + 1))],
    }))
    .addNode("ai", (state) => ({
      messages: [aiMessage(aiText((state.messages.length + 1) / 2))],
    }))
    .addEdge(START, "human")
    .addEdge("human", "ai")
    .addConditionalEdges("ai", (state) => state.messages.length >= 2 * turns ? END : "human")
    .compile({ name: "conversation", store, stepLimit: 2 * turns + 10 });
}

/** What the bench uses of a compiled LangGraph.js graph. */
interface LgApp {
  invoke(input: unknown, config?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** What the bench uses of a LangGraph.js `StateGraph` (its generics track node names). */
interface LgBuilder {
  addNode(name: string, node: (state: never) => unknown): LgBuilder;
  addEdge(from: string, to: string): LgBuilder;
  addConditionalEdges(from: string, router: (state: never) => string): LgBuilder;
  compile(options?: { checkpointer?: unknown }): LgApp;
}

type LangGraph = typeof import("npm:@langchain/langgraph@1.7.3");
type LangChainMessages = typeof import("npm:@langchain/core@1.4.0/messages");

let langGraph: LangGraph | null = null;
async function loadLangGraph(): Promise<LangGraph> {
  langGraph ??= await import(LANGGRAPH) as LangGraph;
  return langGraph;
}

/** The 10-node linear graph in LangGraph.js. */
async function lgLinear(checkpointer?: unknown): Promise<LgApp> {
  const lg = await loadLangGraph();
  const State = lg.Annotation.Root({
    count: lg.Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
    log: lg.Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
  });
  let graph = new lg.StateGraph(State) as unknown as LgBuilder;
  for (let i = 0; i < NODES; i++) {
    graph = graph.addNode(`n${i}`, () => ({ count: 1, log: [`n${i}`] }));
  }
  graph = graph.addEdge(lg.START, "n0");
  for (let i = 1; i < NODES; i++) graph = graph.addEdge(`n${i - 1}`, `n${i}`);
  graph = graph.addEdge(`n${NODES - 1}`, lg.END);
  return graph.compile(checkpointer === undefined ? {} : { checkpointer });
}

/** The conversation in LangGraph.js (`MessagesAnnotation`). */
async function lgConversation(checkpointer: unknown, turns: number): Promise<LgApp> {
  const lg = await loadLangGraph();
  const messages = await import(LANGCHAIN_MESSAGES) as LangChainMessages;
  type State = { messages: unknown[] };
  return (new lg.StateGraph(lg.MessagesAnnotation) as unknown as LgBuilder)
    .addNode("human", (state: State) => ({
      messages: [new messages.HumanMessage(humanText(state.messages.length / 2 + 1))],
    }))
    .addNode("ai", (state: State) => ({
      messages: [new messages.AIMessage(aiText((state.messages.length + 1) / 2))],
    }))
    .addEdge(lg.START, "human")
    .addEdge("human", "ai")
    .addConditionalEdges(
      "ai",
      (state: State) => state.messages.length >= 2 * turns ? lg.END : "human",
    )
    .compile({ checkpointer });
}

function lgConfig(threadId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { configurable: { thread_id: threadId }, durability: "sync", ...extra };
}

/** Runs `body` `runs` times, with at most `concurrency` at once. */
async function repeat(runs: number, concurrency: number, body: () => Promise<void>): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, runs) }, async () => {
    while (started < runs) {
      started++;
      await body();
    }
  }));
}

function orisRuns(
  app: CompiledGraph<typeof Counter.spec>,
  runs: number,
  concurrency = 1,
): Promise<void> {
  return repeat(runs, concurrency, async () => {
    const result = await app.invoke({}, { threadId: nextThread("oris") });
    if (result.state.count !== NODES) throw new Error(`Oris run ended with ${result.status}`);
  });
}

function lgRuns(app: LgApp, runs: number, durable: boolean, concurrency = 1): Promise<void> {
  return repeat(runs, concurrency, async () => {
    const state = durable ? await app.invoke({}, lgConfig(nextThread("lg"))) : await app.invoke({});
    if (state.count !== NODES) throw new Error("LangGraph.js run did not finish");
  });
}

// ---------------------------------------------------------------------------
// In memory

async function inMemory(): Promise<void> {
  const lg = await loadLangGraph();
  const oris = orisLinear();
  const lgNone = await lgLinear();
  const lgSaver = await lgLinear(new lg.MemorySaver());
  // Rounds of 8 LangGraph.js runs and 80 Oris runs.
  const rounds = Math.max(1, Math.round(MEMORY_RUNS / 8));
  const lgChunk = Math.max(1, Math.round(MEMORY_RUNS / rounds));
  const orisChunk = lgChunk * 10;
  try {
    const perStep = await alternate([
      { name: "oris", units: orisChunk * NODES, chunk: () => orisRuns(oris, orisChunk) },
      { name: "lg_none", units: lgChunk * NODES, chunk: () => lgRuns(lgNone, lgChunk, false) },
      { name: "lg_saver", units: lgChunk * NODES, chunk: () => lgRuns(lgSaver, lgChunk, true) },
    ], rounds);
    const stepsPerSecond = (name: string) => Math.round(1000 / median(perStep.get(name)!));
    for (const [other, checkpointer] of [["lg_none", "none"], ["lg_saver", "MemorySaver"]]) {
      emit({
        bench: "graph_in_memory",
        graph: `${NODES}-node linear`,
        oris: "MemoryStore (default), durability sync",
        langgraph_checkpointer: checkpointer,
        langgraph_durability: checkpointer === "none" ? null : "sync",
        blocks: BLOCKS,
        runs_per_block: { oris: orisChunk * rounds, langgraph: lgChunk * rounds },
        ...ratioFields(ratios(perStep, "oris", other!)),
        oris_steps_per_s_median: stepsPerSecond("oris"),
        langgraph_steps_per_s_median: stepsPerSecond(other!),
        target_ratio_min: 30,
      });
    }
  } finally {
    await oris.close();
  }
}

// ---------------------------------------------------------------------------
// Raw commits of the bytes of a step

/** One step's events (JSON) and the run's final snapshot (JSON), from a finished run. */
async function stepBytes(store: Store, threadId: string): Promise<string> {
  const events = await store.readEvents(threadId as ThreadId, 1);
  const step = events.find((item) => item.event.type === "step.committed");
  const loaded = await store.load(threadId as ThreadId);
  if (step === undefined || loaded === null) throw new Error("no step to measure");
  return encodeJson(step.event, "event") + encodeJson(loaded.snapshot, "snapshot");
}

async function stepVsRaw(
  backend: string,
  store: Store,
  raw: (key: string, body: string) => Promise<void>,
): Promise<void> {
  const app = orisLinear({ store });
  try {
    const probe = nextThread("probe");
    await app.invoke({}, { threadId: probe });
    const body = await stepBytes(store, probe);
    let key = 0;
    // Rounds of one Oris run (10 steps) and 10 raw commits.
    const perUnit = await alternate([
      {
        name: "raw",
        units: NODES,
        async chunk() {
          for (let i = 0; i < NODES; i++) await raw(`raw-${++key}`, body);
        },
      },
      { name: "oris", units: NODES, chunk: () => orisRuns(app, 1) },
    ], RAW_RUNS);
    // Here the ratio is Oris's cost over the raw commit's: ms per step / ms per commit.
    emit({
      bench: "step_vs_raw_commit",
      backend,
      graph: `${NODES}-node linear`,
      durability: "sync",
      raw_commit_bytes: body.length,
      blocks: BLOCKS,
      steps_per_block: RAW_RUNS * NODES,
      raw_commits_per_block: RAW_RUNS * NODES,
      ...ratioFields(ratios(perUnit, "raw", "oris")),
      oris_ms_per_step_median: round(median(perUnit.get("oris")!), 4),
      raw_ms_per_commit_median: round(median(perUnit.get("raw")!), 4),
      target_ratio_max: 1.5,
    });
  } finally {
    await app.close();
  }
}

// ---------------------------------------------------------------------------
// Postgres

/** A fresh schema for Oris and one for LangGraph.js, dropped by `close()`. */
interface PostgresBench {
  url: string;
  admin: postgres.Sql;
  orisSchema: string;
  lgSchema: string;
  close(): Promise<void>;
}

async function openPostgres(what: string): Promise<PostgresBench | null> {
  const pg = await openBenchPostgres(what);
  if (pg === null) return null;
  return {
    url: pg.url,
    admin: pg.admin,
    orisSchema: pg.freshSchema("oris_gbench"),
    lgSchema: pg.freshSchema("lg_gbench"),
    close: () => pg.close(),
  };
}

type LgPostgresModule = typeof import("npm:@langchain/langgraph-checkpoint-postgres@1.0.5");
type LgPostgresSaver = InstanceType<LgPostgresModule["PostgresSaver"]>;
type LgPutArgs = Parameters<LgPostgresSaver["put"]>;

/** A LangGraph.js `PostgresSaver` on `schema`; `onPut` runs after each checkpoint is committed. */
async function postgresSaver(
  url: string,
  schema: string,
  onPut?: (...args: LgPutArgs) => Promise<void>,
): Promise<LgPostgresSaver> {
  const { PostgresSaver } = await import(LANGGRAPH_POSTGRES) as LgPostgresModule;
  class MeasuredSaver extends PostgresSaver {
    override async put(...args: LgPutArgs) {
      const next = await super.put(...args);
      await onPut?.(...args);
      return next;
    }
  }
  // The saver's pool (a `pg.Pool`), made by its own factory; the field is private in its types.
  type Pool = ConstructorParameters<typeof PostgresSaver>[0];
  const pool = (PostgresSaver.fromConnString(url, { schema }) as unknown as { pool: Pool }).pool;
  const saver = new MeasuredSaver(pool, undefined, { schema });
  await saver.setup();
  return saver;
}

async function durablePostgres(): Promise<void> {
  const pg = await openPostgres("graph_durable, step_vs_raw_commit");
  if (pg === null) return;
  const store = await PostgresStore.connect({ url: pg.url, schema: pg.orisSchema });
  const saver = await postgresSaver(pg.url, pg.lgSchema);
  const raw = postgresClient({ url: pg.url });
  try {
    const [settings] = await pg.admin<{ synchronous_commit: string; fsync: string }[]>`
      select current_setting('synchronous_commit') as synchronous_commit,
             current_setting('fsync') as fsync`;
    const oris = orisLinear({ store });
    const lgApp = await lgLinear(saver);
    try {
      for (const concurrency of [1, CONCURRENCY]) {
        // Sequential: rounds of 1 LangGraph.js run and 5 Oris runs. Concurrent:
        // rounds of `concurrency` LangGraph.js runs and 5 times as many Oris runs.
        const rounds = concurrency === 1 ? DURABLE_RUNS : Math.max(1, Math.round(DURABLE_RUNS / 4));
        const lgChunk = concurrency;
        const orisChunk = 5 * concurrency;
        const perStep = await alternate([
          {
            name: "oris",
            units: orisChunk * NODES,
            chunk: () => orisRuns(oris, orisChunk, concurrency),
          },
          {
            name: "lg",
            units: lgChunk * NODES,
            chunk: () => lgRuns(lgApp, lgChunk, true, concurrency),
          },
        ], rounds);
        const orisRunsPerBlock = orisChunk * rounds;
        const lgRunsPerBlock = lgChunk * rounds;
        emit({
          bench: "graph_durable",
          backend: "postgres",
          graph: `${NODES}-node linear`,
          oris: "PostgresStore (pool of 10), durability sync",
          langgraph: "PostgresSaver (pool of 10), durability sync",
          runs_at_once: concurrency,
          postgres: settings,
          blocks: BLOCKS,
          runs_per_block: { oris: orisRunsPerBlock, langgraph: lgRunsPerBlock },
          ...ratioFields(ratios(perStep, "oris", "lg")),
          oris_steps_per_s_median: Math.round(1000 / median(perStep.get("oris")!)),
          langgraph_steps_per_s_median: Math.round(1000 / median(perStep.get("lg")!)),
          target_ratio_min: 6,
        });
      }
    } finally {
      await oris.close();
    }
    await pg.admin.unsafe(
      `create table ${pg.orisSchema}.raw_commits (key text primary key, body text not null)`,
    );
    await stepVsRaw("postgres", store, async (key, body) => {
      await raw`insert into ${raw(pg.orisSchema)}.raw_commits (key, body) values (${key}, ${body})`;
    });
  } finally {
    await raw.end();
    await saver.end();
    await store.close();
    await pg.close();
  }
}

// ---------------------------------------------------------------------------
// Deno KV

async function durableKv(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-graph-bench-" });
  try {
    const store = await KvStore.open({ path: `${dir}/oris.kv` });
    const kv = await Deno.openKv(`${dir}/raw.kv`);
    try {
      await stepVsRaw("kv", store, async (key, body) => {
        const result = await kv.atomic().set(["raw", key], body).commit();
        if (!result.ok) throw new Error("raw commit failed");
      });
    } finally {
      kv.close();
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------
// The conversation

/** Bytes of a thread after each commit, by the number of messages in its state. */
class Growth {
  /** Cumulative measures (by name) at the last commit with this many messages. */
  readonly at = new Map<number, Record<string, number>>();

  record(messages: number, measures: Record<string, number>): void {
    this.at.set(messages, measures);
  }

  /** Bytes per step of `measure` over the `WINDOW` turns ending at `turn` (2 steps per turn). */
  perStep(measure: string, turn: number): number {
    const end = this.at.get(2 * turn)?.[measure];
    const start = this.at.get(2 * (turn - WINDOW))?.[measure];
    if (end === undefined || start === undefined) return NaN;
    return Math.round((end - start) / (2 * WINDOW));
  }

  /**
   * `measure` per step over long spans, from turn `EARLY_TURN + 1` to the
   * middle and from the middle to `TURNS`: snapshot rewrites amortized.
   */
  amortized(measure: string): Record<string, number> {
    const middle = Math.floor(TURNS / 2);
    const per = (from: number, to: number) => {
      const end = this.at.get(2 * to)?.[measure];
      const start = this.at.get(2 * from)?.[measure];
      if (end === undefined || start === undefined || to <= from) return NaN;
      return Math.round((end - start) / (2 * (to - from)));
    };
    const first = per(EARLY_TURN, middle);
    const second = per(middle, TURNS);
    return {
      [`turns_${EARLY_TURN + 1}_${middle}`]: first,
      [`turns_${middle + 1}_${TURNS}`]: second,
      ratio: round(second / first, 2),
    };
  }

  /** `{ turn_10, turn_200, ratio }` of `measure`. */
  figures(measure: string): Record<string, number> {
    const early = this.perStep(measure, EARLY_TURN);
    const late = this.perStep(measure, TURNS);
    return {
      [`turn_${EARLY_TURN}`]: early,
      [`turn_${TURNS}`]: late,
      [`ratio_turn_${TURNS}_over_${EARLY_TURN}`]: round(late / early, 2),
    };
  }
}

/** A store that calls `after` with the run once each append has committed. */
function observed(store: Store, after: (run: RunSnapshot) => Promise<void>): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === "append") {
        return async (...args: Parameters<Store["append"]>) => {
          const result = await target.append(...args);
          await after(args[3]);
          return result;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function messageCount(run: RunSnapshot): number {
  const messages = (run.state as { messages?: unknown[] }).messages;
  return Array.isArray(messages) ? messages.length : 0;
}

/** Oris runs the conversation past the last window so its at-rest snapshot falls outside it. */
const CONVERSATION_TURNS = TURNS + 2;

async function runOrisConversation(store: Store): Promise<void> {
  const app = orisConversation(store, CONVERSATION_TURNS);
  try {
    const result = await app.invoke({ messages: [] }, { threadId: nextThread("chat") });
    if (result.status !== "completed" || result.state.messages.length !== 2 * CONVERSATION_TURNS) {
      throw new Error(`Oris conversation ended ${result.status}`);
    }
  } finally {
    await app.close();
  }
}

async function runLgConversation(checkpointer: unknown): Promise<void> {
  const app = await lgConversation(checkpointer, CONVERSATION_TURNS);
  const state = await app.invoke(
    { messages: [] },
    lgConfig(nextThread("chat"), { recursionLimit: 2 * CONVERSATION_TURNS + 10 }),
  );
  if ((state.messages as unknown[]).length !== 2 * CONVERSATION_TURNS) {
    throw new Error("LangGraph.js conversation did not finish");
  }
}

function textBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (typeof value === "string") return new TextEncoder().encode(value).byteLength;
  if (value instanceof Deno.KvU64) return 8;
  return new TextEncoder().encode(JSON.stringify(value) ?? "").byteLength;
}

/** Counts the bytes of every value set in any Deno KV while `counter.on`. */
function countKvWrites(): { on: boolean; bytes: number; restore(): void } {
  const counter = { on: false, bytes: 0, restore: () => {} };
  const atomicSet = Deno.AtomicOperation.prototype.set;
  const atomicMutate = Deno.AtomicOperation.prototype.mutate;
  const kvSet = Deno.Kv.prototype.set;
  Deno.AtomicOperation.prototype.set = function (key, value, options) {
    if (counter.on) counter.bytes += textBytes(value);
    return atomicSet.call(this, key, value, options);
  };
  // The KV store's group commit writes through `mutate`.
  Deno.AtomicOperation.prototype.mutate = function (...mutations) {
    if (counter.on) {
      for (const mutation of mutations) {
        if (mutation.type === "set") counter.bytes += textBytes(mutation.value);
      }
    }
    return atomicMutate.apply(this, mutations);
  };
  Deno.Kv.prototype.set = function (key, value, options) {
    if (counter.on) counter.bytes += textBytes(value);
    return kvSet.call(this, key, value, options);
  };
  counter.restore = () => {
    Deno.AtomicOperation.prototype.set = atomicSet;
    Deno.AtomicOperation.prototype.mutate = atomicMutate;
    Deno.Kv.prototype.set = kvSet;
  };
  return counter;
}

async function conversationKvAndMemory(): Promise<void> {
  const lg = await loadLangGraph();
  // Oris on Deno KV: bytes written.
  const dir = await Deno.makeTempDir({ prefix: "oris-graph-bench-" });
  const counter = countKvWrites();
  const oris = new Growth();
  try {
    const kv = await KvStore.open({ path: `${dir}/chat.kv` });
    try {
      counter.on = true;
      await runOrisConversation(observed(kv, (run) => {
        oris.record(messageCount(run), { written: counter.bytes });
        return Promise.resolve();
      }));
    } finally {
      counter.on = false;
      await kv.close();
    }
  } finally {
    counter.restore();
    await Deno.remove(dir, { recursive: true });
  }

  // LangGraph.js MemorySaver: bytes of its serialized checkpoints and writes.
  const growth = new Growth();
  class MeasuredMemorySaver extends lg.MemorySaver {
    override async put(...args: Parameters<InstanceType<typeof lg.MemorySaver>["put"]>) {
      const next = await super.put(...args);
      const [config, checkpoint] = args;
      const thread = String(config.configurable?.thread_id);
      let bytes = 0;
      for (const namespace of Object.values(this.storage[thread] ?? {})) {
        for (const [serialized, metadata] of Object.values(namespace)) {
          bytes += serialized.byteLength + metadata.byteLength;
        }
      }
      for (const [key, writes] of Object.entries(this.writes)) {
        if (!key.includes(thread)) continue;
        for (const [, , value] of Object.values(writes)) bytes += value.byteLength;
      }
      const messages = (checkpoint.channel_values.messages as unknown[] | undefined) ?? [];
      growth.record(messages.length, { written: bytes });
      return next;
    }
  }
  await runLgConversation(new MeasuredMemorySaver());

  emit({
    bench: "messages_conversation",
    backend: "kv / in-memory",
    turns: TURNS,
    steps_per_turn: 2,
    window_turns: WINDOW,
    oris:
      "KvStore: bytes of the values written per step (log batches, snapshot rewrites, listing key)",
    oris_written_bytes_per_step: oris.figures("written"),
    oris_written_bytes_per_step_amortized: oris.amortized("written"),
    langgraph: "MemorySaver: bytes of serialized checkpoints and writes per step",
    langgraph_bytes_per_step: growth.figures("written"),
    target: "flat for Oris",
  });
}

async function conversationPostgres(): Promise<void> {
  const pg = await openPostgres("messages_conversation");
  if (pg === null) return;
  const sql = pg.admin;
  const lg = new Growth();
  const store = await PostgresStore.connect({ url: pg.url, schema: pg.orisSchema });
  const saver = await postgresSaver(pg.url, pg.lgSchema, async (config, checkpoint) => {
    const thread = String(config.configurable?.thread_id);
    const s = pg.lgSchema;
    const [row] = await sql.unsafe<{ logical: string }[]>(
      `select
        (select coalesce(sum(octet_length(checkpoint::text) + octet_length(metadata::text)
            + octet_length(checkpoint_id) + coalesce(octet_length(parent_checkpoint_id), 0)), 0)
          from ${s}.checkpoints where thread_id = $1)
        + (select coalesce(sum(coalesce(octet_length(blob), 0)), 0) from ${s}.checkpoint_blobs
          where thread_id = $1)
        + (select coalesce(sum(octet_length(blob)), 0) from ${s}.checkpoint_writes
          where thread_id = $1) as logical`,
      [thread],
    );
    const messages = (checkpoint.channel_values.messages as unknown[] | undefined) ?? [];
    lg.record(messages.length, {
      logical: Number(row!.logical),
      disk: await diskBytes(sql, s, thread),
    });
  });
  try {
    const oris = new Growth();
    let written = 0;
    let snapshotVersion = -1;
    await runOrisConversation(observed(store, async (run) => {
      const [row] = await sql.unsafe<{ logical: string; snapshot: string; version: string }[]>(
        `select
          (select coalesce(sum(octet_length(event)), 0) from ${pg.orisSchema}.runtime_events
            where thread_id = $1)
          + (select coalesce(sum(octet_length(record)), 0) from ${pg.orisSchema}.runtime_effects
            where thread_id = $1)
          + (select coalesce(sum(octet_length(checkpoint_id)
              + coalesce(octet_length(parent_checkpoint_id), 0)), 0)
            from ${pg.orisSchema}.runtime_checkpoints where thread_id = $1) as logical,
          (select coalesce(sum(octet_length(snapshot)), 0) from ${pg.orisSchema}.runtime_snapshots
            where thread_id = $1) as snapshot,
          (select coalesce(max(version), -1) from ${pg.orisSchema}.runtime_snapshots
            where thread_id = $1) as version`,
        [run.threadId],
      );
      const logical = Number(row!.logical);
      const snapshot = Number(row!.snapshot);
      if (Number(row!.version) !== snapshotVersion) {
        written += snapshot;
        snapshotVersion = Number(row!.version);
      }
      oris.record(messageCount(run), {
        logical: logical + snapshot,
        written: logical + written,
        disk: await diskBytes(sql, pg.orisSchema, run.threadId),
      });
    }));

    await runLgConversation(saver);

    emit({
      bench: "messages_conversation",
      backend: "postgres",
      turns: TURNS,
      steps_per_turn: 2,
      window_turns: WINDOW,
      measure: "bytes stored per step: logical = payload bytes of the thread's rows; " +
        "disk = sum(pg_column_size(row.*)) over the schema's tables (after TOAST compression); " +
        "oris written = logical plus every snapshot replacement in full",
      oris_logical_bytes_per_step: oris.figures("logical"),
      oris_disk_bytes_per_step: oris.figures("disk"),
      oris_written_bytes_per_step: oris.figures("written"),
      oris_written_bytes_per_step_amortized: oris.amortized("written"),
      langgraph_logical_bytes_per_step: lg.figures("logical"),
      langgraph_disk_bytes_per_step: lg.figures("disk"),
      target: "flat for Oris",
    });
  } finally {
    await saver.end();
    await store.close();
    await pg.close();
  }
}

/** `sum(pg_column_size(row.*))` of a thread's rows in every table of `schema` with a `thread_id`. */
async function diskBytes(sql: postgres.Sql, schema: string, threadId: string): Promise<number> {
  const tables = await sql<{ table_name: string }[]>`
    select table_name from information_schema.columns
    where table_schema = ${schema} and column_name = 'thread_id'`;
  if (tables.length === 0) return 0;
  const sum = tables
    .map(({ table_name }) =>
      `(select coalesce(sum(pg_column_size(t.*)), 0) from ${schema}."${table_name}" t
        where thread_id = $1)`
    )
    .join(" + ");
  const [row] = await sql.unsafe<{ bytes: string }[]>(`select ${sum} as bytes`, [threadId]);
  return Number(row!.bytes);
}

// ---------------------------------------------------------------------------
// Runs left interrupted (child process)

async function interruptedRuns(): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "interrupted-child",
    ],
    stdout: "inherit",
    stderr: "inherit",
  });
  const status = await child.output();
  if (!status.success) throw new Error(`The interrupted-runs child failed (${status.code})`);
}

function rssAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return Deno.memoryUsage().rss;
}

/** Resident memory by kind (Linux `/proc/self/status`), in MB, or `null` elsewhere. */
function residentByKind(): Record<string, number> | null {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kinds: Record<string, number> = {};
    for (const name of ["RssAnon", "RssFile", "RssShmem"]) {
      const match = status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"));
      if (match !== null) kinds[name] = mb(Number(match[1]) * 1024);
    }
    return kinds;
  } catch {
    return null;
  }
}

async function interruptedChild(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-graph-bench-" });
  try {
    const store = await KvStore.open({ path: `${dir}/interrupted.kv` });
    const Ask = defineState({ answer: { default: () => "" } });
    const ask = new StateGraph(Ask)
      .addNode("ask", async (_state, ctx) => ({ answer: await ctx.interrupt<string>("approve?") }))
      .addEdge(START, "ask")
      .addEdge("ask", END)
      .compile({ name: "ask" });
    const runtime = createRuntime({ store, graphs: { ask } });
    try {
      const rssBefore = rssAfterGc();
      const heapBefore = Deno.memoryUsage();
      const workers = 32;
      const deadline = performance.now() + INTERRUPTED_SECONDS * 1000;
      let started = 0;
      let finished = 0;
      let notInterrupted = 0;
      const samples: { runs: number; rss_mb: number }[] = [];
      const sampleEvery = Math.max(1, Math.floor(INTERRUPTED / 20));
      const t0 = performance.now();
      await Promise.all(Array.from({ length: workers }, async () => {
        while (started < INTERRUPTED && performance.now() < deadline) {
          const n = ++started;
          const result = await runtime.invoke("ask", {}, { threadId: `ask-${n}` });
          if (result.status !== "interrupted") notInterrupted++;
          if (++finished % sampleEvery === 0) {
            samples.push({ runs: finished, rss_mb: mb(Deno.memoryUsage().rss) });
          }
        }
      }));
      const seconds = (performance.now() - t0) / 1000;
      await new Promise((resolve) => setTimeout(resolve, 10));
      const rssAfter = rssAfterGc();
      const heapAfter = Deno.memoryUsage();
      const active = runtime.activeRuns();
      // The runs are alive in the store: one of them resumes and completes.
      const resumed = await runtime.resume(`ask-${Math.ceil(finished / 2)}`, "yes");
      const line: Record<string, unknown> = {
        bench: "interrupted_runs",
        backend: "kv (temporary file)",
        runs: finished,
        runs_asked: INTERRUPTED,
        not_interrupted: notInterrupted,
        seconds: round(seconds, 1),
        runs_per_s: Math.round(finished / seconds),
        rss_before_mb: mb(rssBefore),
        rss_after_mb: mb(rssAfter),
        rss_growth_mb: mb(rssAfter - rssBefore),
        rss_after_by_kind_mb: residentByKind(),
        heap_used_before_mb: mb(heapBefore.heapUsed),
        heap_used_after_mb: mb(heapAfter.heapUsed),
        heap_total_before_mb: mb(heapBefore.heapTotal),
        heap_total_after_mb: mb(heapAfter.heapTotal),
        rss_samples_during_mb: samples,
        active_runs: active,
        resumed_one: resumed.status,
        gc_exposed: typeof (globalThis as { gc?: unknown }).gc === "function",
        target_rss_mb_max: 200,
      };
      if (finished < 100_000) {
        // The growth of the second half of the runs (the first includes
        // warm-up and the heap growing to its working size), extended to 100,000.
        const middle = samples.find((sample) => sample.runs >= finished / 2);
        const last = samples.at(-1);
        const slope = middle !== undefined && last !== undefined && last.runs > middle.runs
          ? (last.rss_mb - middle.rss_mb) / (last.runs - middle.runs)
          : (rssAfter - rssBefore) / 1024 / 1024 / finished;
        line.extrapolated_rss_at_100000_mb = round(
          rssAfter / 1024 / 1024 + Math.max(0, slope) * (100_000 - finished),
          1,
        );
        line.extrapolation = `not measured: ${finished} runs in the time allowed ` +
          `(ORIS_BENCH_GRAPH_INTERRUPTED_SECONDS=${INTERRUPTED_SECONDS}); RSS after them plus the ` +
          "RSS growth per run over their second half, times the runs left to 100,000";
      }
      emit(line);
    } finally {
      await runtime.close();
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------

if (import.meta.main) {
  if (Deno.args[0] === "interrupted-child") {
    await interruptedChild();
  } else {
    const unknown = Deno.args.filter((arg) => !(SECTIONS as readonly string[]).includes(arg));
    if (unknown.length > 0) {
      throw new TypeError(`Unknown sections ${JSON.stringify(unknown)}; known: ${SECTIONS}`);
    }
    const chosen = new Set(Deno.args.length === 0 ? SECTIONS : Deno.args);
    if (chosen.has("memory")) await inMemory();
    if (chosen.has("postgres")) await durablePostgres();
    if (chosen.has("kv")) await durableKv();
    if (chosen.has("conversation")) {
      await conversationKvAndMemory();
      await conversationPostgres();
    }
    if (chosen.has("interrupted")) await interruptedRuns();
  }
}
