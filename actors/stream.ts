/**
 * Streaming a run as it executes, in LangGraph's modes:
 *
 * - `values`: the whole state, at the start (the input state) and after every step;
 * - `updates`: `{ [node]: update }` for each task of each step, in task order, and
 *   `{ __interrupt__: [{ id, node, value }] }` when the run is interrupted;
 * - `messages`: `[chunk, { node, step, taskId }]` for every `ctx.emitMessage(chunk)`;
 * - `custom`: whatever nodes pass to `ctx.emit(data)`;
 * - `debug`: `{ type: "task" | "task_result" | "checkpoint", step, timestamp, payload }`.
 *
 * With one mode a chunk is yielded as is; with several, as `[mode, chunk]`.
 * With `subgraphs: true` every chunk is prefixed by its namespace (`[]` for
 * the run itself, `["node:task", ...]` inside subgraphs): `[namespace, chunk]`
 * or `[namespace, mode, chunk]`.
 *
 * @module
 */

import { Command, InvalidArgumentError, type Json, UPDATE_NODE } from "../kernel/mod.ts";
import type { Durability } from "./committer.ts";
import type { ExecutionEvent } from "./executor.ts";
import type { ActorEvent } from "./run_actor.ts";
import type { PendingInterrupt, RunResult } from "./run_result.ts";
import { internalsOf, resumeAnswer } from "./runtime.ts";
import type { Runtime } from "./runtime_api.ts";

/** An `updates` chunk: each task's update by node, or the interrupts that stopped the run. */
export type UpdatesChunk = { [node: string]: Json } | { __interrupt__: PendingInterrupt[] };

/** A `messages` chunk: what a node passed to `ctx.emitMessage`, and where it came from. */
export type MessagesChunk = [
  chunk: unknown,
  metadata: { node: string; step: number; taskId: string },
];

/** A `debug` chunk: a task started or finished, or a checkpoint was made. */
export type DebugChunk =
  | {
    type: "task";
    step: number;
    timestamp: number;
    payload: { id: string; name: string; attempt: number };
  }
  | {
    type: "task_result";
    step: number;
    timestamp: number;
    payload: {
      id: string;
      name: string;
      result: Json;
      error: string | null;
      interrupts: { id: string; value: Json }[];
    };
  }
  | {
    type: "checkpoint";
    step: number;
    timestamp: number;
    payload: {
      checkpointId: string;
      parentCheckpointId: string | null;
      values: Record<string, unknown>;
      next: string[];
    };
  };

/**
 * The chunk of each stream mode, as `stream()` yields it when it streams
 * that one mode (`custom` chunks are whatever nodes pass to `ctx.emit`).
 *
 * @typeParam S The state's type.
 */
export interface StreamChunks<S = Record<string, unknown>> {
  /** The whole state. */
  values: S;
  /** Each task's update, or the interrupts. */
  updates: UpdatesChunk;
  /** A message chunk and its metadata. */
  messages: MessagesChunk;
  /** What a node passed to `ctx.emit`. */
  custom: unknown;
  /** Tasks and checkpoints. */
  debug: DebugChunk;
}

/** A stream mode. */
export type StreamMode = keyof StreamChunks;

/** Every stream mode. */
export const STREAM_MODES: readonly StreamMode[] = [
  "values",
  "updates",
  "messages",
  "custom",
  "debug",
];

/**
 * What `stream()` yields for the modes `M` (one mode, or a list of them) and
 * the subgraphs flag `Sub`: the chunk itself for one mode, `[mode, chunk]`
 * for a list, each prefixed by its namespace (`[]` for the run itself) with
 * subgraphs.
 *
 * @typeParam S The state's type.
 * @typeParam M The mode, or the list of modes.
 * @typeParam Sub Whether subgraph chunks are included.
 */
export type StreamChunk<
  S = Record<string, unknown>,
  M extends StreamMode | readonly StreamMode[] = StreamMode | readonly StreamMode[],
  Sub extends boolean = boolean,
> = (M extends readonly (infer L)[] ? L : M) extends infer E extends StreamMode
  ? E extends StreamMode ? (
      M extends readonly StreamMode[]
        ? (Sub extends true ? [string[], E, StreamChunks<S>[E]] : [E, StreamChunks<S>[E]])
        : (Sub extends true ? [string[], StreamChunks<S>[E]] : StreamChunks<S>[E])
    )
  : never
  : never;

/**
 * Options of `CompiledGraph.stream`.
 *
 * @typeParam M The mode, or the list of modes.
 * @typeParam Sub Whether subgraph chunks are included.
 */
export interface StreamOptions<
  M extends StreamMode | readonly StreamMode[] = StreamMode | readonly StreamMode[],
  Sub extends boolean = boolean,
> {
  /** The run's id (default: a new id; required to resume with a `Command`). */
  threadId?: string;
  /**
   * The mode(s).
   * @default {"values"}
   */
  streamMode?: M;
  /**
   * Include chunks from subgraphs, prefixed by their namespace.
   * @default {false}
   */
  subgraphs?: Sub;
  /** When steps are committed. */
  durability?: Durability;
}

interface Emitted {
  namespace: string[];
  mode: StreamMode;
  chunk: unknown;
}

/**
 * Converts what an actor did into stream chunks.
 *
 * @internal Exported for tests.
 * @param event The actor event.
 * @param namespace Where it happened (`[]` for the run itself).
 * @param modes The modes wanted.
 * @param subgraphs Whether to include subgraph chunks.
 * @returns The chunks, in order.
 */
export function chunksOf(
  event: ActorEvent,
  namespace: string[],
  modes: ReadonlySet<StreamMode>,
  subgraphs: boolean,
): Emitted[] {
  const out: Emitted[] = [];
  const push = (mode: StreamMode, chunk: unknown) => {
    if (modes.has(mode)) out.push({ namespace, mode, chunk });
  };
  if (event.kind === "step_start") {
    // The input state, once: not again when an interrupt of step 1 is resumed.
    if (event.step === 1 && event.run.step === 0 && event.run.resumes.length === 0) {
      push("values", event.run.state);
    }
  } else if (event.kind === "committed") {
    for (const item of event.events) {
      if (item.type === "step.committed") {
        for (const task of item.tasks) push("updates", { [task.node]: task.update });
        push("values", event.run.state);
        push("debug", {
          type: "checkpoint",
          step: item.step,
          timestamp: item.at,
          payload: {
            checkpointId: item.checkpointId,
            parentCheckpointId: item.parentCheckpointId,
            values: event.run.state,
            next: item.next.map((task) => task.node),
          },
        });
      } else if (item.type === "interrupt.raised") {
        push("updates", {
          __interrupt__: item.interrupts.map(({ id, node, value }) => ({ id, node, value })),
        });
      } else if (item.type === "state.updated") {
        push("updates", { [item.asNode ?? UPDATE_NODE]: item.update });
        push("values", event.run.state);
      }
    }
  } else if (event.kind === "execution") {
    out.push(...executionChunks(event.event, namespace, modes, subgraphs));
  }
  return out;
}

function executionChunks(
  event: ExecutionEvent,
  namespace: string[],
  modes: ReadonlySet<StreamMode>,
  subgraphs: boolean,
): Emitted[] {
  const push = (mode: StreamMode, chunk: unknown): Emitted[] =>
    modes.has(mode) ? [{ namespace, mode, chunk }] : [];
  switch (event.kind) {
    case "task_start":
      return push("debug", {
        type: "task",
        step: event.step,
        timestamp: Date.now(),
        payload: { id: event.task.id, name: event.task.node, attempt: event.attempt },
      });
    case "task_end":
      return push("debug", {
        type: "task_result",
        step: event.step,
        timestamp: Date.now(),
        payload: {
          id: event.task.id,
          name: event.task.node,
          result: event.write?.update ?? null,
          error: event.error,
          interrupts: event.interrupt === null
            ? []
            : [{ id: event.interrupt.id, value: event.interrupt.value }],
        },
      });
    case "custom":
      return push("custom", event.data);
    case "messages":
      return push("messages", [event.data, {
        node: event.task.node,
        step: event.step,
        taskId: event.task.id,
      }]);
    case "subgraph":
      return subgraphs
        ? chunksOf(event.event as ActorEvent, [...namespace, event.namespace], modes, subgraphs)
        : [];
  }
}

function shape(emitted: Emitted, single: boolean, subgraphs: boolean): unknown {
  if (subgraphs) {
    return single
      ? [emitted.namespace, emitted.chunk]
      : [emitted.namespace, emitted.mode, emitted.chunk];
  }
  return single ? emitted.chunk : [emitted.mode, emitted.chunk];
}

/**
 * Runs (or resumes) a run and yields its chunks until it comes to rest.
 *
 * @internal Used by `CompiledGraph.stream`.
 * @param runtime The runtime.
 * @param graph The graph's name.
 * @param input The input, or a `Command` with `resume`.
 * @param options Thread id, modes, subgraphs.
 * @returns The chunks.
 */
export async function* streamRun(
  runtime: Runtime,
  graph: string,
  input: unknown,
  options: StreamOptions,
): AsyncGenerator<unknown> {
  const requested = options.streamMode ?? "values";
  const list: StreamMode[] = typeof requested === "string" ? [requested] : [...requested];
  for (const mode of list) {
    if (!STREAM_MODES.includes(mode)) {
      throw new InvalidArgumentError(
        `Cannot stream in mode "${mode}": use ${STREAM_MODES.join(", ")}`,
        { field: "streamMode" },
      );
    }
  }
  const modes = new Set(list);
  const single = typeof requested === "string";
  const subgraphs = options.subgraphs ?? false;
  const queue: unknown[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  let failure: { error: unknown } | null = null;
  const listener = (event: ActorEvent) => {
    for (const emitted of chunksOf(event, [], modes, subgraphs)) {
      queue.push(shape(emitted, single, subgraphs));
    }
    wake?.();
  };
  const internals = internalsOf(runtime);
  let running: Promise<RunResult>;
  if (input instanceof Command) {
    if (!input.hasResume) throw new InvalidArgumentError("Cannot stream a Command without resume");
    if (options.threadId === undefined) {
      throw new InvalidArgumentError("Cannot resume: threadId is required", { field: "threadId" });
    }
    running = internals.resume(options.threadId, resumeAnswer(input.resume, runtime.maxJsonDepth), {
      listener,
    });
  } else {
    running = internals.invoke(graph, input ?? null, {
      ...(options.threadId === undefined ? {} : { threadId: options.threadId }),
      listener,
      ...(options.durability === undefined ? {} : { durability: options.durability }),
    });
  }
  running.then(() => {
    finished = true;
    wake?.();
  }, (error) => {
    failure = { error };
    finished = true;
    wake?.();
  });
  while (true) {
    while (queue.length > 0) yield queue.shift();
    if (finished) break;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
  }
  while (queue.length > 0) yield queue.shift();
  if (failure !== null) throw (failure as { error: unknown }).error;
}
