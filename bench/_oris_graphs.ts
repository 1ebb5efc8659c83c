/**
 * The graph benchmark's graphs in Oris: the 10-node linear graph (and chunks
 * of its runs) and the `human -> ai` conversation.
 *
 * @module
 */

import {
  aiMessage,
  type CompiledGraph,
  defineState,
  END,
  humanMessage,
  MessagesState,
  type Runtime,
  START,
  StateGraph,
  type Store,
} from "../mod.ts";
import { repeat } from "./_alternating_blocks.ts";
import { aiText, humanText, nextThread, NODES } from "./_graph_workload.ts";

/** The linear graph's state: a counter and a list of node names. */
const Counter = defineState({
  count: { default: () => 0, reducer: (a: number, b: number) => a + b },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** The 10-node linear graph in Oris. */
export function orisLinear(
  options: { store?: Store; runtime?: Runtime } = {},
): CompiledGraph<typeof Counter.spec> {
  const graph = new StateGraph(Counter);
  for (let i = 0; i < NODES; i++) {
    graph.addNode(`n${i}`, () => ({ count: 1, log: [`n${i}`] }));
  }
  graph.addEdge(START, "n0");
  for (let i = 1; i < NODES; i++) graph.addEdge(`n${i - 1}`, `n${i}`);
  graph.addEdge(`n${NODES - 1}`, END);
  return graph.compile({ name: "linear", ...options });
}

/** The conversation in Oris: `human -> ai -> human ...` until `turns` turns are done. */
export function orisConversation(
  store: Store,
  turns: number,
): CompiledGraph<typeof MessagesState.spec> {
  return new StateGraph(MessagesState)
    .addNode("human", (state) => ({
      messages: [humanMessage(humanText(state.messages.length / 2 + 1))],
    }))
    .addNode("ai", (state) => ({
      messages: [aiMessage(aiText((state.messages.length + 1) / 2))],
    }))
    .addEdge(START, "human")
    .addEdge("human", "ai")
    .addConditionalEdges("ai", (state) => state.messages.length >= 2 * turns ? END : "human")
    .compile({ name: "conversation", store, stepLimit: 2 * turns + 10 });
}

/** Runs the linear graph `runs` times (`concurrency` at once), each on a new thread. */
export function orisRuns(
  app: CompiledGraph<typeof Counter.spec>,
  runs: number,
  concurrency = 1,
): Promise<void> {
  return repeat(runs, concurrency, async () => {
    const result = await app.invoke({}, { threadId: nextThread("oris") });
    if (result.state.count !== NODES) throw new Error(`Oris run ended with ${result.status}`);
  });
}
