/**
 * `CompiledGraph`: a checked graph bound to a runtime. Run it (`invoke`,
 * `stream`, `resume`), control it (`pause`, `cancel`), travel in time
 * (`getState`, `getStateHistory`, `updateState`, `fork`) and verify it
 * (`replay`).
 *
 * @module
 */

import {
  Command,
  InvalidArgumentError,
  type RunSnapshot,
  type StateOf,
  type StateSpec,
  type UpdateOf,
} from "../kernel/mod.ts";
import type { Durability } from "./committer.ts";
import type { ReplayReport } from "./replay.ts";
import type { RunResult } from "./run_result.ts";
import type { ForkOptions, GraphDefinition, Runtime } from "./runtime_api.ts";
import { type StreamChunk, type StreamMode, type StreamOptions, streamRun } from "./stream.ts";
import type { StateSnapshot } from "./time_travel.ts";

/** Options of {@linkcode CompiledGraph.invoke}. */
export interface InvokeOptions {
  /** The run's id; the same id and input is the same run (default: a new id). */
  threadId?: string;
  /** When steps are committed (default: the runtime's, `sync`). */
  durability?: Durability;
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
    const { threadId, durability } = options;
    return await this.runtime.invoke(this.name, input ?? null, {
      ...(threadId === undefined ? {} : { threadId }),
      ...(durability === undefined ? {} : { durability }),
    }) as RunResult<StateOf<S>>;
  }

  /**
   * Answers the only pending interrupt of a run with `value`, or continues a
   * paused run (no value), and runs it until it comes to rest.
   *
   * @param threadId The run.
   * @param value The answer.
   * @returns The run's result.
   * @throws {ConflictError} when the run has no pending interrupt, or several.
   */
  async resume(threadId: string, value?: unknown): Promise<RunResult<StateOf<S>>> {
    return await this.runtime.resume(threadId, value) as RunResult<StateOf<S>>;
  }

  /**
   * Answers pending interrupts of a run by id (`{ [interruptId]: value }`)
   * and runs it until it comes to rest.
   *
   * @param threadId The run.
   * @param answers The answers by interrupt id.
   * @returns The run's result.
   * @throws {ConflictError} when an id is not pending.
   */
  async resumeById(
    threadId: string,
    answers: Record<string, unknown>,
  ): Promise<RunResult<StateOf<S>>> {
    return await this.runtime.resumeById(threadId, answers) as RunResult<StateOf<S>>;
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
   * @typeParam M The mode, or the list of modes.
   * @typeParam Sub Whether subgraph chunks are included.
   * @param input The initial update, or a `Command` with `resume`.
   * @param options Thread id, modes, and whether to include subgraphs.
   * @returns The chunks, ending when the run comes to rest.
   */
  stream<
    const M extends StreamMode | readonly StreamMode[] = "values",
    Sub extends boolean = false,
  >(
    input: UpdateOf<S> | Command | null | undefined,
    options: StreamOptions<M, Sub> = {},
  ): AsyncIterable<StreamChunk<StateOf<S>, M, Sub>> {
    return streamRun(this.runtime, this.name, input, options) as AsyncIterable<
      StreamChunk<StateOf<S>, M, Sub>
    >;
  }

  /**
   * The run's state now, or at one of its checkpoints.
   *
   * @param threadId The run.
   * @param options `checkpointId`: the checkpoint (default: now).
   * @returns Its state snapshot.
   * @throws {NotFoundError} for an unknown run or checkpoint.
   */
  async getState(
    threadId: string,
    options: { checkpointId?: string } = {},
  ): Promise<StateSnapshot<StateOf<S>>> {
    return await this.runtime.getState(threadId, options) as StateSnapshot<StateOf<S>>;
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
    return await this.runtime.getStateHistory(threadId, options) as StateSnapshot<StateOf<S>>[];
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
    await this.runtime.updateState(threadId, update, options);
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
   * @throws {InvalidArgumentError} when the run is of another graph.
   */
  async fork(
    threadId: string,
    options: ForkOptions<UpdateOf<S>>,
  ): Promise<RunResult<StateOf<S>>> {
    const run = await this.runtime.get(threadId);
    if (run !== null && run.graph !== this.name) {
      throw new InvalidArgumentError(
        `Cannot fork run "${threadId}": it is a run of graph "${run.graph}"`,
      );
    }
    return await this.runtime.fork(threadId, options) as RunResult<StateOf<S>>;
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
