/**
 * What the graph benchmark runs: its sizes (read from `ORIS_BENCH_GRAPH_*`
 * environment variables, described in `graph_bench.ts`), the texts of the
 * conversation's turns, and thread ids unique within the process.
 *
 * @module
 */

/** Nodes of the linear graph: one run of it is this many steps. */
export const NODES = 10;
/** Measured blocks per comparison. */
export const BLOCKS = envInt("ORIS_BENCH_GRAPH_BLOCKS", 8);
/** LangGraph.js runs per in-memory block. */
export const MEMORY_RUNS = envInt("ORIS_BENCH_GRAPH_MEMORY_RUNS", 80);
/** Rounds per Postgres block. */
export const DURABLE_RUNS = envInt("ORIS_BENCH_GRAPH_DURABLE_RUNS", 8);
/** Rounds per block against raw commits. */
export const RAW_RUNS = envInt("ORIS_BENCH_GRAPH_RAW_RUNS", 30);
/** Runs at a time in the concurrent Postgres part. */
export const CONCURRENCY = envInt("ORIS_BENCH_GRAPH_CONCURRENCY", 32);
/** Runs (workflows) in flight in the peers' concurrent part and against raw commits. */
export const IN_FLIGHT = envInt("ORIS_BENCH_GRAPH_IN_FLIGHT", 100);
/** Turns of the conversation. */
export const TURNS = envInt("ORIS_BENCH_GRAPH_TURNS", 200);
/** Runs left interrupted. */
export const INTERRUPTED = envInt("ORIS_BENCH_GRAPH_INTERRUPTED", 100_000);
/** Seconds allowed to start the interrupted runs. */
export const INTERRUPTED_SECONDS = envInt("ORIS_BENCH_GRAPH_INTERRUPTED_SECONDS", 300);
/** The early window of the conversation ends at this turn. Each window is 8 turns (16 steps). */
export const EARLY_TURN = 10;
/** Turns in a window of the conversation. */
export const WINDOW = 8;

function envInt(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a whole number from 1, got "${raw}"`);
  }
  return value;
}

let threads = 0;
/**
 * A thread id not used before in this process.
 *
 * @param prefix What the id starts with.
 * @returns `<prefix>-<n>`.
 */
export function nextThread(prefix: string): string {
  return `${prefix}-${++threads}`;
}

const FILLER = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor";

/** The human message of turn `turn` of the conversation. */
export function humanText(turn: number): string {
  return `turn ${turn}: ${FILLER}`;
}

/** The AI message of turn `turn` of the conversation. */
export function aiText(turn: number): string {
  return `answer ${turn}: ${FILLER}`;
}
