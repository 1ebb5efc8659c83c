/**
 * Graph changes under runs in flight: the structural fingerprint a run
 * records at creation, and the warning logged when a run is taken up again
 * (resumed, recovered) under a graph of another shape. A task whose node the
 * graph no longer has fails the run with code `graph_changed` (`executor.ts`).
 *
 * @module
 */

import {
  graphFingerprint,
  type GraphSpec,
  isTerminal,
  type Logger,
  type RunSnapshot,
} from "../kernel/mod.ts";

const FINGERPRINTS = new WeakMap<GraphSpec<never>, string>();

/**
 * A graph's fingerprint, computed once per spec.
 *
 * @param graph The graph.
 * @returns Its fingerprint (see `graphFingerprint`).
 */
export function fingerprintOf(graph: GraphSpec<never>): string {
  let fingerprint = FINGERPRINTS.get(graph);
  if (fingerprint === undefined) {
    fingerprint = graphFingerprint(graph as GraphSpec);
    FINGERPRINTS.set(graph, fingerprint);
  }
  return fingerprint;
}

/**
 * Logs a warning when a run that is not finished is taken up under a graph
 * whose fingerprint differs from the one it recorded.
 *
 * @param run The run.
 * @param graph The graph that will run it.
 * @param logger Where the warning goes.
 */
export function warnIfGraphChanged(
  run: RunSnapshot,
  graph: GraphSpec<never>,
  logger: Logger,
): void {
  if (run.graphFingerprint === undefined || isTerminal(run.status)) return;
  const fingerprint = fingerprintOf(graph);
  if (run.graphFingerprint === fingerprint) return;
  logger.warn("The run's graph changed since the run was created", {
    thread_id: run.threadId,
    graph: run.graph,
    recorded_fingerprint: run.graphFingerprint,
    fingerprint,
  });
}
