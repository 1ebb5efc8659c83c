/**
 * The run actor: one per active run, with a FIFO mailbox that serializes
 * `start`, `step`, `resume`, `pause` (the `interrupt` message: pause between
 * steps), `update` and `cancel`. Each superstep is a `step` message the actor
 * sends itself after committing the previous one, so a cancel or pause sent
 * mid-run takes effect between two steps, in one well-defined order. `cancel`
 * also fires the run's abort signal at once.
 *
 * @module
 */

import {
  type AttemptId,
  ConflictError,
  diffJson,
  type ErrorInfo,
  foldAll,
  type GraphSpec,
  type IdGenerator,
  isTerminal,
  type Json,
  OrisError,
  planNext,
  type RunEvent,
  type RunSnapshot,
  type StepCommittedEvent,
  type Store,
  type TaskWrite,
  type ThreadId,
  VersionConflictError,
} from "../kernel/mod.ts";
import { currentSnapshot, EVENT_FORMAT_VERSION, isJsonObject } from "../kernel/mod.ts";
import type { NodeContext } from "./context.ts";
import { executeStep, type ExecutionEvent, type ExecutorEnv } from "./executor.ts";
import { Mailbox } from "./mailbox.ts";
import type { Semaphore } from "./semaphore.ts";

/**
 * When a run's steps are committed:
 * - `sync` (default): each superstep is committed before the next one starts;
 * - `async`: the commit of a step overlaps the next step (commits stay in
 *   order, and all have landed when the run comes to rest);
 * - `exit`: everything is committed at once when the run comes to rest
 *   (interrupted, paused, completed, failed or cancelled).
 */
export type Durability = "sync" | "async" | "exit";

/** What an actor tells its listeners. @internal */
export type ActorEvent =
  | { kind: "execution"; event: ExecutionEvent }
  | { kind: "step_start"; step: number; run: RunSnapshot }
  | { kind: "committed"; events: RunEvent[]; run: RunSnapshot }
  | { kind: "rest"; run: RunSnapshot };

/** A message of the run's mailbox. @internal */
export type ActorMessage =
  | { type: "start" }
  | { type: "step" }
  | { type: "resume"; values: { [interruptId: string]: Json } }
  | { type: "pause"; reason: string | null }
  | { type: "cancel"; reason: string | null; rejectedInterruptId?: string }
  | { type: "fail"; error: ErrorInfo }
  | { type: "update"; update: Json; asNode: string | null };

/** What a run actor needs from its runtime. @internal */
export interface RunActorDeps extends Omit<ExecutorEnv, "emit"> {
  store: Store;
  graph: GraphSpec<NodeContext>;
  ids: IdGenerator;
  limiter: Semaphore;
  durability: Durability;
  stepLimit: number;
  /** Sees every event of every actor (metrics); never blocks passivation. */
  observe?: (event: ActorEvent) => void;
}

/** Whether a run is at rest: not waiting to execute. */
export function atRest(run: RunSnapshot): boolean {
  return run.status !== "running" && run.status !== "queued";
}

/** One active run. @internal */
export class RunActor {
  readonly threadId: ThreadId;
  #deps: RunActorDeps;
  #run: RunSnapshot;
  /** The last snapshot known to be committed (exit and async modes commit later). */
  #committed: RunSnapshot;
  #buffer: RunEvent[] = [];
  #chain: Promise<void> = Promise.resolve();
  #chainError: unknown = null;
  #abort = new AbortController();
  #listeners = new Set<(event: ActorEvent) => void>();
  #restWaiters: { resolve(run: RunSnapshot): void; reject(error: unknown): void }[] = [];
  #mailbox: Mailbox<ActorMessage, RunSnapshot>;
  #broken: unknown = null;
  /**
   * The step that follows one this actor committed itself: nothing of it can
   * be journaled yet, so it runs without reading the journal (-1: none).
   */
  #freshStep = -1;
  #draining = false;
  /** The message being handled has come to rest (its rest waiters run before the mailbox counts it done). */
  #settled = false;

  constructor(run: RunSnapshot, deps: RunActorDeps) {
    this.threadId = run.threadId;
    this.#run = run;
    this.#committed = run;
    this.#deps = deps;
    this.#mailbox = new Mailbox((message) => this.#handle(message));
  }

  /** The run as this actor knows it (may be ahead of the store in async/exit modes). */
  get run(): RunSnapshot {
    return this.#run;
  }

  /** Whether the mailbox is empty and the run is at rest with every commit landed. */
  get idle(): boolean {
    const quiet = this.#mailbox.size === 0 || (this.#mailbox.size === 1 && this.#settled);
    return quiet && atRest(this.#run) && this.#buffer.length === 0 &&
      this.#listeners.size === 0 && this.#restWaiters.length === 0;
  }

  /** Resolves when no message is waiting or being processed. */
  whenIdle(): Promise<void> {
    return this.#mailbox.idle();
  }

  /** Subscribes to what the actor does; returns the unsubscribe function. */
  listen(listener: (event: ActorEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Sends a message; resolves with the run once the message is processed and committed. */
  send(message: ActorMessage): Promise<RunSnapshot> {
    if (message.type === "cancel" && !isTerminal(this.#run.status)) {
      const why = message.reason === null ? "" : `: ${message.reason}`;
      this.#abort.abort(
        new OrisError("cancelled", `Run "${this.threadId}" was cancelled${why}`, {
          details: { thread_id: this.threadId, reason: message.reason },
        }),
      );
    } else if (message.type === "fail" && !isTerminal(this.#run.status)) {
      this.#abort.abort(
        new OrisError("cancelled", message.error.message, { details: { ...message.error } }),
      );
    }
    return this.#mailbox.send(message);
  }

  /** Resolves when the run comes to rest with every commit landed. */
  rest(): Promise<RunSnapshot> {
    if (this.#broken !== null) return Promise.reject(this.#broken);
    if (atRest(this.#run) && this.#mailbox.size === 0) {
      return this.#flush().then(() => this.#run);
    }
    return new Promise((resolve, reject) => this.#restWaiters.push({ resolve, reject }));
  }

  #emit(event: ActorEvent): void {
    try {
      this.#deps.observe?.(event);
    } catch {
      // An observer's failure is its own.
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the run goes on.
      }
    }
  }

  async #handle(message: ActorMessage): Promise<RunSnapshot> {
    this.#settled = false;
    if (this.#broken !== null) throw this.#broken;
    try {
      await this.#process(message);
    } finally {
      if (atRest(this.#run) && this.#broken === null) await this.#settle();
    }
    return this.#run;
  }

  async #process(message: ActorMessage): Promise<void> {
    switch (message.type) {
      case "start":
        if (this.#run.status === "queued" || this.#run.status === "running") {
          await this.#commit([this.#event({
            type: "run.started",
            attemptId: this.#deps.ids.attemptId() as AttemptId,
          })]);
          this.#schedule();
        }
        break;
      case "step":
        await this.#step();
        break;
      case "resume":
        await this.#commit([this.#event({ type: "run.resumed", values: message.values })]);
        if (this.#run.attemptId === null) {
          await this.#commit([
            this.#event({ type: "run.started", attemptId: this.#deps.ids.attemptId() }),
          ]);
        }
        this.#schedule();
        break;
      case "pause":
        await this.#commit([this.#event({ type: "run.paused", reason: message.reason })]);
        break;
      case "cancel":
        try {
          await this.#commit([this.#event({
            type: "run.cancelled",
            reason: message.reason,
            ...(message.rejectedInterruptId === undefined
              ? {}
              : { rejectedInterruptId: message.rejectedInterruptId }),
          })]);
        } finally {
          if (!isTerminal(this.#run.status)) this.#abort = new AbortController();
        }
        break;
      case "fail":
        try {
          await this.#commit([this.#failure(message.error)]);
        } finally {
          if (!isTerminal(this.#run.status)) this.#abort = new AbortController();
        }
        break;
      case "update": {
        const run = this.#run;
        const node = message.asNode ?? "__update__";
        const write = { taskId: `${run.step + 1}:${node}`, node, update: message.update };
        const plan = await planNext(this.#deps.graph, run.state, [write], run.step + 1);
        await this.#commit([this.#event({
          type: "state.updated",
          step: run.step + 1,
          checkpointId: this.#deps.ids.checkpointId(),
          parentCheckpointId: run.checkpointId,
          asNode: message.asNode,
          update: message.update,
          delta: diffJson(run.state, plan.state),
          next: message.asNode === null ? null : plan.next,
        })]);
        break;
      }
    }
    if (message.type !== "step") await this.#flush();
  }

  #event(fields: Record<string, unknown>): RunEvent {
    return { v: EVENT_FORMAT_VERSION, at: this.#deps.now(), ...fields } as unknown as RunEvent;
  }

  #schedule(): void {
    if (this.#draining) return;
    this.#mailbox.send({ type: "step" }).catch((error) => this.#fail(error));
  }

  async #step(): Promise<void> {
    const run = this.#run;
    if (run.status !== "running") return;
    const step = run.step + 1;
    if (step > this.#deps.stepLimit) {
      await this.#commit([this.#failure({
        code: "step_limit",
        message:
          `Run "${run.threadId}" reached its limit of ${this.#deps.stepLimit} steps without reaching END`,
        step,
      })]);
      return;
    }
    this.#emit({ kind: "step_start", step, run });
    const skip = new Set(run.pendingWrites.map((write) => write.taskId));
    const fresh = step === this.#freshStep && run.resumes.length === 0 && skip.size === 0;
    this.#freshStep = -1;
    const outcome = await this.#deps.limiter.run(() =>
      executeStep({
        run,
        graph: this.#deps.graph,
        mode: "live",
        signal: this.#abort.signal,
        resumes: run.resumes,
        skip,
        fresh,
      }, { ...this.#deps, emit: (event) => this.#emit({ kind: "execution", event }) })
    );
    if (outcome.aborted) {
      // A cancel is next in the mailbox, or an async commit failed: the
      // flush throws or reloads the run.
      await this.#flush();
      if (this.#run.status === "running" && !this.#abort.signal.aborted) this.#schedule();
      return;
    }
    const events: RunEvent[] = outcome.effects.map((record) =>
      this.#event({
        type: "effect.recorded",
        step,
        node: record.node,
        index: record.index,
        name: record.name,
        ok: record.result.ok,
      })
    );
    if (outcome.failure !== null) {
      const error = outcome.failure.error;
      events.push(this.#failure({
        code: error instanceof OrisError ? error.code : "internal",
        message: error instanceof Error ? error.message : String(error),
        node: outcome.failure.node,
        step,
      }));
    } else if (outcome.interrupts.length > 0) {
      events.push(this.#event({
        type: "interrupt.raised",
        step,
        interrupts: outcome.interrupts,
        writes: outcome.writes,
      }));
    } else {
      const writes: TaskWrite[] = [...run.pendingWrites, ...outcome.writes];
      if (writes.length > 1) {
        const order = new Map(run.next.map((task, index) => [task.id, index]));
        writes.sort((a, b) => order.get(a.taskId)! - order.get(b.taskId)!);
      }
      try {
        const plan = await planNext(this.#deps.graph, run.state, writes, run.step + 1);
        const committed: StepCommittedEvent = {
          type: "step.committed",
          v: EVENT_FORMAT_VERSION,
          at: this.#deps.now(),
          step,
          checkpointId: this.#deps.ids.checkpointId(),
          parentCheckpointId: run.checkpointId,
          tasks: writes,
          delta: diffJson(run.state, plan.state),
          next: plan.next,
        };
        events.push(committed);
        if (plan.next.length === 0) events.push(this.#event({ type: "run.completed" }));
      } catch (error) {
        events.push(this.#failure({
          code: error instanceof OrisError ? error.code : "internal",
          message: error instanceof Error ? error.message : String(error),
          step,
        }));
      }
    }
    try {
      await this.#commit(events);
      if (this.#run.status === "running" && this.#run.step === step) this.#freshStep = step + 1;
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
      // Another writer (a cancel from another process, say) changed the run:
      // continue from what the store holds.
      await this.#reload();
    }
    if (this.#run.status === "running") this.#schedule();
  }

  #failure(error: ErrorInfo): RunEvent {
    return this.#event({ type: "run.failed", error });
  }

  async #reload(): Promise<void> {
    const loaded = await this.#deps.store.load(this.threadId);
    if (loaded === null) {
      throw new OrisError("internal", `Cannot reload run "${this.threadId}": it is gone`);
    }
    this.#run = currentSnapshot(loaded);
    this.#committed = this.#run;
    this.#buffer = [];
  }

  /** Folds events into the run and commits them according to the durability mode. */
  async #commit(events: RunEvent[]): Promise<void> {
    if (events.length === 0) return;
    const next = foldAll(this.#run, events)!;
    const mode = this.#deps.durability;
    if (mode === "sync") {
      await this.#deps.store.append(this.threadId, this.#run.version, events, next);
      this.#committed = next;
    } else if (mode === "async") {
      const base = this.#run.version;
      this.#chain = this.#chain.then(async () => {
        if (this.#chainError !== null) return;
        try {
          await this.#deps.store.append(this.threadId, base, events, next);
          this.#committed = next;
        } catch (error) {
          this.#chainError = error;
          if (!(error instanceof VersionConflictError)) this.#abort.abort(error);
        }
      });
    } else {
      this.#buffer.push(...events);
    }
    this.#run = next;
    this.#emit({ kind: "committed", events, run: next });
    if (mode === "exit" && atRest(next)) await this.#flush();
  }

  /** Makes sure every commit has landed. */
  async #flush(): Promise<void> {
    await this.#chain;
    if (this.#chainError !== null) {
      const error = this.#chainError;
      this.#chainError = null;
      if (error instanceof VersionConflictError) {
        await this.#reload();
        return;
      }
      throw error;
    }
    if (this.#buffer.length > 0) {
      const events = this.#buffer;
      const base = this.#committed;
      this.#buffer = [];
      try {
        await this.#deps.store.append(this.threadId, base.version, events, this.#run);
        this.#committed = this.#run;
      } catch (error) {
        if (!(error instanceof VersionConflictError)) {
          this.#buffer = events;
          throw error;
        }
        await this.#reload();
      }
    }
  }

  async #settle(): Promise<void> {
    try {
      await this.#flush();
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (this.#mailbox.size > 1) return; // More messages wait (this one is still counted).
    const run = this.#run;
    this.#settled = true;
    this.#emit({ kind: "rest", run });
    for (const waiter of this.#restWaiters.splice(0)) waiter.resolve(run);
  }

  #fail(error: unknown): void {
    this.#broken = error instanceof Error ? error : new OrisError("internal", String(error));
    for (const waiter of this.#restWaiters.splice(0)) waiter.reject(this.#broken);
  }

  /**
   * Stops scheduling new steps and waits for the message in progress (and its
   * commit) to finish. The run stays `running` in the store; `recover()`
   * continues it later.
   */
  async drain(): Promise<void> {
    this.#draining = true;
    await this.#mailbox.idle();
    await this.#flush().catch(() => {});
  }

  /**
   * Tells the actor that its run was just created by this runtime, so its
   * first step cannot have journaled effects and need not read the journal.
   */
  markCreated(): void {
    if (this.#run.step === 0 && this.#run.version === 1) this.#freshStep = 1;
  }

  /** Whether the actor can no longer be used (a commit failed); the runtime drops it. */
  get broken(): boolean {
    return this.#broken !== null;
  }
}

/**
 * Resolves a resume value against the pending interrupts: a map keyed by
 * pending interrupt ids answers them; any other value answers the only one.
 *
 * @internal Used by the runtime.
 * @param run The run.
 * @param value The caller's resume value.
 * @returns Answers by interrupt id.
 * @throws {ConflictError} when the run has no pending interrupt, or several
 * are pending and `value` is not a map of their ids, or an id is unknown.
 */
export function resumeValues(run: RunSnapshot, value: unknown): { [interruptId: string]: Json } {
  if (run.status !== "interrupted") {
    throw new ConflictError(
      `Cannot resume run "${run.threadId}": it is ${run.status}, not interrupted`,
      {
        details: { thread_id: run.threadId, status: run.status },
      },
    );
  }
  const pending = new Set<string>(run.interrupts.map((record) => record.id));
  if (isJsonObject(value) && Object.keys(value).length > 0) {
    const keys = Object.keys(value);
    const known = keys.filter((key) => pending.has(key));
    if (known.length === keys.length) return value;
    if (known.length > 0 || keys.every((key) => key.startsWith("in_"))) {
      const unknown = keys.find((key) => !pending.has(key))!;
      throw new ConflictError(
        `Cannot resume run "${run.threadId}": interrupt "${unknown}" is not pending`,
        {
          details: { thread_id: run.threadId, interrupt_id: unknown, pending: [...pending] },
        },
      );
    }
  }
  if (pending.size !== 1) {
    throw new ConflictError(
      `Cannot resume run "${run.threadId}": ${pending.size} interrupts are pending; answer them with a map by interrupt id`,
      { details: { thread_id: run.threadId, pending: [...pending] } },
    );
  }
  return { [[...pending][0]!]: (value ?? null) as Json };
}
