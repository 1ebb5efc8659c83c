/**
 * The runtime's interface ({@linkcode Runtime}) and its options: what
 * applications see of the actor system, and the internals (listeners,
 * observers, nested runs) that code of this package uses beside it.
 *
 * @module
 */

import type {
  GraphSpec,
  JsonObject,
  Logger,
  ResumeAnswer,
  RunSnapshot,
  Store,
  TaskSpec,
  ThreadId,
} from "../kernel/mod.ts";
import type { Context as OtelContext } from "@opentelemetry/api";
import type { Durability } from "./committer.ts";
import type { NodeContext } from "./context.ts";
import type { ReplayReport } from "./replay.ts";
import type { ActorEvent } from "./run_actor.ts";
import type { RunResult } from "./run_result.ts";
import type { StateSnapshot } from "./time_travel.ts";
import type { OwnershipSettings } from "./runtime_settings.ts";

/** A graph the runtime can run: its name and its compiled spec. */
export interface GraphDefinition {
  /** The name runs refer to. */
  readonly name: string;
  /** The compiled graph. */
  readonly spec: GraphSpec<NodeContext>;
}

/**
 * What a runtime can be told besides its store: graphs, limits, durability,
 * logger, clock, and how it shares the store with other runtimes (see
 * {@linkcode OwnershipSettings}).
 */
export interface RuntimeSettings extends OwnershipSettings {
  /** Graphs by name (more can be added with `register`). */
  graphs?: Record<string, GraphDefinition | { readonly definition: GraphDefinition }>;
  /**
   * How many runs may execute a step at the same time.
   * @default {64}
   */
  maxConcurrentRuns?: number;
  /**
   * When steps are committed.
   * @default {"sync"}
   */
  durability?: Durability;
  /**
   * Steps a run may take before it fails with code `step_limit`.
   * @default {1000}
   */
  stepLimit?: number;
  /**
   * Where the runtime reports what it cannot return to a caller (a listener
   * that threw, a commit that failed in the background, a run not recovered).
   * @default {JSON lines on stderr, from level info}
   */
  logger?: Logger;
  /**
   * How deeply a JSON value the runtime accepts may nest: run input, state
   * edits, node updates and `Send` arguments, effect results, interrupt and
   * resume values. A deeper value is an `invalid_argument` error naming the
   * limit, checked before any recursive work. From 1 to 1000.
   * @default {256}
   */
  maxJsonDepth?: number;
  /** The clock (default: `Date.now`). */
  now?: () => number;
  /** Random numbers in [0, 1) (default: `Math.random`). */
  random?: () => number;
  /** Waits `ms` unless `signal` aborts (default: a timer). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Options of the core's `createRuntime`: the settings and the store, which it never picks. @internal */
export interface CoreRuntimeOptions extends RuntimeSettings {
  /** Where runs are stored. */
  store: Store;
  /**
   * Close the store when the runtime closes.
   * @default {false}
   */
  closeStore?: boolean;
}

/** An OpenTelemetry context (`@opentelemetry/api`), e.g. one carrying a remote parent span. */
export type TraceContext = OtelContext;

/** A bound on how long a run may take. */
export interface Deadline {
  /** The bound, in ms (a positive whole number). */
  ms: number;
  /** The status the run ends with when it passes (with error code `timeout`). */
  status: "failed" | "cancelled";
  /**
   * What the bound measures. `execution`: each stretch of execution (from the
   * call, a resume or a recovery until the run comes to rest; time waiting at
   * an interrupt or a pause is not counted). `total`: from the run's creation
   * until it finishes, time waiting included ("approve within `ms`, or the run
   * ends `status`").
   * @default {"execution"}
   */
  scope?: "execution" | "total";
}

/** Options of a call that continues a run. */
export interface ResumeOptions {
  /** The OpenTelemetry context whose span parents the run's spans (e.g. from a `traceparent`). */
  parentContext?: TraceContext;
  /**
   * Ends the run (code `timeout`) if it does not come to rest in time (see
   * {@linkcode Deadline.scope}). By default, the deadline the run was created
   * with applies. Timers live in the process: a `total` deadline is armed
   * again (or, if it has passed, ends the run) by the next runtime that loads
   * the run.
   */
  deadline?: Deadline;
}

/** Options of a call that starts a run. */
export interface RunOptions extends ResumeOptions {
  /** The run's id; the same id and input is the same run (default: a generated one). */
  threadId?: string;
  /** When steps are committed (default: the runtime's). */
  durability?: Durability;
  /** Facts stored with a new run (`run.created`'s `metadata`), e.g. priority and tenant. */
  metadata?: JsonObject;
  /**
   * Ends the run (code `timeout`) if it does not come to rest in time; a new
   * run records it, so later resumes and recoveries of the run apply it too.
   */
  deadline?: Deadline;
}

/**
 * Options of {@linkcode Runtime.fork}.
 *
 * @typeParam U The update's type.
 */
export interface ForkOptions<U = unknown> {
  /** The checkpoint to start from. */
  checkpointId: string;
  /** An update merged into the checkpoint's state first (through the reducers). */
  update?: U;
  /** The new run's id (default: `<threadId>-fork-<ulid>`). */
  newThreadId?: string;
}

/** A run `recover()` could not take up, and why. */
export interface RecoverFailure {
  /** The run (left as it is in the store). */
  threadId: ThreadId;
  /** Its graph. */
  graph: string;
  /** A stable code, e.g. `not_found` for a graph this runtime does not have. */
  code: string;
  /** Why, for people. */
  message: string;
}

/** What {@linkcode Runtime.recover} did. */
export interface RecoverReport {
  /** The runs it took up again (`queued` or `running` in the store). */
  recovered: ThreadId[];
  /** The runs it could not take up, left untouched. */
  failed: RecoverFailure[];
}

/** The actor system. See {@linkcode createRuntime}. */
export interface Runtime extends AsyncDisposable {
  /** Where runs are stored. */
  readonly store: Store;
  /** Where the runtime reports what it cannot return to a caller. */
  readonly logger: Logger;
  /** How deeply a JSON value the runtime accepts may nest (see {@linkcode RuntimeSettings.maxJsonDepth}). */
  readonly maxJsonDepth: number;
  /** Adds a graph runs can refer to by name. */
  register(definition: GraphDefinition): void;
  /** The registered graph names. */
  graphNames(): string[];
  /** A registered graph by name. */
  graph(name: string): GraphDefinition;
  /**
   * Creates a run of `graph` (idempotently) and starts it without waiting for
   * it to come to rest.
   */
  start(graph: string, input: unknown, options?: RunOptions): Promise<RunSnapshot>;
  /** Creates (idempotently) and runs a run until it comes to rest. */
  invoke(graph: string, input: unknown, options?: RunOptions): Promise<RunResult>;
  /**
   * Answers the only pending interrupt of a run with `value` (or lifts a
   * pause, given no value) and runs it until it comes to rest.
   */
  resume(threadId: string, value?: unknown, options?: ResumeOptions): Promise<RunResult>;
  /** Answers pending interrupts by id and runs the run until it comes to rest. */
  resumeById(
    threadId: string,
    answers: Record<string, unknown>,
    options?: ResumeOptions,
  ): Promise<RunResult>;
  /** Pauses a running run between two steps. */
  pause(threadId: string, reason?: string | null): Promise<RunSnapshot>;
  /** Cancels a run: its abort signal fires at once and it ends `cancelled`. */
  cancel(threadId: string, reason?: string | null): Promise<RunSnapshot>;
  /** Cancels an interrupted run because a person rejected one of its pending interrupts. */
  reject(threadId: string, interruptId: string, reason?: string | null): Promise<RunSnapshot>;
  /**
   * Edits a run's state as if `asNode` had returned `update`; the edit is a
   * checkpoint. With `asNode`, the run continues from that node's edges.
   */
  updateState(
    threadId: string,
    update: unknown,
    options?: { asNode?: string },
  ): Promise<RunSnapshot>;
  /** Starts a new run from a checkpoint of a run and runs it until it comes to rest. */
  fork(threadId: string, options: ForkOptions): Promise<RunResult>;
  /** Waits until a run comes to rest. */
  wait(threadId: string): Promise<RunResult>;
  /** The run as it is now, or `null`. */
  get(threadId: string): Promise<RunSnapshot | null>;
  /** A run's state now, or at a checkpoint. */
  getState(threadId: string, options?: { checkpointId?: string }): Promise<StateSnapshot>;
  /** A run's checkpoints with their states, newest first, ending with its input state. */
  getStateHistory(threadId: string, options?: { limit?: number }): Promise<StateSnapshot[]>;
  /**
   * Verifies a run by replay (see `CompiledGraph.replay`): never runs an
   * effect, never writes.
   */
  replay(threadId: string, options?: { checkpointId?: string }): Promise<ReplayReport>;
  /**
   * Takes up the runs left `queued` or `running` in the store that no live
   * runtime holds (unowned, or their owner's lease expired), and from then on
   * keeps claiming such runs (safe in any number of processes); reports the
   * runs it took up and those it could not (their graph is not registered,
   * say), which it leaves untouched.
   */
  recover(): Promise<RecoverReport>;
  /** How many runs have an actor in memory. */
  activeRuns(): number;
  /** How many runs wait for a place to execute a step (`maxConcurrentRuns`). */
  queueDepth(): number;
  /** Lets in-flight steps commit, stops scheduling new ones, and closes the store if it owns it. */
  close(): Promise<void>;
}

/** Options of the runtime's internal calls: what streams, subgraphs and forks add. @internal */
export interface InternalRunOptions extends RunOptions {
  /** Receives what the run does during this call. */
  listener?: (event: ActorEvent) => void;
  /** A child run of a subgraph: its steps do not count against `maxConcurrentRuns`. */
  nested?: boolean;
  /** Start from this state and these tasks instead of the input (fork). */
  initial?: { state: JsonObject; next: TaskSpec[] };
  /** The run whose journal was copied into the new run's (rerun): the journal is always read. */
  journalFrom?: ThreadId;
  /**
   * A run that exists and is cancelled is refused (`ConflictError`: `thread '<id>' is
   * cancelled`) rather than answered as it is; checked in the creation's own answer.
   */
  refuseCancelled?: boolean;
}

/** What the runtime offers code of this package beside its public interface. @internal */
export interface RuntimeInternals {
  /** `invoke` with listeners, nesting and an initial state. */
  invoke(graph: string, input: unknown, options: InternalRunOptions): Promise<RunResult>;
  /** `start` with the internal options. */
  start(graph: string, input: unknown, options: InternalRunOptions): Promise<RunSnapshot>;
  /** Resumes with an explicit answer, with a listener. */
  resume(
    threadId: string,
    answer: ResumeAnswer,
    options: ResumeOptions & Pick<InternalRunOptions, "listener">,
  ): Promise<RunResult>;
  /** Subscribes to what a run does while it is active; returns the function that stops it. */
  listen(threadId: string, listener: (event: ActorEvent) => void): Promise<() => void>;
  /** Observes every event of every run (metrics); returns the function that stops it. */
  observe(observer: (threadId: string, event: ActorEvent) => void): () => void;
  /** A new thread id from the runtime's id generator. */
  newThreadId(prefix?: string): ThreadId;
}
