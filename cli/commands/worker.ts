/**
 * `oris worker --graphs ./graphs.ts`: a remote worker process. It loads the
 * graph modules, polls the server (`ORIS_SERVER_URL`) for runs of their
 * graphs and executes them (`createWorker`), until SIGINT or SIGTERM: then
 * it stops polling, lets the steps in hand commit, releases its leases (so
 * another worker continues those runs at once) and exits 0. It logs JSON
 * lines on stdout.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createJsonLogger } from "../../actors/mod.ts";
import { createWorker, type WorkerCredentials } from "../../worker/mod.ts";
import { UsageError } from "../_http.ts";
import type { Context } from "../_command.ts";

const HELP = [
  "Usage: oris worker --graphs <module> [options]",
  "",
  "Runs a worker: executes the runs of its graphs that the server dispatches to it (a server",
  "started with ORIS_EXECUTION=workers executes nothing itself). SIGINT or SIGTERM stops it:",
  "the steps in hand commit and its runs go to other workers at once.",
  "",
  "Options:",
  "  --graphs <module>          graph modules (paths or URLs; repeat or comma-separate; ORIS_GRAPHS)",
  "  --server <url>             the server (ORIS_SERVER_URL; default http://127.0.0.1:8080)",
  "  --worker-id <id>           unique among live workers (ORIS_WORKER_ID; default host-pid-random)",
  "  --api-key-id <id>          an API key's id, role worker (ORIS_API_KEY_ID), with --api-key",
  "  --api-key <secret>         the API key (ORIS_API_KEY)",
  "  --token <token>            a bearer token instead (ORIS_API_TOKEN)",
  "  --max-active-runs <n>      runs executed at once (ORIS_MAX_ACTIVE_LEASES; default 8)",
  "  --poll-interval-ms <ms>    first delay between idle polls (ORIS_POLL_INTERVAL_MS; default 1000)",
  "  --max-poll-interval-ms <ms> longest delay between idle polls (ORIS_MAX_POLL_INTERVAL_MS; 10000)",
  "  --lease-ttl-ms <ms>        a run's lease unless renewed (ORIS_LEASE_TTL_MS; default 30000)",
  "  -h, --help                 print this help",
  "",
  "Examples:",
  "  oris worker --graphs ./graphs.ts",
  "  ORIS_SERVER_URL=https://oris.internal ORIS_API_KEY_ID=worker-1 ORIS_API_KEY=... \\",
  "    oris worker --graphs ./graphs.ts --max-active-runs 16",
].join("\n");

/** A whole number flag (or variable) from `min`. */
function whole(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^\d{1,9}$/.test(value) || Number(value) < min) {
    throw new UsageError(`worker: ${name} must be a whole number from ${min}, got "${value}"`);
  }
  return Number(value);
}

/**
 * `oris worker`: parses its arguments and runs the worker until SIGINT or SIGTERM.
 *
 * @param ctx The environment and output.
 * @param args Its arguments.
 * @param signals The signals that stop it (tests pass none).
 * @returns The exit code.
 */
export async function workerCommand(
  ctx: Context,
  args: string[],
  signals: Deno.Signal[] = ["SIGINT", "SIGTERM"],
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        graphs: { type: "string", multiple: true },
        server: { type: "string" },
        "worker-id": { type: "string" },
        "api-key-id": { type: "string" },
        "api-key": { type: "string" },
        token: { type: "string" },
        "max-active-runs": { type: "string" },
        "poll-interval-ms": { type: "string" },
        "max-poll-interval-ms": { type: "string" },
        "lease-ttl-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`worker: ${(error as Error).message.split(". ")[0]}`);
  }
  if (values.help === true) {
    ctx.output.out(HELP);
    return 0;
  }
  const env = ctx.env;
  const modules = (values.graphs ?? [env.ORIS_GRAPHS ?? ""]).flatMap((item) =>
    item.split(",").map((part) => part.trim()).filter((part) => part !== "")
  );
  if (modules.length === 0) throw new UsageError("worker needs --graphs <module> (or ORIS_GRAPHS)");
  const credentials: WorkerCredentials = {};
  const keyId = values["api-key-id"] ?? env.ORIS_API_KEY_ID;
  const key = values["api-key"] ?? env.ORIS_API_KEY;
  const token = values.token ?? env.ORIS_API_TOKEN;
  if (keyId) {
    if (!key) throw new UsageError("worker: --api-key-id needs --api-key (or ORIS_API_KEY)");
    credentials.apiKeyId = keyId;
  }
  if (key) credentials.apiKey = key;
  if (token) credentials.bearerToken = token;
  const maxActiveRuns = whole(
    values["max-active-runs"] ?? env.ORIS_MAX_ACTIVE_LEASES,
    "--max-active-runs",
    1,
  );
  const pollIntervalMs = whole(
    values["poll-interval-ms"] ?? env.ORIS_POLL_INTERVAL_MS,
    "--poll-interval-ms",
    1,
  );
  const maxPollIntervalMs = whole(
    values["max-poll-interval-ms"] ?? env.ORIS_MAX_POLL_INTERVAL_MS,
    "--max-poll-interval-ms",
    pollIntervalMs ?? 1,
  );
  const leaseTtlMs = whole(
    values["lease-ttl-ms"] ?? env.ORIS_LEASE_TTL_MS,
    "--lease-ttl-ms",
    1000,
  );
  const workerId = values["worker-id"] ?? env.ORIS_WORKER_ID;
  // Loaded here: only `oris worker` needs the graph loader.
  const { loadGraphModules } = await import("../../server/mod.ts");
  let graphs;
  try {
    graphs = await loadGraphModules(modules, Deno.cwd());
  } catch (error) {
    ctx.output.err(`oris: cannot start: ${(error as Error).message}`);
    return 1;
  }
  const logger = createJsonLogger({ write: (line) => console.log(line) });
  let worker;
  try {
    worker = createWorker({
      server: values.server ?? env.ORIS_SERVER_URL ?? "http://127.0.0.1:8080",
      credentials,
      graphs: Object.fromEntries(graphs.map((graph) => [graph.name, graph])),
      logger,
      ...(workerId === undefined || workerId === "" ? {} : { workerId }),
      ...(maxActiveRuns === undefined ? {} : { maxActiveRuns }),
      ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }),
      ...(maxPollIntervalMs === undefined ? {} : { maxPollIntervalMs }),
      ...(leaseTtlMs === undefined ? {} : { leaseTtlMs }),
    });
  } catch (error) {
    ctx.output.err(`oris: cannot start: ${(error as Error).message}`);
    return 1;
  }
  const stop = () => void worker.stop();
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  try {
    await worker.stopped;
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
  return 0;
}
