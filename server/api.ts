/**
 * What route handlers share: the runtime and its store, the per-request
 * trace, and the run response of the v1 contract.
 *
 * @module
 */

import type { Context } from "hono";
import type { RunResult, Runtime } from "../actors/mod.ts";
import {
  type ControlStore,
  humanMessage,
  InvalidArgumentError,
  isJsonObject,
  type Json,
  NotFoundError,
  type RunSnapshot,
  type Store,
} from "../kernel/mod.ts";
import type { Principal } from "./auth.ts";
import type { RequestTrace } from "./trace.ts";

/** A store with control records: what the server needs. */
export type ServerStore = Store & ControlStore;

/** What every route handler can use. */
export interface ApiDeps {
  /** The runtime. */
  runtime: Runtime;
  /** Its store. */
  store: ServerStore;
  /** The graph a job runs when it names none. */
  defaultGraph: string;
  /** The clock (ms). */
  now(): number;
}

/** Per-request values set by the server. */
export interface RequestState {
  /** The request id. */
  requestId: string;
  /** The request's trace. */
  trace: RequestTrace;
  /** Who is calling. */
  principal: Principal;
}

/**
 * The per-request state of a request.
 *
 * @param c The Hono context.
 * @returns The request state.
 */
export function requestState(c: Context): RequestState {
  return c.get("oris" as never) as RequestState;
}

/** The trace block of responses. */
export function traceBlock(c: Context): { trace_id: string; span_id: string; traceparent: string } {
  const { trace } = requestState(c);
  return { trace_id: trace.traceId, span_id: trace.spanId, traceparent: trace.traceparent };
}

/** How long `POST /v1/jobs/run` waits for a run to come to rest by default. */
export const DEFAULT_WAIT_MS = 30_000;

/**
 * The v1 run response: `{ thread_id, status, interrupts, pending_interrupts,
 * checkpoint_id, idempotency_key, idempotent_replay, trace, error? }`.
 * `interrupts` holds the pending interrupts' values, as in the original
 * contract; `pending_interrupts` adds their ids and nodes.
 *
 * @param run The run, as a result or a snapshot.
 * @param extras The idempotency key, whether this is a replay, and the trace.
 * @returns The response data.
 */
export function runResponse(
  run: RunResult | RunSnapshot,
  extras: { idempotencyKey: string | null; replay: boolean; trace: Record<string, string> },
): Record<string, unknown> {
  const pending =
    "interrupts" in run && Array.isArray(run.interrupts) && run.status === "interrupted"
      ? run.interrupts.map((item) => ({
        interrupt_id: item.id,
        node: item.node,
        value: item.value,
      }))
      : [];
  const data: Record<string, unknown> = {
    thread_id: run.threadId,
    status: run.status,
    interrupts: pending.map((item) => item.value),
    pending_interrupts: pending,
    checkpoint_id: run.checkpointId,
    idempotency_key: extras.idempotencyKey,
    idempotent_replay: extras.replay,
    trace: extras.trace,
  };
  if (run.status === "failed") data.error = "error" in run ? run.error : null;
  return data;
}

/**
 * Turns a job's `input` into the graph's input: objects pass as they are; a
 * string is a human message for graphs with a `messages` channel.
 *
 * @param runtime The runtime.
 * @param graph The graph's name.
 * @param input The job's input.
 * @returns The graph input.
 * @throws {InvalidArgumentError} for an unknown graph or an input the graph cannot take.
 */
export function graphInput(runtime: Runtime, graph: string, input: Json | undefined): Json {
  if (!runtime.graphNames().includes(graph)) {
    throw new InvalidArgumentError(`Unknown graph "${graph}"`, {
      field: "graph",
      details: { known: runtime.graphNames() },
    });
  }
  if (input === undefined || input === null) return null;
  if (isJsonObject(input)) return input;
  if (typeof input === "string" && runtime.graph(graph).spec.schema.keys.includes("messages")) {
    return { messages: [humanMessage(input)] } as unknown as Json;
  }
  throw new InvalidArgumentError(
    `input of graph "${graph}" must be an object of its channels${
      runtime.graph(graph).spec.schema.keys.includes("messages") ? " or a string" : ""
    }`,
    { field: "input" },
  );
}

/**
 * Loads a run or fails with 404.
 *
 * @param runtime The runtime.
 * @param threadId The run.
 * @returns The run now.
 * @throws {NotFoundError} when there is no such run.
 */
export async function requireRun(runtime: Runtime, threadId: string): Promise<RunSnapshot> {
  const run = await runtime.get(threadId);
  if (run === null) throw new NotFoundError("run", threadId, { details: { thread_id: threadId } });
  return run;
}

/**
 * Races a run call against a wait bound: resolves with the call's result, or
 * with the run as it is when the bound passes first.
 *
 * @param runtime The runtime.
 * @param threadId The run.
 * @param call The call (invoke or resume).
 * @param waitMs The bound.
 * @returns The result or the current run.
 */
export async function waitBounded(
  runtime: Runtime,
  threadId: string,
  call: Promise<RunResult>,
  waitMs: number,
): Promise<RunResult | RunSnapshot> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), waitMs);
  });
  try {
    const winner = await Promise.race([call, bound]);
    if (winner !== "timeout") return winner;
    call.catch(() => {});
    return await requireRun(runtime, threadId);
  } finally {
    clearTimeout(timer);
  }
}
