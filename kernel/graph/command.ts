/**
 * `Send` (map-reduce: run a node with its own argument) and `Command` (update
 * state, choose where to go, or resume an interrupted run).
 *
 * @module
 */

/**
 * Schedules `node` in the next superstep with `arg` as its input instead of
 * the run's state. Return several from a router (or in `Command.goto`) to fan
 * out over a list.
 *
 * @example Fan out over subjects
 * ```ts
 * import { Send } from "./command.ts";
 * import assert from "node:assert/strict";
 *
 * const sends = ["cats", "dogs"].map((subject) => new Send("joke", { subject }));
 * assert.equal(sends[1]?.arg.subject, "dogs");
 * ```
 */
export class Send<A = unknown> {
  /** The node to run. */
  readonly node: string;
  /** Its input. */
  readonly arg: A;

  /**
   * Creates it.
   *
   * @param node The node to run.
   * @param arg Its input (JSON).
   */
  constructor(node: string, arg: A) {
    this.node = node;
    this.arg = arg;
  }
}

/** Options of {@linkcode Command}. */
export interface CommandOptions<U = Record<string, unknown>> {
  /** A state update, merged through the reducers like a node's return value. */
  update?: U;
  /** Where to go next: node names and/or {@linkcode Send}s (a node's `Command` only). */
  goto?: string | Send | (string | Send)[];
  /**
   * The answer to the pending interrupt (`invoke` only), or a map of answers
   * by interrupt id when several are pending.
   */
  resume?: unknown;
}

/**
 * Returned by a node to update state and route in one go, or passed to
 * `invoke` to resume an interrupted run.
 *
 * @example
 * ```ts
 * import { Command } from "./command.ts";
 * import assert from "node:assert/strict";
 *
 * const command = new Command({ update: { approved: true }, goto: "act" });
 * assert.deepEqual(command.gotoList(), ["act"]);
 * ```
 */
export class Command<U = Record<string, unknown>> {
  /** The state update. */
  readonly update: U | undefined;
  /** Where to go next. */
  readonly goto: string | Send | (string | Send)[] | undefined;
  /** The resume value. */
  readonly resume: unknown;
  /** Whether a resume value was given (it may be `null` or `false`). */
  readonly hasResume: boolean;

  /**
   * Creates the command.
   *
   * @param options The update, goto and/or resume.
   */
  constructor(options: CommandOptions<U>) {
    this.update = options.update;
    this.goto = options.goto;
    this.resume = options.resume;
    this.hasResume = "resume" in options;
  }

  /**
   * The `goto` targets as a list.
   *
   * @returns Node names and sends, in order.
   */
  gotoList(): (string | Send)[] {
    if (this.goto === undefined) return [];
    return Array.isArray(this.goto) ? [...this.goto] : [this.goto];
  }
}
