/**
 * Fan-out and merge: a planner sends one `research` task per question with
 * `Send` (they run in parallel in one superstep, each with its own
 * argument), their findings are merged by the state's reducer, and a writer
 * summarises them.
 *
 * Run: `deno run -A examples/parallel_research.ts`
 *
 * @module
 */

import { defineState, END, Send, START, StateGraph } from "../mod.ts";

const State = defineState({
  topic: { default: () => "" },
  questions: { default: (): string[] => [] },
  findings: {
    default: (): string[] => [],
    reducer: (a: string[], b: string[]) => [...a, ...b],
  },
  summary: { default: () => "" },
});

/**
 * Runs the example on a topic.
 *
 * @param topic What to research.
 * @returns What the example prints.
 */
export async function parallelResearch(topic = "tides"): Promise<string[]> {
  const app = new StateGraph(State)
    .addNode("plan", (state) => ({
      questions: ["causes", "timing", "effects"].map((aspect) => `${aspect} of ${state.topic}`),
    }))
    .addNode("research", async (question: string, ctx) => ({
      // Each task's lookup is its own journaled effect.
      findings: [await ctx.effect("lookup", () => `notes on ${question}`)],
    }))
    .addNode("write", (state) => ({
      summary: `${state.topic}: ${state.findings.length} findings (${state.findings.join("; ")})`,
    }))
    .addEdge(START, "plan")
    .addConditionalEdges(
      "plan",
      (state) => state.questions.map((question) => new Send("research", question)),
      ["research"],
    )
    .addEdge("research", "write")
    .addEdge("write", END)
    .compile({ name: "parallel_research" });
  try {
    const result = await app.invoke({ topic }, { threadId: "research-1" });
    const history = await app.getStateHistory("research-1");
    const fanOut = history.find((entry) =>
      entry.next.filter((node) => node === "research").length > 1
    );
    return [
      `tasks in one step: ${fanOut?.next.length ?? 0}`,
      `summary: ${result.state.summary}`,
    ];
  } finally {
    await app.close();
  }
}

if (import.meta.main) {
  for (const line of await parallelResearch(Deno.args[0])) console.log(line);
}
