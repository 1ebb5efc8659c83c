/**
 * Time travel: a run waiting for a review, its history of checkpoints, a
 * fork from an earlier checkpoint with another topic, and an edit of the
 * state as if the reviewer had returned it (the run then continues).
 *
 * Run: `deno run -A examples/time_travel.ts`
 *
 * @module
 */

import { defineState, END, START, StateGraph } from "../mod.ts";

const State = defineState({
  topic: { default: () => "" },
  draft: { default: () => "" },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** The graph: `outline` -> `write` -> `review` (a person) -> `polish`, in an in-memory runtime. */
function essayGraph() {
  return new StateGraph(State)
    .addNode("outline", (state) => ({ log: [`outline of ${state.topic}`] }))
    .addNode("write", (state) => ({ draft: `An essay on ${state.topic}.`, log: ["write"] }))
    .addNode("review", async (_state, ctx) => ({ draft: await ctx.interrupt<string>("Edit?") }))
    .addNode("polish", (state) => ({ draft: `${state.draft} (polished)`, log: ["polish"] }))
    .addEdge(START, "outline")
    .addEdge("outline", "write")
    .addEdge("write", "review")
    .addEdge("review", "polish")
    .addEdge("polish", END)
    .compile({ name: "essay" });
}

/**
 * Runs the example: a run to its review, its history, a fork with another
 * topic from the checkpoint after `outline`, and the reviewer's edit.
 *
 * @returns What the example prints.
 */
export async function timeTravel(): Promise<string[]> {
  const app = essayGraph();
  const lines: string[] = [];
  try {
    const run = await app.invoke({ topic: "rivers" }, { threadId: "essay-1" });
    lines.push(`run: ${run.status} with "${run.state.draft}"`);
    const history = await app.getStateHistory("essay-1");
    lines.push(
      `history: ${history.map((entry) => `step ${entry.step} next [${entry.next}]`).join("; ")}`,
    );
    const afterOutline = history.find((entry) => entry.step === 1)!;
    const fork = await app.fork("essay-1", {
      checkpointId: afterOutline.checkpointId!,
      update: { topic: "mountains" },
      newThreadId: "essay-1-mountains",
    });
    lines.push(`fork: ${fork.status} with "${fork.state.draft}"`);
    // As if the reviewer had returned the edit: the run continues from review's edges.
    const edited = await app.updateState("essay-1", { draft: "A short essay on rivers." }, {
      asNode: "review",
    });
    lines.push(`edited: ${edited.status} at step ${edited.step}`);
    const done = await app.resume("essay-1");
    lines.push(`done: ${done.state.draft}`);
    const before = await app.getState("essay-1", { checkpointId: history[0]!.checkpointId! });
    lines.push(`before the edit: ${before.values.draft}`);
  } finally {
    await app.close();
  }
  return lines;
}

if (import.meta.main) {
  for (const line of await timeTravel()) console.log(line);
}
