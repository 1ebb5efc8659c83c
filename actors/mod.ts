/**
 * Run actors and the graph API: `StateGraph` to build a graph, `compile()`
 * to bind it to a runtime, and `createRuntime()` for the actor system that
 * runs, passivates and recovers runs. This folder is given a store and never
 * picks one: the package root (`mod.ts`, through `preset.ts`) adds the
 * in-memory default.
 *
 * @example Hello world (no API key)
 * ```ts
 * import { aiMessage, END, humanMessage, MessagesState, START } from "../kernel/mod.ts";
 * import { MemoryStore } from "../mod.ts";
 * import { StateGraphBase } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const app = new StateGraphBase(MessagesState)
 *   .addNode("mock_llm", () => ({ messages: [aiMessage("hello world")] }))
 *   .addEdge(START, "mock_llm")
 *   .addEdge("mock_llm", END)
 *   .compile({ store: new MemoryStore(), closeStore: true });
 * const result = await app.invoke({ messages: [humanMessage("hi!")] }, { threadId: "hello-1" });
 * assert.deepEqual(result.state.messages.map((m) => m.content), ["hi!", "hello world"]);
 * await app.close();
 * ```
 *
 * @module
 */

export { getContext, GraphInterrupt, interrupt, type NodeContext } from "./context.ts";
export { createJsonLogger, type JsonLoggerOptions } from "./logger.ts";
export { type Durability } from "./committer.ts";
export { type ActorEvent } from "./run_actor.ts";
export { contextOfTraceparent } from "./tracing.ts";
export { type PendingInterrupt, type RunResult, type TraceEvent } from "./run_result.ts";
export { createRuntime, internalsOf } from "./runtime.ts";
export { threadCancelled } from "./run_creation.ts";
export {
  type CoreRuntimeOptions,
  type Deadline,
  type ForkOptions,
  type GraphDefinition,
  type RecoverFailure,
  type RecoverReport,
  type ResumeOptions,
  type RunOptions,
  type Runtime,
  type RuntimeInternals,
  type RuntimeSettings,
  type TraceContext,
} from "./runtime_api.ts";
export {
  type CompileOptions,
  type NodeFunction,
  type NodeResult,
  StateGraphBase,
} from "./state_graph.ts";
export { CompiledGraph, type InvokeOptions } from "./compiled_graph.ts";
export { type ReplayReport } from "./replay.ts";
export { rerun, type RerunOptions, rerunThreadId } from "./rerun.ts";
export {
  type DebugChunk,
  type MessagesChunk,
  STREAM_MODES,
  type StreamChunk,
  type StreamChunks,
  type StreamMode,
  type StreamOptions,
  type UpdatesChunk,
} from "./stream.ts";
export { type CheckpointSource, type StateSnapshot } from "./time_travel.ts";
export { type ExecutionMode, type OwnershipSettings } from "./runtime_settings.ts";
export {
  DEFAULT_LEASE_TTL_SECONDS,
  DEFAULT_MAX_ACTIVE_LEASES,
  WorkerPlane,
} from "./worker_plane.ts";
export { type WorkerPlaneObserver } from "./worker_runs.ts";
export { WorkerAccess } from "./worker_access.ts";
