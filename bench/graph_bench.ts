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
 *   execution and all its commits, run creation included: 11 commits per
 *   10-step run on Postgres, where a run is created leased and started in
 *   one statement, 12 on Deno KV) over one raw commit, through the same driver, of one step's
 *   event plus the run's snapshot (at least what an Oris step writes: it
 *   rewrites its snapshot only once the events after it outweigh it, and at
 *   rest). Target: 1.5x.
 * - `graph_durable_peer` and `in_flight_vs_raw_commits` (section `peers`,
 *   Postgres): Oris against DBOS Transact TS on the same server (its own
 *   system database), one workflow at a time and `ORIS_BENCH_GRAPH_IN_FLIGHT`
 *   at once, and Oris's steps/s with that many runs in flight over the raw
 *   commits/s of 10 connections; see `_graph_peers.ts`. Targets: 3x and
 *   10x DBOS, 2.5 steps per raw commit.
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
 * where sections are `memory`, `postgres`, `peers`, `kv`, `conversation`, `interrupted`
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
 * - `ORIS_BENCH_GRAPH_IN_FLIGHT` (100): runs in flight in the `peers` section;
 * - `ORIS_BENCH_GRAPH_TURNS` (200): turns of the conversation;
 * - `ORIS_BENCH_GRAPH_INTERRUPTED` (100000): runs left interrupted;
 * - `ORIS_BENCH_GRAPH_INTERRUPTED_SECONDS` (300): time allowed to start them.
 *
 * This file chooses the sections; they live in `_graph_throughput.ts`,
 * `_graph_conversation.ts` and `_graph_interrupted.ts`, the graphs in
 * `_oris_graphs.ts` and `_langgraph.ts`, the sizes in `_graph_workload.ts`.
 *
 * @module
 */

import { conversationKvAndMemory, conversationPostgres } from "./_graph_conversation.ts";
import { interruptedChild, interruptedRuns } from "./_graph_interrupted.ts";
import { durableKv, durablePostgres, inMemory } from "./_graph_throughput.ts";
import { durablePeers } from "./_graph_peers.ts";

const SECTIONS = ["memory", "postgres", "peers", "kv", "conversation", "interrupted"] as const;

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
    if (chosen.has("peers")) await durablePeers();
    if (chosen.has("kv")) await durableKv();
    if (chosen.has("conversation")) {
      await conversationKvAndMemory();
      await conversationPostgres();
    }
    if (chosen.has("interrupted")) await interruptedRuns();
  }
}
