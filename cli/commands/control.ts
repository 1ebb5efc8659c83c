/**
 * Controlling jobs: `resume`, `pause`, `cancel`, `replay` and `fork`.
 *
 * @module
 */

import { type CommandSpec, jsonFlag, seg, stringFlag } from "../_command.ts";
import { request } from "../_http.ts";
import { json, summary } from "../_output.ts";
import { printRun } from "./jobs.ts";

type Data = Record<string, unknown>;

const resume: CommandSpec = {
  name: "resume",
  summary: "Answer a job's pending interrupt with a value, or continue a paused job (no --value)",
  usage: "resume <thread_id> [--value <json|@file|->] [--checkpoint-id <id>]",
  flags: { value: { type: "string" }, "checkpoint-id": { type: "string" } },
  flagHelp: [
    "  --value <json>        the answer: JSON, @file, or - for stdin (none: continue a paused job)",
    "  --checkpoint-id <id>  only if this is still the job's latest checkpoint",
  ],
  examples: ["oris resume order-42 --value true", "oris resume order-42   # a paused job"],
  remote: true,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [threadId] = invocation.positionals as [string];
    const value = stringFlag(invocation, "value");
    const checkpoint = stringFlag(invocation, "checkpoint-id");
    const data = await request<Data>(
      invocation.client,
      "POST",
      `/v1/jobs/${seg(threadId)}/resume`,
      {
        ...(value === undefined ? {} : { value: await jsonFlag(ctx, "value", value) }),
        ...(checkpoint === undefined ? {} : { checkpoint_id: checkpoint }),
      },
    );
    if (invocation.json) json(ctx.output, data);
    else printRun(ctx.output, data);
    return 0;
  },
};

function stopCommand(name: "pause" | "cancel", summaryLine: string, example: string): CommandSpec {
  return {
    name,
    summary: summaryLine,
    usage: `${name} <thread_id> [--reason <text>]`,
    flags: { reason: { type: "string" } },
    flagHelp: ["  --reason <text>       why (recorded with the job)"],
    examples: [example],
    remote: true,
    args: { min: 1, max: 1 },
    async run(ctx, invocation) {
      const [threadId] = invocation.positionals as [string];
      const reason = stringFlag(invocation, "reason");
      const data = await request<Data>(
        invocation.client,
        "POST",
        `/v1/jobs/${seg(threadId)}/${name}`,
        reason === undefined ? {} : { reason },
      );
      if (invocation.json) json(ctx.output, data);
      else {summary(ctx.output, [["thread", data.thread_id], ["status", data.status], [
          "reason",
          data.reason,
        ]]);}
      return 0;
    },
  };
}

const replay: CommandSpec = {
  name: "replay",
  summary: "Verify a job by replay (default), or rerun it from a checkpoint as a new run",
  usage: "replay <thread_id> [--checkpoint-id <id>] [--mode verify|rerun]",
  flags: { "checkpoint-id": { type: "string" }, mode: { type: "string" } },
  flagHelp: [
    "  --checkpoint-id <id>  verify the steps after it / rerun from it",
    "  --mode <mode>         verify (never runs effects, writes nothing) or rerun",
  ],
  examples: ["oris replay order-42", "oris replay order-42 --mode rerun --checkpoint-id cp_01J..."],
  remote: true,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [threadId] = invocation.positionals as [string];
    const checkpoint = stringFlag(invocation, "checkpoint-id");
    const mode = stringFlag(invocation, "mode");
    const data = await request<Data>(
      invocation.client,
      "POST",
      `/v1/jobs/${seg(threadId)}/replay`,
      {
        ...(checkpoint === undefined ? {} : { checkpoint_id: checkpoint }),
        ...(mode === undefined ? {} : { mode }),
      },
    );
    if (invocation.json) json(ctx.output, data);
    else if (data.mode === "rerun") {
      ctx.output.out(`rerun of ${data.thread_id} from ${data.from_checkpoint_id ?? "its input"}:`);
      printRun(ctx.output, data.run as Data);
    } else {
      ctx.output.out(
        `replay of ${data.thread_id} matches: ${data.steps} steps verified` +
          (data.from_checkpoint_id === null ? "" : ` after ${data.from_checkpoint_id}`),
      );
    }
    return 0;
  },
};

const fork: CommandSpec = {
  name: "fork",
  summary: "Start a new run from a checkpoint of a job (default: its latest)",
  usage: "fork <thread_id> [--checkpoint-id <id>] [--thread-id <new id>]",
  flags: { "checkpoint-id": { type: "string" }, "thread-id": { type: "string" } },
  flagHelp: [
    "  --checkpoint-id <id>  the checkpoint (default: the latest)",
    "  --thread-id <id>      the new run's id (default: <thread_id>-fork-<id>)",
  ],
  examples: ["oris fork order-42 --checkpoint-id cp_01J... --thread-id order-42-b"],
  remote: true,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [threadId] = invocation.positionals as [string];
    const checkpoint = stringFlag(invocation, "checkpoint-id");
    const target = stringFlag(invocation, "thread-id");
    const data = await request<Data>(invocation.client, "POST", `/v1/jobs/${seg(threadId)}/fork`, {
      ...(checkpoint === undefined ? {} : { checkpoint_id: checkpoint }),
      ...(target === undefined ? {} : { thread_id: target }),
    });
    if (invocation.json) json(ctx.output, data);
    else printRun(ctx.output, data);
    return 0;
  },
};

/** The control commands. */
export const CONTROL_COMMANDS: readonly CommandSpec[] = [
  resume,
  stopCommand(
    "pause",
    "Pause a running job between two steps (oris resume continues it)",
    "oris pause order-42 --reason maintenance",
  ),
  stopCommand(
    "cancel",
    "Cancel a job: running nodes are aborted, it ends cancelled",
    "oris cancel order-42 --reason 'wrong input'",
  ),
  replay,
  fork,
];
