/**
 * The context a node runs with (`ctx`): journaled effects, deterministic
 * time and randomness, durable sleep, interrupts, stream output, and the
 * run's abort signal.
 *
 * Every effect's result is journaled under (step, task path, call index) as
 * soon as it completes. When the node runs again (resume after an interrupt,
 * recovery after a crash, replay), a journaled effect returns its recorded
 * result (a recorded error is thrown again) instead of running again.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import {
  assertJson,
  deserializeError,
  type EffectKey,
  type EffectRecord,
  type EffectResult,
  type Json,
  LeaseLostError,
  NondeterminismError,
  OrisError,
  type ResolvedInterrupt,
  serializeError,
  type Store,
  type TaskSpec,
  type ThreadId,
} from "../kernel/mod.ts";
import type { Fence } from "./leases.ts";

/** What a node gets as its second argument. */
export interface NodeContext {
  /** The run. */
  readonly threadId: ThreadId;
  /** The superstep. */
  readonly step: number;
  /** The node's name. */
  readonly node: string;
  /** The task's id (unique within the step). */
  readonly taskId: string;
  /** The attempt of this task, from 1 (retries count up). */
  readonly attempt: number;
  /** Fires when the run is cancelled or the node times out. */
  readonly signal: AbortSignal;
  /**
   * Runs a side effect once: its result (or error) is journaled, and later
   * executions of this node get the journaled result without running it.
   *
   * @param name A stable name; a different name at the same call index on
   * re-execution is a {@linkcode NondeterminismError}.
   * @param fn The effect; it gets the abort signal. Its result must be JSON.
   */
  effect<T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T>;
  /** The current time in ms, journaled. */
  now(): Promise<number>;
  /** A random number in [0, 1), journaled. */
  random(): Promise<number>;
  /** A random UUID, journaled. */
  uuid(): Promise<string>;
  /** Sleeps durably: the wake-up time is journaled, so a re-execution waits only what is left. */
  sleep(ms: number): Promise<void>;
  /**
   * Pauses the run for human input. The run becomes `interrupted`; when it is
   * resumed, the node runs again and this call returns the answer.
   *
   * @param value What to show the person (JSON).
   */
  interrupt<T = unknown>(value: unknown): Promise<T>;
  /** Sends data to `custom` stream consumers. */
  emit(data: unknown): void;
  /** Sends a token chunk to `messages` stream consumers. */
  emitMessage(chunk: unknown): void;
}

/** Thrown by `interrupt()` to stop a node until it is resumed. Do not catch it. */
export class GraphInterrupt extends Error {
  /** The error class name. */
  override name = "GraphInterrupt";
  /** What the node asked. */
  readonly value: Json;
  /** Which `interrupt()` call of the task. */
  readonly index: number;

  /**
   * Creates the signal.
   *
   * @param value What the node asked.
   * @param index Which call of the task.
   */
  constructor(value: Json, index: number) {
    super("The node is waiting for human input");
    this.value = value;
    this.index = index;
  }
}

/**
 * Where task contexts journal effects and report what happens: made once per
 * executor environment and shared by the contexts of all its steps. @internal
 */
export interface TaskContextOptions {
  store: Store;
  now(): number;
  random(): number;
  uuid(): string;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** A task of superstep `step` sent stream output. */
  emit(step: number, task: TaskSpec, mode: "custom" | "messages", data: unknown): void;
  /** Passes on what a child run (subgraph) of a task of superstep `step` does, for streams. */
  forward(step: number, task: TaskSpec, namespace: string, event: unknown): void;
  /** The deepest nesting of an effect result or interrupt value (the runtime's `maxJsonDepth`). */
  maxJsonDepth: number;
  /** The run's lease: every effect record carries its fencing token (none: not fenced). */
  fence?: Fence;
}

/**
 * What the task contexts of one superstep share: one small object with no
 * closures, so that a context that outlives its step (the async context of
 * `getContext()` holds it until the garbage collector finds it) keeps little. @internal
 */
export interface TaskStep {
  threadId: ThreadId;
  /** The superstep (of stream events). */
  step: number;
  /** The step effects are journaled under and interrupts are raised in (`ctx.step`). */
  journalStep: number;
  /** Effects already journaled for this step, by `${path}#${index}`. */
  recorded: ReadonlyMap<string, EffectRecord>;
  /** `replay`: effects come only from the journal; nothing is written. */
  mode: "live" | "replay";
  /** The step's new live effects, in the order they were journaled. */
  effects: EffectRecord[];
  /** The run's signal: when it is aborted the run was cancelled (then failures are not journaled). */
  signal: AbortSignal;
}

/**
 * The journal path of a task attempt: the task id for the first attempt,
 * `<task id>~<attempt>` for retries, so that each attempt has its own
 * journal and a re-execution reproduces the same sequence of attempts.
 *
 * @param taskId The task.
 * @param attempt The attempt, from 1.
 * @returns The path used as the journal's `node`.
 */
export function taskPath(taskId: string, attempt: number): string {
  return attempt === 1 ? taskId : `${taskId}~${attempt}`;
}

/** The implementation of {@linkcode NodeContext} for one task attempt. @internal */
export class TaskContext implements NodeContext {
  readonly threadId: ThreadId;
  readonly step: number;
  readonly node: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly signal: AbortSignal;
  /** The interrupt this attempt raised, if any (even if user code swallowed the signal). */
  raised: GraphInterrupt | null = null;
  #options: TaskContextOptions;
  #step: TaskStep;
  #task: TaskSpec;
  #resumes: readonly ResolvedInterrupt[];
  #path: string;
  #effectIndex = 0;
  #interruptIndex = 0;

  /**
   * @param options What the contexts of the executor share.
   * @param step What the contexts of the step share.
   * @param task The task.
   * @param attempt Its attempt, from 1.
   * @param signal The attempt's abort signal.
   * @param resumes The answers to the task's interrupts.
   */
  constructor(
    options: TaskContextOptions,
    step: TaskStep,
    task: TaskSpec,
    attempt: number,
    signal: AbortSignal,
    resumes: readonly ResolvedInterrupt[],
  ) {
    this.#options = options;
    this.#step = step;
    this.#task = task;
    this.#resumes = resumes;
    this.threadId = step.threadId;
    this.step = step.journalStep;
    this.node = task.node;
    this.taskId = task.id;
    this.attempt = attempt;
    this.signal = signal;
    this.#path = taskPath(task.id, attempt);
  }

  async effect<T>(name: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
    const options = this.#options;
    const step = this.#step;
    const index = this.#effectIndex++;
    const key: EffectKey = { threadId: this.threadId, step: this.step, node: this.#path, index };
    const recorded = step.recorded.get(`${this.#path}#${index}`);
    if (recorded !== undefined) {
      if (recorded.name !== name) {
        throw new NondeterminismError({
          threadId: this.threadId,
          step: this.step,
          node: this.node,
          recorded: `effect "${recorded.name}" at call ${index}`,
          replayed: `effect "${name}" at call ${index}`,
        });
      }
      return outcome(recorded.result) as T;
    }
    if (step.mode === "replay") {
      throw new NondeterminismError({
        threadId: this.threadId,
        step: this.step,
        node: this.node,
        recorded: `no effect at call ${index}`,
        replayed: `effect "${name}" at call ${index}`,
      });
    }
    this.signal.throwIfAborted();
    let result: EffectResult;
    const startedAt = options.now();
    try {
      const value = await fn(this.signal);
      assertJson(value === undefined ? null : value, `the result of effect "${name}"`, {
        maxDepth: options.maxJsonDepth,
      });
      result = { ok: true, value: (value ?? null) as Json };
    } catch (error) {
      if (step.signal.aborted || error instanceof GraphInterrupt) throw error;
      result = { ok: false, error: serializeError(error) };
      const recordedAt = options.now();
      step.effects.push(await record(options, { ...key, name, result, startedAt, recordedAt }));
      throw error;
    }
    const recordedAt = options.now();
    const stored = await record(options, { ...key, name, result, startedAt, recordedAt });
    step.effects.push(stored);
    return outcome(stored.result) as T;
  }

  now(): Promise<number> {
    return this.effect("oris.now", () => this.#options.now());
  }

  random(): Promise<number> {
    return this.effect("oris.random", () => this.#options.random());
  }

  uuid(): Promise<string> {
    return this.effect("oris.uuid", () => this.#options.uuid());
  }

  async sleep(ms: number): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Cannot sleep ${ms} ms`);
    const wake = await this.effect("oris.sleep", () => this.#options.now() + ms);
    if (this.#step.mode === "replay") return;
    const left = wake - this.#options.now();
    if (left > 0) await this.#options.sleep(left, this.signal);
  }

  interrupt<T = unknown>(value: unknown): Promise<T> {
    assertJson(value, "the interrupt value", { maxDepth: this.#options.maxJsonDepth });
    const index = this.#interruptIndex++;
    const answer = this.#resumes.find((resume) => resume.index === index);
    if (answer !== undefined) return Promise.resolve(answer.resume as T);
    this.raised ??= new GraphInterrupt(value, index);
    return Promise.reject(this.raised);
  }

  /**
   * The answer to this task's `index`-th interrupt, if it has been answered.
   *
   * @internal Used by subgraphs to map a child run's interrupts.
   */
  answer(index: number): ResolvedInterrupt | undefined {
    return this.#resumes.find((resume) => resume.index === index);
  }

  /**
   * Raises this task's `index`-th interrupt.
   *
   * @internal Used by subgraphs to map a child run's interrupts.
   */
  raiseAt(index: number, value: unknown): never {
    assertJson(value, "the interrupt value", { maxDepth: this.#options.maxJsonDepth });
    this.raised ??= new GraphInterrupt(value, index);
    throw this.raised;
  }

  /** @internal Whether this task is being replayed (effects come only from the journal). */
  get replaying(): boolean {
    return this.#step.mode === "replay";
  }

  /** @internal Passes on what a child run does. */
  forward(namespace: string, event: unknown): void {
    this.#options.forward(this.#step.step, this.#task, namespace, event);
  }

  emit(data: unknown): void {
    this.#options.emit(this.#step.step, this.#task, "custom", data);
  }

  emitMessage(chunk: unknown): void {
    this.#options.emit(this.#step.step, this.#task, "messages", chunk);
  }
}

/** Journals an effect under the run's lease; a refusal for a lost lease tells the lease. */
async function record(options: TaskContextOptions, effect: EffectRecord): Promise<EffectRecord> {
  if (options.fence === undefined) return await options.store.recordEffect(effect);
  const fence = options.fence.token();
  try {
    return await options.store.recordEffect(effect, { fence });
  } catch (error) {
    if (error instanceof LeaseLostError) options.fence.lost(error);
    throw error;
  }
}

function outcome(result: EffectResult): unknown {
  if (result.ok) return result.value;
  throw deserializeError(result.error);
}

const current = new AsyncLocalStorage<NodeContext>();

/**
 * Runs a node with `ctx` as the current node context (for
 * {@linkcode interrupt} and {@linkcode getContext}): `node.run(input, ctx)`.
 *
 * @internal Used by the executor.
 * @param ctx The context.
 * @param node The node.
 * @param input Its input.
 * @returns What the node returns.
 */
export function runWithContext(
  ctx: NodeContext,
  node: { run(input: unknown, ctx: NodeContext): unknown },
  input: unknown,
): unknown {
  return current.run(ctx, callNode, node, input, ctx);
}

function callNode(
  node: { run(input: unknown, ctx: NodeContext): unknown },
  input: unknown,
  ctx: NodeContext,
): unknown {
  return node.run(input, ctx);
}

/**
 * The context of the node running now.
 *
 * @returns The context.
 * @throws {OrisError} code `invalid_argument` outside a node.
 *
 * @example
 * ```ts
 * import { getContext } from "./context.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => getContext(), /outside a node/);
 * ```
 */
export function getContext(): NodeContext {
  const ctx = current.getStore();
  if (ctx === undefined) {
    throw new OrisError("invalid_argument", "Cannot use the node context outside a node");
  }
  return ctx;
}

/**
 * Pauses the run for human input, from anywhere inside a node; the same as
 * `ctx.interrupt(value)`.
 *
 * @typeParam T The answer's type.
 * @param value What to show the person (JSON).
 * @returns The answer, once the run is resumed.
 *
 * @example
 * ```ts
 * import { interrupt } from "./context.ts";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(() => interrupt("Approve?"), /outside a node/);
 * ```
 */
export function interrupt<T = unknown>(value: unknown): Promise<T> {
  try {
    return getContext().interrupt<T>(value);
  } catch (error) {
    return Promise.reject(error);
  }
}
