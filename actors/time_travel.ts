/**
 * The one time-travel query: a run's state now or at any checkpoint
 * ({@linkcode stateAt}) and its history of checkpoints ({@linkcode stateHistory}),
 * used by `CompiledGraph`, the runtime (`getState`, `getStateHistory`, `fork`)
 * and the server.
 *
 * @module
 */

import {
  type CheckpointId,
  foldAll,
  NotFoundError,
  parseCheckpointId,
  type RunEvent,
  type RunSnapshot,
  type RunStatus,
  type Store,
  type TaskSpec,
  type ThreadId,
} from "../kernel/mod.ts";
import { type PendingInterrupt, pendingInterrupts } from "./run_result.ts";

/** What made a checkpoint: a step's nodes, an update (attributed to a node), or the input. */
export type CheckpointSource =
  | { kind: "step"; nodes: string[] }
  | { kind: "update"; asNode: string | null }
  | { kind: "input" };

/**
 * A run's state at one checkpoint (or now), as `getState` and
 * `getStateHistory` return it.
 *
 * @typeParam S The state's type.
 */
export interface StateSnapshot<S = Record<string, unknown>> {
  /** The run. */
  threadId: ThreadId;
  /** The state. */
  values: S;
  /** The nodes of the next superstep. */
  next: string[];
  /** The tasks of the next superstep. */
  tasks: TaskSpec[];
  /** The run's status (at this checkpoint, for history entries). */
  status: RunStatus;
  /** The superstep. */
  step: number;
  /** The run's version there (the seq of its last event). */
  version: number;
  /** The checkpoint, or `null` before the first step. */
  checkpointId: string | null;
  /** The checkpoint before it. */
  parentCheckpointId: string | null;
  /** Pending interrupts. */
  interrupts: PendingInterrupt[];
  /** When it was made (ms). */
  createdAt: number;
  /** What made it: the nodes of the step, or the node an update was attributed to. */
  source: CheckpointSource;
}

/**
 * A run as a state snapshot.
 *
 * @param run The run at some version.
 * @param source What made its latest checkpoint.
 * @param parentCheckpointId The checkpoint before that one.
 * @returns The state snapshot.
 */
function snapshotOf(
  run: RunSnapshot,
  source: CheckpointSource,
  parentCheckpointId: string | null,
): StateSnapshot {
  return {
    threadId: run.threadId,
    values: run.state as Record<string, unknown>,
    next: run.next.map((task) => task.node),
    tasks: run.next,
    status: run.status,
    step: run.step,
    version: run.version,
    checkpointId: run.checkpointId,
    parentCheckpointId,
    interrupts: pendingInterrupts(run),
    createdAt: run.updatedAt,
    source,
  };
}

/** What made a checkpoint, from the event that made it. */
function sourceOf(event: RunEvent | undefined): CheckpointSource {
  if (event?.type === "step.committed") {
    return { kind: "step", nodes: event.tasks.map((task) => task.node) };
  }
  if (event?.type === "state.updated") return { kind: "update", asNode: event.asNode };
  return { kind: "input" };
}

/**
 * The state of a run at a checkpoint, or now.
 *
 * Now: the run as given (the actor's, or the stored snapshot), with the
 * latest checkpoint's parent and source read by key: the log is not folded.
 * At a checkpoint: the fold of the log up to the checkpoint's event.
 *
 * @internal Used by the runtime.
 * @param store Where the run is.
 * @param current The run now, or `null` when it does not exist.
 * @param threadId The run.
 * @param checkpointId The checkpoint (default: the latest).
 * @returns The state snapshot.
 * @throws {NotFoundError} for an unknown run or checkpoint.
 */
export async function stateAt(
  store: Store,
  current: RunSnapshot | null,
  threadId: ThreadId,
  checkpointId?: string,
): Promise<StateSnapshot> {
  if (current === null) {
    throw new NotFoundError("run", threadId, { details: { thread_id: threadId } });
  }
  const wanted = checkpointId === undefined
    ? current.checkpointId
    : parseCheckpointId(checkpointId);
  if (wanted === null) return snapshotOf(current, { kind: "input" }, null);
  const record = await store.getCheckpoint(threadId, wanted as CheckpointId);
  if (record === null) {
    if (checkpointId === undefined) {
      // The latest checkpoint has not landed yet (async or exit durability).
      const [latest] = await stateHistory(store, threadId, { limit: 1 });
      return snapshotOf(
        current,
        latest?.source ?? { kind: "input" },
        latest?.parentCheckpointId ?? null,
      );
    }
    throw new NotFoundError("checkpoint", wanted, { details: { thread_id: threadId } });
  }
  if (checkpointId === undefined) {
    const [made] = await store.readEvents(threadId, record.version, { limit: 1 });
    return snapshotOf(current, sourceOf(made?.event), record.parentCheckpointId);
  }
  const events = await store.readEvents(threadId, 1, { limit: record.version });
  const at = foldAll(null, events)!;
  return snapshotOf(at, sourceOf(events.at(-1)?.event), record.parentCheckpointId);
}

/**
 * Every checkpoint of a run with its state, newest first, ending with the
 * run's input state. Later events (interrupts, status changes) show in the
 * entry of the checkpoint they follow.
 *
 * @internal Used by the runtime.
 * @param store Where the run is.
 * @param threadId The run.
 * @param options `limit`: at most this many entries.
 * @returns The history.
 * @throws {NotFoundError} for an unknown run.
 */
export async function stateHistory(
  store: Store,
  threadId: ThreadId,
  options: { limit?: number } = {},
): Promise<StateSnapshot[]> {
  const events = await store.readEvents(threadId, 1);
  if (events.length === 0) {
    throw new NotFoundError("run", threadId, { details: { thread_id: threadId } });
  }
  const history: StateSnapshot[] = [];
  let run: RunSnapshot | null = null;
  let parent: string | null = null;
  for (const { event } of events) {
    run = foldAll(run, [event])!;
    if (event.type === "run.created") {
      history.push(snapshotOf(run, { kind: "input" }, null));
    } else if (event.type === "step.committed" || event.type === "state.updated") {
      history.push(snapshotOf(run, sourceOf(event), parent));
      parent = event.checkpointId;
    } else if (history.length > 0) {
      const latest = history[history.length - 1]!;
      history[history.length - 1] = snapshotOf(run, latest.source, latest.parentCheckpointId);
    }
  }
  history.reverse();
  return options.limit === undefined ? history : history.slice(0, options.limit);
}
