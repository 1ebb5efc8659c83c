/**
 * Test helper: a cluster of real server processes on one PostgreSQL schema.
 * {@linkcode withCluster} migrates a fresh schema of the test database (or of
 * the database `url` names), starts the server processes on it serving the
 * graphs of `tests/fixtures/cluster_graphs.ts` (each its own
 * `ORIS_OWNER_ID`), and always cleans up: every process still alive is
 * continued and killed, the schema dropped, the effect log removed.
 *
 * Tests synchronise on what the processes print ({@linkcode Cluster.waitForLine})
 * and on the database's state ({@linkcode Cluster.waitFor}), never on sleeps;
 * timeouts are only failure guards.
 *
 * @module
 */

import assert from "node:assert/strict";
import type postgres from "postgres";
import { migrate } from "../storage/postgres/mod.ts";
import { dropSchema, freshSchemaName, postgresClient, postgresTestUrl } from "./_postgres.ts";
import { type ServerProcess, startServer } from "./_server_process.ts";

/** The graphs module the cluster's servers load. */
export const CLUSTER_GRAPHS: string = new URL("./fixtures/cluster_graphs.ts", import.meta.url)
  .pathname;

/** A parsed JSON body (tests read it freely). */
// deno-lint-ignore no-explicit-any
export type Body = any;

/**
 * How long a wait may take before the test fails (a guard against a hang, not
 * a timing): generous, since a full suite beside other work can slow a
 * process start or a takeover many times over.
 */
const GUARD_MS = 180_000;

/** One server process of a cluster. */
export interface ClusterProcess {
  /** Its name in the cluster (`p1`, `p2` ...), also its `ORIS_OWNER_ID`. */
  readonly name: string;
  /** The process. */
  readonly server: ServerProcess;
  /** `http://host:port`. */
  readonly base: string;
  /** The server's own pid. */
  readonly pid: number;
}

/** Options of {@linkcode withCluster}. */
export interface ClusterOptions {
  /**
   * How many processes to start at once (more with {@linkcode Cluster.start}).
   * @default {2}
   */
  processes?: number;
  /** Settings for every process (on top of the backend, schema, graphs and owner id). */
  env?: Record<string, string>;
  /**
   * The graphs module the processes serve (a path).
   * @default {CLUSTER_GRAPHS}
   */
  graphs?: string;
  /**
   * The PostgreSQL database.
   * @default {postgresTestUrl()}
   */
  url?: string;
}

/** A run's row, as the harness reads it. */
export interface ClusterRun {
  threadId: string;
  status: string;
  leaseOwner: string | null;
  leaseToken: number;
}

/** A journaled effect. */
export interface ClusterEffect {
  threadId: string;
  step: number;
  node: string;
  name: string;
  /** The effect record (JSON). */
  record: { result?: { ok: boolean; value?: unknown } } & Record<string, unknown>;
}

/** One execution of a recording effect, from the effect log. */
export interface EffectExecution {
  threadId: string;
  step: number;
  node: string;
  pid: number;
}

/** Server processes on one schema, and ways to look at them and at the database. */
export class Cluster {
  /** The database. */
  readonly url: string;
  /** The schema every process uses. */
  readonly schema: string;
  /** A client of the database (search path: the schema). */
  readonly sql: postgres.Sql;
  /** The file the graphs' effects append to. */
  readonly effectLog: string;
  /** Every process started, in order. */
  readonly processes: ClusterProcess[] = [];
  #env: Record<string, string>;
  #graphs: string;
  #gone = new Set<ClusterProcess>();

  /** @internal Use {@linkcode withCluster}. */
  constructor(
    url: string,
    schema: string,
    effectLog: string,
    env: Record<string, string>,
    graphs: string = CLUSTER_GRAPHS,
  ) {
    this.#graphs = graphs;
    this.url = url;
    this.schema = schema;
    this.effectLog = effectLog;
    this.#env = env;
    this.sql = postgresClient({ url, max: 2 });
  }

  /**
   * Starts one more server process on the schema; resolves once it listens.
   *
   * @param env Settings for this process only.
   * @returns The process.
   */
  async start(env: Record<string, string> = {}): Promise<ClusterProcess> {
    const name = `p${this.processes.length + 1}`;
    const server = await startServer({
      ORIS_RUNTIME_BACKEND: "postgres",
      ORIS_POSTGRES_DSN: this.url,
      ORIS_POSTGRES_SCHEMA: this.schema,
      ORIS_GRAPHS: this.#graphs,
      ORIS_OWNER_ID: name,
      CLUSTER_EFFECT_LOG: this.effectLog,
      ...this.#env,
      ...env,
    }, { args: [] });
    const process = { name, server, base: server.base, pid: server.pid };
    this.processes.push(process);
    server.exited.then(() => this.#gone.add(process));
    return process;
  }

  /**
   * Calls the API of a process.
   *
   * @param process The process.
   * @param method The method.
   * @param path The path (`/v1/...`).
   * @param body The JSON body.
   * @returns The status and the parsed body.
   */
  async api(
    process: ClusterProcess,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Body }> {
    const response = await fetch(`${process.base}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() };
  }

  /**
   * Submits a run through a process without waiting for it (`?wait=false`).
   *
   * @param process The process.
   * @param body The run request (`thread_id`, `graph`, `input` ...).
   * @returns The answer's data.
   * @throws {Error} unless the answer is a 200.
   */
  async submit(process: ClusterProcess, body: Record<string, unknown>): Promise<Body> {
    const answer = await this.api(process, "POST", "/v1/jobs/run?wait=false", body);
    assert.equal(answer.status, 200, `submit to ${process.name}: ${JSON.stringify(answer.body)}`);
    return answer.body.data;
  }

  /**
   * Waits for a JSON line a process prints that `predicate` accepts.
   *
   * @param process The process.
   * @param predicate Which line (parsed; lines that are not JSON objects are skipped).
   * @param options `from`: only lines from this index of its lines; `timeoutMs`: a guard.
   * @returns The parsed line.
   */
  async waitForLine(
    process: ClusterProcess,
    predicate: (line: Record<string, unknown>) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<Record<string, unknown>> {
    const line = await process.server.waitForLine(
      (text) => {
        const parsed = parseLine(text);
        return parsed !== null && predicate(parsed);
      },
      { timeoutMs: GUARD_MS, ...options },
    );
    return parseLine(line)!;
  }

  /**
   * Sends a signal to a process itself (its own pid, never a group).
   *
   * @param process The process.
   * @param signal `SIGKILL`, `SIGSTOP` (freeze) or `SIGCONT` (thaw).
   */
  signal(process: ClusterProcess, signal: "SIGKILL" | "SIGSTOP" | "SIGCONT" | "SIGTERM"): void {
    if (!(process.pid > 1) || process.pid === Deno.pid) {
      throw new Error(`Refusing to signal pid ${process.pid}`);
    }
    Deno.kill(process.pid, signal);
  }

  /**
   * Kills a process with SIGKILL and waits for it to be gone.
   *
   * @param process The process.
   * @returns Its exit status.
   */
  async kill(process: ClusterProcess): Promise<Deno.CommandStatus> {
    this.signal(process, "SIGKILL");
    const status = await process.server.exited;
    await process.server.stderr;
    return status;
  }

  /**
   * The runs' rows.
   *
   * @returns Every run of the schema, by thread id.
   */
  async runs(): Promise<Map<string, ClusterRun>> {
    const rows = await this.sql<
      { thread_id: string; status: string; lease_owner: string | null; lease_token: string }[]
    >`SELECT thread_id, status, lease_owner, lease_token::text
        FROM ${this.sql(this.schema)}.runtime_runs`;
    return new Map(rows.map((row) => [row.thread_id, {
      threadId: row.thread_id,
      status: row.status,
      leaseOwner: row.lease_owner,
      leaseToken: Number(row.lease_token),
    }]));
  }

  /**
   * How many runs are in each status.
   *
   * @returns Counts by status.
   */
  async statusCounts(): Promise<Record<string, number>> {
    const rows = await this.sql<{ status: string; count: number }[]>`
      SELECT status, count(*)::int4 AS count FROM ${this.sql(this.schema)}.runtime_runs
       GROUP BY status`;
    return Object.fromEntries(rows.map((row) => [row.status, row.count]));
  }

  /**
   * The journaled effects, in order of run, step, node and index.
   *
   * @returns The effects.
   */
  async effects(): Promise<ClusterEffect[]> {
    const rows = await this.sql<
      { thread_id: string; step: string; node: string; name: string; record: string }[]
    >`SELECT e.thread_id, e.step::text AS step, e.node, e.name, e.record
        FROM ${this.sql(this.schema)}.runtime_effects AS e
       ORDER BY e.thread_id, e.step, e.node, e.idx`;
    return rows.map((row) => ({
      threadId: row.thread_id,
      step: Number(row.step),
      node: row.node,
      name: row.name,
      record: JSON.parse(row.record),
    }));
  }

  /**
   * How many events each run's log holds, and of one type when given.
   *
   * @param type Only events of this type (e.g. `step.committed`).
   * @returns Counts by thread id.
   */
  async eventCounts(type?: string): Promise<Map<string, number>> {
    const events = this.sql`${this.sql(this.schema)}.runtime_events`;
    const rows = type === undefined
      ? await this.sql<{ thread_id: string; count: number }[]>`
          SELECT thread_id, count(*)::int4 AS count FROM ${events} GROUP BY thread_id`
      : await this.sql<{ thread_id: string; count: number }[]>`
          SELECT thread_id, count(*)::int4 AS count FROM ${events} WHERE type = ${type}
           GROUP BY thread_id`;
    return new Map(rows.map((row) => [row.thread_id, row.count]));
  }

  /**
   * Every execution of a recording effect so far, from the effect log.
   *
   * @returns The executions, in the order they were written.
   */
  async executions(): Promise<EffectExecution[]> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.effectLog);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    return text.split("\n").filter((line) => line !== "").map((line) => {
      const [threadId, step, node, pid] = line.split(" ");
      return { threadId: threadId!, step: Number(step), node: node!, pid: Number(pid) };
    });
  }

  /**
   * The pids that executed a recording effect, by `<thread id> <step>`.
   *
   * @returns The pids per run and step, in the order they ran.
   */
  async executionsByStep(): Promise<Map<string, number[]>> {
    const byStep = new Map<string, number[]>();
    for (const execution of await this.executions()) {
      const key = `${execution.threadId} ${execution.step}`;
      byStep.set(key, [...(byStep.get(key) ?? []), execution.pid]);
    }
    return byStep;
  }

  /**
   * Waits until `check` returns something other than `undefined`, `null` or
   * `false` (checked again each time the database may have moved on: every
   * 25 ms), and returns it.
   *
   * @typeParam T What `check` finds.
   * @param description What is awaited, for the failure message.
   * @param check Reads the state.
   * @param timeoutMs A guard.
   * @returns What `check` found.
   */
  async waitFor<T>(
    description: string,
    check: () => Promise<T | undefined | null | false>,
    timeoutMs: number = GUARD_MS,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = undefined;
    for (;;) {
      const found = await check();
      if (found !== undefined && found !== null && found !== false) return found;
      last = found;
      if (Date.now() > deadline) {
        throw new Error(`Gave up waiting for ${description} after ${timeoutMs} ms (${last})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /**
   * Waits until every given run is in one of `statuses`.
   *
   * @param threadIds The runs.
   * @param statuses The statuses (default: `completed`).
   * @param timeoutMs A guard.
   * @returns The runs' rows.
   */
  waitForRuns(
    threadIds: readonly string[],
    statuses: readonly string[] = ["completed"],
    timeoutMs: number = GUARD_MS,
  ): Promise<Map<string, ClusterRun>> {
    return this.waitFor(
      `${threadIds.length} runs to be ${statuses.join(" or ")}`,
      async () => {
        const runs = await this.runs();
        const ready = threadIds.every((id) => statuses.includes(runs.get(id)?.status ?? ""));
        return ready ? runs : null;
      },
      timeoutMs,
    );
  }

  /** Stops every process still alive (continued, then killed), closes the client. */
  async stopAll(): Promise<void> {
    for (const process of this.processes) {
      if (!this.#gone.has(process)) {
        try {
          this.signal(process, "SIGCONT");
          this.signal(process, "SIGKILL");
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        }
      }
      await process.server.exited;
      await process.server.stderr;
    }
  }
}

/**
 * Runs `fn` with a cluster of server processes on a fresh schema, then kills
 * every process, drops the schema and removes the effect log, whatever
 * happened.
 *
 * @typeParam T What `fn` returns.
 * @param options How many processes, their settings, the database.
 * @param fn The test.
 * @returns What `fn` returns.
 *
 * @example
 * ```ts ignore
 * import { withCluster } from "./_cluster.ts";
 *
 * await withCluster({ processes: 2 }, async (cluster) => {
 *   await cluster.submit(cluster.processes[0]!, { thread_id: "a", graph: "steps" });
 *   await cluster.waitForRuns(["a"]);
 * });
 * ```
 */
export async function withCluster<T>(
  options: ClusterOptions,
  fn: (cluster: Cluster) => Promise<T>,
): Promise<T> {
  const url = options.url ?? postgresTestUrl();
  const schema = freshSchemaName("oris_cluster");
  const dir = await Deno.makeTempDir({ prefix: "oris-cluster-" });
  const cluster = new Cluster(url, schema, `${dir}/effects.log`, options.env ?? {}, options.graphs);
  try {
    await migrate({ url, schema });
    for (let i = 0; i < (options.processes ?? 2); i++) await cluster.start();
    return await fn(cluster);
  } finally {
    try {
      await cluster.stopAll();
    } finally {
      await cluster.sql.end({ timeout: 5 });
      await dropSchema(schema, url);
      await Deno.remove(dir, { recursive: true });
    }
  }
}

function parseLine(text: string): Record<string, unknown> | null {
  if (!text.startsWith("{")) return null;
  try {
    const parsed = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : null;
  } catch {
    return null;
  }
}
