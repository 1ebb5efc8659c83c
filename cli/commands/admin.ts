/**
 * Interrupts (`list`, `show`, `resume`, `reject`), the audit log and API
 * keys (`create`, `list`, `revoke`).
 *
 * @module
 */

import {
  type CommandSpec,
  flagQuery,
  jsonFlag,
  needs,
  seg,
  stringFlag,
  subcommand,
} from "../_command.ts";
import { request, UsageError } from "../_http.ts";
import { json, summary, table } from "../_output.ts";
import { printRun } from "./jobs.ts";

type Data = Record<string, unknown>;
type Row = Record<string, unknown>;

const interrupts: CommandSpec = {
  name: "interrupts",
  summary: "Pending and answered interrupts: list, show, resume with a value, reject",
  usage:
    "interrupts [list [--status <s>] [--run <thread_id>] | show <id> | resume <id> --value <json> | reject <id> [--reason <text>]]",
  flags: {
    status: { type: "string" },
    run: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
    value: { type: "string" },
    reason: { type: "string" },
  },
  flagHelp: [
    "  --status <status>     list: pending, resumed or rejected",
    "  --run <thread_id>     list: one job's interrupts",
    "  --limit <n>, --cursor <c>  list: paging",
    "  --value <json>        resume: the answer (JSON, @file, or -)",
    "  --reason <text>       reject: why",
  ],
  examples: [
    "oris interrupts --status pending",
    "oris interrupts show in_4f...",
    "oris interrupts resume in_4f... --value true",
    "oris interrupts reject in_4f... --reason 'not now'",
  ],
  remote: true,
  args: { min: 0, max: 2 },
  async run(ctx, invocation) {
    const { positionals } = invocation;
    const sub = subcommand(positionals, ["list", "show", "resume", "reject"], "interrupts");
    let data: Data;
    if (sub === "list") {
      if (positionals.length > 1) {
        throw new UsageError(`interrupts list: unexpected argument "${positionals[1]}"`);
      }
      const query = new URLSearchParams();
      for (
        const [flag, param] of [["status", "status"], ["run", "run_id"], ["limit", "limit"], [
          "cursor",
          "cursor",
        ]]
      ) {
        const value = stringFlag(invocation, flag!);
        if (value !== undefined) query.set(param!, value);
      }
      data = await request<Data>(invocation.client, "GET", `/v1/interrupts?${query}`);
      if (invocation.json) json(ctx.output, data);
      else {
        table(ctx.output, [
          ["interrupt_id", (row: Row) => row.interrupt_id],
          ["thread_id", (row: Row) => row.thread_id],
          ["status", (row: Row) => row.status],
          ["node", (row: Row) => row.node],
          ["value", (row: Row) => row.value],
        ], data.interrupts as Row[]);
        if (data.next_cursor !== null) ctx.output.out(`next page: --cursor ${data.next_cursor}`);
      }
      return 0;
    }
    const id = needs(positionals, "an interrupt id", `interrupts ${sub}`);
    if (sub === "show") {
      data = await request<Data>(invocation.client, "GET", `/v1/interrupts/${seg(id)}`);
      if (invocation.json) json(ctx.output, data);
      else summary(ctx.output, Object.entries(data));
      return 0;
    }
    if (sub === "resume") {
      const value = stringFlag(invocation, "value");
      if (value === undefined) throw new UsageError("interrupts resume needs --value <json>");
      data = await request<Data>(invocation.client, "POST", `/v1/interrupts/${seg(id)}/resume`, {
        value: await jsonFlag(ctx, "value", value),
      });
      if (invocation.json) json(ctx.output, data);
      else printRun(ctx.output, data);
      return 0;
    }
    const reason = stringFlag(invocation, "reason");
    data = await request<Data>(
      invocation.client,
      "POST",
      `/v1/interrupts/${seg(id)}/reject`,
      reason === undefined ? {} : { reason },
    );
    if (invocation.json) json(ctx.output, data);
    else summary(ctx.output, Object.entries(data).filter(([key]) => key !== "trace"));
    return 0;
  },
};

/** `--since`: an ISO time, or a duration back from now (`30s`, `15m`, `2h`, `7d`). */
function sinceMs(value: string, now: number): number {
  const match = /^(\d+)(s|m|h|d)$/.exec(value);
  if (match !== null) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s"];
    return now - Number(match[1]) * unit;
  }
  const at = Date.parse(value);
  if (Number.isNaN(at)) {
    throw new UsageError(
      `--since must be an ISO time or a duration like 15m, 2h, 7d; got "${value}"`,
    );
  }
  return at;
}

const audit: CommandSpec = {
  name: "audit",
  summary: "The audit log of control actions, newest first",
  usage: "audit [--action <action>] [--since <time|duration>] [--limit <n>] [--cursor <c>]",
  flags: {
    action: { type: "string" },
    since: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
  },
  flagHelp: [
    "  --action <action>     e.g. job.cancel, interrupt.resume, key.create",
    "  --since <when>        an ISO time, or a duration back from now: 15m, 2h, 7d",
    "  --limit <n>, --cursor <c>  paging",
  ],
  examples: ["oris audit --action job.cancel --since 2h", "oris audit --json"],
  remote: true,
  args: { min: 0, max: 0 },
  async run(ctx, invocation) {
    const query = flagQuery(invocation, ["action", "limit", "cursor"]);
    const since = stringFlag(invocation, "since");
    if (since !== undefined) query.set("from_ms", String(sinceMs(since, Date.now())));
    const data = await request<Data>(invocation.client, "GET", `/v1/audit/logs?${query}`);
    if (invocation.json) json(ctx.output, data);
    else {
      table(ctx.output, [
        ["at", (row: Row) => row.created_at],
        ["action", (row: Row) => row.action],
        ["resource", (row: Row) => row.resource_id],
        [
          "actor",
          (row: Row) => `${row.actor_type}${row.actor_id === null ? "" : `:${row.actor_id}`}`,
        ],
        ["result", (row: Row) => row.result],
        ["request_id", (row: Row) => row.request_id],
      ], data.logs as Row[]);
      if (data.next_cursor !== null) ctx.output.out(`next page: --cursor ${data.next_cursor}`);
    }
    return 0;
  },
};

const keys: CommandSpec = {
  name: "keys",
  summary: "API keys (admin): create (the secret is printed once), list, revoke",
  usage: "keys [list | create <key_id> [--role <role>] | revoke <key_id>]",
  flags: { role: { type: "string" }, limit: { type: "string" }, cursor: { type: "string" } },
  flagHelp: [
    "  --role <role>         create: admin, operator (default) or worker",
    "  --limit <n>, --cursor <c>  list: paging",
  ],
  examples: [
    "oris keys create ci-bot --role operator",
    "oris keys list",
    "oris keys revoke ci-bot",
  ],
  remote: true,
  args: { min: 0, max: 2 },
  async run(ctx, invocation) {
    const { positionals } = invocation;
    const sub = subcommand(positionals, ["list", "create", "revoke"], "keys");
    if (sub === "list") {
      const query = flagQuery(invocation, ["limit", "cursor"]);
      const data = await request<Data>(invocation.client, "GET", `/v1/keys?${query}`);
      if (invocation.json) json(ctx.output, data);
      else {
        table(ctx.output, [
          ["key_id", (row: Row) => row.key_id],
          ["role", (row: Row) => row.role],
          ["status", (row: Row) => row.status],
          ["created_at", (row: Row) => row.created_at],
        ], data.keys as Row[]);
      }
      return 0;
    }
    const keyId = needs(positionals, "a key id", `keys ${sub}`);
    if (sub === "create") {
      const role = stringFlag(invocation, "role");
      const data = await request<Data>(invocation.client, "POST", "/v1/keys", {
        key_id: keyId,
        ...(role === undefined ? {} : { role }),
      });
      if (invocation.json) json(ctx.output, data);
      else {
        summary(ctx.output, [["key_id", data.key_id], ["role", data.role], [
          "secret",
          data.secret,
        ]]);
        ctx.output.err("oris: the secret is shown this once: store it now");
      }
      return 0;
    }
    const data = await request<Data>(invocation.client, "DELETE", `/v1/keys/${seg(keyId)}`);
    if (invocation.json) json(ctx.output, data);
    else summary(ctx.output, [["key_id", data.key_id], ["status", data.status]]);
    return 0;
  },
};

/** The interrupt, audit and key commands. */
export const ADMIN_COMMANDS: readonly CommandSpec[] = [interrupts, audit, keys];
