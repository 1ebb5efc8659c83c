/**
 * The graph model and its pure planner: what a compiled graph is (nodes,
 * edges, conditional branches, a state schema), the checks `compile()` makes,
 * and how one superstep's task writes become the next state and the next
 * superstep's tasks.
 *
 * Planning is deterministic: writes merge through the reducers in task order,
 * and next tasks are collected in task order, edges in the order they were
 * added. Routers are user functions of state; they may be async but must not
 * do I/O (replay checks that they are deterministic).
 *
 * @module
 */

import { InvalidArgumentError } from "../errors.ts";
import type { TaskSpec, TaskTarget, TaskWrite } from "../events.ts";
import { assertJson, type Json, type JsonCheckOptions, type JsonObject } from "../json.ts";
import { sha256Hex } from "../hash.ts";
import { Send } from "./command.ts";
import { outgoing } from "./_outgoing.ts";
import { END, START } from "./constants.ts";
import type { StateSchema } from "./state.ts";

/** What a router returns: node names, {@linkcode Send}s, or keys of its path map. */
export type RouteResult = string | Send | readonly (string | Send)[];

/** A conditional edge's router. */
export type Router<S = JsonObject> = (state: S) => RouteResult | Promise<RouteResult>;

/** How a node's failures are retried. */
export interface RetryPolicy {
  /**
   * Attempts in all, the first included.
   * @default {3}
   */
  maxAttempts: number;
  /**
   * Wait before the second attempt (ms).
   * @default {500}
   */
  initialIntervalMs: number;
  /**
   * Each wait is the previous one times this.
   * @default {2}
   */
  backoffFactor: number;
  /**
   * The longest wait (ms).
   * @default {128000}
   */
  maxIntervalMs: number;
  /**
   * Spread each wait randomly over [wait/2, wait].
   * @default {true}
   */
  jitter: boolean;
  /**
   * Which errors to retry.
   * @default {retryable errors: not an `OrisError` with code invalid_argument, conflict, nondeterminism or cancelled}
   */
  retryOn?: (error: unknown) => boolean;
}

/** Options of a node. */
export interface NodeOptions {
  /** Retry the node on failure (default: no retry). */
  retry?: Partial<RetryPolicy>;
  /** Fail (and abort `ctx.signal`) when one attempt runs longer than this (ms). */
  timeoutMs?: number;
  /** Nodes a `Command` returned by this node may go to (for `compile()`'s reachability checks). */
  ends?: readonly string[];
  /**
   * Checks an answer to one of this node's interrupts before a resume is
   * accepted. Throw (an `InvalidArgumentError`) to refuse it: the resume then
   * fails with that error and changes nothing, and the run stays interrupted.
   *
   * @param answer The answer given to the interrupt.
   * @param question The interrupt's value (what the node asked).
   */
  validateResume?: (answer: Json, question: Json) => void;
}

/**
 * A node as the planner sees it.
 *
 * @typeParam C The context the runtime passes to nodes.
 */
export interface NodeSpec<C = unknown> {
  /** Its name. */
  name: string;
  /** Runs it: input is the state, or a `Send`'s argument. */
  run(input: unknown, ctx: C): unknown;
  /** Its options. */
  options: NodeOptions;
}

/** A conditional edge. */
export interface BranchSpec {
  /** The node (or `START`) it leaves from. */
  source: string;
  /** Chooses where to go. */
  router: Router<never>;
  /** Maps the router's results to nodes; a list names the possible nodes. */
  pathMap?: Readonly<Record<string, string>> | readonly string[];
}

/**
 * A graph: nodes, static edges, branches and its state.
 *
 * @typeParam C The context the runtime passes to nodes.
 */
export interface GraphSpec<C = unknown> {
  /** The state schema. */
  schema: StateSchema;
  /** Nodes by name. */
  nodes: ReadonlyMap<string, NodeSpec<C>>;
  /** Static edges `[from, to]`, in the order they were added. */
  edges: readonly (readonly [string, string])[];
  /** Conditional edges, in the order they were added. */
  branches: readonly BranchSpec[];
}

const NODE_NAME = /^[^/#\s][^/#]*$/;

/**
 * Checks a graph before it runs, and reports every problem at once: unknown
 * nodes in edges, reserved or malformed names, nodes added twice, no entry
 * point, nodes unreachable from `START`, and no path to `END`.
 *
 * @param graph The graph.
 * @param duplicates Names that were added more than once.
 * @throws {InvalidArgumentError} listing the problems.
 *
 * @example
 * ```ts
 * import { defineState, validateGraph, START, END } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const schema = defineState({ n: { default: () => 0 } });
 * const nodes = new Map([["a", { name: "a", run: () => ({}), options: {} }]]);
 * assert.throws(
 *   () => validateGraph({ schema, nodes, edges: [[START, "a"], ["a", "b"]], branches: [] }),
 *   /edge "a" -> "b": unknown node "b"/,
 * );
 * validateGraph({ schema, nodes, edges: [[START, "a"], ["a", END]], branches: [] });
 * ```
 */
export function validateGraph(graph: GraphSpec, duplicates: readonly string[] = []): void {
  const problems: string[] = [];
  for (const name of duplicates) problems.push(`node "${name}" is added more than once`);
  for (const name of graph.nodes.keys()) {
    if (name === START || name === END) problems.push(`"${name}" is a reserved name`);
    else if (!NODE_NAME.test(name)) {
      problems.push(`node name ${JSON.stringify(name)} must be non-empty, without "/" or "#"`);
    }
  }
  const known = (name: string) => graph.nodes.has(name);
  for (const [from, to] of graph.edges) {
    if (from === END) problems.push(`edge "${from}" -> "${to}": nothing leaves END`);
    else if (from !== START && !known(from)) {
      problems.push(`edge "${from}" -> "${to}": unknown node "${from}"`);
    }
    if (to === START) problems.push(`edge "${from}" -> "${to}": nothing enters START`);
    else if (to !== END && !known(to)) {
      problems.push(`edge "${from}" -> "${to}": unknown node "${to}"`);
    }
  }
  for (const branch of graph.branches) {
    if (branch.source !== START && !known(branch.source)) {
      problems.push(`conditional edge from unknown node "${branch.source}"`);
    }
    for (const target of branchTargets(branch) ?? []) {
      if (target !== END && !known(target)) {
        problems.push(`conditional edge from "${branch.source}": unknown node "${target}"`);
      }
    }
  }
  for (const node of graph.nodes.values()) {
    for (const target of node.options.ends ?? []) {
      if (target !== END && !known(target)) {
        problems.push(`node "${node.name}" ends: unknown node "${target}"`);
      }
    }
  }
  if (problems.length === 0) {
    const successors = successorMap(graph);
    const reachable = walk(START, successors);
    if ((successors.get(START)?.size ?? 0) === 0) {
      problems.push("the graph has no entry point: add an edge from START");
    } else {
      for (const name of graph.nodes.keys()) {
        if (!reachable.has(name)) problems.push(`node "${name}" is unreachable from START`);
      }
      if (!reachable.has(END)) problems.push("no path leads from START to END");
    }
  }
  if (problems.length > 0) {
    throw new InvalidArgumentError(`Cannot compile the graph: ${problems.join("; ")}`, {
      details: { problems },
    });
  }
}

/** The nodes a branch may go to, or `undefined` when it may go anywhere. */
function branchTargets(branch: BranchSpec): string[] | undefined {
  if (branch.pathMap === undefined) return undefined;
  return Array.isArray(branch.pathMap)
    ? [...branch.pathMap as readonly string[]]
    : Object.values(branch.pathMap as Record<string, string>);
}

function successorMap(graph: GraphSpec): Map<string, Set<string>> {
  const all = [...graph.nodes.keys(), END];
  const successors = new Map<string, Set<string>>();
  const add = (from: string, to: readonly string[]) => {
    const set = successors.get(from) ?? new Set<string>();
    for (const target of to) set.add(target);
    successors.set(from, set);
  };
  for (const [from, to] of graph.edges) add(from, [to]);
  for (const branch of graph.branches) add(branch.source, branchTargets(branch) ?? all);
  for (const node of graph.nodes.values()) if (node.options.ends) add(node.name, node.options.ends);
  return successors;
}

function walk(from: string, successors: Map<string, Set<string>>): Set<string> {
  const seen = new Set<string>([from]);
  const queue = [from];
  while (queue.length > 0) {
    for (const next of successors.get(queue.shift()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

/** The outcome of planning: the merged state and the next superstep's tasks. */
export interface StepPlan {
  /** The state after the writes. */
  state: JsonObject;
  /** The next tasks (empty: the run is complete). */
  next: TaskSpec[];
}

/**
 * Plans the first superstep: the targets of `START`'s edges and branches,
 * evaluated on the initial state.
 *
 * @param graph The graph.
 * @param state The initial state.
 * @param options The nesting limit of `Send` arguments routers return.
 * @returns The state (unchanged) and the tasks of step 1.
 * @throws {InvalidArgumentError} when a router names an unknown node.
 *
 * @example
 * ```ts
 * import { defineState, planStart, START, END } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const schema = defineState({ n: { default: () => 0 } });
 * const nodes = new Map([["a", { name: "a", run: () => ({}), options: {} }]]);
 * const plan = await planStart({ schema, nodes, edges: [[START, "a"], ["a", END]], branches: [] }, { n: 0 });
 * assert.deepEqual(plan.next, [{ id: "1:a", node: "a" }]);
 * ```
 */
export async function planStart(
  graph: GraphSpec,
  state: JsonObject,
  options: JsonCheckOptions = {},
): Promise<StepPlan> {
  const targets: TaskTarget[] = [];
  await route(graph, START, () => state, options, targets);
  return { state, next: toTasks(graph, targets, 1) };
}

/**
 * Plans the superstep after `step`: merges the writes (in task order) into
 * the state, then collects each task's `goto`, static edges and branches
 * (routers see the state before the step with that task's own write merged,
 * as in LangGraph).
 *
 * @param graph The graph.
 * @param state The state before the step.
 * @param writes The step's task writes, in task order.
 * @param step The step that produced them.
 * @param options The nesting limit of `Send` arguments routers return.
 * @returns The new state and the next tasks.
 * @throws {InvalidArgumentError} when an update or route is invalid.
 *
 * @example
 * ```ts
 * import { defineState, planNext, START, END } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const schema = defineState({ n: { default: () => 0, reducer: (a: number, b: number) => a + b } });
 * const nodes = new Map([["a", { name: "a", run: () => ({}), options: {} }]]);
 * const graph = { schema, nodes, edges: [[START, "a"], ["a", END]] as const, branches: [] };
 * const plan = await planNext(graph, { n: 1 }, [{ taskId: "1:a", node: "a", update: { n: 2 } }], 1);
 * assert.deepEqual(plan, { state: { n: 3 }, next: [] });
 * ```
 */
export async function planNext(
  graph: GraphSpec,
  state: JsonObject,
  writes: readonly TaskWrite[],
  step: number,
  options: JsonCheckOptions = {},
): Promise<StepPlan> {
  const merged = graph.schema.merge(
    state,
    writes.map((write) => ({ source: `node "${write.node}"`, update: write.update })),
  ) as JsonObject;
  const targets: TaskTarget[] = [];
  for (const write of writes) {
    if (write.goto !== undefined) { for (const target of write.goto) targets.push(target); }
    // Routers see the state after this write alone; it is merged only when a
    // router asks (reducers are pure), and is `merged` when there is one write.
    const local = () =>
      writes.length === 1 ? merged : graph.schema.merge(state, [{
        source: `node "${write.node}"`,
        update: write.update,
      }]) as JsonObject;
    const routing = route(graph, write.node, local, options, targets);
    if (routing !== undefined) await routing;
  }
  return { state: merged, next: toTasks(graph, targets, step + 1) };
}

/**
 * Adds the targets of `source`'s static edges, then of its routers: only a
 * node with conditional edges makes the caller wait (`undefined` otherwise).
 */
function route(
  graph: GraphSpec,
  source: string,
  stateOf: () => JsonObject,
  options: JsonCheckOptions,
  targets: TaskTarget[],
): Promise<void> | undefined {
  const out = outgoing(graph, source);
  for (const target of out.edges) targets.push(target);
  if (out.branches.length === 0) return undefined;
  return routeBranches(out.branches, stateOf(), options, targets);
}

async function routeBranches(
  branches: readonly BranchSpec[],
  state: JsonObject,
  options: JsonCheckOptions,
  targets: TaskTarget[],
): Promise<void> {
  for (const branch of branches) {
    const result = await (branch.router as Router<JsonObject>)(state);
    for (const route of Array.isArray(result) ? result : [result as string | Send]) {
      targets.push(resolveRoute(branch, route, options));
    }
  }
}

function resolveRoute(
  branch: BranchSpec,
  route: string | Send,
  options: JsonCheckOptions,
): TaskTarget {
  if (route instanceof Send) {
    return normalizeTarget(route, `the router of "${branch.source}"`, options);
  }
  if (typeof route !== "string") {
    throw new InvalidArgumentError(
      `Cannot route from "${branch.source}": the router returned ${
        JSON.stringify(route)
      }, not a node name or Send`,
    );
  }
  const map = branch.pathMap;
  if (map !== undefined && !Array.isArray(map)) {
    const node = (map as Record<string, string>)[route];
    if (node === undefined) {
      throw new InvalidArgumentError(
        `Cannot route from "${branch.source}": "${route}" is not a key of its path map`,
      );
    }
    return { node };
  }
  return { node: route };
}

/**
 * Converts a `goto` target or `Send` to a stored target, checking that its
 * argument is JSON.
 *
 * @param target A node name or a {@linkcode Send}.
 * @param source Who produced it, for error messages.
 * @param options The nesting limit of a `Send` argument.
 * @returns The target.
 * @throws {InvalidArgumentError} when a `Send` argument is not JSON, or nests too deep.
 *
 * @example
 * ```ts
 * import { normalizeTarget, Send } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(normalizeTarget(new Send("joke", { subject: "cats" }), "test"), { node: "joke", arg: { subject: "cats" } });
 * ```
 */
export function normalizeTarget(
  target: string | Send,
  source: string,
  options: JsonCheckOptions = {},
): TaskTarget {
  if (typeof target === "string") return { node: target };
  if (target instanceof Send) {
    assertJson(target.arg, `the argument of Send("${target.node}") from ${source}`, options);
    return { node: target.node, arg: target.arg as Json };
  }
  throw new InvalidArgumentError(
    `Cannot route from ${source}: ${JSON.stringify(target)} is not a node name or Send`,
  );
}

function toTasks(graph: GraphSpec, targets: readonly TaskTarget[], step: number): TaskSpec[] {
  const tasks: TaskSpec[] = [];
  // Which nodes are scheduled without an argument (once each); no set for a single target.
  let plain: Set<string> | null = null;
  for (let index = 0; index < targets.length; index++) {
    const target = targets[index]!;
    if (target.node === END) continue;
    if (!graph.nodes.has(target.node)) {
      throw new InvalidArgumentError(
        `Cannot schedule node "${target.node}": there is no such node`,
      );
    }
    if (target.arg === undefined) {
      if (targets.length > 1) {
        plain ??= new Set();
        if (plain.has(target.node)) continue;
        plain.add(target.node);
      }
      tasks.push({ id: `${step}:${target.node}`, node: target.node });
    } else {
      tasks.push({ id: `${step}:${target.node}#${index}`, node: target.node, arg: target.arg });
    }
  }
  return tasks;
}

/** The retry policy a node gets when it asks for retries without saying how. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 3,
  initialIntervalMs: 500,
  backoffFactor: 2,
  maxIntervalMs: 128_000,
  jitter: true,
};

/**
 * The wait before retry number `attempt` (1 for the first retry).
 *
 * @param policy The policy.
 * @param attempt The attempt that failed (1 for the first attempt).
 * @param random A number in [0, 1) for jitter.
 * @returns The wait in ms.
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY_POLICY, retryDelayMs } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const policy = { ...DEFAULT_RETRY_POLICY, jitter: false };
 * assert.deepEqual([1, 2, 3].map((n) => retryDelayMs(policy, n, 0)), [500, 1000, 2000]);
 * ```
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: number): number {
  const base = Math.min(
    policy.maxIntervalMs,
    policy.initialIntervalMs * policy.backoffFactor ** (attempt - 1),
  );
  return policy.jitter ? base / 2 + (base / 2) * random : base;
}

/** A graph's structure: what {@linkcode graphShape} returns. */
export interface GraphShape {
  /** Node names, in the order they were added. */
  nodes: string[];
  /** Static edges `[from, to]`, in the order they were added (`START` and `END` included). */
  edges: [string, string][];
  /** Conditional edges: their source and the nodes they may go to (`null`: any node). */
  branches: { source: string; targets: string[] | null }[];
  /** The nodes a node's `Command` may go to (`ends`), by node, for nodes that declare them. */
  ends: Record<string, string[]>;
}

/**
 * A graph's structure (nodes, edges, conditional edges and their declared
 * targets, `ends`), without its code: what {@linkcode graphFingerprint}
 * hashes and what a console draws.
 *
 * @param graph The graph.
 * @returns Its shape, in the order it was built.
 *
 * @example
 * ```ts
 * import { defineState, graphShape, END, START } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const schema = defineState({ n: { default: () => 0 } });
 * const shape = graphShape({
 *   schema,
 *   nodes: new Map([["a", { name: "a", run: () => ({}), options: {} }]]),
 *   edges: [[START, "a"]],
 *   branches: [{ source: "a", router: () => END, pathMap: [END] }],
 * });
 * assert.deepEqual(shape, {
 *   nodes: ["a"],
 *   edges: [[START, "a"]],
 *   branches: [{ source: "a", targets: [END] }],
 *   ends: {},
 * });
 * ```
 */
export function graphShape(graph: GraphSpec): GraphShape {
  const ends: Record<string, string[]> = {};
  for (const node of graph.nodes.values()) {
    if (node.options.ends !== undefined) ends[node.name] = [...node.options.ends];
  }
  return {
    nodes: [...graph.nodes.keys()],
    edges: graph.edges.map(([from, to]) => [from, to]),
    branches: graph.branches.map((branch) => ({
      source: branch.source,
      targets: branchTargets(branch) ?? null,
    })),
    ends,
  };
}

/**
 * A graph's structural fingerprint: a hash of its node names, static edges,
 * conditional edges (their sources and declared targets) and the nodes'
 * declared `ends`, independent of the order they were added in. Node code is
 * not part of it: two versions of a graph with the same shape have the same
 * fingerprint. Runs record the fingerprint of the graph that created them.
 *
 * @param graph The graph.
 * @returns 16 hex digits.
 *
 * @example The shape counts, not the order it was built in
 * ```ts
 * import { defineState, graphFingerprint, END, START } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const schema = defineState({ n: { default: () => 0 } });
 * const node = (name: string) => [name, { name, run: () => ({}), options: {} }] as const;
 * const one = graphFingerprint({
 *   schema, nodes: new Map([node("a"), node("b")]), branches: [],
 *   edges: [[START, "a"], ["a", "b"], ["b", END]],
 * });
 * const same = graphFingerprint({
 *   schema, nodes: new Map([node("b"), node("a")]), branches: [],
 *   edges: [["b", END], [START, "a"], ["a", "b"]],
 * });
 * const other = graphFingerprint({
 *   schema, nodes: new Map([node("a")]), branches: [], edges: [[START, "a"], ["a", END]],
 * });
 * assert.equal(one, same);
 * assert.notEqual(one, other);
 * assert.match(one, /^[0-9a-f]{16}$/);
 * ```
 */
export function graphFingerprint(graph: GraphSpec): string {
  const sorted = (items: Iterable<string>) => [...items].sort();
  const shape = graphShape(graph);
  const canonical = {
    nodes: sorted(shape.nodes),
    edges: sorted(shape.edges.map((edge) => JSON.stringify(edge))),
    branches: sorted(
      shape.branches.map((branch) =>
        JSON.stringify([branch.source, branch.targets?.sort() ?? null])
      ),
    ),
    ends: sorted(
      Object.entries(shape.ends).map(([node, ends]) => JSON.stringify([node, ends.sort()])),
    ),
  };
  return sha256Hex(JSON.stringify(canonical)).slice(0, 16);
}
