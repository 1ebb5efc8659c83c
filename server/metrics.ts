/**
 * Prometheus metrics through prom-client: HTTP requests, steps and their
 * latency, run status changes, steps waiting for a place to execute, active
 * runs, the runs queued in the store (every process's: how many, and how
 * long the oldest has waited; read from the store at scrape time), and the
 * audit entries waiting for the store or dropped.
 *
 * @module
 */

import client from "prom-client";
import { type ActorEvent, internalsOf, type Runtime } from "../actors/mod.ts";
import type { Logger, QueueStats } from "../kernel/mod.ts";

/** The server's metrics. */
export interface ServerMetrics {
  /** The registry (one per server, so tests do not share counters). */
  readonly registry: client.Registry;
  /** Records one HTTP request. */
  observeRequest(method: string, route: string, status: number, ms: number): void;
  /** Counts one audit entry that was dropped, by why (`queue_full`, `rejected`, `closed`). */
  observeAuditDropped(reason: string): void;
  /** Stops observing the runtime. */
  close(): void;
}

/** How long a scrape waits for the store's queue statistics before reporting them unknown. */
const QUEUE_STATS_BOUND_MS = 2_000;

const LATENCY_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/** The events that move a run into a status. */
const STATUS_EVENTS: ReadonlySet<string> = new Set([
  "run.started",
  "run.resumed",
  "run.paused",
  "interrupt.raised",
  "run.completed",
  "run.failed",
  "run.cancelled",
]);

/** Options of {@linkcode createMetrics}. */
export interface MetricsOptions {
  /**
   * The clock, in ms.
   * @default {performance.now}
   */
  now?: () => number;
  /**
   * How many audit entries wait for the store.
   * @default {always 0}
   */
  auditQueueDepth?: () => number;
  /**
   * The store's queue of runs waiting to start, read at each scrape (no
   * queue series without it).
   */
  queueStats?: () => Promise<QueueStats>;
  /**
   * The wall clock the queue's creation times are on, in ms.
   * @default {Date.now}
   */
  clock?: () => number;
  /** Where a failure to read the queue statistics is logged (the scrape still answers). */
  logger?: Logger;
}

/**
 * Creates the metrics of a server over a runtime.
 *
 * @param runtime The runtime whose runs are observed.
 * @param options The clock, and the audit queue's depth.
 * @returns The metrics.
 */
export function createMetrics(runtime: Runtime, options: MetricsOptions = {}): ServerMetrics {
  const { now = () => performance.now(), auditQueueDepth = () => 0 } = options;
  const registry = new client.Registry();
  if (options.queueStats !== undefined) {
    queueGauges(registry, options.queueStats, options.clock ?? (() => Date.now()), options.logger);
  }
  const requests = new client.Counter({
    name: "oris_http_requests_total",
    help: "HTTP requests by method, route and status",
    labelNames: ["method", "route", "status"],
    registers: [registry],
  });
  const requestLatency = new client.Histogram({
    name: "oris_http_request_duration_ms",
    help: "HTTP request latency in ms",
    labelNames: ["route"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const steps = new client.Counter({
    name: "oris_steps_total",
    help: "Supersteps executed, by outcome (committed, interrupted, failed)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const stepLatency = new client.Histogram({
    name: "oris_step_duration_ms",
    help: "Superstep latency from start to commit, in ms",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const runs = new client.Counter({
    name: "oris_run_status_changes_total",
    help: "Runs entering each status in this process",
    labelNames: ["status"],
    registers: [registry],
  });
  new client.Gauge({
    name: "oris_runtime_queue_depth",
    help: "Runs waiting for a place to execute a step",
    registers: [registry],
    collect() {
      this.set(runtime.queueDepth());
    },
  });
  new client.Gauge({
    name: "oris_active_runs",
    help: "Runs with an actor in memory",
    registers: [registry],
    collect() {
      this.set(runtime.activeRuns());
    },
  });
  const auditDropped = new client.Counter({
    name: "oris_audit_dropped_total",
    help: "Audit entries dropped, by reason (queue_full, rejected, closed)",
    labelNames: ["reason"],
    registers: [registry],
  });
  new client.Gauge({
    name: "oris_audit_queue_depth",
    help: "Audit entries waiting for the store to be available",
    registers: [registry],
    collect() {
      this.set(auditQueueDepth());
    },
  });
  const requestSeries = new Map<
    string,
    { count: { inc(): void }; latency: { observe(ms: number): void } }
  >();
  const started = new Map<string, number>();
  const stop = internalsOf(runtime).observe((threadId: string, event: ActorEvent) => {
    if (event.kind === "step_start") {
      started.set(threadId, now());
      return;
    }
    if (event.kind !== "committed") return;
    let transition = false;
    for (const item of event.events) {
      const outcome = item.type === "step.committed"
        ? "committed"
        : item.type === "interrupt.raised"
        ? "interrupted"
        : item.type === "run.failed" && started.has(threadId)
        ? "failed"
        : null;
      if (outcome !== null) {
        steps.inc({ outcome });
        const begun = started.get(threadId);
        if (begun !== undefined) stepLatency.observe(now() - begun);
        started.delete(threadId);
      }
      transition ||= STATUS_EVENTS.has(item.type);
    }
    // Only a batch that changes the run's status counts (not every step committed while running).
    if (transition) runs.inc({ status: event.run.status });
  });
  return {
    registry,
    observeRequest(method, route, status, ms) {
      // The labelled series of each route and status, made once (prom-client checks labels each call).
      const key = `${method} ${route} ${status}`;
      let series = requestSeries.get(key);
      if (series === undefined) {
        series = {
          count: requests.labels(method, route, String(status)),
          latency: requestLatency.labels(route),
        };
        requestSeries.set(key, series);
      }
      series.count.inc();
      series.latency.observe(ms);
    },
    observeAuditDropped(reason) {
      auditDropped.inc({ reason });
    },
    close: stop,
  };
}

/**
 * The gauges of the store's queue: how many runs are queued, and how long
 * the oldest has waited (0 when none is). One read of the store serves both
 * gauges of a scrape; when it fails or takes longer than a bound, both are
 * NaN for that scrape and the failure is logged.
 */
function queueGauges(
  registry: client.Registry,
  queueStats: () => Promise<QueueStats>,
  clock: () => number,
  logger: Logger | undefined,
): void {
  let reading: Promise<QueueStats | null> | null = null;
  const read = (): Promise<QueueStats | null> => {
    reading ??= bounded(queueStats(), QUEUE_STATS_BOUND_MS).catch((error) => {
      logger?.warn("queue statistics unavailable for /metrics", { error });
      return null;
    }).finally(() => {
      reading = null;
    });
    return reading;
  };
  new client.Gauge({
    name: "oris_queued_runs",
    help: "Runs queued in the store, waiting for a runtime to start them (all processes')",
    registers: [registry],
    async collect() {
      const stats = await read();
      this.set(stats === null ? NaN : stats.depth);
    },
  });
  new client.Gauge({
    name: "oris_queued_run_oldest_age_ms",
    help: "How long the oldest queued run has waited since it was created, in ms (0: none)",
    registers: [registry],
    async collect() {
      const stats = await read();
      this.set(
        stats === null
          ? NaN
          : stats.oldestCreatedAt === null
          ? 0
          : Math.max(0, clock() - stats.oldestCreatedAt),
      );
    },
  });
}

/** Resolves as `promise` does, or rejects when `ms` pass first. */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
