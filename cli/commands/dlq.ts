/**
 * The worker plane as an operator sees it: dead letters (`dlq list`, `show`,
 * `replay`) and an attempt's retries (`attempts retries`).
 *
 * @module
 */

import { type CommandSpec, flagQuery, needs, seg, subcommand } from "../_command.ts";
import { request, UsageError } from "../_http.ts";
import { json, summary, table } from "../_output.ts";

type Data = Record<string, unknown>;
type Row = Record<string, unknown>;

const dlq: CommandSpec = {
  name: "dlq",
  summary: "Dead letters (attempts that failed for good): list, show, replay one (once)",
  usage:
    "dlq [list [--status pending|replayed] [--limit <n>] [--cursor <c>] | show <attempt_id> | " +
    "replay <attempt_id>]",
  flags: { status: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } },
  flagHelp: [
    "  --status <status>     list: pending (not replayed yet) or replayed",
    "  --limit <n>, --cursor <c>  list: paging",
  ],
  examples: [
    "oris dlq --status pending",
    "oris dlq show at_01J...",
    "oris dlq replay at_01J...   # requeues the attempt; a second replay is a conflict (exit 4)",
  ],
  remote: true,
  args: { min: 0, max: 2 },
  async run(ctx, invocation) {
    const { positionals } = invocation;
    const sub = subcommand(positionals, ["list", "show", "replay"], "dlq");
    if (sub === "list") {
      if (positionals.length > 1) {
        throw new UsageError(`dlq list: unexpected argument "${positionals[1]}"`);
      }
      const query = flagQuery(invocation, ["status", "limit", "cursor"]);
      const data = await request<Data>(invocation.client, "GET", `/v1/dlq?${query}`);
      if (invocation.json) json(ctx.output, data);
      else {
        table(ctx.output, [
          ["attempt_id", (row: Row) => row.attempt_id],
          ["run_id", (row: Row) => row.run_id],
          ["attempt", (row: Row) => row.attempt_no],
          ["reason", (row: Row) => row.reason],
          ["dead_at", (row: Row) => row.dead_at],
          ["replay", (row: Row) => row.replay_status],
        ], data.entries as Row[]);
        if (data.next_cursor !== null) ctx.output.out(`next page: --cursor ${data.next_cursor}`);
      }
      return 0;
    }
    const attemptId = needs(positionals, "an attempt id", `dlq ${sub}`);
    const data = sub === "show"
      ? await request<Data>(invocation.client, "GET", `/v1/dlq/${seg(attemptId)}`)
      : await request<Data>(invocation.client, "POST", `/v1/dlq/${seg(attemptId)}/replay`);
    if (invocation.json) json(ctx.output, data);
    else summary(ctx.output, Object.entries(data).filter(([key]) => key !== "trace"));
    return 0;
  },
};

const attempts: CommandSpec = {
  name: "attempts",
  summary: "An attempt's number, status and retries (backoff, when each is due)",
  usage: "attempts retries <attempt_id>",
  examples: ["oris attempts retries at_01J...", "oris attempts retries at_01J... --json"],
  remote: true,
  args: { min: 0, max: 2 },
  async run(ctx, invocation) {
    const { positionals } = invocation;
    subcommand(positionals, ["retries"], "attempts");
    const attemptId = needs(positionals, "an attempt id", "attempts retries");
    const data = await request<Data>(
      invocation.client,
      "GET",
      `/v1/attempts/${seg(attemptId)}/retries`,
    );
    if (invocation.json) json(ctx.output, data);
    else {
      summary(ctx.output, Object.entries(data).filter(([key]) => key !== "history"));
      const history = data.history as Row[];
      if (history.length === 0) ctx.output.out("no retries");
      else {
        table(ctx.output, [
          ["retry", (row: Row) => row.retry_no],
          ["attempt", (row: Row) => row.attempt_no],
          ["strategy", (row: Row) => row.strategy],
          ["backoff_ms", (row: Row) => row.backoff_ms],
          ["max_retries", (row: Row) => row.max_retries],
          ["scheduled_at", (row: Row) => row.scheduled_at],
          ["next_retry_at", (row: Row) => row.next_retry_at],
        ], history);
      }
    }
    return 0;
  },
};

/** The dead-letter and attempt commands. */
export const DLQ_COMMANDS: readonly CommandSpec[] = [dlq, attempts];
