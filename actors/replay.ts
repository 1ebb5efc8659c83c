/**
 * Verified replay: re-executes a run's committed steps with every effect
 * served from the journal and interrupts answered from the log, and compares
 * each task's update and the routing with what the log recorded. It never
 * runs an effect and never writes.
 *
 * @module
 */

import {
  foldAll,
  type GraphSpec,
  jsonEqual,
  NondeterminismError,
  NotFoundError,
  parseCheckpointId,
  planNext,
  type RunSnapshot,
  type Store,
  type ThreadId,
  verifyStepWrites,
} from "../kernel/mod.ts";
import type { NodeContext } from "./context.ts";
import { executeStep } from "./executor.ts";

/** What a successful replay reports. */
export interface ReplayReport {
  /** Every replayed step matched. */
  ok: true;
  /** The run. */
  threadId: ThreadId;
  /** How many steps were re-executed and compared. */
  steps: number;
  /** The checkpoint replay started after, or `null` from the start. */
  fromCheckpointId: string | null;
}

const NEVER = new AbortController().signal;

/**
 * Replays a run and verifies it.
 *
 * @internal Used by `CompiledGraph.replay`.
 * @param store Where the run is (only read).
 * @param graph The graph that ran it.
 * @param threadId The run.
 * @param options `checkpointId`: verify only the steps after it;
 * `maxJsonDepth`: the nesting limit of the runtime that ran it.
 * @returns The report.
 * @throws {NondeterminismError} at the first difference.
 * @throws {NotFoundError} for an unknown run or checkpoint.
 */
export async function replayRun(
  store: Store,
  graph: GraphSpec<NodeContext>,
  threadId: ThreadId,
  options: { checkpointId?: string; maxJsonDepth: number },
): Promise<ReplayReport> {
  const events = await store.readEvents(threadId, 1);
  if (events.length === 0) throw new NotFoundError("run", threadId);
  let fromVersion = 0;
  if (options.checkpointId !== undefined) {
    const checkpoint = await store.getCheckpoint(threadId, parseCheckpointId(options.checkpointId));
    if (checkpoint === null) {
      throw new NotFoundError("checkpoint", options.checkpointId, {
        details: { thread_id: threadId },
      });
    }
    fromVersion = checkpoint.version;
  }
  // Reads only: replay sees the journal, never writes to it.
  const readOnly = {
    ...store,
    listEffects: store.listEffects.bind(store),
  } as Store;
  let run: RunSnapshot | null = null;
  let steps = 0;
  for (const { seq, event } of events) {
    if (event.type === "step.committed" && seq > fromVersion && run !== null) {
      const before = run;
      const outcome = await executeStep({
        run: before,
        graph,
        mode: "replay",
        signal: NEVER,
        resumes: before.resumes,
        skip: new Set(),
      }, {
        store: readOnly,
        now: () => event.at,
        random: () => 0,
        uuid: () => "00000000-0000-4000-8000-000000000000",
        sleep: () => Promise.resolve(),
        emit: () => {},
        maxJsonDepth: options.maxJsonDepth,
      });
      if (outcome.failure !== null) {
        const error = outcome.failure.error;
        if (error instanceof NondeterminismError) throw error;
        const recorded = event.tasks.find((task) => task.node === outcome.failure!.node);
        throw new NondeterminismError({
          threadId,
          step: event.step,
          node: outcome.failure.node,
          recorded: recorded?.update ?? null,
          replayed: `error: ${error instanceof Error ? error.message : String(error)}`,
        });
      }
      if (outcome.interrupts.length > 0) {
        const raised = outcome.interrupts[0]!;
        throw new NondeterminismError({
          threadId,
          step: event.step,
          node: raised.node,
          recorded: event.tasks.find((task) => task.taskId === raised.taskId)?.update ?? null,
          replayed: `interrupt(${JSON.stringify(raised.value)})`,
        });
      }
      verifyStepWrites(threadId, event.step, event.tasks, outcome.writes);
      const plan = await planNext(
        graph as GraphSpec,
        before.state,
        outcome.writes,
        before.step + 1,
        { maxDepth: options.maxJsonDepth },
      );
      const after = foldAll(before, [event])!;
      if (!jsonEqual(plan.next, event.next) || !jsonEqual(plan.state, after.state)) {
        throw new NondeterminismError({
          threadId,
          step: event.step,
          node: event.tasks.map((task) => task.node).join(","),
          recorded: { next: event.next, state: after.state },
          replayed: { next: plan.next, state: plan.state },
        });
      }
      steps++;
    }
    run = foldAll(run, [event]);
  }
  return {
    ok: true,
    threadId,
    steps,
    fromCheckpointId: options.checkpointId ?? null,
  };
}
