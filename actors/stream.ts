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

import { Command, InvalidArgumentError } from "../kernel/mod.ts";
import type { CompiledGraph } from "./compiled_graph.ts";
import type { ExecutionEvent } from "./executor.ts";
import type { ActorEvent, Durability } from "./run_actor.ts";
import type { RunResult } from "./runtime.ts";

/** A stream mode. */
export type StreamMode = "values" | "updates" | "messages" | "custom" | "debug";

/** Every stream mode. */
export const STREAM_MODES: readonly StreamMode[] = [
  "values",
  "updates",
  "messages",
  "custom",
  "debug",
];

/** Options of `CompiledGraph.stream`. */
export interface StreamOptions {
  /** The run's id (default: a new id). */
  threadId?: string;
  /**
   * The mode(s).
   * @default {"values"}
   */
  streamMode?: StreamMode | readonly StreamMode[];
  /**
   * Include chunks from subgraphs, prefixed by their namespace.
   * @default {false}
   */
  subgraphs?: boolean;
  /** When steps are committed. */
  durability?: Durability;
}

/** A chunk: see the module documentation for its shape in each mode. */
export type StreamChunk = unknown;

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
        push("updates", { [item.asNode ?? "__update__"]: item.update });
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

function shape(emitted: Emitted, single: boolean, subgraphs: boolean): StreamChunk {
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
 * @param graph The graph.
 * @param input The input, or a `Command` with `resume`.
 * @param options Thread id, modes, subgraphs.
 * @returns The chunks.
 */
export async function* streamRun(
  // deno-lint-ignore no-explicit-any
  graph: CompiledGraph<any>,
  input: unknown,
  options: StreamOptions,
): AsyncGenerator<StreamChunk> {
  const requested = options.streamMode ?? "values";
  const list = typeof requested === "string" ? [requested] : [...requested];
  for (const mode of list) {
    if (!STREAM_MODES.includes(mode)) {
      throw new InvalidArgumentError(
        `Cannot stream in mode "${mode}": use ${STREAM_MODES.join(", ")}`,
        {
          field: "streamMode",
        },
      );
    }
  }
  const modes = new Set(list);
  const single = typeof requested === "string";
  const subgraphs = options.subgraphs ?? false;
  const queue: StreamChunk[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  let failure: { error: unknown } | null = null;
  const listener = (event: ActorEvent) => {
    for (const emitted of chunksOf(event, [], modes, subgraphs)) {
      queue.push(shape(emitted, single, subgraphs));
    }
    wake?.();
  };
  const threadId = options.threadId ?? `run-${crypto.randomUUID()}`;
  let running: Promise<RunResult>;
  if (input instanceof Command) {
    if (!input.hasResume) throw new InvalidArgumentError("Cannot stream a Command without resume");
    running = graph.runtime.resume(threadId, input.resume, { listener });
  } else {
    running = graph.runtime.invoke(graph.name, input ?? null, {
      threadId,
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
