/**
 * Oris: a durable execution runtime for reasoning software. Build a graph of
 * steps with {@linkcode StateGraph}, run it on a runtime, and every step is
 * persisted: a run pauses for a person ({@linkcode interrupt}), survives
 * crashes, resumes where it stopped and replays deterministically.
 *
 * This entry point is what an application author uses: the graph API,
 * messages, interrupts, the runtime, run results and state, errors, logging
 * and the in-memory store. Durable stores are subpath exports
 * (`@oris/runtime/storage/kv`, `@oris/runtime/storage/postgres`), so
 * importing this module never loads a database driver; the server is
 * `@oris/runtime/server`; what a store author needs (the Store interfaces,
 * the codec, paging, the snapshot policy) is `@oris/runtime/kernel`, and the
 * conformance suites are `@oris/runtime/testing`.
 *
 * @example A payment that waits for approval and is charged once
 * ```ts
 * import { defineState, END, interrupt, START, StateGraph } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({
 *   request: { default: () => "" },
 *   log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
 * });
 * let charged = 0;
 * const app = new StateGraph(State)
 *   .addNode("charge", async (state, ctx) => {
 *     const receipt = await ctx.effect("charge_card", () => `receipt-${++charged}`);
 *     const approved = await interrupt<boolean>({ question: `Ship ${state.request}?`, receipt });
 *     return { log: [approved ? `shipped with ${receipt}` : "refunded"] };
 *   })
 *   .addEdge(START, "charge")
 *   .addEdge("charge", END)
 *   .compile();
 * const first = await app.invoke({ request: "order 42" }, { threadId: "order-42" });
 * assert.equal(first.status, "interrupted");
 * const done = await app.resume("order-42", true);
 * assert.deepEqual(done.state.log, ["shipped with receipt-1"]);
 * assert.equal(charged, 1);
 * assert.equal((await app.replay("order-42")).ok, true);
 * await app.close();
 * ```
 *
 * @module
 */

// The graph API.
export { createRuntime, type RuntimeOptions, StateGraph } from "./preset.ts";
export {
  CompiledGraph,
  type CompileOptions,
  type ForkOptions,
  type GraphDefinition,
  type InvokeOptions,
  type NodeFunction,
  type NodeResult,
  StateGraphBase,
} from "./actors/mod.ts";
export {
  Command,
  defineState,
  END,
  type NodeOptions,
  type RetryPolicy,
  type RouteResult,
  Send,
  type StandardSchema,
  START,
  type StateOf,
  type StateSchema,
  type StateSpec,
  type UpdateOf,
} from "./kernel/mod.ts";

// Messages.
export {
  aiMessage,
  humanMessage,
  type Message,
  messagesReducer,
  MessagesState,
  type MessagesStateSpec,
  type RemoveMessage,
  removeMessage,
  systemMessage,
  type ToolCall,
  toolMessage,
} from "./kernel/mod.ts";

// Inside a node: the context, effects and interrupts.
export { getContext, GraphInterrupt, interrupt, type NodeContext } from "./actors/mod.ts";

// The runtime, runs and their results.
export {
  type CheckpointSource,
  type Deadline,
  type Durability,
  type ExecutionMode,
  type OwnershipSettings,
  type PendingInterrupt,
  type RecoverFailure,
  type RecoverReport,
  type ReplayReport,
  type ResumeOptions,
  type RunOptions,
  type RunResult,
  type Runtime,
  type RuntimeSettings,
  type StateSnapshot,
  type TraceContext,
  type TraceEvent,
} from "./actors/mod.ts";
export {
  type ErrorInfo,
  isTerminal,
  type Json,
  type JsonObject,
  type RunSnapshot,
  type RunStatus,
  type ThreadId,
} from "./kernel/mod.ts";

// Streaming.
export {
  type DebugChunk,
  type MessagesChunk,
  STREAM_MODES,
  type StreamChunk,
  type StreamChunks,
  type StreamMode,
  type StreamOptions,
  type UpdatesChunk,
} from "./actors/mod.ts";

// Errors.
export {
  ConflictError,
  type ErrorCode,
  IdempotencyConflictError,
  IllegalTransitionError,
  InvalidArgumentError,
  LeaseLostError,
  NondeterminismError,
  NotFoundError,
  OrisError,
  StorageError,
  TerminalError,
  VersionConflictError,
} from "./kernel/mod.ts";

// Logging.
export { createJsonLogger, type JsonLoggerOptions } from "./actors/mod.ts";
export { type LogFields, type Logger, type LogLevel } from "./kernel/mod.ts";

// Stores: the in-memory one, and the interface the durable ones implement.
export { MemoryStore, type MemoryStoreOptions } from "./storage/memory/mod.ts";
export { type Store } from "./kernel/mod.ts";

// Remote workers: execute a server's runs in this process.
export {
  createWorker,
  type Worker,
  type WorkerCredentials,
  type WorkerOptions,
} from "./worker/mod.ts";
