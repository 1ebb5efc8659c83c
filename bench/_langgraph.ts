/**
 * The graph benchmark's contender, LangGraph.js (bench-only npm imports,
 * pinned, loaded only by the sections that use them): the same linear graph
 * and conversation as Oris's, chunks of runs, and a `PostgresSaver` that
 * reports each checkpoint it commits.
 *
 * @module
 */

import { repeat } from "./_alternating_blocks.ts";
import { aiText, humanText, nextThread, NODES } from "./_graph_workload.ts";

/** The LangGraph.js packages (pinned; loaded only by the sections that use them). */
const LANGGRAPH = "npm:@langchain/langgraph@1.7.3";
const LANGCHAIN_MESSAGES = "npm:@langchain/core@1.4.0/messages";
const LANGGRAPH_POSTGRES = "npm:@langchain/langgraph-checkpoint-postgres@1.0.5";

/** What the bench uses of a compiled LangGraph.js graph. */
export interface LgApp {
  invoke(input: unknown, config?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** What the bench uses of a LangGraph.js `StateGraph` (its generics track node names). */
interface LgBuilder {
  addNode(name: string, node: (state: never) => unknown): LgBuilder;
  addEdge(from: string, to: string): LgBuilder;
  addConditionalEdges(from: string, router: (state: never) => string): LgBuilder;
  compile(options?: { checkpointer?: unknown }): LgApp;
}

type LangGraph = typeof import("npm:@langchain/langgraph@1.7.3");
type LangChainMessages = typeof import("npm:@langchain/core@1.4.0/messages");

let langGraph: LangGraph | null = null;
/** The LangGraph.js module, imported once. */
export async function loadLangGraph(): Promise<LangGraph> {
  langGraph ??= await import(LANGGRAPH) as LangGraph;
  return langGraph;
}

/** The 10-node linear graph in LangGraph.js. */
export async function lgLinear(checkpointer?: unknown): Promise<LgApp> {
  const lg = await loadLangGraph();
  const State = lg.Annotation.Root({
    count: lg.Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
    log: lg.Annotation<string[]>({ reducer: (a, b) => [...a, ...b], default: () => [] }),
  });
  let graph = new lg.StateGraph(State) as unknown as LgBuilder;
  for (let i = 0; i < NODES; i++) {
    graph = graph.addNode(`n${i}`, () => ({ count: 1, log: [`n${i}`] }));
  }
  graph = graph.addEdge(lg.START, "n0");
  for (let i = 1; i < NODES; i++) graph = graph.addEdge(`n${i - 1}`, `n${i}`);
  graph = graph.addEdge(`n${NODES - 1}`, lg.END);
  return graph.compile(checkpointer === undefined ? {} : { checkpointer });
}

/** The conversation in LangGraph.js (`MessagesAnnotation`). */
export async function lgConversation(checkpointer: unknown, turns: number): Promise<LgApp> {
  const lg = await loadLangGraph();
  const messages = await import(LANGCHAIN_MESSAGES) as LangChainMessages;
  type State = { messages: unknown[] };
  return (new lg.StateGraph(lg.MessagesAnnotation) as unknown as LgBuilder)
    .addNode("human", (state: State) => ({
      messages: [new messages.HumanMessage(humanText(state.messages.length / 2 + 1))],
    }))
    .addNode("ai", (state: State) => ({
      messages: [new messages.AIMessage(aiText((state.messages.length + 1) / 2))],
    }))
    .addEdge(lg.START, "human")
    .addEdge("human", "ai")
    .addConditionalEdges(
      "ai",
      (state: State) => state.messages.length >= 2 * turns ? lg.END : "human",
    )
    .compile({ checkpointer });
}

/** The `invoke` options of a durable LangGraph.js run on `threadId` (`durability: "sync"`). */
export function lgConfig(
  threadId: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { configurable: { thread_id: threadId }, durability: "sync", ...extra };
}

/** Runs `app` `runs` times (`concurrency` at once), each on a new thread when `durable`. */
export function lgRuns(app: LgApp, runs: number, durable: boolean, concurrency = 1): Promise<void> {
  return repeat(runs, concurrency, async () => {
    const state = durable ? await app.invoke({}, lgConfig(nextThread("lg"))) : await app.invoke({});
    if (state.count !== NODES) throw new Error("LangGraph.js run did not finish");
  });
}

type LgPostgresModule = typeof import("npm:@langchain/langgraph-checkpoint-postgres@1.0.5");
type LgPostgresSaver = InstanceType<LgPostgresModule["PostgresSaver"]>;
type LgPutArgs = Parameters<LgPostgresSaver["put"]>;

/** A LangGraph.js `PostgresSaver` on `schema`; `onPut` runs after each checkpoint is committed. */
export async function postgresSaver(
  url: string,
  schema: string,
  onPut?: (...args: LgPutArgs) => Promise<void>,
): Promise<LgPostgresSaver> {
  const { PostgresSaver } = await import(LANGGRAPH_POSTGRES) as LgPostgresModule;
  class MeasuredSaver extends PostgresSaver {
    override async put(...args: LgPutArgs) {
      const next = await super.put(...args);
      await onPut?.(...args);
      return next;
    }
  }
  // The saver's pool (a `pg.Pool`), made by its own factory; the field is private in its types.
  type Pool = ConstructorParameters<typeof PostgresSaver>[0];
  const pool = (PostgresSaver.fromConnString(url, { schema }) as unknown as { pool: Pool }).pool;
  const saver = new MeasuredSaver(pool, undefined, { schema });
  await saver.setup();
  return saver;
}
