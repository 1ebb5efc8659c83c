/**
 * Human approval of tool calls: what the interrupt asks, and the checked
 * shape of the answer.
 *
 * @module
 */

import { z } from "zod";
import { InvalidArgumentError, type JsonObject } from "../mod.ts";

/** One tool call waiting for approval, as the interrupt shows it. */
export interface ActionRequest {
  /** The tool. */
  name: string;
  /** The arguments the model gave. */
  args: JsonObject;
  /** The tool call's id. */
  id: string;
}

/** The value of the interrupt an agent raises for approval. */
export interface ApprovalRequest {
  /** The calls to decide on, in order. */
  action_requests: ActionRequest[];
}

/** A person's decision on one tool call. */
export type ApprovalDecision =
  | {
    /** Run the call as the model asked. */
    type: "approve";
  }
  | {
    /** Run the call with other arguments. */
    type: "edit";
    /** The arguments to run it with. */
    args: JsonObject;
  }
  | {
    /** Do not run it; the model is told why. */
    type: "reject";
    /** What the model is told (default: that the person rejected the call). */
    message?: string;
  };

/** The answer that resumes an agent waiting for approval: one decision per request, in order. */
export interface ApprovalResponse {
  /** The decisions, in the order of `action_requests`. */
  decisions: ApprovalDecision[];
}

const Decision = z.discriminatedUnion("type", [
  z.object({ type: z.literal("approve") }).strict(),
  z.object({ type: z.literal("edit"), args: z.record(z.string(), z.json()) }).strict(),
  z.object({ type: z.literal("reject"), message: z.string().optional() }).strict(),
]);

const Response = z.object({ decisions: z.array(Decision) });

/**
 * Checks an answer to an approval request.
 *
 * @param answer The resume value.
 * @param question The approval request it answers.
 * @returns The decisions, one per action request.
 * @throws {InvalidArgumentError} naming what is wrong.
 */
export function parseDecisions(answer: unknown, question: unknown): ApprovalDecision[] {
  const requests = (question as Partial<ApprovalRequest> | null)?.action_requests ?? [];
  const result = Response.safeParse(answer);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join(".") || "(answer)"}: ${issue.message}`)
      .join("; ");
    throw new InvalidArgumentError(
      `Cannot resume the approval: answer { decisions: [...] } with one decision ("approve", "edit" with args, or "reject") per action request: ${problems}`,
      { field: "decisions" },
    );
  }
  const decisions = result.data.decisions as ApprovalDecision[];
  if (decisions.length !== requests.length) {
    throw new InvalidArgumentError(
      `Cannot resume the approval: ${requests.length} action request(s) wait for a decision, ${decisions.length} decision(s) given`,
      { field: "decisions" },
    );
  }
  return decisions;
}
