/**
 * Remote workers: {@linkcode createWorker} runs your graphs in this process
 * for an Oris server (typically one started with `ORIS_EXECUTION=workers`).
 * The worker polls the server for runs of its graphs, executes them with
 * the same run actors as the server, and reports each step, which the
 * server commits under the run's lease (fencing token); journaled effects
 * are journaled on the server, so a run that moves to another worker never
 * makes them again. `oris worker --graphs ./graphs.ts` is this, on the
 * command line.
 *
 * @example Run a worker (against a running server)
 * ```ts ignore
 * import { createWorker, defineState, END, START, StateGraph } from "@oris/runtime";
 *
 * const State = defineState({ n: { default: () => 0 } });
 * const inc = new StateGraph(State)
 *   .addNode("inc", (state) => ({ n: state.n + 1 }))
 *   .addEdge(START, "inc").addEdge("inc", END)
 *   .compile();
 * const worker = createWorker({
 *   server: "http://127.0.0.1:8080",
 *   credentials: { apiKeyId: "worker-1", apiKey: Deno.env.get("ORIS_API_KEY")! },
 *   graphs: { inc },
 * });
 * Deno.addSignalListener("SIGTERM", () => worker.stop());
 * await worker.stopped;
 * ```
 *
 * @module
 */

import { createJsonLogger, createRuntime, type GraphDefinition } from "../actors/mod.ts";
import { checkWhole, InvalidArgumentError, isValidId, type Logger } from "../kernel/mod.ts";
import { WorkerClient, type WorkerCredentials } from "./_client.ts";
import { HttpStore } from "./http_store.ts";

export type { WorkerCredentials } from "./_client.ts";

/** Options of {@linkcode createWorker}. */
export interface WorkerOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  server: string;
  /** How it authenticates: an API key with role `worker` (or any admin credential). */
  credentials?: WorkerCredentials;
  /**
   * The graphs it executes, by the name runs refer to (compiled graphs, as a
   * graph module exports them). It is dispatched runs of these graphs only.
   */
  graphs: Record<string, GraphDefinition | { readonly definition: GraphDefinition }>;
  /**
   * Its id, unique among live workers (letters, digits and `-_.:`).
   * @default {"worker-<hostname>-<pid>-<random>"}
   */
  workerId?: string;
  /**
   * How many runs it executes at once (holds leases of).
   * @default {8}
   */
  maxActiveRuns?: number;
  /**
   * The delay between polls while there is nothing to do, at first (ms); it
   * doubles, with jitter, up to `maxPollIntervalMs` while the worker stays
   * idle or the server cannot be reached, and a dispatch polls again at once.
   * @default {1000}
   */
  pollIntervalMs?: number;
  /**
   * The longest delay between idle polls (ms).
   * @default {10000}
   */
  maxPollIntervalMs?: number;
  /**
   * How long a run's lease lasts unless renewed (ms, whole seconds on the
   * wire): a worker that dies is replaced this long after.
   * @default {30000}
   */
  leaseTtlMs?: number;
  /**
   * Where it logs (runs taken, leases lost, the server unreachable).
   * @default {JSON lines on stderr, from level info}
   */
  logger?: Logger;
  /** The fetch it uses (tests). */
  fetch?: typeof fetch;
}

/** A running worker. See {@linkcode createWorker}. */
export interface Worker extends AsyncDisposable {
  /** Its id (the owner of the leases it holds). */
  readonly workerId: string;
  /** How many runs it holds now. */
  activeRuns(): number;
  /**
   * Stops: no more polls, the steps running now commit, and every lease is
   * released, so that another worker continues those runs at once. Idempotent.
   */
  stop(): Promise<void>;
  /** Resolves once the worker has stopped. */
  readonly stopped: Promise<void>;
}

/**
 * Starts a worker: it polls the server for runs of its graphs and executes
 * them until stopped (see the module doc).
 *
 * @param options The server, credentials, graphs and limits.
 * @returns The worker, already polling.
 * @throws {InvalidArgumentError} for a bad server URL, worker id or limit.
 *
 * @example A worker stopped at once
 * ```ts
 * import { createWorker } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * // Nothing listens on port 9 (discard): the worker retries quietly until stopped.
 * const worker = createWorker({
 *   server: "http://127.0.0.1:9",
 *   graphs: {},
 *   workerId: "doc-worker",
 *   logger: { debug() {}, info() {}, warn() {}, error() {} },
 * });
 * assert.equal(worker.workerId, "doc-worker");
 * await worker.stop();
 * ```
 */
export function createWorker(options: WorkerOptions): Worker {
  const server = checkServer(options.server);
  const workerId = options.workerId ?? defaultWorkerId();
  if (!isValidId(workerId)) {
    throw new InvalidArgumentError(
      'workerId may contain only letters, digits and "-_.:" (1 to 128 characters)',
      { field: "workerId" },
    );
  }
  const maxActiveRuns = checkWhole(options.maxActiveRuns ?? 8, "maxActiveRuns", 1);
  const pollIntervalMs = checkWhole(options.pollIntervalMs ?? 1000, "pollIntervalMs", 1);
  const maxPollIntervalMs = checkWhole(
    options.maxPollIntervalMs ?? Math.max(10_000, pollIntervalMs),
    "maxPollIntervalMs",
    pollIntervalMs,
  );
  const leaseTtlMs = checkWhole(options.leaseTtlMs ?? 30_000, "leaseTtlMs", 1000);
  const logger = options.logger ?? createJsonLogger();
  const stopping = new AbortController();
  let serverDown = false;
  const client = new WorkerClient({
    server,
    credentials: options.credentials ?? {},
    sleep: (ms) => abortableSleep(ms, stopping.signal),
    random: Math.random,
    signal: stopping.signal,
    fetch: options.fetch ?? fetch,
    onRetry(error) {
      if (error !== null && !serverDown) {
        serverDown = true;
        logger.warn("Cannot reach the server; retrying", { worker_id: workerId, error });
      } else if (error === null && serverDown) {
        serverDown = false;
        logger.info("server reachable again", { worker_id: workerId });
      }
    },
  });
  const store = new HttpStore({
    client,
    workerId,
    maxActiveLeases: maxActiveRuns,
    pollIntervalMs,
    maxPollIntervalMs,
    random: Math.random,
    logger,
  });
  const runtime = createRuntime({
    store,
    graphs: options.graphs,
    ownerId: workerId,
    maxActiveRuns,
    maxConcurrentRuns: maxActiveRuns,
    leaseTtlMs,
    // The claim loop ticks often; the store polls the server only when its backoff is due.
    pollIntervalMs: Math.max(10, Math.min(250, Math.floor(pollIntervalMs / 4))),
    logger,
  });
  logger.info("oris worker started", {
    worker_id: workerId,
    server,
    graphs: runtime.graphNames(),
    max_active_runs: maxActiveRuns,
    pid: Deno.pid,
  });
  // Starts the claim loop (a worker lists no runs: there is nothing else to recover).
  const started = runtime.recover().catch((error) =>
    logger.error("Cannot start polling", { worker_id: workerId, error })
  );
  const done = Promise.withResolvers<void>();
  let stop: Promise<void> | null = null;
  const worker: Worker = {
    workerId,
    activeRuns: () => store.held,
    stopped: done.promise,
    stop() {
      stop ??= (async () => {
        await store.close(); // No more polls; reports, effects and releases go on.
        await started;
        await runtime.close();
        stopping.abort();
        logger.info("oris worker stopped", { worker_id: workerId });
      })().finally(done.resolve);
      return stop;
    },
    [Symbol.asyncDispose]() {
      return worker.stop();
    },
  };
  return worker;
}

function checkServer(server: unknown): string {
  try {
    const url = new URL(String(server));
    if (url.protocol === "http:" || url.protocol === "https:") {
      return url.href.replace(/\/+$/, "");
    }
  } catch {
    // Refused below.
  }
  throw new InvalidArgumentError(`server must be an http(s) URL, got ${JSON.stringify(server)}`, {
    field: "server",
  });
}

/** `worker-<hostname>-<pid>-<random>`, within the id pattern. */
function defaultWorkerId(): string {
  let host = "host";
  try {
    host = Deno.hostname().replace(/[^A-Za-z0-9_.:-]/g, "-").slice(0, 80);
  } catch {
    // No permission to read the host name: the pid and random part still make it unique.
  }
  const random = crypto.getRandomValues(new Uint8Array(4));
  const suffix = [...random].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `worker-${host}-${Deno.pid}-${suffix}`;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
