/**
 * `StateGraph`: the builder users write graphs with. `compile()` checks the
 * graph and returns a {@linkcode CompiledGraph} bound to a runtime.
 *
 * @module
 */

import {
  type GraphSpec,
  InvalidArgumentError,
  type Logger,
  type NodeOptions,
  type NodeSpec,
  type RouteResult,
  type StateOf,
  type StateSchema,
  type StateSpec,
  type Store,
  type UpdateOf,
  validateGraph,
} from "../kernel/mod.ts";
import type { Command } from "../kernel/mod.ts";
import { CompiledGraph } from "./compiled_graph.ts";
import type { NodeContext } from "./context.ts";
import type { Durability } from "./committer.ts";
import { createRuntime } from "./runtime.ts";
import type { Runtime } from "./runtime_api.ts";
import { runSubgraph } from "./subgraph.ts";

/** What a node may return: an update, a `Command`, or nothing. */
export type NodeResult<S extends StateSpec> =
  | UpdateOf<S>
  | Command<UpdateOf<S>>
  | null
  | undefined
  | void;

/**
 * A node: a function of the state (or of a `Send`'s argument) and the context.
 *
 * @typeParam S The state's channels.
 */
export type NodeFunction<S extends StateSpec> = (
  // deno-lint-ignore no-explicit-any
  state: StateOf<S> & any,
  ctx: NodeContext,
) => NodeResult<S> | Promise<NodeResult<S>>;

/** Options of {@linkcode StateGraphBase.compile}. */
export interface CompileOptions {
  /**
   * The name runs of this graph are stored under.
   * @default {"graph"}
   */
  name?: string;
  /** The runtime to register with (default: a private one over `store`). */
  runtime?: Runtime;
  /** The store of the private runtime (required without `runtime`, except from the package's root, which defaults to a new `MemoryStore`). */
  store?: Store;
  /**
   * Whether closing the graph closes the store of its private runtime.
   * @default {false}
   */
  closeStore?: boolean;
  /** The private runtime's durability mode (default `sync`). */
  durability?: Durability;
  /** The private runtime's step limit (default 1000). */
  stepLimit?: number;
  /** The private runtime's logger (default: JSON lines on stderr). */
  logger?: Logger;
  /** The private runtime's JSON nesting limit (default 256). */
  maxJsonDepth?: number;
}

/**
 * Builds a graph of nodes over a state schema: the builder without defaults,
 * whose `compile()` needs a runtime or a store (use it where a forgotten
 * store must be an error). {@linkcode StateGraph} is the same builder with
 * an in-memory store by default.
 *
 * @typeParam S The state's channels.
 *
 * @example A graph with a conditional edge, over a given store
 * ```ts
 * import { defineState, END, MemoryStore, START, StateGraphBase } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({
 *   count: { default: () => 0, reducer: (a: number, b: number) => a + b },
 *   log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
 *   last: { default: () => "" },
 * });
 * const app = new StateGraphBase(State)
 *   .addNode("a", () => ({ count: 1, log: ["a"] }))
 *   .addNode("b", () => ({ last: "b" }))
 *   .addEdge(START, "a")
 *   .addConditionalEdges("a", (state) => state.count > 1 ? END : "b")
 *   .addEdge("b", END)
 *   .compile({ store: new MemoryStore(), closeStore: true });
 * const result = await app.invoke({ count: 0 }, { threadId: "t-1" });
 * assert.equal(result.status, "completed");
 * assert.deepEqual(result.state, { count: 1, log: ["a"], last: "b" });
 * await app.close();
 * assert.throws(() => new StateGraphBase(State).addNode("a", () => ({})).addEdge(START, "a").addEdge("a", END).compile(), /pass a runtime or a store/);
 * ```
 */
export class StateGraphBase<S extends StateSpec> {
  readonly #schema: StateSchema<S>;
  readonly #nodes = new Map<string, NodeSpec<NodeContext>>();
  readonly #edges: [string, string][] = [];
  readonly #branches: GraphSpec["branches"][number][] = [];
  readonly #duplicates: string[] = [];
  // deno-lint-ignore no-explicit-any
  readonly #subgraphs = new Map<string, CompiledGraph<any>>();

  /**
   * Starts a graph over a state.
   *
   * @param schema The state, from `defineState` or `MessagesState`.
   */
  constructor(schema: StateSchema<S>) {
    this.#schema = schema;
  }

  /**
   * Adds a node: a function, or a compiled graph (a subgraph, run as a child
   * run with its own checkpoints under this run's thread).
   *
   * @param name The node's name.
   * @param node The function or compiled subgraph.
   * @param options Retry policy, timeout, and the nodes a returned `Command` may go to.
   * @returns This graph.
   */
  addNode(
    name: string,
    // deno-lint-ignore no-explicit-any
    node: NodeFunction<S> | CompiledGraph<any>,
    options: NodeOptions = {},
  ): this {
    if (this.#nodes.has(name)) this.#duplicates.push(name);
    if (node instanceof CompiledGraph) {
      this.#subgraphs.set(name, node);
      // The runtime is known at compile(); until then the node is a placeholder.
      this.#nodes.set(name, { name, run: () => undefined, options });
      return this;
    }
    if (typeof node !== "function") {
      throw new InvalidArgumentError(
        `Cannot add node "${name}": it must be a function or a compiled graph`,
      );
    }
    this.#nodes.set(name, {
      name,
      run: node as (input: unknown, ctx: NodeContext) => unknown,
      options,
    });
    return this;
  }

  /**
   * Adds an edge: after `from` runs, `to` runs in the next superstep.
   *
   * @param from A node or `START`.
   * @param to A node or `END`.
   * @returns This graph.
   */
  addEdge(from: string, to: string): this {
    this.#edges.push([from, to]);
    return this;
  }

  /**
   * Adds a conditional edge: after `source` runs, `router` chooses the next
   * node(s) from the state (node names, `Send`s, `END`, or keys of `pathMap`).
   *
   * @param source A node or `START`.
   * @param router Chooses where to go.
   * @param pathMap Maps the router's results to nodes, or lists the possible nodes.
   * @returns This graph.
   */
  addConditionalEdges(
    source: string,
    router: (state: StateOf<S>) => RouteResult | Promise<RouteResult>,
    pathMap?: Record<string, string> | readonly string[],
  ): this {
    if (typeof router !== "function") {
      throw new InvalidArgumentError(
        `Cannot add a conditional edge from "${source}": the router must be a function`,
      );
    }
    this.#branches.push(
      pathMap === undefined
        ? { source, router: router as never }
        : { source, router: router as never, pathMap },
    );
    return this;
  }

  /**
   * Checks the graph and binds it to a runtime.
   *
   * @param options Name, runtime or store, durability, step limit.
   * @returns The runnable graph.
   * @throws {InvalidArgumentError} listing every problem: unknown nodes in
   * edges, reserved names, duplicate nodes, unreachable nodes, no path to `END`.
   */
  compile(options: CompileOptions = {}): CompiledGraph<S> {
    const nodes = new Map(this.#nodes);
    const spec: GraphSpec<NodeContext> = {
      schema: this.#schema as StateSchema,
      nodes,
      edges: this.#edges.map(([from, to]) => [from, to] as const),
      branches: [...this.#branches],
    };
    validateGraph(spec as GraphSpec, this.#duplicates);
    const name = options.name ?? "graph";
    const owned = options.runtime === undefined;
    const runtime = options.runtime ?? privateRuntime(options);
    const parentKeys = this.#schema.keys;
    for (const [node, child] of this.#subgraphs) {
      runtime.register(child.definition);
      nodes.set(node, {
        ...nodes.get(node)!,
        run: (input, ctx) => runSubgraph(runtime, child.definition, input, ctx, parentKeys),
      });
    }
    const compiled = new CompiledGraph<S>({ name, spec }, runtime, owned);
    runtime.register(compiled.definition);
    return compiled;
  }
}

/** The runtime of a graph compiled without one. */
function privateRuntime(options: CompileOptions): Runtime {
  if (options.store === undefined) {
    throw new InvalidArgumentError(
      "Cannot compile the graph: pass a runtime or a store (StateGraph, unlike StateGraphBase, defaults to a MemoryStore)",
      { field: "store" },
    );
  }
  return createRuntime({
    store: options.store,
    ...(options.closeStore === undefined ? {} : { closeStore: options.closeStore }),
    ...(options.durability === undefined ? {} : { durability: options.durability }),
    ...(options.stepLimit === undefined ? {} : { stepLimit: options.stepLimit }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.maxJsonDepth === undefined ? {} : { maxJsonDepth: options.maxJsonDepth }),
  });
}
