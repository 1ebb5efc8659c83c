/**
 * Server benchmark: prints JSON lines. `POST /v1/jobs/run` of the `hello`
 * graph (the example graph the server registers: one node, a mock model
 * reply) against a real server, and the same graph invoked in-process, on the
 * same store, side by side in one run, so that the ratio gives what the HTTP
 * layer adds.
 *
 * - HTTP: the server of `deno task start` (`createServer` with the example
 *   graphs and no credentials) is started in this process with `Deno.serve`
 *   on `127.0.0.1`, a free port. The load comes from a separate process,
 *   `bench/_server_client.ts` (so that it does not share the server's event
 *   loop): 64 clients, each sending one request after another over keep-alive
 *   connections, each request a fresh thread id and the input `"hi"`. A run
 *   counts when its response is a 200 whose run `completed`. Latency is from
 *   sending the request to having read the whole response.
 * - in-process: 64 callers of `runtime.invoke("hello", ...)` on the same
 *   runtime and store, each a fresh thread id, the same input.
 *
 * The two alternate in blocks (`ORIS_BENCH_SERVER_BLOCKS`, default 4, each
 * `ORIS_BENCH_SERVER_SECONDS / blocks` seconds; which goes first alternates
 * too), after a warm-up block of each that is not counted, so that a store
 * growing and load elsewhere on the machine fall on both alike. Each mode
 * gets `ORIS_BENCH_SERVER_SECONDS` (default 20) in all. Runs/s is runs over
 * the time from a block's start until its last request answered (requests in
 * flight at the deadline finish); latency percentiles are over every run of
 * every block. The overhead line gives in-process runs/s over HTTP runs/s
 * (overall, and the median, min and max of the per-block ratios), and HTTP
 * latency over in-process latency at p50 and p99.
 *
 * What a `POST /v1/jobs/run` does beyond `invoke`: routing, zod validation of
 * the body, the trace span, the response envelope, metrics, and an audit
 * record (written behind the response, in the store's group commits); plus
 * HTTP/1.1 parsing and loopback TCP. A cancelled thread is refused by the
 * run's creation itself (no read before the run).
 *
 * Stores: Deno KV in a temporary file (removed at the end; the directory it
 * is made in is `ORIS_BENCH_SERVER_KV_DIR`, default the system's temp dir,
 * e.g. `/dev/shm` to take the disk out), and PostgreSQL in a fresh schema
 * (dropped at the end) from `ORIS_BENCH_POSTGRES_URL`, else
 * `ORIS_TEST_POSTGRES_URL`, else the local server; a `skip` line when it is
 * unreachable. Targets (reported, never asserted): at least 1,000 runs/s over
 * HTTP on KV, and p99 under 50 ms.
 *
 * On KV, a Deno KV commit waits for the disk, and commits do not overlap, so
 * the disk bounds runs/s: each KV line gives the KV commits a run made
 * (counted in this process by wrapping `Deno.AtomicOperation#commit`,
 * `Deno.Kv#set` and `#delete`), and the `kv_commits` line the commits/s each
 * mode made against raw commits/s (64 writers of 1 KiB values on a database
 * beside the store's, for 1.5 s in each block, after the pair), and so the
 * runs/s a mode would reach if each of its commits cost what a raw one does.
 * With 64 clients that each wait for their answer, latency is about
 * 64 / runs/s: p99 under 50 ms needs well over 1,280 runs/s.
 *
 * Run: `deno task bench` (storage, graph, then this), or only this file with
 * `deno run -A bench/server_bench.ts [kv] [postgres]` (default: both).
 * `ORIS_BENCH_SERVER_WARMUP_SECONDS` (default 2) sets the warm-up.
 *
 * @module
 */

import { emit, median, openBenchPostgres, round } from "./_common.ts";
import { createRuntime, humanMessage, type Runtime, type Store } from "../mod.ts";
import { createServer } from "../server/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";

const CLIENTS = 64;
const SECONDS = envNumber("ORIS_BENCH_SERVER_SECONDS", 20);
const BLOCKS = Math.max(1, Math.round(envNumber("ORIS_BENCH_SERVER_BLOCKS", 4)));
const WARMUP_SECONDS = envNumber("ORIS_BENCH_SERVER_WARMUP_SECONDS", 2);
/** Where the KV temp directory is made (default: the system's temp dir). */
const KV_DIR = Deno.env.get("ORIS_BENCH_SERVER_KV_DIR") || undefined;
/** How long past a block's end the load generator may take to answer before it is stopped. */
const CLIENT_GRACE_MS = 60_000;
/** How long raw KV commits are measured in each block. */
const RAW_SECONDS = 1.5;
const TARGET_KV_RUNS_PER_S = 1_000;
const TARGET_P99_MS = 50;

function envNumber(name: string, fallback: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/**
 * Counts Deno KV commits made in this process (atomic commits, and `set` and
 * `delete`, each its own commit), so that each KV line can say how many
 * commits a run costs. Counting only: every call goes through unchanged.
 */
const kvCommits = { count: 0 };
function countKvCommits(): void {
  const atomic = Deno.AtomicOperation.prototype;
  const commit = atomic.commit;
  atomic.commit = function (this: Deno.AtomicOperation) {
    kvCommits.count++;
    return commit.call(this);
  };
  const kv = Deno.Kv.prototype;
  for (const name of ["set", "delete"] as const) {
    const original = kv[name] as (...args: unknown[]) => unknown;
    (kv as unknown as Record<string, unknown>)[name] = function (
      this: Deno.Kv,
      ...args: unknown[]
    ) {
      kvCommits.count++;
      return original.apply(this, args);
    };
  }
}

/** What one block of one mode measured. */
interface BlockResult {
  runs: number;
  errors: number;
  firstError: string | null;
  seconds: number;
  latencies: number[];
  /** KV commits made during the block. */
  commits: number;
}

interface Backend {
  name: string;
  store: Store;
  /** KV only: 64 writers making raw commits on a database beside the store's for `seconds`. */
  rawCommits?(seconds: number): Promise<{ commits: number; seconds: number }>;
  close(): Promise<void>;
}

async function kvBackend(): Promise<Backend> {
  const dir = await Deno.makeTempDir({
    prefix: "oris-bench-server-",
    ...(KV_DIR === undefined ? {} : { dir: KV_DIR }),
  });
  const store = await KvStore.open({ path: `${dir}/oris.kv` });
  const raw = await Deno.openKv(`${dir}/raw.kv`);
  const body = "x".repeat(1024);
  let key = 0;
  return {
    name: "kv",
    store,
    async rawCommits(seconds) {
      let commits = 0;
      const started = performance.now();
      const deadline = started + seconds * 1000;
      await Promise.all(Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < deadline) {
          const result = await raw.atomic().set(["raw", ++key], body).commit();
          if (!result.ok) throw new Error("raw commit failed");
          commits++;
        }
      }));
      return { commits, seconds: (performance.now() - started) / 1000 };
    },
    async close() {
      raw.close();
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function postgresBackend(): Promise<Backend | null> {
  const pg = await openBenchPostgres("server");
  if (pg === null) return null;
  const url = pg.url;
  const schema = pg.freshSchema("oris_bench");
  let store: PostgresStore;
  try {
    store = await PostgresStore.connect({ url, schema });
  } catch (error) {
    await pg.close().catch(() => {});
    throw error;
  }
  return {
    name: "postgres",
    store,
    async close() {
      try {
        await store.close();
      } finally {
        await pg.close();
      }
    },
  };
}

/** The load generator process, driven one block at a time. */
class LoadClient {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;

  constructor(baseUrl: string) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("./_server_client.ts", import.meta.url).pathname, baseUrl],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(lineSplitter())[Symbol.asyncIterator]();
  }

  async block(seconds: number, prefix: string): Promise<BlockResult> {
    const command = { seconds, clients: CLIENTS, prefix };
    const commits = kvCommits.count;
    await this.#writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("the load generator did not answer in time")),
        seconds * 1000 + CLIENT_GRACE_MS,
      );
    });
    try {
      const next = await Promise.race([this.#lines.next(), timeout]);
      if (next.done) throw new Error("the load generator exited");
      const answer = JSON.parse(next.value) as {
        runs: number;
        errors: number;
        first_error: string | null;
        elapsed_ms: number;
        latencies_ms: number[];
      };
      return {
        runs: answer.runs,
        errors: answer.errors,
        firstError: answer.first_error,
        seconds: answer.elapsed_ms / 1000,
        latencies: answer.latencies_ms,
        commits: kvCommits.count - commits,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes its stdin (it exits then); stops it by its own pid if it does not. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
    }, 5_000);
    try {
      await this.#child.status;
      await this.#lines.return?.();
    } finally {
      clearTimeout(timer);
    }
  }
}

function lineSplitter(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        controller.enqueue(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
      }
    },
    flush(controller) {
      if (buffer !== "") controller.enqueue(buffer);
    },
  });
}

/** 64 in-process callers of `runtime.invoke` for `seconds`. */
async function inProcessBlock(
  runtime: Runtime,
  seconds: number,
  prefix: string,
): Promise<BlockResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const commits = kvCommits.count;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, worker) => {
    for (let n = 0; performance.now() < deadline; n++) {
      const t0 = performance.now();
      try {
        const result = await runtime.invoke("hello", { messages: [humanMessage("hi")] }, {
          threadId: `${prefix}-${worker}-${n}`,
        });
        const ms = performance.now() - t0;
        if (result.status === "completed") {
          latencies.push(ms);
        } else {
          errors++;
          firstError ??= `status ${result.status}`;
        }
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  }));
  return {
    runs: latencies.length,
    errors,
    firstError,
    seconds: (performance.now() - started) / 1000,
    latencies,
    commits: kvCommits.count - commits,
  };
}

interface ModeSummary {
  runs: number;
  errors: number;
  first_error: string | null;
  seconds: number;
  runs_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  kv_commits_per_run: number | null;
}

function summarize(blocks: BlockResult[], kv: boolean): ModeSummary {
  const runs = blocks.reduce((sum, block) => sum + block.runs, 0);
  const seconds = blocks.reduce((sum, block) => sum + block.seconds, 0);
  const latencies = blocks.flatMap((block) => block.latencies).sort((a, b) => a - b);
  return {
    runs,
    errors: blocks.reduce((sum, block) => sum + block.errors, 0),
    first_error: blocks.find((block) => block.firstError !== null)?.firstError ?? null,
    seconds: round(seconds, 2),
    runs_per_s: Math.round(runs / seconds),
    p50_ms: round(percentile(latencies, 0.5), 2),
    p99_ms: round(percentile(latencies, 0.99), 2),
    max_ms: round(latencies.at(-1) ?? NaN, 2),
    kv_commits_per_run: kv
      ? round(blocks.reduce((sum, block) => sum + block.commits, 0) / runs, 2)
      : null,
  };
}

async function benchBackend(backend: Backend): Promise<void> {
  const runtime = createRuntime({ store: backend.store });
  registerExamples(runtime);
  const server = await createServer({ runtime });
  const stop = new AbortController();
  const { promise: listening, resolve: onListen } = Promise.withResolvers<number>();
  const http = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: stop.signal,
    onListen: ({ port }) => onListen(port),
  }, server.app.fetch);
  const port = await listening;
  const client = new LoadClient(`http://127.0.0.1:${port}`);
  try {
    const blockSeconds = SECONDS / BLOCKS;
    const httpBlocks: BlockResult[] = [];
    const localBlocks: BlockResult[] = [];
    const ratios: number[] = [];
    // Warm-up (not counted): JIT, connections, the store's first writes.
    await client.block(WARMUP_SECONDS, `warm-http-${backend.name}`);
    await inProcessBlock(runtime, WARMUP_SECONDS, `warm-local-${backend.name}`);
    await backend.rawCommits?.(WARMUP_SECONDS);
    let rawCommits = 0;
    let rawSeconds = 0;
    for (let block = 0; block < BLOCKS; block++) {
      const runHttp = () => client.block(blockSeconds, `http-${backend.name}-${block}`);
      const runLocal = () =>
        inProcessBlock(runtime, blockSeconds, `local-${backend.name}-${block}`);
      let httpBlock: BlockResult;
      let localBlock: BlockResult;
      if (block % 2 === 0) {
        httpBlock = await runHttp();
        localBlock = await runLocal();
      } else {
        localBlock = await runLocal();
        httpBlock = await runHttp();
      }
      if (backend.rawCommits !== undefined) {
        const raw = await backend.rawCommits(RAW_SECONDS);
        rawCommits += raw.commits;
        rawSeconds += raw.seconds;
      }
      httpBlocks.push(httpBlock);
      localBlocks.push(localBlock);
      ratios.push((localBlock.runs / localBlock.seconds) / (httpBlock.runs / httpBlock.seconds));
    }
    const kv = backend.rawCommits !== undefined;
    const httpSummary = summarize(httpBlocks, kv);
    const localSummary = summarize(localBlocks, kv);
    const target = {
      target_runs_per_s_min: backend.name === "kv" ? TARGET_KV_RUNS_PER_S : null,
      target_p99_ms_max: TARGET_P99_MS,
    };
    emit({
      bench: "server_jobs_run",
      mode: "http",
      backend: backend.name,
      clients: CLIENTS,
      blocks: BLOCKS,
      ...httpSummary,
      ...target,
    });
    emit({
      bench: "server_jobs_run",
      mode: "in_process",
      backend: backend.name,
      clients: CLIENTS,
      blocks: BLOCKS,
      ...localSummary,
    });
    emit({
      bench: "server_http_overhead",
      backend: backend.name,
      throughput_ratio_in_process_over_http: round(
        localSummary.runs_per_s / httpSummary.runs_per_s,
      ),
      throughput_ratio_block_median: round(median(ratios)),
      throughput_ratio_block_min: round(Math.min(...ratios)),
      throughput_ratio_block_max: round(Math.max(...ratios)),
      latency_ratio_http_over_in_process_p50: round(httpSummary.p50_ms / localSummary.p50_ms),
      latency_ratio_http_over_in_process_p99: round(httpSummary.p99_ms / localSummary.p99_ms),
    });
    if (kv && rawSeconds > 0) {
      // What the disk allows: raw commits/s, and so runs/s at the commits a run makes.
      const rawPerSecond = rawCommits / rawSeconds;
      const httpCommits = httpSummary.runs_per_s * httpSummary.kv_commits_per_run!;
      const localCommits = localSummary.runs_per_s * localSummary.kv_commits_per_run!;
      emit({
        bench: "kv_commits",
        backend: backend.name,
        clients: CLIENTS,
        raw_commits_per_s: Math.round(rawPerSecond),
        http_kv_commits_per_run: httpSummary.kv_commits_per_run,
        in_process_kv_commits_per_run: localSummary.kv_commits_per_run,
        http_kv_commits_per_s: Math.round(httpCommits),
        in_process_kv_commits_per_s: Math.round(localCommits),
        http_runs_per_s_ceiling: Math.round(rawPerSecond / httpSummary.kv_commits_per_run!),
        in_process_runs_per_s_ceiling: Math.round(
          rawPerSecond / localSummary.kv_commits_per_run!,
        ),
      });
    }
  } finally {
    await client.close();
    stop.abort();
    await http.finished;
    await server.close();
    await runtime.close();
  }
}

if (import.meta.main) {
  countKvCommits();
  const wanted = Deno.args.length > 0 ? Deno.args : ["kv", "postgres"];
  const makers: Record<string, () => Promise<Backend | null>> = {
    kv: kvBackend,
    postgres: postgresBackend,
  };
  for (const name of wanted) {
    const make = makers[name];
    if (make === undefined) throw new RangeError(`unknown backend "${name}" (kv, postgres)`);
    const backend = await make();
    if (backend === null) continue;
    try {
      await benchBackend(backend);
    } finally {
      await backend.close();
    }
  }
}
