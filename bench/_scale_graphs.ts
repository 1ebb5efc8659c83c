/**
 * The graph the scale benchmark's server processes serve (`ORIS_GRAPHS`):
 * `five`, one node `tick` that runs `input.steps` times (default 5), each a
 * durable step, with no effect; `input.step_ms` (default 0) makes each step
 * wait that long first (a plain timer, to keep runs in flight).
 *
 * @module
 */

import { defineState, END, START, StateGraph } from "../mod.ts";

const FiveState = defineState({
  steps: { default: () => 5 },
  step_ms: { default: () => 0 },
  n: { default: () => 0 },
});

/** `tick`, `input.steps` times. */
export const five = new StateGraph(FiveState)
  .addNode("tick", async (state) => {
    if (state.step_ms > 0) await new Promise((resolve) => setTimeout(resolve, state.step_ms));
    return { n: state.n + 1 };
  })
  .addEdge(START, "tick")
  .addConditionalEdges("tick", (state) => state.n >= state.steps ? END : "tick")
  .compile();
