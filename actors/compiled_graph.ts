/**
 * `CompiledGraph`: a checked graph bound to a runtime. Run it (`invoke`,
 * `stream`, `resume`), control it (`pause`, `cancel`), travel in time
 * (`getState`, `getStateHistory`, `updateState`, `fork`) and verify it
 * (`replay`).
 *
 * @module
 */

import {
  assertJson,
  Command,
  foldAll,
  InvalidArgumentError,
  type Json,
  type JsonObject,
  NotFoundError,
  OrisError,
  parseCheckpointId,
  parseThreadId,
  type RunSnapshot,
  type RunStatus,
  type StateOf,
  type StateSpec,
  type TaskSpec,
  type ThreadId,
  type UpdateOf,
} from "../kernel/mod.ts";
import type { ReplayReport } from "./replay.ts";
import type { Durability } from "./run_actor.ts";
import type { GraphDefinition, PendingInterrupt, RunResult, Runtime } from "./runtime.ts";
import { type StreamChunk, type StreamOptions, streamRun } from "./stream.ts";

/** Options of {@linkcode CompiledGraph.invoke}. */
export interface InvokeOptions {
  /** The run's id; the same id and input is the same run (default: a new id). */
  threadId?: string;
  /** When steps are committed (default: the runtime's, `sync`). */
  durability?: Durability;
}

/** A run's state at one checkpoint (or now), as `getState` and `getStateHistory` return it. */
export interface StateSnapshot<S = Record<string, unknown>> {
  /** The run. */
  threadId: ThreadId;
  /** The state. */
  values: S;
  /** The nodes of the next superstep. */
  next: string[];
  /** The tasks of the next superstep. */
  tasks: TaskSpec[];
  /** The run's status (at this checkpoint, for history entries). */
  status: RunStatus;
  /** The superstep. */
  step: number;
  /** The checkpoint, or `null` before the first step. */
  checkpointId: string | null;
  /** The checkpoint before it. */
  parentCheckpointId: string | null;
  /** Pending interrupts. */
  interrupts: PendingInterrupt[];
  /** When it was made (ms). */
  createdAt: number;
  /** What made it: the nodes of the step, or the node an update was attributed to. */
  source: { kind: "step"; nodes: string[] } | { kind: "update"; asNode: string | null } | {
    kind: "input";
  };
}

/** Options of {@linkcode CompiledGraph.fork}. */
export interface ForkOptions<S extends StateSpec> {
  /** The checkpoint to start from. */
  checkpointId: string;
  /** An update merged into the checkpoint's state first. */
  update?: UpdateOf<S>;
  /** The new run's id (default: `<threadId>-fork-<ulid>`). */
  newThreadId?: string;
}

/**
 * A graph ready to run. Made by `StateGraph.compile()`.
 *
 * @typeParam S The state's channels.
 */
export class CompiledGraph<S extends StateSpec = StateSpec> {
  /** The name and spec the runtime knows this graph by. */
  readonly definition: GraphDefinition;
  /** The runtime that runs it. */
  readonly runtime: Runtime;
  readonly #owned: boolean;

  /**
   * Binds a graph to a runtime. Use `StateGraph.compile()` instead.
   *
   * @param definition The graph's name and spec.
   * @param runtime The runtime.
   * @param owned Whether closing this graph closes the runtime.
   */
  constructor(definition: GraphDefinition, runtime: Runtime, owned: boolean) {
    this.definition = definition;
    this.runtime = runtime;
    this.#owned = owned;
  }

  /** The graph's name. */
  get name(): string {
    return this.definition.name;
  }

  /**
   * Runs the graph until the run completes, fails, is cancelled or waits for
   * a person. Idempotent by thread id: the same id and input returns the same
   * run (continuing it if it is still running); the same id with another
   * input is a `conflict`. Pass `new Command({ resume })` to answer an
   * interrupted run.
   *
   * @param input The initial update of the state, or a `Command` with `resume`.
   * @param options The thread id and durability mode.
   * @returns The run's result.
   */
  async invoke(
    input: UpdateOf<S> | Command | null | undefined,
    options: InvokeOptions = {},
  ): Promise<RunResult<StateOf<S>>> {
    if (input instanceof Command) {
      if (!input.hasResume || input.update !== undefined || input.goto !== undefined) {
        throw new InvalidArgumentError(
          "Cannot invoke with a Command: only { resume } applies to a run",
        );
      }
      if (options.threadId === undefined) {
        throw new InvalidArgumentError("Cannot resume: threadId is required", {
          field: "threadId",
        });
      }
      return await this.resume(options.threadId, input.resume);
    }
    return await this.runtime.invoke(this.name, input ?? null, options) as RunResult<StateOf<S>>;
  }

  /**
   * Answers an interrupted run (one value for its only pending interrupt, or
   * `{ [interruptId]: value }` for several), or continues a paused run (no
   * value), and runs it until it comes to rest.
   *
   * @param threadId The run.
   * @param value The answer(s).
   * @returns The run's result.
   * @throws {ConflictError} when the run has no pending interrupt, or an id is unknown.
   */
  async resume(threadId: string, value?: unknown): Promise<RunResult<StateOf<S>>> {
    return await this.runtime.resume(threadId, value) as RunResult<StateOf<S>>;
  }

  /**
   * Cancels a run: its nodes' `ctx.signal` fires at once, and it ends `cancelled`.
   *
   * @param threadId The run.
   * @param reason Why.
   * @returns The run after the cancel.
   */
  async cancel(threadId: string, reason: string | null = null): Promise<RunSnapshot> {
    return await this.runtime.cancel(threadId, reason);
  }

  /**
   * Pauses a running run between two steps; `resume(threadId)` continues it.
   *
   * @param threadId The run.
   * @param reason Why.
   * @returns The run after the pause.
   */
  async pause(threadId: string, reason: string | null = null): Promise<RunSnapshot> {
    return await this.runtime.pause(threadId, reason);
  }

  /**
   * Runs the graph (or resumes it, given a `Command`) and yields what happens
   * in the chosen modes: `values`, `updates`, `messages`, `custom`, `debug`.
   * With one mode, chunks are yielded as they are; with several, as
   * `[mode, chunk]`; with `subgraphs: true`, as `[namespace, mode, chunk]`.
   *
   * @param input The initial update, or a `Command` with `resume`.
   * @param options Thread id, modes, and whether to include subgraphs.
   * @returns The chunks, ending when the run comes to rest.
   */
  stream(
    input: UpdateOf<S> | Command | null | undefined,
    options: StreamOptions = {},
  ): AsyncIterable<StreamChunk> {
    return streamRun(this, input, options);
  }

  /**
   * The run as it is now.
   *
   * @param threadId The run.
   * @returns Its state snapshot.
   * @throws {NotFoundError} for an unknown run.
   */
  async getState(threadId: string): Promise<StateSnapshot<StateOf<S>>> {
    const run = await this.runtime.get(threadId);
    if (run === null) throw new NotFoundError("run", threadId);
    const history = await this.getStateHistory(threadId, { limit: 1 });
    const latest = history[0];
    return {
      ...snapshotOf(run, latest?.source ?? { kind: "input" }),
      parentCheckpointId: latest?.parentCheckpointId ?? null,
    } as StateSnapshot<StateOf<S>>;
  }

  /**
   * Every checkpoint of a run with its state, newest first, ending with the
   * run's input state.
   *
   * @param threadId The run.
   * @param options `limit`: at most this many entries.
   * @returns The history.
   * @throws {NotFoundError} for an unknown run.
   */
  async getStateHistory(
    threadId: string,
    options: { limit?: number } = {},
  ): Promise<StateSnapshot<StateOf<S>>[]> {
    const events = await this.runtime.store.readEvents(parseThreadId(threadId), 1);
    if (events.length === 0) throw new NotFoundError("run", threadId);
    const history: StateSnapshot<StateOf<S>>[] = [];
    let run: RunSnapshot | null = null;
    let parent: string | null = null;
    for (const { event } of events) {
      run = foldAll(run, [event])!;
      if (event.type === "run.created") {
        history.push(snapshotOf(run, { kind: "input" }) as StateSnapshot<StateOf<S>>);
      } else if (event.type === "step.committed" || event.type === "state.updated") {
        const source = event.type === "step.committed"
          ? { kind: "step" as const, nodes: event.tasks.map((task) => task.node) }
          : { kind: "update" as const, asNode: event.asNode };
        history.push(
          { ...snapshotOf(run, source), parentCheckpointId: parent } as StateSnapshot<StateOf<S>>,
        );
        parent = event.checkpointId;
      } else if (history.length > 0) {
        // Later events (interrupts, status changes) update the latest entry.
        const latest = history[history.length - 1]!;
        history[history.length - 1] = {
          ...snapshotOf(run, latest.source),
          parentCheckpointId: latest.parentCheckpointId,
        } as StateSnapshot<StateOf<S>>;
      }
    }
    history.reverse();
    return options.limit === undefined ? history : history.slice(0, options.limit);
  }

  /**
   * Edits a run's state from outside, as if `asNode` had returned `update`;
   * the edit is a checkpoint. With `asNode`, the run continues from that
   * node's edges (an interrupted run becomes `paused`; `resume` it).
   * A finished run cannot be edited: `fork` it instead.
   *
   * @param threadId The run.
   * @param update The update, merged through the reducers.
   * @param options `asNode`: the node the update is attributed to.
   * @returns The run's state after the edit.
   * @throws {ConflictError} when the run is finished.
   */
  async updateState(
    threadId: string,
    update: UpdateOf<S>,
    options: { asNode?: string } = {},
  ): Promise<StateSnapshot<StateOf<S>>> {
    const spec = this.definition.spec;
    const asNode = options.asNode ?? null;
    if (asNode !== null && !spec.nodes.has(asNode)) {
      throw new InvalidArgumentError(
        `Cannot update state as node "${asNode}": there is no such node`,
        {
          field: "asNode",
        },
      );
    }
    assertJson(update, "the update");
    await this.runtime.send(threadId, { type: "update", update: update as Json, asNode });
    return await this.getState(threadId);
  }

  /**
   * Starts a new run from any checkpoint of a run (time travel), optionally
   * with an edited state, and runs it until it comes to rest. The original
   * run is not changed.
   *
   * @param threadId The run to fork.
   * @param options The checkpoint, an update, and the new run's id.
   * @returns The new run's result.
   * @throws {NotFoundError} for an unknown run or checkpoint.
   */
  async fork(threadId: string, options: ForkOptions<S>): Promise<RunResult<StateOf<S>>> {
    const source = parseThreadId(threadId);
    const checkpointId = parseCheckpointId(options.checkpointId);
    const checkpoint = await this.runtime.store.getCheckpoint(source, checkpointId);
    if (checkpoint === null) {
      throw new NotFoundError("checkpoint", checkpointId, { details: { thread_id: source } });
    }
    const events = await this.runtime.store.readEvents(source, 1, { limit: checkpoint.version });
    const at = foldAll(null, events)!;
    if (at.graph !== this.name) {
      throw new OrisError(
        "invalid_argument",
        `Cannot fork run "${source}": it is a run of graph "${at.graph}"`,
      );
    }
    const state = options.update === undefined
      ? at.state
      : this.definition.spec.schema.merge(at.state, [{
        source: "the fork update",
        update: options.update,
      }]) as JsonObject;
    const newThreadId = options.newThreadId ??
      `${source.slice(0, 90)}-fork-${crypto.randomUUID().slice(0, 8)}`;
    return await this.runtime.invoke(
      this.name,
      {
        fork_of: { thread_id: source, checkpoint_id: checkpointId },
        update: (options.update ?? null) as Json,
      },
      { threadId: newThreadId, initial: { state, next: at.next } },
    ) as RunResult<StateOf<S>>;
  }

  /**
   * Re-executes a run (from the start, or from a checkpoint) with every
   * effect served from the journal, and compares each node's update, and the
   * routing, with the recorded ones. Never runs an effect, never writes.
   *
   * @param threadId The run.
   * @param options `checkpointId`: verify only the steps after it.
   * @returns `{ ok: true, steps }` when everything matches.
   * @throws {NondeterminismError} naming the step, node and both values at the first difference.
   */
  async replay(threadId: string, options: { checkpointId?: string } = {}): Promise<ReplayReport> {
    return await this.runtime.replay(threadId, options);
  }

  /** Closes the graph's private runtime (not a runtime passed to `compile`). */
  async close(): Promise<void> {
    if (this.#owned) await this.runtime.close();
  }
}

function snapshotOf(run: RunSnapshot, source: StateSnapshot["source"]): StateSnapshot {
  return {
    threadId: run.threadId,
    values: run.state as Record<string, unknown>,
    next: run.next.map((task) => task.node),
    tasks: run.next,
    status: run.status,
    step: run.step,
    checkpointId: run.checkpointId,
    parentCheckpointId: null,
    interrupts: run.status === "interrupted"
      ? run.interrupts.map(({ id, node, value }) => ({ id, node, value }))
      : [],
    createdAt: run.updatedAt,
    source,
  };
}
