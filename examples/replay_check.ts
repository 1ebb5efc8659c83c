/**
 * Verified replay: a run replays cleanly (its effects come from the journal,
 * nothing runs twice), and a deliberately nondeterministic node (it reads
 * `Math.random()` outside `ctx`) is caught with the step, node and both
 * values.
 *
 * Run: `deno run -A examples/replay_check.ts`
 *
 * @module
 */

import { defineState, END, NondeterminismError, START, StateGraph } from "../mod.ts";

const State = defineState({
  amount: { default: () => 0 },
  receipt: { default: () => "" },
  lucky: { default: () => 0 },
});

/**
 * Runs the example: a deterministic graph replayed, then a nondeterministic
 * one caught.
 *
 * @returns What the example prints.
 */
export async function replayCheck(): Promise<string[]> {
  const lines: string[] = [];
  let charges = 0;
  const good = new StateGraph(State)
    .addNode("charge", async (state, ctx) => ({
      receipt: await ctx.effect("charge", () => `charged ${state.amount} (#${++charges})`),
    }))
    .addNode("draw", async (_state, ctx) => ({ lucky: await ctx.random() }))
    .addEdge(START, "charge")
    .addEdge("charge", "draw")
    .addEdge("draw", END)
    .compile({ name: "good" });
  try {
    await good.invoke({ amount: 42 }, { threadId: "good-1" });
    const report = await good.replay("good-1");
    lines.push(`good: ${report.steps} steps verified, the charge ran ${charges} time`);
  } finally {
    await good.close();
  }

  const bad = new StateGraph(State)
    .addNode("draw", () => ({ lucky: Math.random() })) // outside ctx: not journaled
    .addEdge(START, "draw")
    .addEdge("draw", END)
    .compile({ name: "bad" });
  try {
    await bad.invoke({}, { threadId: "bad-1" });
    await bad.replay("bad-1");
    lines.push("bad: not caught");
  } catch (error) {
    if (!(error instanceof NondeterminismError)) throw error;
    lines.push(`bad: caught at step ${error.step} in node "${error.node}"`);
  } finally {
    await bad.close();
  }
  return lines;
}

if (import.meta.main) {
  for (const line of await replayCheck()) console.log(line);
}
