/**
 * A human-approval workflow: prepare an action, ask a person to approve it
 * (an interrupt), then perform it once on `true`, or record the rejection on
 * `false`. The action is a journaled effect, so it happens exactly once
 * however many times the run is interrupted, resumed, recovered or replayed.
 *
 * Run: `deno run -A examples/approval.ts`
 *
 * @module
 */

import { z } from "zod";
import { defineState, END, interrupt, type Json, START, StateGraph } from "../mod.ts";
import type { CompiledGraph, CompileOptions, StandardSchema, StateSchema } from "../mod.ts";

/** The approval graph's channels (`request` is typed: a string, at most 10,000 characters). */
export type ApprovalStateSpec = {
  request: { default(): string; schema: StandardSchema<unknown, string> };
  action: { default(): Json };
  approved: { default(): boolean | null };
  result: { default(): Json };
  log: { default(): string[]; reducer(current: string[], update: string[]): string[] };
};

/** The approval graph's state. */
export const ApprovalState: StateSchema<ApprovalStateSpec> = defineState<ApprovalStateSpec>({
  request: { default: () => "", schema: z.string().max(10_000) },
  action: { default: () => null },
  approved: { default: () => null },
  result: { default: () => null },
  log: { default: () => [], reducer: (current, update) => [...current, ...update] },
});

/** Options of {@linkcode approvalGraph}. */
export interface ApprovalOptions extends CompileOptions {
  /**
   * Performs the approved action (the side effect); its result is journaled.
   * @default {returns `{ performed: action }`}
   */
  perform?: (action: Json, signal: AbortSignal) => Json | Promise<Json>;
}

/**
 * Builds and compiles the approval graph.
 *
 * @param options `perform`, and where to compile it (name default `approval`).
 * @returns The compiled graph.
 */
export function approvalGraph(options: ApprovalOptions = {}): CompiledGraph<ApprovalStateSpec> {
  const { perform = (action: Json) => ({ performed: action }), ...compile } = options;
  return new StateGraph(ApprovalState)
    .addNode("prepare", (state) => ({
      action: { kind: "execute", request: state.request || "(no request)" },
      log: ["prepared"],
    }))
    .addNode("approve", async (state) => {
      const approved = await interrupt<unknown>({
        question: "Approve this action?",
        action: state.action,
      });
      return { approved: approved === true, log: [approved === true ? "approved" : "rejected"] };
    })
    .addNode("act", async (state, ctx) => {
      const result = await ctx.effect("perform_action", (signal) => perform(state.action, signal));
      return { result, log: ["performed"] };
    })
    .addNode(
      "record_rejection",
      () => ({ result: { rejected: true }, log: ["rejection recorded"] }),
    )
    .addEdge(START, "prepare")
    .addEdge("prepare", "approve")
    .addConditionalEdges("approve", (state) => state.approved ? "act" : "record_rejection", [
      "act",
      "record_rejection",
    ])
    .addEdge("act", END)
    .addEdge("record_rejection", END)
    .compile({ name: "approval", ...compile });
}

if (import.meta.main) {
  const app = approvalGraph();
  const first = await app.invoke({ request: "deploy v2" }, { threadId: "approval-1" });
  console.log(first.status, first.interrupts[0]?.value);
  const done = await app.resume("approval-1", true);
  console.log(done.status, done.state.result, done.state.log);
  await app.close();
}
