/**
 * The three-step graph the ownership tests run on several runtimes at once:
 * `"g"`, `START -> a -> b -> c -> END`, each node appending its name to
 * `log` unless the test gives it a node of its own.
 *
 * @module
 */

import { defineState, END, START } from "../kernel/mod.ts";
import type { NodeContext } from "../actors/context.ts";
import type { Runtime } from "../actors/runtime_api.ts";
import { StateGraph } from "../preset.ts";

/** The state: a log each node appends to. */
export const ChainState = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** A node of the chain, as a test writes it. */
export type ChainNode = (state: unknown, ctx: NodeContext) => unknown;

/**
 * Compiles graph `"g"` on a runtime.
 *
 * @param runtime The runtime.
 * @param nodes The nodes that do more than log their name.
 */
export function chain(
  runtime: Runtime,
  nodes: Partial<Record<"a" | "b" | "c", ChainNode>> = {},
): void {
  const graph = new StateGraph(ChainState);
  for (const name of ["a", "b", "c"] as const) {
    graph.addNode(name, (nodes[name] ?? (() => ({ log: [name] }))) as never);
  }
  graph.addEdge(START, "a").addEdge("a", "b").addEdge("b", "c").addEdge("c", END)
    .compile({ runtime, name: "g" });
}
