/**
 * Jobs: `run` (with `--wait` or `--follow`), `list`, `inspect`, `timeline`
 * and `state`.
 *
 * @module
 */

import {
  type CommandSpec,
  type Context,
  flagQuery,
  type Invocation,
  jsonFlag,
  seg,
  stringFlag,
} from "../_command.ts";
import { CliError, readEvents, request, send } from "../_http.ts";
import { json, type Output, style, summary, table } from "../_output.ts";

type Data = Record<string, unknown>;
type Row = Record<string, unknown>;

/** The exit code of a run that came to rest: 1 when it failed or was cancelled. */
function restCode(status: unknown): number {
  return status === "failed" || status === "cancelled" ? 1 : 0;
}

/** Prints a run response's summary. */
export function printRun(output: Output, data: Data): void {
  const error = data.error as { code: string; message: string } | null | undefined;
  const pending = (data.pending_interrupts ?? []) as Row[];
  summary(output, [
    ["thread", data.thread_id],
    ["status", colored(output, data.status)],
    ["checkpoint", data.checkpoint_id],
    ...(pending.length === 0
      ? []
      : pending.map((item) =>
        ["interrupt", `${item.interrupt_id} (${item.node}): ${JSON.stringify(item.value)}`] as const
      )),
    ...(error ? [["error", `${error.code}: ${error.message}`] as const] : []),
  ]);
}

function colored(output: Output, status: unknown): string {
  const text = String(status);
  if (text === "completed") return style(output, text, "green");
  if (text === "failed" || text === "cancelled") return style(output, text, "red");
  return text;
}

/**
 * Follows a run's events (SSE) until it comes to rest, printing each and a
 * live status line; resolves with its final status.
 *
 * @param ctx The output.
 * @param invocation The client.
 * @param threadId The run.
 * @returns The final status.
 */
export async function follow(
  ctx: Context,
  invocation: Invocation,
  threadId: string,
  options: { quiet?: boolean; untilRest?: boolean } = {},
): Promise<string> {
  const path = `/v1/jobs/${seg(threadId)}/stream?follow=true`;
  const response = await send(invocation.client, "GET", path);
  // An error is an envelope: `request` reads it and throws.
  if (!response.ok) {
    await response.body?.cancel();
    await request(invocation.client, "GET", path);
  }
  let final = "unknown";
  await readEvents(response, (event, data): boolean => {
    const record = data as Row;
    if (event === "end") {
      final = String(record.status);
      return true;
    }
    if (event === "error") {
      const error = (record.error ?? record) as Row;
      throw new CliError(`${error.code}: ${error.message}`, 1);
    }
    // An interrupted or paused run is at rest (the stream itself goes on until it ends).
    if (options.untilRest === true && (event === "interrupt.raised" || event === "run.paused")) {
      return true;
    }
    if (event === "messages" || options.quiet === true) return false;
    if (invocation.json) {
      ctx.output.out(JSON.stringify({ event, data }));
      return false;
    }
    const inner = (record.event ?? {}) as Row;
    const detail = [
      inner.step === undefined ? "" : `step ${inner.step}`,
      inner.node === undefined ? "" : `node ${inner.node}`,
      (inner.error as Row | undefined)?.code === undefined
        ? ""
        : `error ${(inner.error as Row).code}`,
    ].filter((part) => part !== "").join(" ");
    ctx.output.out(
      `${String(record.seq ?? "").padStart(4)}  ${event}${detail === "" ? "" : `  ${detail}`}`,
    );
    ctx.output.status(`${threadId}: ${event}`);
    return false;
  });
  ctx.output.status("");
  return final;
}

const run: CommandSpec = {
  name: "run",
  summary: "Run a job (a new run of a graph) and print its status",
  usage:
    "run <thread_id> [--graph <name>] [--input <json|@file|->] [--idempotency-key <key>] [--wait] [--follow]",
  flags: {
    graph: { type: "string" },
    input: { type: "string" },
    "idempotency-key": { type: "string" },
    wait: { type: "boolean" },
    follow: { type: "boolean" },
  },
  flagHelp: [
    "  --graph <name>        the graph (default: the server's default graph)",
    "  --input <json>        the input: JSON, @file, or - for stdin",
    "  --idempotency-key <k> the same key and input is the same run",
    "  --wait                wait until the run comes to rest; exit 1 if it failed",
    "  --follow              stream its events as they commit, then its final status",
  ],
  examples: [
    'oris run order-42 --graph approval --input \'{"request":"ship"}\'',
    "oris run order-43 --input @input.json --follow",
  ],
  remote: true,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [threadId] = invocation.positionals as [string];
    const input = stringFlag(invocation, "input");
    const body: Data = {
      thread_id: threadId,
      ...(stringFlag(invocation, "graph") === undefined
        ? {}
        : { graph: stringFlag(invocation, "graph") }),
      ...(input === undefined ? {} : { input: await jsonFlag(ctx, "input", input) }),
      ...(stringFlag(invocation, "idempotency-key") === undefined
        ? {}
        : { idempotency_key: stringFlag(invocation, "idempotency-key") }),
    };
    if (invocation.values.follow === true) {
      await request<Data>(invocation.client, "POST", "/v1/jobs/run?wait=false", body);
      await follow(ctx, invocation, threadId);
    } else if (invocation.values.wait === true) {
      const done = await request<Data>(invocation.client, "POST", "/v1/jobs/run", {
        ...body,
        wait_ms: 300_000,
      });
      if (done.status === "queued" || done.status === "running") {
        await follow(ctx, invocation, threadId, { quiet: true, untilRest: true });
      }
    } else {
      const started = await request<Data>(
        invocation.client,
        "POST",
        "/v1/jobs/run?wait=false",
        body,
      );
      if (invocation.json) json(ctx.output, started);
      else printRun(ctx.output, started);
      return 0;
    }
    const job = await request<Data>(invocation.client, "GET", `/v1/jobs/${seg(threadId)}/detail`);
    // --follow --json is JSON lines: the events, then the job's detail.
    if (invocation.json && invocation.values.follow === true) ctx.output.out(JSON.stringify(job));
    else if (invocation.json) json(ctx.output, job);
    else printRun(ctx.output, job);
    return restCode(job.status);
  },
};

const list: CommandSpec = {
  name: "list",
  summary: "List jobs, newest first",
  usage: "list [--status <status>] [--graph <name>] [--limit <n>] [--cursor <cursor>]",
  flags: {
    status: { type: "string" },
    graph: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
  },
  flagHelp: [
    "  --status <status>     only jobs with this status (queued, running, interrupted, ...)",
    "  --graph <name>        only jobs of this graph",
    "  --limit <n>           how many (1-200, default 50)",
    "  --cursor <cursor>     the next page (printed after a full page)",
  ],
  examples: [
    "oris list",
    "oris list --status interrupted --limit 10",
    "oris list --graph approval",
    "oris list --json",
  ],
  remote: true,
  args: { min: 0, max: 0 },
  async run(ctx, invocation) {
    const query = flagQuery(invocation, ["status", "graph", "limit", "cursor"]);
    const data = await request<Data>(invocation.client, "GET", `/v1/jobs?${query}`);
    if (invocation.json) {
      json(ctx.output, data);
      return 0;
    }
    table(ctx.output, [
      ["thread_id", (row: Row) => row.thread_id],
      ["status", (row: Row) => row.status],
      ["graph", (row: Row) => row.graph],
      ["tenant", (row: Row) => row.tenant_id ?? "-"],
      ["priority", (row: Row) => row.priority],
      ["version", (row: Row) => row.version],
      ["updated_at", (row: Row) => row.updated_at],
    ], data.jobs as Row[]);
    if (data.next_cursor !== null) ctx.output.out(`next page: --cursor ${data.next_cursor}`);
    return 0;
  },
};

const inspect: CommandSpec = {
  name: "inspect",
  summary: "A job's status, graph, pending interrupts, latest checkpoint, last events and error",
  usage: "inspect <thread_id>",
  examples: ["oris inspect order-42", "oris inspect order-42 --json"],
  remote: true,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [threadId] = invocation.positionals as [string];
    const detail = await request<Data>(
      invocation.client,
      "GET",
      `/v1/jobs/${seg(threadId)}/detail`,
    );
    const timeline = await request<Data>(
      invocation.client,
      "GET",
      `/v1/jobs/${seg(threadId)}/timeline`,
    );
    const events = (timeline.timeline as Row[]).slice(-5);
    if (invocation.json) {
      json(ctx.output, { ...detail, last_events: events });
      return 0;
    }
    const error = detail.error as Row | null;
    const pending = detail.pending_interrupts as Row[];
    summary(ctx.output, [
      ["thread", detail.thread_id],
      ["status", colored(ctx.output, detail.status)],
      [
        "graph",
        `${detail.graph}${
          detail.graph_changed === true ? " (changed since the run was created)" : ""
        }`,
      ],
      ["step", detail.step],
      ["checkpoint", detail.checkpoint_id],
      ["next", (detail.next as string[]).join(", ") || "-"],
      ["attempts", (detail.attempts as Row[]).length],
      ["updated", detail.updated_at],
      ...(detail.reason === null ? [] : [["reason", detail.reason] as const]),
      ...(error === null ? [] : [["error", `${error.code}: ${error.message}`] as const]),
    ]);
    if (pending.length > 0) {
      ctx.output.out("");
      ctx.output.out(style(ctx.output, "Pending interrupts", "bold"));
      table(ctx.output, [
        ["interrupt_id", (row: Row) => row.interrupt_id],
        ["node", (row: Row) => row.node],
        ["value", (row: Row) => row.value],
      ], pending);
    }
    ctx.output.out("");
    ctx.output.out(style(ctx.output, "Last events", "bold"));
    timelineTable(ctx.output, events);
    return 0;
  },
};

function timelineTable(output: Output, rows: Row[]): void {
  table(output, [
    ["seq", (row: Row) => row.seq],
    ["at", (row: Row) => row.at],
    ["event", (row: Row) => row.event_type],
    ["step", (row: Row) => row.step],
    ["node", (row: Row) => row.node ?? (row.nodes as string[] | undefined)?.join(",")],
    ["checkpoint", (row: Row) => row.checkpoint_id],
  ], rows);
}

const timeline: CommandSpec = {
  name: "timeline",
  summary: "A job's event log: seq, time, event, step, node, checkpoint",
  usage: "timeline <thread_id>",
  examples: ["oris timeline order-42", "oris timeline order-42 --json"],
  remote: true,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [threadId] = invocation.positionals as [string];
    const data = await request<Data>(
      invocation.client,
      "GET",
      `/v1/jobs/${seg(threadId)}/timeline`,
    );
    if (invocation.json) json(ctx.output, data);
    else timelineTable(ctx.output, data.timeline as Row[]);
    return 0;
  },
};

const state: CommandSpec = {
  name: "state",
  summary: "A job's state (values) now, or at a checkpoint",
  usage: "state <thread_id> [--checkpoint <checkpoint_id>]",
  flags: { checkpoint: { type: "string" } },
  flagHelp: ["  --checkpoint <id>     the state at this checkpoint (see oris timeline)"],
  examples: ["oris state order-42", "oris state order-42 --checkpoint cp_01J..."],
  remote: true,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [threadId] = invocation.positionals as [string];
    const checkpoint = stringFlag(invocation, "checkpoint");
    const data = await request<Data>(
      invocation.client,
      "GET",
      checkpoint === undefined
        ? `/v1/jobs/${seg(threadId)}`
        : `/v1/jobs/${seg(threadId)}/checkpoints/${seg(checkpoint)}`,
    );
    if (invocation.json) {
      json(ctx.output, data);
      return 0;
    }
    summary(ctx.output, [
      ["thread", threadId],
      ["checkpoint", data.checkpoint_id],
      ["step", data.step],
      ["next", (data.next as string[]).join(", ") || "-"],
    ]);
    ctx.output.out(JSON.stringify(data.values, null, 2));
    return 0;
  },
};

/** The job commands. */
export const JOB_COMMANDS: readonly CommandSpec[] = [run, list, inspect, timeline, state];
