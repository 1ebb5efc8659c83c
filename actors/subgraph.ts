/**
 * Subgraphs: a compiled graph used as a node runs as a child run, stored with
 * its own checkpoints under a thread id derived from the parent's. Its
 * interrupts become the parent task's (answered in order), its failure is the
 * task's failure, and a cancel of the parent cancels it.
 *
 * @module
 */

import {
  ConflictError,
  isValidId,
  type Json,
  NotFoundError,
  OrisError,
  parseThreadId,
  sha256Hex,
  type ThreadId,
} from "../kernel/mod.ts";
import { type NodeContext, TaskContext } from "./context.ts";
import { replayRun } from "./replay.ts";
import type { RunResult } from "./run_result.ts";
import { internalsOf } from "./runtime.ts";
import type { GraphDefinition, Runtime } from "./runtime_api.ts";

/**
 * The thread id of the child run a task starts: `<parent>.<task>`, or a hash
 * when that would be too long.
 *
 * @param parent The parent run.
 * @param taskId The parent task.
 * @returns The child's thread id.
 */
export function childThreadId(parent: string, taskId: string): ThreadId {
  const plain = `${parent}.${taskId.replaceAll("#", "-")}`;
  return parseThreadId(isValidId(plain) ? plain : `sub-${sha256Hex(plain).slice(0, 40)}`);
}

/** The distinct interrupt ids a run has raised, in the order they first appeared. */
async function interruptOrder(runtime: Runtime, threadId: ThreadId): Promise<string[]> {
  const ids: string[] = [];
  for (const { event } of await runtime.store.readEvents(threadId, 1)) {
    if (event.type !== "interrupt.raised") continue;
    for (const record of event.interrupts) if (!ids.includes(record.id)) ids.push(record.id);
  }
  return ids;
}

/**
 * The parent task's update from a finished child run: the updates the
 * child's nodes made, combined in order through the child's reducers from the
 * channels' defaults, for the channels they wrote that the parent has. So a
 * list channel the child appended to gets only what the child appended, not
 * the parent's input a second time.
 */
async function combinedUpdate(
  runtime: Runtime,
  child: GraphDefinition,
  threadId: ThreadId,
  parentKeys: readonly string[],
): Promise<Record<string, unknown>> {
  const updates: { source: string; update: unknown }[] = [];
  const written = new Set<string>();
  for (const { event } of await runtime.store.readEvents(threadId, 1)) {
    const writes = event.type === "step.committed"
      ? event.tasks.map((task) => ({ source: `node "${task.node}"`, update: task.update }))
      : event.type === "state.updated"
      ? [{ source: "an update", update: event.update }]
      : [];
    for (const write of writes) {
      if (write.update === null || typeof write.update !== "object") continue;
      for (const key of Object.keys(write.update)) written.add(key);
      updates.push(write);
    }
  }
  const schema = child.spec.schema;
  const combined = schema.merge(schema.initial(undefined), updates) as Record<string, unknown>;
  return Object.fromEntries(
    [...written].filter((key) => parentKeys.includes(key)).map((key) => [key, combined[key]]),
  );
}

/**
 * Runs a child graph for a parent task until it completes, mapping its
 * interrupts onto the task's.
 *
 * @internal Used by compiled graphs added as nodes.
 * @param runtime The parent's runtime (the child runs there too).
 * @param child The child graph.
 * @param input The parent's state or `Send` argument.
 * @param ctx The parent task's context.
 * @param parentKeys The parent's channels: the child's final state is returned restricted to them.
 * @returns The parent task's update.
 */
export async function runSubgraph(
  runtime: Runtime,
  child: GraphDefinition,
  input: unknown,
  ctx: NodeContext,
  parentKeys: readonly string[],
): Promise<Record<string, unknown>> {
  if (!(ctx instanceof TaskContext)) {
    throw new OrisError("internal", "Cannot run a subgraph outside a task");
  }
  const threadId = childThreadId(ctx.threadId, ctx.taskId);
  const keys = child.spec.schema.keys;
  const childInput = Object.fromEntries(
    Object.entries((input ?? {}) as Record<string, unknown>).filter(([key]) => keys.includes(key)),
  );
  if (ctx.replaying) {
    // Replay verifies the child run as well, from its own log and journal:
    // a difference inside the subgraph names the child's step and node.
    await replayRun(runtime.store, child.spec, threadId, {
      maxJsonDepth: runtime.maxJsonDepth,
    });
    return await combinedUpdate(runtime, child, threadId, parentKeys);
  }
  const listener = (event: unknown) => ctx.forward(`${ctx.node}:${ctx.taskId}`, event);
  const onAbort = () =>
    void runtime.cancel(threadId, "the parent run was cancelled").catch((error) => {
      // A child that already ended (or never started) has nothing to cancel.
      if (error instanceof ConflictError || error instanceof NotFoundError) return;
      runtime.logger.warn("Cannot cancel a subgraph's run with its parent", {
        thread_id: threadId,
        error,
      });
    });
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const internals = internalsOf(runtime);
    let result: RunResult = await internals.invoke(child.name, childInput, {
      threadId,
      nested: true,
      listener,
    });
    for (;;) {
      if (result.status === "completed") {
        return await combinedUpdate(runtime, child, threadId, parentKeys);
      }
      if (result.status === "paused") {
        result = await internals.resume(threadId, { kind: "value" }, { listener });
        continue;
      }
      if (result.status !== "interrupted") {
        const error = result.error;
        throw new OrisError(
          result.status === "cancelled"
            ? "cancelled"
            : (error?.code as OrisError["code"]) ?? "internal",
          `Subgraph "${child.name}" (run "${threadId}") ended ${result.status}` +
            (error === undefined ? "" : `: ${error.message}`),
          { details: { thread_id: threadId, status: result.status } },
        );
      }
      const order = await interruptOrder(runtime, threadId);
      const answers: Record<string, Json> = {};
      let unanswered: { index: number; value: unknown } | null = null;
      for (const pending of result.interrupts) {
        const index = order.indexOf(pending.id);
        const answer = ctx.answer(index);
        if (answer !== undefined) answers[pending.id] = answer.resume;
        else unanswered ??= { index, value: pending.value };
      }
      if (Object.keys(answers).length === 0) ctx.raiseAt(unanswered!.index, unanswered!.value);
      result = await internals.resume(threadId, { kind: "by_id", values: answers }, { listener });
    }
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
}
