/**
 * The runtime (actor system): a registry of run actors by thread id, the
 * graphs it can run by name, a bound on how many runs execute at once,
 * passivation of idle actors (a run at rest costs storage, not memory), time
 * travel, verified replay, and recovery of runs left running by a previous
 * process. It is given its store; it never picks one.
 *
 * A run executes here only while this runtime holds its lease (`run_owner.ts`):
 * a message for a run another live runtime holds goes to the run's durable
 * mailbox, and the caller waits on the run's log (`remote.ts`).
 *
 * @module
 */

import {
  assertJson,
  checkMaxJsonDepth,
  createIdGenerator,
  currentSnapshot,
  DEFAULT_MAX_JSON_DEPTH,
  type IdGenerator,
  InvalidArgumentError,
  isTerminal,
  type Json,
  type JsonObject,
  LeaseLostError,
  NotFoundError,
  OrisError,
  parseThreadId,
  type ResumeAnswer,
  type RunDeadline,
  type RunMessage,
  type RunSnapshot,
  type ThreadId,
} from "../kernel/mod.ts";
import type { HeldLease } from "./leases.ts";
import { OwnedElsewhere } from "./remote.ts";
import { RunOwner } from "./run_owner.ts";
import { deadlineOf, publicResumeOptions, publicRunOptions, resumeAnswer } from "./run_options.ts";
import { resolveOwnership } from "./runtime_settings.ts";
import { ActorRegistry } from "./actor_registry.ts";
import type { Durability } from "./committer.ts";
import { warnIfGraphChanged } from "./graph_change.ts";
import { createJsonLogger } from "./logger.ts";
import { replayRun } from "./replay.ts";
import { type ActorEvent, atRest, RunActor } from "./run_actor.ts";
import { Deadlines, defaultSleep } from "./deadlines.ts";
import { recordCall, type RunResult } from "./run_result.ts";
import { traceTakenUp } from "./tracing.ts";
import type {
  CoreRuntimeOptions,
  GraphDefinition,
  InternalRunOptions,
  ResumeOptions,
  Runtime,
  RuntimeInternals,
} from "./runtime_api.ts";
import { Semaphore } from "./semaphore.ts";
import { keepInternals } from "./runtime_internals.ts";
import { runCreator } from "./run_creation.ts";
import { stateAt, stateHistory } from "./time_travel.ts";

/**
 * Creates a runtime over a store.
 *
 * @param options The store, graphs, limits and logger.
 * @returns The runtime.
 *
 * @example Run a registered graph
 * ```ts
 * import { createRuntime } from "./runtime.ts";
 * import { StateGraphBase } from "./state_graph.ts";
 * import { defineState, END, START } from "../kernel/mod.ts";
 * import { MemoryStore } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const State = defineState({ n: { default: () => 0 } });
 * await using runtime = createRuntime({ store: new MemoryStore(), closeStore: true });
 * new StateGraphBase(State)
 *   .addNode("inc", (state) => ({ n: state.n + 1 }))
 *   .addEdge(START, "inc")
 *   .addEdge("inc", END)
 *   .compile({ name: "inc", runtime });
 * const result = await runtime.invoke("inc", { n: 41 }, { threadId: "t-1" });
 * assert.deepEqual(result.state, { n: 42 });
 * ```
 */
export function createRuntime(options: CoreRuntimeOptions): Runtime {
  const store = options.store;
  if (store === undefined || store === null) {
    throw new InvalidArgumentError("Cannot create a runtime: a store is required", {
      field: "store",
    });
  }
  const now = options.now ?? (() => Date.now());
  const random = options.random ?? (() => Math.random());
  const sleep = options.sleep ?? defaultSleep;
  const logger = options.logger ?? createJsonLogger();
  const ids: IdGenerator = createIdGenerator({
    now,
    randomBytes: (bytes) => crypto.getRandomValues(bytes),
  });
  const limiter = new Semaphore(options.maxConcurrentRuns ?? 64);
  const unlimited = new Semaphore(Infinity);
  const stepLimit = options.stepLimit ?? 1000;
  const maxJsonDepth = checkMaxJsonDepth(
    options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH,
    "maxJsonDepth",
  );
  /** Checks a value the runtime accepts from its caller: JSON, within the nesting limit. */
  function accept(value: unknown, what: string): Json {
    assertJson(value, what, { maxDepth: maxJsonDepth });
    return value;
  }
  const defaultDurability = options.durability ?? "sync";
  const createEnv = { now, maxJsonDepth, attemptId: () => ids.attemptId() };
  const graphs = new Map<string, GraphDefinition>();
  const observers = new Set<(threadId: string, event: ActorEvent) => void>();
  const deadlines = new Deadlines({
    now,
    sleep,
    logger,
    async expire(threadId, message) {
      if (closed) return;
      const actor = await acquire(parseThreadId(threadId));
      // The runtime holding the run ends it (its own timer).
      if (actor === null) return;
      try {
        if (!isTerminal(actor.run.status)) await actor.send(message);
      } finally {
        registry.release(actor);
      }
    },
  });
  const registry: ActorRegistry = new ActorRegistry(async (threadId): Promise<RunActor> => {
    const lease: HeldLease | null = await owner.leaseFor(threadId);
    if (lease === null) throw new OwnedElsewhere(threadId);
    try {
      const loaded = await store.load(threadId);
      if (loaded === null) throw new NotFoundError("run", threadId);
      return makeActor(currentSnapshot(loaded), defaultDurability, lease);
    } catch (error) {
      void owner.keeper.release(threadId);
      throw error;
    }
  }, (actor) => owner.dropped(actor));
  const owner: RunOwner = new RunOwner({
    store,
    logger,
    now,
    settings: resolveOwnership(options),
    registry,
    graphNames: () => [...graphs.keys()],
    execute(actor) {
      // A run taken up starts a stretch of execution: the run's own deadline bounds it.
      registry.pin(actor.threadId);
      const disarm = deadlines.arm(actor);
      const traced = traceTakenUp(actor);
      actor.send({ type: "start" }).catch((error) =>
        logger.error("Cannot take up a run", { thread_id: actor.threadId, error })
      ).finally(() => {
        const rest = actor.rest();
        traced(rest);
        rest.then(disarm, disarm);
        registry.release(actor);
      });
    },
  });
  let closed = false;

  /** A run's actor here, pinned, or `null` when another runtime holds the run. */
  async function acquire(threadId: ThreadId): Promise<RunActor | null> {
    try {
      return await registry.acquire(threadId);
    } catch (error) {
      if (error instanceof OwnedElsewhere) return null;
      throw error;
    }
  }

  /** The version of a run in the store (`0` for an unknown run). */
  async function versionOf(threadId: ThreadId): Promise<number> {
    return (await current(threadId))?.version ?? 0;
  }

  for (const [name, graph] of Object.entries(options.graphs ?? {})) {
    const definition = "definition" in graph ? graph.definition : graph;
    graphs.set(name, { name, spec: definition.spec });
  }

  function graphOf(name: string): GraphDefinition {
    const graph = graphs.get(name);
    if (graph === undefined) {
      throw new NotFoundError("graph", name, { details: { known: [...graphs.keys()] } });
    }
    return graph;
  }

  function checkOpen(): void {
    if (closed) throw new OrisError("unavailable", "Cannot use the runtime: it is closed");
  }

  /** Makes a run's actor (its caller holds a pin) and arms the run's total deadline. */
  function makeActor(
    run: RunSnapshot,
    durability: Durability,
    lease: HeldLease,
    nested = false,
  ): RunActor {
    const graph = graphOf(run.graph).spec;
    warnIfGraphChanged(run, graph, logger);
    const actor = new RunActor(run, {
      store,
      graph,
      ids,
      limiter: nested ? unlimited : limiter,
      durability,
      stepLimit,
      logger,
      now,
      random,
      uuid: () => crypto.randomUUID(),
      sleep,
      maxJsonDepth,
      fence: lease,
      observe: (event) => {
        if (event.kind === "committed" && isTerminal(event.run.status)) {
          deadlines.ended(run.threadId);
        }
        for (const observer of observers) observer(run.threadId, event);
      },
    });
    deadlines.armTotal(actor);
    return actor;
  }

  async function send(
    threadId: string,
    message: Exclude<RunMessage, { type: "start" | "step" }>,
  ): Promise<RunSnapshot> {
    checkOpen();
    const id = parseThreadId(threadId);
    const actor = await acquire(id);
    try {
      return await deliver(id, actor, message);
    } finally {
      if (actor !== null) registry.release(actor);
    }
  }

  /**
   * Applies a control message through the run's actor here, or through the
   * run's mailbox, for whichever runtime holds the run now, when it executes
   * elsewhere or the actor lost its lease (its commit refused: nothing was
   * applied). The caller holds `actor`'s pin.
   */
  async function deliver(
    id: ThreadId,
    actor: RunActor | null,
    message: Exclude<RunMessage, { type: "start" | "step" }>,
  ): Promise<RunSnapshot> {
    if (actor !== null) {
      try {
        return await actor.send(message);
      } catch (error) {
        if (!(error instanceof LeaseLostError)) throw error;
      }
    }
    await owner.remote.send(id, message);
    return (await current(id))!;
  }

  /**
   * Runs `body` with a trace collector on the run's actor, then waits for
   * rest; a call that executes the run (`execute`) arms its deadline (the
   * call's, or the run's own). When the actor loses the run's lease, the run
   * goes on in the runtime that took it over (or here, once claimed again):
   * the call follows it through the store from the last commit it saw, as for
   * a run executing elsewhere; its message, if the actor could not apply it,
   * is sent again through the run's mailbox (`resend`). The caller gets the
   * run at rest, or the store's error, never the lease it did not hold.
   */
  async function traced(
    actor: RunActor,
    body: () => Promise<unknown>,
    options: ResumeOptions & Pick<InternalRunOptions, "listener"> = {},
    execute = true,
    resend?: () => Promise<unknown>,
  ): Promise<RunResult> {
    let deadline: RunDeadline | undefined;
    try {
      deadline = execute ? deadlineOf(options) : undefined;
    } catch (error) {
      registry.release(actor);
      throw error;
    }
    const call = recordCall(actor.threadId, options.parentContext, options.listener);
    let seen = actor.run.version;
    const observe = (event: ActorEvent) => {
      if (event.kind === "committed") seen = Math.max(seen, event.run.version);
      call.observe(event);
    };
    const stop = actor.listen(observe);
    const disarm = execute ? deadlines.arm(actor, deadline) : () => {};
    let held = true;
    const letGo = () => {
      if (!held) return;
      held = false;
      disarm();
      stop();
      registry.release(actor);
    };
    try {
      return await call.finish(async () => {
        let sent = false;
        try {
          await body();
          sent = true;
          return await actor.rest();
        } catch (error) {
          if (!(error instanceof LeaseLostError)) throw error;
          letGo();
          if (!sent) await resend?.();
          return await owner.remote.rest(actor.threadId, seen + 1, observe);
        }
      });
    } finally {
      letGo();
    }
  }

  /** Follows a run another runtime executes until it comes to rest, as `traced` does for an actor here. */
  function elsewhere(
    threadId: ThreadId,
    fromSeq: number,
    options: ResumeOptions & Pick<InternalRunOptions, "listener"> = {},
  ): Promise<RunResult> {
    return owner.remote.result(threadId, fromSeq, options);
  }

  /** Creates a run (idempotently) and returns its actor, pinned (see `run_creation.ts`). */
  const create = runCreator({
    store,
    registry,
    owner,
    createEnv,
    defaultDurability,
    graphOf,
    checkOpen,
    accept,
    newThreadId: () => internals.newThreadId(),
    current,
    makeActor,
  });

  async function invoke(
    graph: string,
    input: unknown,
    options: InternalRunOptions = {},
  ): Promise<RunResult> {
    let actor: RunActor;
    try {
      actor = await create(graph, input, options);
    } catch (error) {
      if (error instanceof OwnedElsewhere) return await elsewhere(error.threadId, 1, options);
      throw error;
    }
    return await traced(actor, () => actor.send({ type: "start" }), options);
  }

  async function start(
    graph: string,
    input: unknown,
    options: InternalRunOptions,
  ): Promise<RunSnapshot> {
    const deadline = deadlineOf(options);
    let actor: RunActor;
    try {
      actor = await create(graph, input, options);
    } catch (error) {
      // It executes (or waits to) in another runtime.
      if (error instanceof OwnedElsewhere) return (await current(error.threadId))!;
      throw error;
    }
    const disarm = deadlines.arm(actor, deadline);
    try {
      const run = await actor.send({ type: "start" });
      actor.rest().then(disarm, disarm);
      return run;
    } catch (error) {
      disarm();
      throw error;
    } finally {
      registry.release(actor);
    }
  }

  async function resume(
    threadId: string,
    answer: ResumeAnswer,
    options: ResumeOptions & Pick<InternalRunOptions, "listener"> = {},
  ): Promise<RunResult> {
    checkOpen();
    const id = parseThreadId(threadId);
    const actor = await acquire(id);
    if (actor === null) {
      const from = await versionOf(id) + 1;
      await owner.remote.send(id, { type: "resume", answer });
      return await elsewhere(id, from, options);
    }
    const message = { type: "resume", answer } as const;
    return await traced(
      actor,
      () => actor.send(message),
      options,
      true,
      () => owner.remote.send(id, message),
    );
  }

  async function current(threadId: ThreadId): Promise<RunSnapshot | null> {
    const active = registry.peek(threadId);
    if (active !== undefined) {
      try {
        const actor = await active;
        // An actor that broke (its lease lost, its store failed) no longer follows the run.
        if (!actor.broken) return actor.run;
      } catch {
        // The actor could not load: the store answers.
      }
    }
    const loaded = await store.load(threadId);
    return loaded === null ? null : currentSnapshot(loaded);
  }

  const internals: RuntimeInternals = {
    invoke,
    start,
    resume,
    async listen(threadId, listener) {
      checkOpen();
      const id = parseThreadId(threadId);
      const actor = await acquire(id);
      if (actor === null) return await owner.remote.follow(id, listener);
      const stop = actor.listen(listener);
      return () => {
        stop();
        registry.release(actor);
      };
    },
    observe(observer) {
      observers.add(observer);
      return () => observers.delete(observer);
    },
    newThreadId: (prefix = "run") => parseThreadId(`${prefix}-${ids.ulid()}`),
  };

  const runtime: Runtime = {
    store,
    logger,
    maxJsonDepth,
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
    start: (graph, input, options = {}) => start(graph, input, options),
    invoke: (graph, input, options = {}) => invoke(graph, input, publicRunOptions(options)),
    async resume(threadId, value, options = {}) {
      const answer = resumeAnswer(value, maxJsonDepth);
      return await resume(threadId, answer, publicResumeOptions(options));
    },
    async resumeById(threadId, answers, options = {}) {
      const values: Record<string, Json> = {};
      for (const [id, value] of Object.entries(answers ?? {})) {
        values[id] = accept(value, `the answer to interrupt "${id}"`);
      }
      return await resume(threadId, { kind: "by_id", values }, publicResumeOptions(options));
    },
    pause: (threadId, reason = null) => send(threadId, { type: "pause", reason }),
    cancel: (threadId, reason = null) => send(threadId, { type: "cancel", reason }),
    reject: (threadId, interruptId, reason = null) =>
      send(threadId, { type: "reject", interruptId, reason: reason ?? "interrupt rejected" }),
    async updateState(threadId, update, options = {}) {
      checkOpen();
      const id = parseThreadId(threadId);
      const actor = await acquire(id);
      try {
        const run = actor?.run ?? await current(id);
        if (run === null) throw new NotFoundError("run", id);
        const asNode = options.asNode ?? null;
        if (asNode !== null && !graphOf(run.graph).spec.nodes.has(asNode)) {
          throw new InvalidArgumentError(
            `Cannot update state as node "${asNode}": there is no such node`,
            { field: "asNode" },
          );
        }
        const message = { type: "update", update: accept(update, "the update"), asNode } as const;
        return await deliver(id, actor, message);
      } finally {
        if (actor !== null) registry.release(actor);
      }
    },
    async fork(threadId, options) {
      const source = parseThreadId(threadId);
      const run = await current(source);
      const at = await stateAt(store, run, source, options.checkpointId);
      const graph = graphOf(run!.graph);
      if (options.update !== undefined) accept(options.update, "the fork update");
      const state = options.update === undefined
        ? at.values as JsonObject
        : graph.spec.schema.merge(at.values as JsonObject, [{
          source: "the fork update",
          update: options.update,
        }]) as JsonObject;
      const newThreadId = options.newThreadId ??
        internals.newThreadId(`${source.slice(0, 90)}-fork`);
      return await invoke(
        graph.name,
        {
          fork_of: { thread_id: source, checkpoint_id: at.checkpointId },
          update: (options.update ?? null) as Json,
        },
        { threadId: newThreadId, initial: { state, next: at.tasks } },
      );
    },
    async wait(threadId) {
      checkOpen();
      const id = parseThreadId(threadId);
      const actor = await acquire(id);
      if (actor === null) return await elsewhere(id, await versionOf(id) + 1);
      // A run waiting to execute that this runtime now holds (queued, or left mid-way by an
      // actor whose store failed under it) is taken up: nobody else can execute it.
      const waiting = !atRest(actor.run);
      return await traced(
        actor,
        () => waiting ? actor.send({ type: "start" }) : Promise.resolve(),
        {},
        waiting,
      );
    },
    get: (threadId) => current(parseThreadId(threadId)),
    async getState(threadId, options = {}) {
      const id = parseThreadId(threadId);
      return await stateAt(store, await current(id), id, options.checkpointId);
    },
    getStateHistory: (threadId, options = {}) =>
      stateHistory(store, parseThreadId(threadId), options),
    async replay(threadId, options = {}) {
      const id = parseThreadId(threadId);
      const run = await current(id);
      if (run === null) throw new NotFoundError("run", id, { details: { thread_id: id } });
      return await replayRun(store, graphOf(run.graph).spec, id, {
        ...(options.checkpointId === undefined ? {} : { checkpointId: options.checkpointId }),
        maxJsonDepth,
      });
    },
    recover() {
      checkOpen();
      return owner.recover();
    },
    activeRuns: () => registry.size,
    queueDepth: () => limiter.waiting,
    async close() {
      if (closed) return;
      closed = true;
      deadlines.close();
      await owner.close();
      const actors = await registry.clear();
      await Promise.all(actors.map((actor) => actor.drain()));
      await owner.release();
      if (options.closeStore === true) await store.close();
    },
    [Symbol.asyncDispose]() {
      return runtime.close();
    },
  };
  keepInternals(runtime, internals);
  return runtime;
}

export { resumeAnswer } from "./run_options.ts";
export { internalsOf } from "./runtime_internals.ts";
