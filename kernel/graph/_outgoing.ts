/**
 * A graph's outgoing edges by source node, made once per graph (its edges
 * do not change once it is built), for planning each step without scanning
 * every edge.
 *
 * @module
 */

import type { TaskTarget } from "../events.ts";

/** What of a graph its outgoing edges come from (a `GraphSpec`). */
export interface Edges<B extends { source: string }> {
  /** Static edges `[from, to]`. */
  edges: readonly (readonly [string, string])[];
  /** Conditional edges. */
  branches: readonly B[];
}

/** The static targets and the conditional edges of one node. */
export interface Outgoing<B> {
  /** The targets of its static edges. */
  edges: readonly TaskTarget[];
  /** Its conditional edges. */
  branches: readonly B[];
}

const NO_OUTGOING: Outgoing<never> = { edges: [], branches: [] };

interface Entry {
  branches: readonly unknown[];
  edgeCount: number;
  branchCount: number;
  bySource: Map<string, Outgoing<unknown>>;
}

/** Each graph's outgoing edges by source, keyed by its edge list. */
const OUTGOING = new WeakMap<readonly unknown[], Entry>();

/**
 * The static targets and the conditional edges of `source` in `graph`.
 *
 * @param graph The graph.
 * @param source A node (or `START`).
 * @returns Its outgoing edges (none when it has none).
 */
export function outgoing<B extends { source: string }>(
  graph: Edges<B>,
  source: string,
): Outgoing<B> {
  let entry = OUTGOING.get(graph.edges);
  if (
    entry === undefined || entry.branches !== graph.branches ||
    entry.edgeCount !== graph.edges.length || entry.branchCount !== graph.branches.length
  ) {
    const bySource = new Map<string, { edges: TaskTarget[]; branches: B[] }>();
    const of = (from: string) => {
      let out = bySource.get(from);
      if (out === undefined) bySource.set(from, out = { edges: [], branches: [] });
      return out;
    };
    for (const [from, to] of graph.edges) of(from).edges.push({ node: to });
    for (const branch of graph.branches) of(branch.source).branches.push(branch);
    entry = {
      branches: graph.branches,
      edgeCount: graph.edges.length,
      branchCount: graph.branches.length,
      bySource: bySource as Map<string, Outgoing<unknown>>,
    };
    OUTGOING.set(graph.edges, entry);
  }
  return (entry.bySource.get(source) ?? NO_OUTGOING) as Outgoing<B>;
}
