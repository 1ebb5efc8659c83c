/**
 * Run actors and the graph API: `StateGraph` to build a graph, `compile()`
 * to bind it to a runtime, and `createRuntime()` for the actor system that
 * runs, passivates and recovers runs.
 *
 * @example Hello world (no API key)
 * ```ts
 * import { aiMessage, END, humanMessage, MessagesState, START } from "../kernel/mod.ts";
 * import { StateGraph } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const app = new StateGraph(MessagesState)
 *   .addNode("mock_llm", () => ({ messages: [aiMessage("hello world")] }))
 *   .addEdge(START, "mock_llm")
 *   .addEdge("mock_llm", END)
 *   .compile();
 * const result = await app.invoke({ messages: [humanMessage("hi!")] }, { threadId: "hello-1" });
 * assert.deepEqual(result.state.messages.map((m) => m.content), ["hi!", "hello world"]);
 * await app.close();
 * ```
 *
 * @module
 */

export { getContext, GraphInterrupt, interrupt, type NodeContext } from "./context.ts";
export { createJsonLogger, type JsonLoggerOptions } from "./logger.ts";
export { Mailbox } from "./mailbox.ts";
export { Semaphore } from "./semaphore.ts";
export { type ActorEvent, type ActorMessage, type Durability } from "./run_actor.ts";
export { type ExecutionEvent } from "./executor.ts";
export {
  createRuntime,
  type GraphDefinition,
  type PendingInterrupt,
  type RunOptions,
  type RunResult,
  type Runtime,
  type RuntimeOptions,
  type TraceContext,
  type TraceEvent,
} from "./runtime.ts";
export {
  type CompileOptions,
  type NodeFunction,
  type NodeResult,
  StateGraph,
} from "./state_graph.ts";
export {
  CompiledGraph,
  type ForkOptions,
  type InvokeOptions,
  type StateSnapshot,
} from "./compiled_graph.ts";
export { type ReplayReport } from "./replay.ts";
export { STREAM_MODES, type StreamChunk, type StreamMode, type StreamOptions } from "./stream.ts";
