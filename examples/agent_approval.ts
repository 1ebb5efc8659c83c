/**
 * An agent whose money transfers wait for a person: `get_balance` runs at
 * once, `transfer_money` only once approved (or edited, or rejected, which
 * the model is told). The transfer is a journaled tool call, so it happens
 * once however often the run is resumed, recovered or replayed; it passes
 * its idempotency key to the (made-up) bank, as a real one should.
 *
 * Run: `deno run -A examples/agent_approval.ts`
 *
 * @module
 */

import { type CompiledGraph, type CompileOptions, humanMessage, type Message } from "../mod.ts";
import {
  type AgentStateSpec,
  type ChatModel,
  createAgent,
  ScriptedModel,
  type ScriptedReply,
  tool,
} from "../agents/mod.ts";
import { z } from "zod";

/**
 * The scripted model's part: check the balance and send 50 to Bob, then
 * report what the tools said.
 *
 * @param messages The conversation.
 * @returns The next answer.
 */
export function scriptedTransfer(messages: readonly Message[]): ScriptedReply {
  const results = messages.filter((message) => message.type === "tool");
  if (results.length > 0) return `Done: ${results.map((message) => message.content).join("; ")}.`;
  return {
    tool_calls: [
      { name: "get_balance", args: {} },
      { name: "transfer_money", args: { to: "Bob", amount: 50 } },
    ],
  };
}

/** Options of {@linkcode approvalAgentGraph}. */
export interface ApprovalAgentOptions extends CompileOptions {
  /**
   * The model.
   * @default {the scripted one}
   */
  model?: ChatModel;
  /** Receives each transfer made (default: none). */
  onTransfer?: (transfer: { to: string; amount: number; key: string }) => void;
}

/**
 * Builds and compiles the agent with approval of transfers.
 *
 * @param options The model, a transfer observer, and where to compile it (name default `agent_approval`).
 * @returns The compiled graph.
 */
export function approvalAgentGraph(
  options: ApprovalAgentOptions = {},
): CompiledGraph<AgentStateSpec> {
  const {
    model = new ScriptedModel({ replies: scriptedTransfer }),
    onTransfer = () => {},
    ...compile
  } = options;
  let balance = 120;
  const getBalance = tool({
    name: "get_balance",
    description: "The account's balance",
    schema: z.object({}),
    run: () => `balance ${balance}`,
  });
  const transferMoney = tool({
    name: "transfer_money",
    description: "Sends money from the account",
    schema: z.object({ to: z.string(), amount: z.number().positive() }),
    run: ({ to, amount }, ctx) => {
      onTransfer({ to, amount, key: ctx.idempotencyKey });
      balance -= amount;
      return `sent ${amount} to ${to}`;
    },
  });
  return createAgent({
    model,
    tools: [getBalance, transferMoney],
    approval: { tools: ["transfer_money"] },
    name: "agent_approval",
    ...compile,
  });
}

if (import.meta.main) {
  const app = approvalAgentGraph();
  const first = await app.invoke(
    { messages: [humanMessage("Send Bob 50")] },
    { threadId: "transfer-1" },
  );
  console.log(first.status, JSON.stringify(first.interrupts[0]?.value));
  const done = await app.resume("transfer-1", {
    decisions: [{ type: "edit", args: { to: "Bob", amount: 40 } }],
  });
  console.log(done.status, done.state.messages.at(-1)?.content);
  await app.close();
}
