/**
 * Runs one superstep's tasks in parallel, each with its retry policy and
 * timeout, and reports what they wrote, which interrupts they raised and
 * whether one failed. It writes nothing of the run itself: the actor turns
 * the outcome into events and commits them.
 *
 * @module
 */

import {
  Command,
  DEFAULT_RETRY_POLICY,
  type EffectRecord,
  type GraphSpec,
  interruptIdFor,
  type InterruptRecord,
  InvalidArgumentError,
  isJsonObject,
  type Json,
  normalizeTarget,
  OrisError,
  type ResolvedInterrupt,
  retryDelayMs,
  type RetryPolicy,
  type RunSnapshot,
  type Store,
  type TaskSpec,
  type TaskWrite,
} from "../kernel/mod.ts";
import { assertJson, type JsonCheckOptions } from "../kernel/mod.ts";
import {
  type NodeContext,
  runWithContext,
  TaskContext,
  type TaskContextOptions,
  type TaskStep,
} from "./context.ts";
import type { Fence } from "./leases.ts";

/** Something a run emits while it executes (for streams and traces). @internal */
export type ExecutionEvent =
  | { kind: "task_start"; step: number; task: TaskSpec; attempt: number }
  | {
    kind: "task_end";
    step: number;
    task: TaskSpec;
    write: TaskWrite | null;
    error: string | null;
    interrupt: InterruptRecord | null;
  }
  | { kind: "custom" | "messages"; step: number; task: TaskSpec; data: unknown }
  | { kind: "subgraph"; step: number; task: TaskSpec; namespace: string; event: unknown };

/** What the executor needs from its runtime. @internal */
export interface ExecutorEnv {
  store: Store;
  now(): number;
  random(): number;
  uuid(): string;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  emit(event: ExecutionEvent): void;
  /** The deepest nesting of a value a node produces (the runtime's `maxJsonDepth`). */
  maxJsonDepth: number;
  /** The run's lease: effect records carry its fencing token (none: not fenced, e.g. replay). */
  fence?: Fence;
}

/** The outcome of a superstep. @internal */
export interface StepOutcome {
  /** Writes of tasks that finished now, in task order. */
  writes: TaskWrite[];
  /** Interrupts raised, in task order. */
  interrupts: InterruptRecord[];
  /** The first task that failed for good, if any. */
  failure: { node: string; error: unknown } | null;
  /** Effects journaled live during the step. */
  effects: EffectRecord[];
  /** The run was cancelled while the step ran. */
  aborted: boolean;
}

/** How to run a superstep. @internal */
export interface StepRequest {
  run: RunSnapshot;
  graph: GraphSpec<NodeContext>;
  mode: "live" | "replay";
  /** Fires when the run is cancelled. */
  signal: AbortSignal;
  /** Answers to interrupts of this step. */
  resumes: readonly ResolvedInterrupt[];
  /** Tasks to skip (they finished before an interrupt). */
  skip: ReadonlySet<string>;
  /**
   * No effect of this step can be journaled yet (the caller committed the
   * step before it and this one has not started before), so the journal is
   * not read. A record made meanwhile by another executor still wins: the
   * journal returns the first record of a key.
   */
  fresh?: boolean;
}

const NOT_RETRIED = new Set([
  "invalid_argument",
  "conflict",
  "nondeterminism",
  "cancelled",
  "terminal",
]);

/**
 * Whether an error is worth retrying by default: anything but an `OrisError`
 * that says the request itself is wrong, the run was cancelled, or the node
 * failed for good (a `TerminalError`, never retried whatever the policy says).
 *
 * @param error The error.
 * @returns Whether to retry.
 */
export function isRetryable(error: unknown): boolean {
  return !(error instanceof OrisError && NOT_RETRIED.has(error.code));
}

/**
 * Runs the tasks of `request.run.next` (except those in `skip`).
 *
 * @internal Used by the run actor and replay.
 * @param request The step.
 * @param env The runtime's services.
 * @returns What happened.
 */
export async function executeStep(request: StepRequest, env: ExecutorEnv): Promise<StepOutcome> {
  const { run } = request;
  const step = run.step + 1;
  // Tasks that answer interrupts use the journal of the step they were
  // interrupted in, even when `updateState` made a checkpoint in between, so
  // the effects they ran before `interrupt()` are not run again.
  const journalStep = request.resumes[0]?.step ?? step;
  let recorded: ReadonlyMap<string, EffectRecord> = NOTHING_RECORDED;
  if (request.fresh !== true || journalStep !== step) {
    const records = new Map<string, EffectRecord>();
    for (const record of await env.store.listEffects(run.threadId, journalStep)) {
      records.set(`${record.node}#${record.index}`, record);
    }
    recorded = records;
  }
  const effects: EffectRecord[] = [];
  const tasks = request.skip.size === 0
    ? run.next
    : run.next.filter((task) => !request.skip.has(task.id));
  const taskRun: TaskRun = {
    ...request,
    recorded,
    effects,
    step,
    journalStep,
    contexts: contextOptionsOf(env),
    steps: {
      threadId: run.threadId,
      step,
      journalStep,
      recorded,
      mode: request.mode,
      effects,
      signal: request.signal,
    },
  };
  const results = tasks.length === 1
    ? [await runTask(tasks[0]!, taskRun, env)]
    : await Promise.all(tasks.map((task) => runTask(task, taskRun, env)));
  const outcome: StepOutcome = {
    writes: [],
    interrupts: [],
    failure: null,
    effects,
    aborted: false,
  };
  for (const result of results) {
    if (result.kind === "write") outcome.writes.push(result.write);
    else if (result.kind === "interrupt") outcome.interrupts.push(result.record);
    else if (result.kind === "aborted") outcome.aborted = true;
    else outcome.failure ??= { node: result.node, error: result.error };
  }
  if (request.signal.aborted) outcome.aborted = true;
  return outcome;
}

/** The task context options of each executor environment, made at its first step. */
const CONTEXT_OPTIONS = new WeakMap<ExecutorEnv, TaskContextOptions>();

/** What the task contexts of an executor environment share (its closures hold only `env`). */
function contextOptionsOf(env: ExecutorEnv): TaskContextOptions {
  let options = CONTEXT_OPTIONS.get(env);
  if (options === undefined) {
    options = {
      store: env.store,
      now: env.now,
      random: env.random,
      uuid: env.uuid,
      sleep: env.sleep,
      emit: (step, task, kind, data) => env.emit({ kind, step, task, data }),
      forward: (step, task, namespace, event) =>
        env.emit({ kind: "subgraph", step, task, namespace, event }),
      maxJsonDepth: env.maxJsonDepth,
      ...(env.fence === undefined ? {} : { fence: env.fence }),
    };
    CONTEXT_OPTIONS.set(env, options);
  }
  return options;
}

type TaskResult =
  | { kind: "write"; write: TaskWrite }
  | { kind: "interrupt"; record: InterruptRecord }
  | { kind: "error"; node: string; error: unknown }
  | { kind: "aborted" };

/** The journal of a step no effect can have been recorded in yet. */
const NOTHING_RECORDED: ReadonlyMap<string, EffectRecord> = new Map();
/** A task's answers when the step answers no interrupt. */
const NO_RESUMES: readonly ResolvedInterrupt[] = Object.freeze([]);

interface TaskRun extends StepRequest {
  recorded: ReadonlyMap<string, EffectRecord>;
  /** What the task contexts of the executor share. */
  contexts: TaskContextOptions;
  /** What the task contexts of the step share. */
  steps: TaskStep;
  effects: EffectRecord[];
  step: number;
  /** The step effects are journaled under and interrupts are raised in. */
  journalStep: number;
}

async function runTask(task: TaskSpec, request: TaskRun, env: ExecutorEnv): Promise<TaskResult> {
  const node = request.graph.nodes.get(task.node);
  if (node === undefined) {
    return {
      kind: "error",
      node: task.node,
      // Tasks name nodes of the graph that planned them: a deployed graph without the node.
      error: new OrisError(
        "graph_changed",
        `Cannot run node "${task.node}": the graph no longer has it (it changed since the run planned the node)`,
        { details: { node: task.node } },
      ),
    };
  }
  const policy: RetryPolicy | null = node.options.retry === undefined
    ? null
    : { ...DEFAULT_RETRY_POLICY, ...node.options.retry };
  const maxAttempts = policy === null ? 1 : Math.max(1, Math.floor(policy.maxAttempts));
  const resumes = request.resumes.length === 0
    ? NO_RESUMES
    : request.resumes.filter((resume) => resume.taskId === task.id);
  for (let attempt = 1;; attempt++) {
    if (request.signal.aborted) return { kind: "aborted" };
    env.emit({ kind: "task_start", step: request.step, task, attempt });
    // An attempt gets a signal of its own only when a timeout may abort it
    // alone; otherwise the run's signal is the attempt's (no listener to add).
    const controller = node.options.timeoutMs === undefined ? null : new AbortController();
    const onAbort = controller === null ? null : () => controller.abort(request.signal.reason);
    if (onAbort !== null) request.signal.addEventListener("abort", onAbort, { once: true });
    const ctx = new TaskContext(
      request.contexts,
      request.steps,
      task,
      attempt,
      controller?.signal ?? request.signal,
      resumes,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const input = task.arg === undefined ? request.run.state : task.arg;
      let output: unknown;
      if (node.options.timeoutMs === undefined) {
        await null; // Nodes start after every task of the step has (as with a timeout below).
        output = await runWithContext(ctx, node, input);
      } else {
        output = await Promise.race([
          Promise.resolve().then(() => runWithContext(ctx, node, input)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              const error = new OrisError(
                "timeout",
                `Node "${task.node}" timed out after ${node.options.timeoutMs} ms`,
                { details: { node: task.node, timeout_ms: node.options.timeoutMs } },
              );
              controller?.abort(error);
              reject(error);
            }, node.options.timeoutMs);
          }),
        ]);
      }
      if (ctx.raised !== null) return interrupted(task, ctx, request, env);
      const write = toWrite(task, output, { maxDepth: env.maxJsonDepth });
      env.emit({ kind: "task_end", step: request.step, task, write, error: null, interrupt: null });
      return { kind: "write", write };
    } catch (error) {
      if (ctx.raised !== null) return interrupted(task, ctx, request, env);
      if (request.signal.aborted) return { kind: "aborted" };
      const message = error instanceof Error ? error.message : String(error);
      env.emit({
        kind: "task_end",
        step: request.step,
        task,
        write: null,
        error: message,
        interrupt: null,
      });
      const terminal = error instanceof OrisError && error.code === "terminal";
      const retry = policy !== null && attempt < maxAttempts && !terminal &&
        (policy.retryOn ?? isRetryable)(error);
      if (!retry) return { kind: "error", node: task.node, error };
      if (request.mode === "live") {
        try {
          await backoff(policy, attempt, error, ctx, env, request.signal);
        } catch (backoffError) {
          // A cancel cut the wait short: the next attempt sees it. Anything
          // else (the journal could not record the wake-up) fails the step.
          if (!request.signal.aborted) throw backoffError;
        }
      }
    } finally {
      clearTimeout(timer);
      if (onAbort !== null) request.signal.removeEventListener("abort", onAbort);
    }
  }
}

/**
 * Waits before a retry; the wake-up time is journaled, so recovery does not
 * wait again. An error that says when to try again (`details.retry_after_ms`
 * of an `OrisError`, e.g. from a 429's `Retry-After`) makes the wait at least
 * that long. After a timeout the attempt's own signal is aborted, so the
 * wait is not journaled and listens to the run's signal (a cancel) only.
 */
async function backoff(
  policy: RetryPolicy,
  attempt: number,
  error: unknown,
  ctx: TaskContext,
  env: ExecutorEnv,
  runSignal: AbortSignal,
): Promise<void> {
  const delay = Math.max(retryDelayMs(policy, attempt, env.random()), retryAfterMs(error));
  const wake = ctx.signal.aborted
    ? env.now() + delay
    : await ctx.effect(`oris.retry_backoff`, () => env.now() + delay);
  const left = wake - env.now();
  if (left > 0) await env.sleep(left, runSignal);
}

/** How long an error asks to wait before the next attempt (`details.retry_after_ms`), or 0. */
function retryAfterMs(error: unknown): number {
  if (!(error instanceof OrisError)) return 0;
  const value = error.details.retry_after_ms;
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0;
}

function interrupted(
  task: TaskSpec,
  ctx: TaskContext,
  request: TaskRun,
  env: ExecutorEnv,
): TaskResult {
  const raised = ctx.raised!;
  const record: InterruptRecord = {
    id: interruptIdFor(request.run.threadId, request.journalStep, task.id, raised.index),
    step: request.journalStep,
    taskId: task.id,
    node: task.node,
    index: raised.index,
    value: raised.value,
  };
  env.emit({
    kind: "task_end",
    step: request.step,
    task,
    write: null,
    error: null,
    interrupt: record,
  });
  return { kind: "interrupt", record };
}

/**
 * Normalizes what a node returned into its task write.
 *
 * @param task The task.
 * @param output The node's return value: an update object, a `Command`, or nothing.
 * @param options The nesting limit of its update and `Send` arguments.
 * @returns The write.
 * @throws {InvalidArgumentError} for anything else, or an update that is not
 * JSON or nests too deep.
 */
export function toWrite(
  task: TaskSpec,
  output: unknown,
  options: JsonCheckOptions = {},
): TaskWrite {
  const source = `node "${task.node}"`;
  if (output instanceof Command) {
    const update = output.update ?? null;
    assertJson(update, `the update of ${source}`, options);
    const goto = output.gotoList().map((target) => normalizeTarget(target, source, options));
    if (output.hasResume) {
      throw new InvalidArgumentError(
        `Cannot apply the Command of ${source}: resume is only for invoke()`,
      );
    }
    return goto.length === 0
      ? { taskId: task.id, node: task.node, update: update as Json }
      : { taskId: task.id, node: task.node, update: update as Json, goto };
  }
  if (output === undefined || output === null) {
    return { taskId: task.id, node: task.node, update: null };
  }
  if (!isJsonObject(output)) {
    throw new InvalidArgumentError(
      `Cannot apply the result of ${source}: return an object of channels, a Command or nothing`,
    );
  }
  assertJson(output, `the update of ${source}`, options);
  return { taskId: task.id, node: task.node, update: output as Json };
}
