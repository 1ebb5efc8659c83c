/**
 * The runtime (actor system): a registry of run actors by thread id, the
 * graphs it can run by name, a bound on how many runs execute at once,
 * passivation of idle actors (a run at rest costs storage, not memory), and
 * recovery of runs left running by a previous process.
 *
 * @module
 */

import {
  createIdGenerator,
  currentSnapshot,
  type ErrorInfo,
  EVENT_FORMAT_VERSION,
  type GraphSpec,
  type IdGenerator,
  InvalidArgumentError,
  type Json,
  NotFoundError,
  OrisError,
  parseThreadId,
  payloadHash,
  planStart,
  type RunSnapshot,
  type RunStatus,
  type Store,
  type TaskSpec,
  type ThreadId,
} from "../kernel/mod.ts";
import type { JsonObject } from "../kernel/mod.ts";
import type { Context as OtelContext } from "@opentelemetry/api";
import { MemoryStore } from "../storage/memory/mod.ts";
import type { NodeContext } from "./context.ts";
import {
  type ActorEvent,
  type ActorMessage,
  type Durability,
  resumeValues,
  RunActor,
} from "./run_actor.ts";
import { atRest } from "./run_actor.ts";
import { Semaphore } from "./semaphore.ts";
import { type ReplayReport, replayRun } from "./replay.ts";
import { traceRun } from "./tracing.ts";

/** A graph the runtime can run: its name and its compiled spec. */
export interface GraphDefinition {
  /** The name runs refer to. */
  readonly name: string;
  /** The compiled graph. */
  readonly spec: GraphSpec<NodeContext>;
}

/** One entry of {@linkcode RunResult.trace}. */
export type TraceEvent =
  | { type: "step_start"; step: number; nodes: string[] }
  | { type: "step_end"; step: number; nodes: string[]; checkpointId: string }
  | { type: "interrupt"; step: number; interruptId: string; node: string; value: Json }
  | { type: "resume"; interruptIds: string[] }
  | { type: "end"; status: RunStatus };

/** A pending interrupt as callers see it. */
export interface PendingInterrupt {
  /** Answer it with this id. */
  id: string;
  /** The node that asked. */
  node: string;
  /** What it asked. */
  value: Json;
}

/** What `invoke`, `resume` and friends resolve to. */
export interface RunResult<S = Record<string, unknown>> {
  /** The run. */
  threadId: ThreadId;
  /** Its status now. */
  status: RunStatus;
  /** Its state now. */
  state: S;
  /** Pending interrupts (when `interrupted`). */
  interrupts: PendingInterrupt[];
  /** The latest checkpoint, or `null` before the first step. */
  checkpointId: string | null;
  /** What happened during this call: step starts and ends, interrupts, resumes. */
  trace: TraceEvent[];
  /** Why the run failed (when `failed`). */
  error?: ErrorInfo;
}

/** Options of {@linkcode createRuntime}. */
export interface RuntimeOptions {
  /**
   * Where runs are stored.
   * @default {a new MemoryStore, closed with the runtime}
   */
  store?: Store;
  /** Graphs by name (more can be added with `register`). */
  graphs?: Record<string, GraphDefinition | { readonly definition: GraphDefinition }>;
  /**
   * How many runs may execute a step at the same time.
   * @default {64}
   */
  maxConcurrentRuns?: number;
  /**
   * When steps are committed.
   * @default {"sync"}
   */
  durability?: Durability;
  /**
   * Steps a run may take before it fails with code `step_limit`.
   * @default {1000}
   */
  stepLimit?: number;
  /** The clock (default: `Date.now`). */
  now?: () => number;
  /** Random numbers in [0, 1) (default: `Math.random`). */
  random?: () => number;
  /** Waits `ms` unless `signal` aborts (default: a timer). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** An OpenTelemetry context (`@opentelemetry/api`), e.g. one carrying a remote parent span. */
export type TraceContext = OtelContext;

/** Options of a call that starts or continues a run. */
export interface RunOptions {
  /** The run's id (default: a generated one). */
  threadId?: string;
  /** When steps are committed (default: the runtime's). */
  durability?: Durability;
  /** Receives what the run does during this call (streams use it). @internal */
  listener?: (event: ActorEvent) => void;
  /** A child run of a subgraph: its steps do not count against `maxConcurrentRuns`. @internal */
  nested?: boolean;
  /** Facts stored with a new run (`run.created`'s `metadata`), e.g. priority and tenant. */
  metadata?: JsonObject;
  /** Start from this state and these tasks instead of the input (fork). @internal */
  initial?: { state: JsonObject; next: TaskSpec[] };
  /** The OpenTelemetry context whose span parents the run's spans (e.g. from a `traceparent`). */
  parentContext?: TraceContext;
  /**
   * Ends the run with this status if it has not come to rest within `ms` of
   * this call (an in-process timer: it does not survive a restart).
   */
  deadline?: { ms: number; status: "failed" | "cancelled" };
}

/** The actor system. See {@linkcode createRuntime}. */
export interface Runtime extends AsyncDisposable {
  /** Where runs are stored. */
  readonly store: Store;
  /** Adds a graph runs can refer to by name. */
  register(definition: GraphDefinition): void;
  /** The registered graph names. */
  graphNames(): string[];
  /** A registered graph by name. */
  graph(name: string): GraphDefinition;
  /**
   * Creates a run of `graph` (idempotently) and starts it without waiting for
   * it to come to rest.
   */
  start(graph: string, input: unknown, options?: RunOptions): Promise<RunSnapshot>;
  /** Creates (idempotently) and runs a run until it comes to rest. */
  invoke(graph: string, input: unknown, options?: RunOptions): Promise<RunResult>;
  /**
   * Resumes an interrupted run with an answer (or a map of answers by
   * interrupt id), or a paused run (no value), and runs it until it comes to rest.
   */
  resume(
    threadId: string,
    value?: unknown,
    options?: Pick<RunOptions, "listener" | "parentContext" | "deadline">,
  ): Promise<RunResult>;
  /** Pauses a running run between two steps. */
  pause(threadId: string, reason?: string | null): Promise<RunSnapshot>;
  /** Cancels a run: its abort signal fires at once and it ends `cancelled`. */
  cancel(threadId: string, reason?: string | null): Promise<RunSnapshot>;
  /** Waits until a run comes to rest. */
  wait(threadId: string): Promise<RunResult>;
  /** The run as it is now, or `null`. */
  get(threadId: string): Promise<RunSnapshot | null>;
  /** Sends a message to a run's actor. @internal */
  send(threadId: string, message: ActorMessage): Promise<RunSnapshot>;
  /** Subscribes to what a run does while it is active. @internal */
  listen(threadId: string, listener: (event: ActorEvent) => void): Promise<() => void>;
  /** Starts every run left `queued` or `running` in the store; returns their ids. */
  recover(): Promise<ThreadId[]>;
  /** How many runs have an actor in memory. */
  activeRuns(): number;
  /** How many runs wait for a place to execute a step (`maxConcurrentRuns`). */
  queueDepth(): number;
  /** Observes every event of every run (for metrics); returns the function that stops it. */
  observe(observer: (threadId: string, event: ActorEvent) => void): () => void;
  /**
   * Verifies a run by replay (see `CompiledGraph.replay`): never runs an
   * effect, never writes.
   */
  replay(threadId: string, options?: { checkpointId?: string }): Promise<ReplayReport>;
  /** Cancels an interrupted run because a person rejected one of its interrupts. */
  reject(threadId: string, interruptId: string, reason?: string | null): Promise<RunSnapshot>;
  /** Lets in-flight steps commit, stops scheduling new ones, and closes an owned store. */
  close(): Promise<void>;
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Builds a {@linkcode RunResult} from a run and the trace of the call.
 *
 * @param run The run.
 * @param trace What happened during the call.
 * @returns The result.
 */
export function toResult(run: RunSnapshot, trace: TraceEvent[] = []): RunResult {
  const result: RunResult = {
    threadId: run.threadId,
    status: run.status,
    state: run.state as Record<string, unknown>,
    interrupts: run.status === "interrupted"
      ? run.interrupts.map(({ id, node, value }) => ({ id, node, value }))
      : [],
    checkpointId: run.checkpointId,
    trace,
  };
  if (run.status === "failed") result.error = run.error;
  return result;
}

/**
 * Creates a runtime.
 *
 * @param options The store, graphs and limits.
 * @returns The runtime.
 *
 * @example Run a registered graph
 * ```ts
 * import { createRuntime } from "./runtime.ts";
 * import { StateGraph } from "./state_graph.ts";
 * import { defineState, END, START } from "../kernel/mod.ts";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({ n: { default: () => 0 } });
 * const graph = new StateGraph(State)
 *   .addNode("inc", (state) => ({ n: state.n + 1 }))
 *   .addEdge(START, "inc")
 *   .addEdge("inc", END)
 *   .compile({ name: "inc" });
 * await using runtime = createRuntime({ graphs: { inc: graph } });
 * const result = await runtime.invoke("inc", { n: 41 }, { threadId: "t-1" });
 * assert.deepEqual(result.state, { n: 42 });
 * ```
 */
export function createRuntime(options: RuntimeOptions = {}): Runtime {
  const ownsStore = options.store === undefined;
  const store = options.store ?? new MemoryStore();
  const now = options.now ?? (() => Date.now());
  const random = options.random ?? (() => Math.random());
  const sleep = options.sleep ?? defaultSleep;
  const ids: IdGenerator = createIdGenerator({
    now,
    randomBytes: (bytes) => crypto.getRandomValues(bytes),
  });
  const limiter = new Semaphore(options.maxConcurrentRuns ?? 64);
  const stepLimit = options.stepLimit ?? 1000;
  const defaultDurability = options.durability ?? "sync";
  const graphs = new Map<string, GraphDefinition>();
  const actors = new Map<string, Promise<RunActor>>();
  const pins = new Map<string, number>();
  const observers = new Set<(threadId: string, event: ActorEvent) => void>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closed = false;

  for (const [name, graph] of Object.entries(options.graphs ?? {})) {
    const definition = "definition" in graph ? graph.definition : graph;
    graphs.set(name, { name, spec: definition.spec });
  }

  function graphOf(name: string): GraphDefinition {
    const graph = graphs.get(name);
    if (graph === undefined) {
      throw new NotFoundError("graph", name, {
        details: { known: [...graphs.keys()] },
      });
    }
    return graph;
  }

  function checkOpen(): void {
    if (closed) throw new OrisError("unavailable", "Cannot use the runtime: it is closed");
  }

  const unlimited = new Semaphore(Infinity);

  function makeActor(run: RunSnapshot, durability: Durability, nested = false): RunActor {
    return new RunActor(run, {
      store,
      graph: graphOf(run.graph).spec,
      ids,
      limiter: nested ? unlimited : limiter,
      durability,
      stepLimit,
      now,
      random,
      uuid: () => crypto.randomUUID(),
      sleep,
      observe: (event) => {
        for (const observer of observers) observer(run.threadId, event);
      },
    });
  }

  /** Ends a run that has not come to rest by its deadline; returns the disarm function. */
  function armDeadline(actor: RunActor, deadline: RunOptions["deadline"]): () => void {
    if (deadline === undefined) return () => {};
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (atRest(actor.run)) return;
      const message =
        `Run "${actor.threadId}" did not finish within its timeout of ${deadline.ms} ms`;
      const sent = deadline.status === "cancelled"
        ? actor.send({ type: "cancel", reason: message })
        : actor.send({ type: "fail", error: { code: "timeout", message } });
      sent.catch(() => {});
    }, deadline.ms);
    timers.add(timer);
    return () => {
      clearTimeout(timer);
      timers.delete(timer);
    };
  }

  /** The actor of a run, loading it from the store if it is passivated. */
  /**
   * The actor of a run, loading it from the store if it is passivated. The
   * caller holds a pin on it until it calls `release`, so the actor is not
   * passivated (and a second one made) while someone is about to use it.
   */
  function actorFor(threadId: ThreadId, durability = defaultDurability): Promise<RunActor> {
    pin(threadId);
    let entry = actors.get(threadId);
    if (entry === undefined) {
      const loading = (async () => {
        const loaded = await store.load(threadId);
        if (loaded === null) throw new NotFoundError("run", threadId);
        return makeActor(currentSnapshot(loaded), durability);
      })();
      actors.set(threadId, loading);
      loading.catch(() => {
        if (actors.get(threadId) === loading) actors.delete(threadId);
      });
      entry = loading;
    }
    return entry.catch((error) => {
      unpin(threadId);
      throw error;
    });
  }

  function pin(threadId: string): void {
    pins.set(threadId, (pins.get(threadId) ?? 0) + 1);
  }

  function unpin(threadId: string): void {
    const count = (pins.get(threadId) ?? 1) - 1;
    if (count <= 0) pins.delete(threadId);
    else pins.set(threadId, count);
  }

  /** Drops an actor that is idle (passivation) or broken. */
  function release(actor: RunActor): void {
    unpin(actor.threadId);
    const entry = actors.get(actor.threadId);
    if (entry === undefined) return;
    const drop = () =>
      entry.then((current) => {
        if (
          current === actor && (actor.idle || actor.broken) &&
          actors.get(actor.threadId) === entry &&
          !pins.has(actor.threadId)
        ) {
          actors.delete(actor.threadId);
        }
      }, () => {});
    // The caller may still be inside the mailbox's last message (a rest waiter
    // resolves before its message settles): check again once the mailbox is idle.
    if (actor.idle || actor.broken) void drop();
    else void actor.whenIdle().then(drop);
  }

  async function send(threadId: string, message: ActorMessage): Promise<RunSnapshot> {
    checkOpen();
    const actor = await actorFor(parseThreadId(threadId));
    try {
      return await actor.send(message);
    } finally {
      release(actor);
    }
  }

  /** Runs `body` with a trace collector on the run's actor, then waits for rest. */
  async function traced(
    actor: RunActor,
    body: () => Promise<unknown>,
    options: Pick<RunOptions, "listener" | "parentContext" | "deadline"> = {},
  ): Promise<RunResult> {
    const trace: TraceEvent[] = [];
    const span = traceRun(actor.threadId, options.parentContext);
    const stop = actor.listen((event) => {
      span.observe(event);
      collect(trace, event);
      options.listener?.(event);
    });
    const disarm = armDeadline(actor, options.deadline);
    try {
      await body();
      const run = await actor.rest();
      trace.push({ type: "end", status: run.status });
      span.end(run);
      return toResult(run, trace);
    } catch (error) {
      span.fail(error);
      throw error;
    } finally {
      disarm();
      stop();
      release(actor);
    }
  }

  async function create(graphName: string, input: unknown, options: RunOptions): Promise<RunActor> {
    checkOpen();
    const graph = graphOf(graphName);
    const threadId = parseThreadId(options.threadId ?? `run-${ids.ulid()}`);
    pin(threadId);
    try {
      const existing = actors.get(threadId);
      if (existing !== undefined) {
        const actor = await existing;
        if (actor.run.graph !== graphName || actor.run.payloadHash !== hashOf(graphName, input)) {
          // Let the store decide: the same payload is the same run.
          await createInStore(graph, threadId, input, options.initial, options.metadata);
        }
        return actor;
      }
      const { run, created } = await createInStore(
        graph,
        threadId,
        input,
        options.initial,
        options.metadata,
      );
      const current = actors.get(threadId);
      if (current !== undefined) return await current;
      const actor = makeActor(run, options.durability ?? defaultDurability, options.nested);
      if (created) actor.markCreated();
      actors.set(threadId, Promise.resolve(actor));
      return actor;
    } catch (error) {
      unpin(threadId);
      throw error;
    }
  }

  function hashOf(graphName: string, input: unknown): string {
    return payloadHash({ graph: graphName, input: (input ?? null) as Json });
  }

  async function createInStore(
    graph: GraphDefinition,
    threadId: ThreadId,
    input: unknown,
    initial?: { state: JsonObject; next: TaskSpec[] },
    metadata?: JsonObject,
  ) {
    const plan = initial ??
      await planStart(graph.spec, graph.spec.schema.initial(input) as JsonObject);
    return await store.createRun({
      type: "run.created",
      v: EVENT_FORMAT_VERSION,
      at: now(),
      threadId,
      graph: graph.name,
      input: (input ?? null) as Json,
      payloadHash: hashOf(graph.name, input),
      state: plan.state,
      next: plan.next,
      ...(metadata === undefined ? {} : { metadata }),
    });
  }

  const runtime: Runtime = {
    store,
    register(definition) {
      if (graphs.has(definition.name) && graphs.get(definition.name)!.spec !== definition.spec) {
        throw new InvalidArgumentError(
          `Cannot register graph "${definition.name}": the name is taken`,
        );
      }
      graphs.set(definition.name, definition);
    },
    graphNames: () => [...graphs.keys()],
    graph: graphOf,
    async start(graph, input, options = {}) {
      const actor = await create(graph, input, options);
      const disarm = armDeadline(actor, options.deadline);
      try {
        const run = await actor.send({ type: "start" });
        actor.rest().then(disarm, disarm);
        return run;
      } catch (error) {
        disarm();
        throw error;
      } finally {
        release(actor);
      }
    },
    async invoke(graph, input, options = {}) {
      const actor = await create(graph, input, options);
      return await traced(actor, () => actor.send({ type: "start" }), options);
    },
    async resume(threadId, value, options = {}) {
      checkOpen();
      const actor = await actorFor(parseThreadId(threadId));
      return await traced(actor, () => {
        const run = actor.run;
        const values = run.status === "paused" && value === undefined
          ? {}
          : resumeValues(run, value);
        return actor.send({ type: "resume", values });
      }, options);
    },
    pause: (threadId, reason = null) => send(threadId, { type: "pause", reason }),
    cancel: (threadId, reason = null) => send(threadId, { type: "cancel", reason }),
    async wait(threadId) {
      checkOpen();
      const actor = await actorFor(parseThreadId(threadId));
      return await traced(actor, () => Promise.resolve());
    },
    async get(threadId) {
      const id = parseThreadId(threadId);
      const active = actors.get(id);
      if (active !== undefined) {
        try {
          return (await active).run;
        } catch {
          // Fall through to the store.
        }
      }
      const loaded = await store.load(id);
      return loaded === null ? null : currentSnapshot(loaded);
    },
    send,
    async listen(threadId, listener) {
      checkOpen();
      const actor = await actorFor(parseThreadId(threadId));
      const stop = actor.listen(listener);
      return () => {
        stop();
        release(actor);
      };
    },
    async recover() {
      checkOpen();
      const found: ThreadId[] = [];
      for (const status of ["running", "queued"] as const) {
        let cursor: string | null = null;
        do {
          const page = await store.listRuns({ status, limit: 500, cursor });
          found.push(...page.items.map((item) => item.threadId));
          cursor = page.nextCursor;
        } while (cursor !== null);
      }
      for (const threadId of found) {
        void send(threadId, { type: "start" }).catch(() => {});
      }
      return found;
    },
    async replay(threadId, options = {}) {
      const id = parseThreadId(threadId);
      const run = await runtime.get(id);
      if (run === null) throw new NotFoundError("run", id, { details: { thread_id: id } });
      return await replayRun(store, graphOf(run.graph).spec, id, options);
    },
    activeRuns: () => actors.size,
    queueDepth: () => limiter.waiting,
    observe(observer) {
      observers.add(observer);
      return () => observers.delete(observer);
    },
    reject: (threadId, interruptId, reason = null) =>
      send(threadId, {
        type: "cancel",
        reason: reason ?? "interrupt rejected",
        rejectedInterruptId: interruptId,
      }),
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const all = await Promise.allSettled([...actors.values()]);
      await Promise.all(
        all.map((entry) => entry.status === "fulfilled" ? entry.value.drain() : undefined),
      );
      actors.clear();
      if (ownsStore) await store.close();
    },
    [Symbol.asyncDispose]() {
      return runtime.close();
    },
  };
  return runtime;
}

function collect(trace: TraceEvent[], event: ActorEvent): void {
  if (event.kind === "step_start") {
    trace.push({
      type: "step_start",
      step: event.step,
      nodes: event.run.next.map((task) => task.node),
    });
    return;
  }
  if (event.kind !== "committed") return;
  for (const item of event.events) {
    if (item.type === "step.committed") {
      trace.push({
        type: "step_end",
        step: item.step,
        nodes: item.tasks.map((task) => task.node),
        checkpointId: item.checkpointId,
      });
    } else if (item.type === "interrupt.raised") {
      for (const record of item.interrupts) {
        trace.push({
          type: "interrupt",
          step: item.step,
          interruptId: record.id,
          node: record.node,
          value: record.value,
        });
      }
    } else if (item.type === "run.resumed") {
      trace.push({ type: "resume", interruptIds: Object.keys(item.values) });
    }
  }
}
