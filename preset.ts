/**
 * The runtime with its defaults: the one place where the core (`actors/`,
 * which is given a store and never picks one) meets a store of its own
 * choosing, as Hono's presets plug a router into its core. Without a store,
 * `createRuntime()` and `new StateGraph(...).compile()` keep runs in a new
 * {@linkcode MemoryStore}, closed with the runtime; pass `store` (Deno KV,
 * PostgreSQL) for durable runs.
 *
 * @module
 */

import {
  type CompiledGraph,
  type CompileOptions,
  createRuntime as createRuntimeOver,
  type Runtime,
  type RuntimeSettings,
  StateGraphBase,
} from "./actors/mod.ts";
import type { StateSpec, Store } from "./kernel/mod.ts";
import { MemoryStore } from "./storage/memory/mod.ts";

/** Options of {@linkcode createRuntime}: the runtime's settings, and its store. */
export interface RuntimeOptions extends RuntimeSettings {
  /**
   * Where runs are stored.
   * @default {a new MemoryStore, closed with the runtime}
   */
  store?: Store;
}

/**
 * Creates a runtime: the actor system that runs, passivates and recovers
 * runs of its registered graphs.
 *
 * @param options The store (default: a new in-memory one), graphs, limits and logger.
 * @returns The runtime.
 *
 * @example Run a registered graph
 * ```ts
 * import { createRuntime, defineState, END, START, StateGraph } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({ n: { default: () => 0 } });
 * await using runtime = createRuntime();
 * new StateGraph(State)
 *   .addNode("inc", (state) => ({ n: state.n + 1 }))
 *   .addEdge(START, "inc")
 *   .addEdge("inc", END)
 *   .compile({ name: "inc", runtime });
 * const result = await runtime.invoke("inc", { n: 41 }, { threadId: "t-1" });
 * assert.deepEqual(result.state, { n: 42 });
 * ```
 */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  const { store, ...rest } = options;
  return store === undefined
    ? createRuntimeOver({ ...rest, store: new MemoryStore(), closeStore: true })
    : createRuntimeOver({ ...rest, store });
}

/**
 * Builds a graph of nodes over a state schema; `compile()` without a runtime
 * or a store runs it over a new in-memory store.
 *
 * @typeParam S The state's channels.
 *
 * @example A graph with a conditional edge
 * ```ts
 * import { defineState, END, START, StateGraph } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({
 *   count: { default: () => 0, reducer: (a: number, b: number) => a + b },
 *   log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
 *   last: { default: () => "" },
 * });
 * const app = new StateGraph(State)
 *   .addNode("a", () => ({ count: 1, log: ["a"] }))
 *   .addNode("b", () => ({ last: "b" }))
 *   .addEdge(START, "a")
 *   .addConditionalEdges("a", (state) => state.count > 1 ? END : "b")
 *   .addEdge("b", END)
 *   .compile();
 * const result = await app.invoke({ count: 0 }, { threadId: "t-1" });
 * assert.equal(result.status, "completed");
 * assert.deepEqual(result.state, { count: 1, log: ["a"], last: "b" });
 * await app.close();
 * ```
 */
export class StateGraph<S extends StateSpec> extends StateGraphBase<S> {
  /**
   * Checks the graph and binds it to a runtime: the one given, or a private
   * one over `store` (default: a new in-memory store, closed with the graph).
   *
   * @param options Name, runtime or store, durability, step limit, logger.
   * @returns The runnable graph.
   * @throws {InvalidArgumentError} listing every problem of the graph.
   */
  override compile(options: CompileOptions = {}): CompiledGraph<S> {
    if (options.runtime !== undefined || options.store !== undefined) {
      return super.compile(options);
    }
    return super.compile({ ...options, store: new MemoryStore(), closeStore: true });
  }
}
