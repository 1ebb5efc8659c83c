/**
 * Resuming interrupts idempotently, whichever route answers them
 * (`POST /v1/interrupts/:interrupt_id/resume` or
 * `POST /v1/jobs/:thread_id/resume`): an answer to a set of interrupts is
 * one idempotent action keyed by those interrupts, so a repeat with the same
 * answer gets the first response again and another answer is a 409, through
 * either route.
 *
 * The job route names no interrupt: its answer is for the run's pending
 * interrupt, or, once the run has moved on, a repeat of the run's last
 * answer (the interrupts its last `run.resumed` answered).
 *
 * @module
 */

import type { Context } from "hono";
import type { z } from "zod";
import {
  ConflictError,
  type Json,
  parseThreadId,
  payloadHash,
  type RunSnapshot,
} from "../kernel/mod.ts";
import { type ApiDeps, boundedRunResponse, DEFAULT_WAIT_MS, settledRun } from "./api.ts";
import type { ServerEnv } from "./env.ts";
import { runResponse, traceBlock } from "./response_builders.ts";
import type { RunResponse } from "./responses.ts";

/** Answers by interrupt id. */
export type Answers = { [interruptId: string]: Json };

/** The idempotency key and payload of an answer to a set of interrupts. */
function resumeKey(answers: Answers): { key: string; payload: Json } {
  const ids = Object.keys(answers).sort();
  if (ids.length === 1) {
    return { key: `interrupt:${ids[0]}`, payload: { value: answers[ids[0]!]! } };
  }
  return { key: `interrupts:${payloadHash(ids)}`, payload: { values: answers } };
}

/**
 * Answers interrupts of a run once: the first request runs `action`, a
 * repeat with the same answers gets its response, other answers a 409.
 *
 * @param c The request's context (for its trace).
 * @param deps The runtime and the idempotent actions.
 * @param threadId The run.
 * @param answers The answers by interrupt id.
 * @param action Resumes the run (runs only for the first request).
 * @returns The run response.
 * @throws {ConflictError} when the interrupts were answered with other values.
 */
export function resumeOnce(
  c: Context<ServerEnv>,
  deps: ApiDeps,
  threadId: string,
  answers: Answers,
  action: () => Promise<z.infer<typeof RunResponse>>,
): Promise<z.infer<typeof RunResponse>> {
  const { key, payload } = resumeKey(answers);
  const ids = Object.keys(answers).sort();
  const trace = traceBlock(c);
  return deps.idempotency.once({
    key,
    operation: "interrupt.resume",
    threadId,
    payload,
    conflict: () =>
      new ConflictError(
        ids.length === 1
          ? `Interrupt "${ids[0]}" was already resumed with another value`
          : `Interrupts ${
            ids.map((id) => `"${id}"`).join(", ")
          } were already resumed with other values`,
        {
          details: ids.length === 1
            ? { interrupt_id: ids[0]!, thread_id: threadId }
            : { interrupt_ids: ids, thread_id: threadId },
        },
      ),
    // No `replay`: the same answers get the stored response as it is.
    // The first resume runs in another process: answer with the run as it settles.
    elsewhere: async () =>
      runResponse(await settledRun(deps, threadId, DEFAULT_WAIT_MS), {
        idempotencyKey: null,
        replay: true,
        trace,
      }),
  }, action);
}

/**
 * The answers a job-level resume gives: `values` as they are; `value` for
 * the run's only pending interrupt, or, when the run is no longer
 * interrupted, for the one interrupt its last answer was for (the request is
 * then a repeat of that answer). `null` when `value` names no interrupt
 * (several are pending, or none was ever answered): the resume then fails
 * as the run's state says.
 *
 * @param deps The store.
 * @param run The run now.
 * @param body The request's `value` or `values`.
 * @returns The answers, or `null`.
 */
export async function jobResumeAnswers(
  deps: ApiDeps,
  run: RunSnapshot,
  body: { value?: Json | undefined; values?: Answers | undefined },
): Promise<Answers | null> {
  if (body.values !== undefined) return body.values;
  const value = body.value ?? null;
  if (run.status === "interrupted") {
    return run.interrupts.length === 1 ? { [run.interrupts[0]!.id]: value } : null;
  }
  const last = await lastAnswered(deps, run);
  return last.length === 1 ? { [last[0]!]: value } : null;
}

/** How many events a look back for the last answer reads at a time. */
const LOOK_BACK = 32;

/** The interrupts the run's last `run.resumed` answered (none: never answered). */
async function lastAnswered(deps: ApiDeps, run: RunSnapshot): Promise<string[]> {
  const threadId = parseThreadId(run.threadId);
  for (let end = run.version; end >= 1; end -= LOOK_BACK) {
    const from = Math.max(1, end - LOOK_BACK + 1);
    const events = await deps.store.readEvents(threadId, from, { limit: end - from + 1 });
    for (let i = events.length - 1; i >= 0; i--) {
      const event = events[i]!.event;
      if (event.type === "run.resumed" && Object.keys(event.values).length > 0) {
        return Object.keys(event.values);
      }
    }
  }
  return [];
}

/**
 * Resumes a run with answers by id, bounded by the request's wait.
 *
 * @param c The request's context (trace and its parent context).
 * @param deps The runtime.
 * @param threadId The run.
 * @param answers The answers by interrupt id.
 * @param waitMs How long to wait for the run to come to rest.
 * @returns The run response.
 */
export async function resumeById(
  c: Context<ServerEnv>,
  deps: ApiDeps,
  threadId: string,
  answers: Answers,
  waitMs: number | undefined,
): Promise<z.infer<typeof RunResponse>> {
  return await boundedRunResponse(
    c,
    deps,
    threadId,
    deps.runtime.resumeById(threadId, answers, { parentContext: c.get("trace").context }),
    waitMs,
  );
}
