/**
 * What route handlers share: the runtime and its store, and the run
 * helpers of the v1 contract (a job's graph input, a run or 404, a call
 * raced against the wait bound).
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import type { RunResult, Runtime } from "../actors/mod.ts";
import type { ServerEnv } from "./env.ts";
import type { IdempotentActions } from "./idempotency.ts";
import { runResponse, traceBlock } from "./response_builders.ts";
import type { RunResponse } from "./responses.ts";
import {
  type ControlStore,
  humanMessage,
  InvalidArgumentError,
  isJsonObject,
  type Json,
  type Logger,
  NotFoundError,
  type RunSnapshot,
  type Store,
} from "../kernel/mod.ts";

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
  /** Where the server logs what it cannot return to a caller. */
  logger: Logger;
  /** The server's idempotent actions. */
  idempotency: IdempotentActions;
}

/** How long `POST /v1/jobs/run` waits for a run to come to rest by default. */
export const DEFAULT_WAIT_MS = 30_000;

/**
 * Turns a job's `input` into the graph's input: objects pass as they are; a
 * string is a human message for graphs with a `messages` channel. The input
 * is checked as the runtime will check it (known channels, each channel's
 * schema), so a bad one is refused before anything (an idempotency key) is
 * claimed.
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
  if (isJsonObject(input)) {
    try {
      runtime.graph(graph).spec.schema.parseUpdate(input, "input");
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      // The body's field: the channel is inside `input`.
      const { field: _channel, ...details } = error.details ?? {};
      throw new InvalidArgumentError(error.message, {
        field: error.field === undefined ? "input" : `input.${error.field}`,
        details,
        cause: error,
      });
    }
    return input;
  }
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
 * with the run as it is when the bound passes first. The call goes on after
 * the bound; if it fails then, the failure is logged.
 *
 * @param deps The runtime and the logger.
 * @param threadId The run.
 * @param call The call (invoke or resume).
 * @param waitMs The bound.
 * @returns The result or the current run.
 */
export async function waitBounded(
  deps: Pick<ApiDeps, "runtime" | "logger">,
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
    call.catch((error) =>
      deps.logger.warn("run call failed after the wait bound", { thread_id: threadId, error })
    );
    return await createdRun(deps.runtime, threadId, call);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A run call raced against its wait bound ({@link waitBounded}, the default
 * bound when none is given), answered as a run response of this request.
 *
 * @param c The request.
 * @param deps The runtime and the logger.
 * @param threadId The run the call reaches.
 * @param call The call (resume, fork, rerun).
 * @param waitMs The bound, if the request gave one.
 * @returns The run response.
 */
export async function boundedRunResponse(
  c: Context<ServerEnv>,
  deps: Pick<ApiDeps, "runtime" | "logger">,
  threadId: string,
  call: Promise<RunResult>,
  waitMs: number | undefined,
): Promise<z.infer<typeof RunResponse>> {
  const result = await waitBounded(deps, threadId, call, waitMs ?? DEFAULT_WAIT_MS);
  return runResponse(result, { idempotencyKey: null, replay: false, trace: traceBlock(c) });
}

/**
 * The run once `call` has created it (a bound that passes before a new run,
 * a fork or a rerun exists answers with the run, not a 404), or the call's
 * result or error when it settles first.
 */
async function createdRun(
  runtime: Runtime,
  threadId: string,
  call: Promise<RunResult>,
): Promise<RunResult | RunSnapshot> {
  const settled = call.then(() => "settled" as const, () => "settled" as const);
  for (let delayMs = 1;; delayMs = Math.min(delayMs * 2, 50)) {
    const run = await runtime.get(threadId);
    if (run !== null) return run;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = new Promise<"tick">((resolve) => {
      timer = setTimeout(() => resolve("tick"), delayMs);
    });
    const next = await Promise.race([settled, tick]);
    clearTimeout(timer);
    if (next === "settled") return await call;
  }
}

/**
 * The run a first request in another process is working on, for a repeat to
 * answer with: the run once it comes to rest (within `waitMs`), or as it is
 * then.
 *
 * @param deps The runtime, clock and logger.
 * @param threadId The run.
 * @param waitMs How long to wait at most.
 * @returns The run.
 * @throws {NotFoundError} when the run does not exist (yet: the first request
 * has not created it, or it stopped before it did).
 */
export async function settledRun(
  deps: Pick<ApiDeps, "runtime" | "now" | "logger">,
  threadId: string,
  waitMs: number,
): Promise<RunResult | RunSnapshot> {
  const run = await deps.runtime.get(threadId);
  if (run === null) {
    throw new NotFoundError("run", threadId, {
      details: { thread_id: threadId, reason: "the first request has not created it" },
    });
  }
  return await waitBounded(deps, threadId, deps.runtime.wait(threadId), waitMs);
}
