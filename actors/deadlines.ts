/**
 * Run deadlines (`Deadline`, recorded with a run as `RunDeadline`): the
 * timers that end a run with code `timeout` when it does not finish in time.
 *
 * - `execution`: each stretch of execution (a start, a resume, a recovery)
 *   must come to rest within `ms`; the timer is armed for the call and
 *   disarmed when the run comes to rest (completed, failed, cancelled, or
 *   waiting at an interrupt or a pause: waiting is not counted).
 * - `total`: the run must finish within `ms` of its creation, time waiting
 *   at interrupts and pauses included. The deadline is derived from what the
 *   run records (`createdAt` and its `deadline`), so whichever runtime loads
 *   the run arms it; one already passed ends the run before any other message.
 *   The timer stays armed while the run waits (its actor may be passivated)
 *   and is disarmed when the run ends.
 *
 * Timers use the runtime's `sleep` (by default {@linkcode defaultSleep}), so
 * an injected clock and sleep make deadlines virtual too. They live in this process: a run left waiting is
 * timed out by the next runtime that loads it.
 *
 * @module
 */

import {
  InvalidArgumentError,
  isTerminal,
  type Logger,
  type RunDeadline,
  type RunMessage,
  type RunSnapshot,
} from "../kernel/mod.ts";
import type { Deadline } from "./runtime_api.ts";
import { atRest, type RunActor } from "./run_actor.ts";

/** What the deadline timers need from their runtime. @internal */
export interface DeadlineDeps {
  /** The clock (ms). */
  now(): number;
  /** Waits `ms` unless `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Where a deadline that cannot end its run is reported. */
  logger: Logger;
  /** Ends a run that passed its total deadline, unless it has ended (loads its actor if needed). */
  expire(threadId: string, message: Extract<RunMessage, { type: "timeout" }>): Promise<void>;
}

/**
 * Checks a call's deadline and completes its scope.
 *
 * @internal Used by the runtime.
 * @param deadline The deadline given to a call.
 * @returns The deadline as a run records it.
 * @throws {InvalidArgumentError} when `ms` is not a positive whole number, or
 * `status` or `scope` is not one of theirs.
 */
export function checkDeadline(deadline: Deadline): RunDeadline {
  const { ms, status, scope = "execution" } = deadline ?? ({} as Partial<Deadline>);
  if (ms === undefined || !Number.isSafeInteger(ms) || ms < 1) {
    throw new InvalidArgumentError(`deadline.ms must be a positive whole number, got ${ms}`, {
      field: "deadline.ms",
    });
  }
  if (status !== "failed" && status !== "cancelled") {
    throw new InvalidArgumentError(
      `deadline.status must be "failed" or "cancelled", got "${status}"`,
      { field: "deadline.status" },
    );
  }
  if (scope !== "execution" && scope !== "total") {
    throw new InvalidArgumentError(
      `deadline.scope must be "execution" or "total", got "${scope}"`,
      { field: "deadline.scope" },
    );
  }
  return { ms, status, scope };
}

/** The longest a timer can wait at once (longer waits are chained). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Waits `ms` unless `signal` aborts: the runtime's default `sleep` (waits
 * longer than a timer can take are chained).
 *
 * @internal Used by the runtime.
 * @param ms How long.
 * @param signal Ends the wait early (the promise rejects with its reason).
 * @returns When the time has passed.
 */
export function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let left = ms;
    let timer: ReturnType<typeof setTimeout>;
    const wait = () => {
      const step = Math.min(left, MAX_TIMER_MS);
      left -= step;
      timer = setTimeout(() => {
        if (left > 0) return wait();
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, step);
    };
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    wait();
  });
}

function timeoutOf(deadline: RunDeadline): Extract<RunMessage, { type: "timeout" }> {
  return { type: "timeout", ms: deadline.ms, status: deadline.status, scope: deadline.scope };
}

/** A total deadline armed in this process. */
interface Armed {
  /** When it passes (ms, the runtime's clock). */
  at: number;
  /** Disarms it. */
  controller: AbortController;
}

/** The deadline timers of one runtime. @internal */
export class Deadlines {
  #deps: DeadlineDeps;
  #totals = new Map<string, Armed>();
  #executions = new Set<AbortController>();

  constructor(deps: DeadlineDeps) {
    this.#deps = deps;
  }

  /**
   * Arms a deadline for a call that executes a run: an `execution` one for
   * this stretch of execution (returns its disarm function), a `total` one
   * for the run (it stays armed until the run ends).
   *
   * @param actor The run's actor (the caller holds a pin on it).
   * @param deadline The call's deadline, or by default the run's own.
   * @returns The function that disarms an `execution` deadline.
   */
  arm(actor: RunActor, deadline: RunDeadline | undefined = actor.run.deadline): () => void {
    if (deadline === undefined) return () => {};
    if (deadline.scope === "total") {
      this.armTotal(actor, deadline);
      return () => {};
    }
    const controller = new AbortController();
    this.#executions.add(controller);
    const disarm = () => {
      controller.abort();
      this.#executions.delete(controller);
    };
    this.#deps.sleep(deadline.ms, controller.signal).then(() => {
      this.#executions.delete(controller);
      if (atRest(actor.run)) return;
      actor.send(timeoutOf(deadline)).catch((error) =>
        this.#deps.logger.warn("Cannot end a run at its deadline", {
          thread_id: actor.threadId,
          error,
        })
      );
    }, () => {});
    return disarm;
  }

  /**
   * Arms a run's total deadline (its own, or an earlier one given), measured
   * from the run's creation. One that has passed ends the run at once: the
   * timeout is the first message of the actor, so nothing else runs before it.
   *
   * @param actor The run's actor (the caller holds a pin on it).
   * @param deadline The deadline (default: the run's own, if it is `total`).
   */
  armTotal(actor: RunActor, deadline: RunDeadline | undefined = actor.run.deadline): void {
    const run: RunSnapshot = actor.run;
    if (deadline?.scope !== "total" || isTerminal(run.status)) return;
    const at = run.createdAt + deadline.ms;
    const armed = this.#totals.get(run.threadId);
    if (armed !== undefined && armed.at <= at) return;
    armed?.controller.abort();
    const message = timeoutOf(deadline);
    const controller = new AbortController();
    // Armed until the run ends (`ended`), also while the timeout is on its
    // way: an actor loaded meanwhile does not send it again.
    this.#totals.set(run.threadId, { at, controller });
    const left = at - this.#deps.now();
    if (left <= 0) {
      actor.send(message).catch((error) => this.#failed(run.threadId, error));
      return;
    }
    this.#deps.sleep(left, controller.signal).then(
      () => this.#deps.expire(run.threadId, message),
      () => {},
    ).catch((error) => this.#failed(run.threadId, error)).finally(() => {
      if (this.#totals.get(run.threadId)?.controller === controller) {
        this.#totals.delete(run.threadId);
      }
    });
  }

  /**
   * Disarms a run's total deadline (the run ended).
   *
   * @param threadId The run.
   */
  ended(threadId: string): void {
    const armed = this.#totals.get(threadId);
    if (armed === undefined) return;
    armed.controller.abort();
    this.#totals.delete(threadId);
  }

  /** Disarms every timer (the runtime is closing). */
  close(): void {
    for (const armed of this.#totals.values()) armed.controller.abort();
    this.#totals.clear();
    for (const controller of this.#executions) controller.abort();
    this.#executions.clear();
  }

  #failed(threadId: string, error: unknown): void {
    this.#deps.logger.warn("Cannot end a run at its deadline", { thread_id: threadId, error });
  }
}
