/**
 * The worker plane's metrics, with the original Oris's names (the runs
 * queued in the store are `oris_queued_runs`, see `metrics.ts`): lease
 * operations and conflicts, backpressure by reason, terminal acks by
 * status, and the latency of a dispatch (from the time the run or attempt
 * was queued) and of a recovery (from the expiry of the lease a worker lost
 * to the redispatch).
 *
 * @module
 */

import client from "prom-client";
import type { WorkerPlaneObserver } from "../actors/mod.ts";

const LATENCY_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000];

/**
 * Registers the worker plane's metrics.
 *
 * @param registry The server's registry.
 * @returns The observer the plane reports to.
 */
export function workerMetrics(registry: client.Registry): WorkerPlaneObserver {
  const operations = new client.Counter({
    name: "oris_runtime_lease_operations_total",
    help: "Worker lease operations, by operation (dispatch, renew, release, expire)",
    labelNames: ["operation"],
    registers: [registry],
  });
  const conflicts = new client.Counter({
    name: "oris_runtime_lease_conflicts_total",
    help: "Worker calls naming a lease the worker does not hold",
    registers: [registry],
  });
  const backpressure = new client.Counter({
    name: "oris_runtime_backpressure_total",
    help: "Polls answered with backpressure, by reason (worker_limit, tenant_limit)",
    labelNames: ["reason"],
    registers: [registry],
  });
  const acks = new client.Counter({
    name: "oris_runtime_terminal_acks_total",
    help: "Worker acks, by status (completed, failed, cancelled, retry_scheduled)",
    labelNames: ["status"],
    registers: [registry],
  });
  const dispatch = new client.Histogram({
    name: "oris_runtime_dispatch_latency_ms",
    help: "Time from a run (or attempt) queued to its dispatch to a worker, in ms",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const recovery = new client.Histogram({
    name: "oris_runtime_recovery_latency_ms",
    help: "Time from a lost lease's expiry to the run's redispatch, in ms",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    leaseOperation: (operation) => operations.inc({ operation }),
    leaseConflict: () => conflicts.inc(),
    backpressure: (reason) => backpressure.inc({ reason }),
    terminalAck: (status) => acks.inc({ status }),
    dispatched(waitedMs, isRecovery) {
      (isRecovery ? recovery : dispatch).observe(Math.max(0, waitedMs));
    },
  };
}
