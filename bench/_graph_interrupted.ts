/**
 * The graph benchmark's `interrupted_runs` section: a child process (a fresh
 * heap, LangGraph.js not loaded: `graph_bench.ts interrupted-child`) leaves
 * many runs interrupted on a `KvStore` and reports its resident memory.
 *
 * @module
 */

import { emit, round } from "./_common.ts";
import { defineState, END, START, StateGraph } from "../mod.ts";
import { createRuntime } from "../actors/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { INTERRUPTED, INTERRUPTED_SECONDS } from "./_graph_workload.ts";

function mb(bytes: number): number {
  return round(bytes / 1024 / 1024, 1);
}

/** `interrupted_runs`: runs the child process, which prints the line. */
export async function interruptedRuns(): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      "--v8-flags=--expose-gc",
      new URL("./graph_bench.ts", import.meta.url).pathname,
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

/** The child process of `interrupted_runs`: starts the runs and prints the line. */
export async function interruptedChild(): Promise<void> {
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
