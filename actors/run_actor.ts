/**
 * The run actor: one per active run, with a FIFO mailbox that serializes the
 * messages of {@linkcode RunMessage} (`start`, `step`, `resume`, `pause`,
 * `cancel`, `reject`, `timeout`, `update`). What a message does is decided by
 * the kernel's pure `decide`, against the run as the actor holds it when it
 * handles the message; the actor only executes what a decision asks for (a
 * step's tasks, an update's routing), hands the events to the committer of
 * its durability mode, and tells its listeners.
 *
 * Each superstep is a `step` message the actor sends itself after the
 * previous one, so a cancel or pause sent mid-run takes effect between two
 * steps, in one well-defined order. `cancel` and `timeout` also fire the
 * run's abort signal at once, so a long node can stop cooperatively.
 *
 * @module
 */

import {
  currentSnapshot,
  decide,
  type DecideEnv,
  type Decision,
  errorInfoOf,
  type GraphSpec,
  type IdGenerator,
  InvalidArgumentError,
  isTerminal,
  type Json,
  LeaseLostError,
  type Logger,
  type MailRecord,
  OrisError,
  planNext,
  type ResumeAnswer,
  resumeValues,
  type RunEvent,
  type RunMessage,
  type RunSnapshot,
  serializeError,
  type StepResult,
  stepWrites,
  StorageError,
  type Store,
  type ThreadId,
  VersionConflictError,
} from "../kernel/mod.ts";
import { type Committer, createCommitter, type Durability } from "./committer.ts";
import type { NodeContext } from "./context.ts";
import {
  executeStep,
  type ExecutionEvent,
  type ExecutorEnv,
  type StepOutcome,
} from "./executor.ts";
import type { Fence } from "./leases.ts";
import { Mailbox } from "./mailbox.ts";
import { abortReason, stoppedResult } from "./run_stops.ts";
import type { Semaphore } from "./semaphore.ts";

/** What an actor tells its listeners. @internal */
export type ActorEvent =
  | { kind: "execution"; event: ExecutionEvent }
  | { kind: "step_start"; step: number; run: RunSnapshot }
  | { kind: "committed"; events: RunEvent[]; run: RunSnapshot }
  | { kind: "rest"; run: RunSnapshot };

/** What a run actor needs from its runtime. @internal */
export interface RunActorDeps extends Omit<ExecutorEnv, "emit"> {
  store: Store;
  graph: GraphSpec<NodeContext>;
  ids: IdGenerator;
  limiter: Semaphore;
  durability: Durability;
  stepLimit: number;
  logger: Logger;
  /** The run's lease: every commit and effect record carries its fencing token. */
  fence: Fence;
  /** Sees every event of every actor (metrics); never blocks passivation. */
  observe?: (event: ActorEvent) => void;
}

/**
 * Where an actor is in its life:
 * - `busy`: it handles a message (or will: one is in its mailbox);
 * - `resting`: the message in hand left the run at rest with every commit
 *   landed, and who waited for rest was told (the actor is idle even before
 *   the mailbox counts that message done, so it can be passivated at once);
 * - `draining`: its runtime is closing: it finishes the message in hand and
 *   schedules no new step;
 * - `broken`: a commit failed: it refuses every message and its runtime
 *   drops it (the store holds what was committed).
 */
type Lifecycle =
  | { state: "busy" }
  | { state: "resting" }
  | { state: "draining" }
  | { state: "broken"; error: Error };

/** The message of a superstep (one object: it carries nothing). */
const STEP: RunMessage = Object.freeze({ type: "step" });
/** The tasks a step skips when no task finished before an interrupt. */
const NO_SKIP: ReadonlySet<string> = new Set();

const BUSY: Lifecycle = { state: "busy" };
const RESTING: Lifecycle = { state: "resting" };
const DRAINING: Lifecycle = { state: "draining" };

/**
 * Whether a run is at rest: not waiting to execute.
 *
 * @param run The run.
 * @returns `false` for `queued` and `running`.
 */
export function atRest(run: RunSnapshot): boolean {
  return run.status !== "running" && run.status !== "queued";
}

/** One active run. @internal */
export class RunActor {
  readonly threadId: ThreadId;
  #deps: RunActorDeps;
  #run: RunSnapshot;
  #committer: Committer;
  #lifecycle: Lifecycle = RESTING;
  #abort = new AbortController();
  /** Replaced, never changed in place: an event is told to the listeners there were when it came. */
  #listeners: readonly ((event: ActorEvent) => void)[] = [];
  #restWaiters: { resolve(run: RunSnapshot): void; reject(error: unknown): void }[] = [];
  #mailbox: Mailbox<RunMessage, RunSnapshot>;
  /** A `step` message is in the mailbox: the run is being executed. */
  #stepQueued = false;
  /**
   * The step that follows one this actor committed itself: nothing of it can
   * be journaled yet, so it runs without reading the journal (-1: none).
   */
  #freshStep = -1;
  #decideEnv: DecideEnv | null = null;
  /** What the executor gets: the actor's dependencies, and its events reported to the listeners. */
  #executorEnv: ExecutorEnv;
  /** Mailbox messages (of the store's durable mailbox) handed to this actor, by message. */
  #acks = new WeakMap<RunMessage, number>();
  /** The seq of the last mailbox message handed to this actor (0: none). */
  #mailSeen = 0;
  /** The mailbox message in hand, until a commit applies it. */
  #ack: { message: RunMessage; seq: number } | undefined;
  /** The `run.started` its creation committed (see `markCreated`), until a `start` reports it. */
  #startedAtCreation: RunEvent | null = null;

  constructor(run: RunSnapshot, deps: RunActorDeps) {
    this.threadId = run.threadId;
    this.#run = run;
    this.#deps = deps;
    this.#committer = createCommitter(deps.durability, {
      store: deps.store,
      threadId: run.threadId,
      fence: deps.fence,
      onBackgroundFailure: (error) => this.#abort.abort(error),
    });
    this.#mailbox = new Mailbox((message) => this.#handle(message));
    this.#executorEnv = { ...deps, emit: (event) => this.#emit({ kind: "execution", event }) };
  }

  /** The run as this actor knows it (may be ahead of the store in async/exit modes). */
  get run(): RunSnapshot {
    return this.#run;
  }

  /** Whether nothing is waiting, the run is at rest with every commit landed, and no one listens. */
  get idle(): boolean {
    const quiet = this.#mailbox.size === 0 ||
      (this.#mailbox.size === 1 && this.#lifecycle.state === "resting");
    return quiet && atRest(this.#run) && !this.#committer.pending &&
      this.#listeners.length === 0 && this.#restWaiters.length === 0;
  }

  /** The run's lease, whose token its writes carry. */
  get fence(): Fence {
    return this.#deps.fence;
  }

  /** Whether this actor applied messages of the store's mailbox. */
  get handledMail(): boolean {
    return this.#mailSeen > 0;
  }

  /** Whether the actor can no longer be used (a commit failed); the runtime drops it. */
  get broken(): boolean {
    return this.#lifecycle.state === "broken";
  }

  /** Resolves when no message is waiting or being processed. */
  whenIdle(): Promise<void> {
    return this.#mailbox.idle();
  }

  /** Subscribes to what the actor does; returns the unsubscribe function. */
  listen(listener: (event: ActorEvent) => void): () => void {
    if (!this.#listeners.includes(listener)) this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((known) => known !== listener);
    };
  }

  /**
   * Sends a message; resolves with the run once the message is processed and
   * its commits have landed, or rejects with why the message was refused.
   */
  send(message: RunMessage): Promise<RunSnapshot> {
    if (message.type === "cancel" || message.type === "timeout") {
      if (!isTerminal(this.#run.status)) this.#abort.abort(abortReason(this.threadId, message));
    }
    return this.#mailbox.send(message);
  }

  /**
   * Applies a message of the store's mailbox (posted by another runtime) and
   * answers it once: the commit that applies it marks it applied; a message
   * that needed no commit, or was refused, is answered here. A message
   * already handed to this actor is skipped; none is answered once the lease
   * is lost (the next owner applies it).
   */
  async deliver(record: MailRecord): Promise<void> {
    if (record.seq <= this.#mailSeen || this.broken) return;
    this.#mailSeen = record.seq;
    const message = record.message;
    this.#acks.set(message, record.seq);
    let refusal: unknown = null;
    let acked = false;
    try {
      await this.send(message);
      acked = !this.#acks.has(message);
    } catch (error) {
      if (error instanceof LeaseLostError || this.broken) return;
      refusal = error;
      acked = !this.#acks.has(message);
    }
    if (acked) return;
    this.#acks.delete(message);
    try {
      await this.#deps.store.answerMessage(
        this.threadId,
        record.seq,
        refusal === null
          ? { status: "applied" }
          : { status: "refused", error: serializeError(refusal) },
        this.#deps.fence.token(),
      );
    } catch (error) {
      if (error instanceof LeaseLostError) {
        this.#deps.fence.lost(error);
        return;
      }
      throw error;
    }
  }

  /**
   * The run's lease was lost: the actor stops at once (its abort signal
   * fires) and writes nothing more; its runtime drops it.
   */
  lose(error: LeaseLostError): void {
    if (!isTerminal(this.#run.status)) this.#abort.abort(error);
    this.#break(error);
  }

  /** Resolves when the run comes to rest with every commit landed. */
  rest(): Promise<RunSnapshot> {
    const lifecycle = this.#lifecycle;
    if (lifecycle.state === "broken") return Promise.reject(lifecycle.error);
    if (atRest(this.#run) && this.#mailbox.size === 0) {
      return this.#land().then(() => this.#run);
    }
    return new Promise((resolve, reject) => this.#restWaiters.push({ resolve, reject }));
  }

  /**
   * Tells the actor that its run was just created by this runtime, so its
   * first step cannot have journaled effects and need not read the journal.
   */
  markCreated(started?: RunEvent): void {
    const run = this.#run;
    if (run.step !== 0) return;
    if (run.version === 1) this.#freshStep = 1;
    else if (started !== undefined && run.version === 2 && run.status === "running") {
      // Created started (`createLeasedRun`): the first `start` only takes it up.
      this.#freshStep = 1;
      this.#startedAtCreation = started;
    }
  }

  /**
   * Stops scheduling new steps and waits for the message in progress (and its
   * commit) to finish. The run stays `running` in the store; `recover()`
   * continues it later.
   */
  async drain(): Promise<void> {
    if (this.#lifecycle.state !== "broken") this.#lifecycle = DRAINING;
    await this.#mailbox.idle();
    try {
      await this.#land();
    } catch (error) {
      this.#deps.logger.error("Cannot commit a run's last steps on close", {
        thread_id: this.threadId,
        error,
      });
    }
  }

  #emit(event: ActorEvent): void {
    try {
      this.#deps.observe?.(event);
    } catch (error) {
      this.#deps.logger.warn("A run observer failed", { thread_id: this.threadId, error });
    }
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#deps.logger.warn("A run listener failed", { thread_id: this.threadId, error });
      }
    }
  }

  /** What `decide` needs: the clock (read at each event, as the events happen) and new ids. */
  #env(): DecideEnv {
    if (this.#decideEnv === null) {
      const { ids, stepLimit, now } = this.#deps;
      this.#decideEnv = {
        get now() {
          return now();
        },
        stepLimit,
        attemptId: () => ids.attemptId(),
        checkpointId: () => ids.checkpointId(),
      };
    }
    return this.#decideEnv;
  }

  async #handle(message: RunMessage): Promise<RunSnapshot> {
    const lifecycle = this.#lifecycle;
    if (lifecycle.state === "broken") throw lifecycle.error;
    if (lifecycle.state === "resting") this.#lifecycle = BUSY;
    try {
      if (message.type === "step") {
        this.#stepQueued = false;
        await this.#step();
      } else {
        const seq = this.#acks.get(message);
        this.#ack = seq === undefined ? undefined : { message, seq };
        await this.#process(message);
      }
    } finally {
      this.#ack = undefined;
      if (atRest(this.#run) && this.#lifecycle.state !== "broken") await this.#settle();
    }
    return this.#run;
  }

  /** A message from outside: decide, execute what it asks, commit, and land the commits. */
  async #process(message: Exclude<RunMessage, { type: "step" }>): Promise<void> {
    // A start while this actor executes the run already has nothing to take up.
    if (message.type === "start" && this.#stepQueued) return;
    const started = this.#startedAtCreation;
    if (message.type === "start" && started !== null && this.#run.status === "running") {
      // Its creation committed the start: it is reported as committed now, and executed.
      this.#startedAtCreation = null;
      this.#emit({ kind: "committed", events: [started], run: this.#run });
      this.#schedule();
      return;
    }
    const run = this.#run;
    try {
      if (message.type === "resume") this.#validateResume(run, message.answer);
      let decision = decide(run, message, this.#env());
      if (decision.kind === "plan" && message.type === "update") {
        const plan = await planNext(
          this.#deps.graph,
          run.state,
          [decision.write],
          decision.step,
          { maxDepth: this.#deps.maxJsonDepth },
        );
        decision = decide(run, {
          type: "update.planned",
          update: message.update,
          asNode: message.asNode,
          plan,
        }, this.#env());
      }
      await this.#commit(decision);
      if (this.#run.status === "running") this.#schedule();
      try {
        await this.#land();
      } catch (error) {
        // The run this actor holds is ahead of the store (async and exit
        // modes): it can no longer be trusted; the store keeps the truth.
        this.#break(error);
        throw error;
      }
    } finally {
      if (this.#abort.signal.aborted && !isTerminal(this.#run.status)) {
        this.#abort = new AbortController();
      }
    }
  }

  /**
   * Asks the nodes whose interrupts a resume answers whether they accept
   * their answers (`validateResume`); a refusal throws before anything is
   * decided, so the run does not change. An answer `decide` would refuse
   * anyway (no such interrupt) is left to it.
   */
  #validateResume(run: RunSnapshot, answer: ResumeAnswer): void {
    if (run.status !== "interrupted") return;
    let values: { [id: string]: Json };
    try {
      values = resumeValues(run, answer);
    } catch {
      return;
    }
    for (const record of run.interrupts) {
      if (!(record.id in values)) continue;
      const validate = this.#deps.graph.nodes.get(record.node)?.options.validateResume;
      if (validate === undefined) continue;
      try {
        validate(values[record.id]!, record.value);
      } catch (error) {
        if (error instanceof OrisError) throw error;
        throw new InvalidArgumentError(
          `Cannot resume interrupt "${record.id}": ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        );
      }
    }
  }

  /** Commits a decision's events; throws the error of a refused one. */
  async #commit(decision: Decision): Promise<void> {
    const lifecycle = this.#lifecycle;
    if (lifecycle.state === "broken") throw lifecycle.error;
    if (decision.kind === "refuse") throw decision.error;
    if (decision.kind !== "commit") {
      throw new OrisError("internal", `Cannot commit a decision to ${decision.kind}`);
    }
    if (decision.events.length === 0) return;
    const ack = this.#ack;
    this.#startedAtCreation = null;
    await this.#committer.commit(this.#run, decision.events, decision.run, ack?.seq);
    if (ack !== undefined) {
      // The commit marks the message applied: it needs no other answer.
      this.#ack = undefined;
      this.#acks.delete(ack.message);
    }
    this.#run = decision.run;
    this.#emit({ kind: "committed", events: decision.events, run: decision.run });
  }

  #schedule(): void {
    const state = this.#lifecycle.state;
    if (state === "draining" || state === "broken" || this.#stepQueued) return;
    this.#stepQueued = true;
    this.#mailbox.send(STEP).catch((error) => this.#break(error));
  }

  async #step(): Promise<void> {
    const run = this.#run;
    let decision = decide(run, STEP, this.#env());
    if (decision.kind === "execute") {
      const step = decision.step;
      this.#emit({ kind: "step_start", step, run });
      const skip = run.pendingWrites.length === 0
        ? NO_SKIP
        : new Set(run.pendingWrites.map((write) => write.taskId));
      const fresh = step === this.#freshStep && run.resumes.length === 0 && skip.size === 0 &&
        run.journalFrom === undefined;
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
        }, this.#executorEnv)
      );
      if (outcome.aborted) {
        // A cancel or timeout is next in the mailbox, or a background commit
        // failed: landing the commits throws that failure, or reloads the run.
        await this.#land();
        if (this.#run.status === "running" && !this.#abort.signal.aborted) this.#schedule();
        return;
      }
      if (outcome.failure !== null && isStoreOutage(outcome.failure.error)) {
        // The store failed under a task (its effect journal), not the node: the step commits
        // nothing and the actor stops, as for a commit that failed; the run continues from its
        // last commit once it is claimed again (the store answering).
        throw outcome.failure.error;
      }
      const result = outcome.failure === null && outcome.interrupts.length === 0
        ? await this.#planned(run, outcome)
        : stoppedResult(outcome);
      decision = decide(
        run,
        { type: "step.executed", step, effects: outcome.effects, result },
        this.#env(),
      );
    }
    try {
      await this.#commit(decision);
      if (this.#run.status === "running" && this.#run.step === run.step + 1) {
        this.#freshStep = this.#run.step + 1;
      }
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
      // Another writer (a cancel from another process, say) changed the run:
      // continue from what the store holds.
      await this.#reload();
    }
    if (this.#run.status === "running") this.#schedule();
  }

  /** Every task of the step finished: the step's writes and the plan of the next step. */
  async #planned(run: RunSnapshot, outcome: StepOutcome): Promise<StepResult> {
    const writes = stepWrites(run, outcome.writes);
    try {
      return {
        kind: "planned",
        writes,
        plan: await planNext(this.#deps.graph, run.state, writes, run.step + 1, {
          maxDepth: this.#deps.maxJsonDepth,
        }),
      };
    } catch (error) {
      return { kind: "failed", error: errorInfoOf(error) };
    }
  }

  /** Makes sure every commit has landed; reloads the run when another writer changed it. */
  async #land(): Promise<void> {
    if ((await this.#committer.flush()) === "conflict") await this.#reload();
  }

  async #reload(): Promise<void> {
    const loaded = await this.#deps.store.load(this.threadId);
    if (loaded === null) {
      throw new OrisError("internal", `Cannot reload run "${this.threadId}": it is gone`);
    }
    this.#run = currentSnapshot(loaded);
  }

  /** The message in hand left the run at rest: land its commits and tell who waits. */
  async #settle(): Promise<void> {
    try {
      await this.#land();
    } catch (error) {
      this.#break(error);
      return;
    }
    if (this.#mailbox.size > 1) return; // More messages wait (this one is still counted).
    const run = this.#run;
    if (this.#lifecycle.state === "busy") this.#lifecycle = RESTING;
    this.#emit({ kind: "rest", run });
    for (const waiter of this.#restWaiters.splice(0)) waiter.resolve(run);
  }

  #break(cause: unknown): void {
    if (this.#lifecycle.state === "broken") return;
    const error = cause instanceof Error ? cause : new OrisError("internal", String(cause));
    this.#lifecycle = { state: "broken", error };
    // A lost lease is logged once, by the runtime's lease keeper.
    if (error instanceof LeaseLostError) this.#deps.fence.lost(error);
    else {this.#deps.logger.error("A run's commit failed; its actor stops", {
        thread_id: this.threadId,
        error,
      });}
    for (const waiter of this.#restWaiters.splice(0)) waiter.reject(error);
  }
}

/** Whether a task's failure is the store's being unavailable (an outage), not its node's. */
function isStoreOutage(error: unknown): boolean {
  return error instanceof StorageError && error.retryable;
}
