/**
 * A profiling driver for the HTTP path: the server of `bench/server_bench.ts`
 * (`createServer` with the example graphs, no credentials, a `KvStore` in a
 * temporary directory) in this process, loaded for a while by the same load
 * generator (`bench/_server_client.ts`, a separate process: 64 clients of
 * `POST /v1/jobs/run`). Run it under the profiler to see where the server
 * spends its time; it prints the runs/s the load generator saw.
 *
 * `deno run -A --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile_server.ts [seconds=10] [http|in_process]`
 *
 * `in_process` runs the same runs without HTTP, as `bench/server_bench.ts`
 * does (64 callers of `runtime.invoke("hello")` on the same runtime, with the
 * server made over it but no request): the busy time of the two profiles
 * over their runs is the CPU a run costs with and without the HTTP path.
 * Each line also gives `cpu_ms_per_run`: the process's CPU time (user and
 * system, all its threads: V8, Deno KV's, the HTTP server's) over the load,
 * per run; the load generator's CPU is not in it.
 *
 * @module
 */

import { createRuntime, humanMessage, type Runtime } from "../mod.ts";
import { createServer, type OrisServer } from "../server/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import process from "node:process";
import { emit, round } from "./_common.ts";

/** Seconds of load before the measured ones (JIT warm-up), in both modes. */
const WARMUP_SECONDS = 2;

/** The process's CPU time since `from` (user and system), in ms per run. */
function cpuPerRun(from: { user: number; system: number }, runs: number): number {
  const used = process.cpuUsage(from);
  return round((used.user + used.system) / 1000 / Math.max(1, runs), 3);
}

/** 64 callers of `invoke` for `seconds`: the in-process side of `bench/server_bench.ts`. */
async function inProcess(runtime: Runtime, seconds: number): Promise<void> {
  await invokeFor(runtime, WARMUP_SECONDS, "w");
  const cpu = process.cpuUsage();
  const { runs, errors, elapsed } = await invokeFor(runtime, seconds, "p");
  emit({
    bench: "profile_server",
    mode: "in_process",
    backend: "kv",
    runs,
    errors,
    runs_per_s: round(runs / elapsed, 1),
    cpu_ms_per_run: cpuPerRun(cpu, runs),
  });
}

async function invokeFor(
  runtime: Runtime,
  seconds: number,
  prefix: string,
): Promise<{ runs: number; errors: number; elapsed: number }> {
  let runs = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(Array.from({ length: 64 }, async (_, worker) => {
    for (let n = 0; performance.now() < deadline; n++) {
      const result = await runtime.invoke("hello", { messages: [humanMessage("hi")] }, {
        threadId: `${prefix}-${worker}-${n}`,
      }).catch(() => null);
      if (result?.status === "completed") runs++;
      else errors++;
    }
  }));
  return { runs, errors, elapsed: (performance.now() - started) / 1000 };
}

if (import.meta.main) {
  const seconds = Number(Deno.args[0] ?? 10);
  const mode = Deno.args[1] ?? "http";
  const dir = await Deno.makeTempDir({ prefix: "oris-profile-server-" });
  const store = await KvStore.open({ path: `${dir}/oris.kv` });
  const runtime = createRuntime({ store });
  registerExamples(runtime);
  const server = await createServer({ runtime });
  if (mode === "in_process") {
    try {
      await inProcess(runtime, seconds);
    } finally {
      await server.close();
      await runtime.close();
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  } else await overHttp(runtime, server, seconds, dir, store);
}

/** The server on a free port, loaded by the load generator for `seconds`. */
async function overHttp(
  runtime: Runtime,
  server: OrisServer,
  seconds: number,
  dir: string,
  store: KvStore,
): Promise<void> {
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, server.app.fetch);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./_server_client.ts", import.meta.url).pathname,
      `http://127.0.0.1:${http.addr.port}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const writer = child.stdin.getWriter();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const ask = async (command: { seconds: number; clients: number; prefix: string }) => {
      await writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const line = text.slice(0, text.indexOf("\n"));
      text = text.slice(line.length + 1);
      return JSON.parse(line) as { runs: number; errors: number; elapsed_ms: number };
    };
    await ask({ seconds: WARMUP_SECONDS, clients: 64, prefix: "w" });
    const cpu = process.cpuUsage();
    const answer = await ask({ seconds, clients: 64, prefix: "p" });
    await writer.close();
    emit({
      bench: "profile_server",
      mode: "http",
      backend: "kv",
      runs: answer.runs,
      errors: answer.errors,
      runs_per_s: round(answer.runs / (answer.elapsed_ms / 1000), 1),
      cpu_ms_per_run: cpuPerRun(cpu, answer.runs),
    });
    await reader.cancel();
    await child.status;
  } finally {
    await http.shutdown();
    await server.close();
    await runtime.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}
