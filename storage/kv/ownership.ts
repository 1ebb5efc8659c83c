/**
 * The ownership of runs for a {@linkcode KvStore}: leases, claims, the
 * mailbox and signals live in the process that opened the store (the
 * embedded Deno KV serves one process), over an index of its runs that is
 * read from the database once (the runs left `queued` or `running`, and
 * those waiting at an interrupt or a pause with a wake-up time) and kept up
 * to date by the store's own writes. Several runtimes in that
 * process share it exactly as runtimes on PostgreSQL share the database.
 *
 * @module
 */

import {
  currentSnapshot,
  isTerminal,
  RUN_STATUSES,
  type RunCreatedEvent,
  type RunSummary,
  schedulingOf,
  type ThreadId,
  wakeAtOf,
} from "../../kernel/mod.ts";
import { LocalOwnership, type RunInfo } from "../_ownership.ts";
import { decodeValue } from "./_blobs.ts";
import type { KvContext } from "./_context.ts";
import { runStatusPrefix } from "./_keys.ts";
import { kvAttempts } from "./attempts.ts";
import { load, readEvents } from "./runs.ts";

/**
 * Makes the ownership of a store's runs.
 *
 * @param ctx The store.
 * @returns The ownership.
 */
export function kvOwnership(ctx: KvContext): LocalOwnership {
  const attempts = kvAttempts(ctx.kv);
  return new LocalOwnership({
    seed: () => seedRuns(ctx),
    lookup: (threadId) => lookupRun(ctx, threadId),
    waitingForRetry: (now) => attempts.waitingForRetry(now),
  });
}

/**
 * The runs left `queued` or `running` in the database, and those at rest
 * (interrupted or paused) with a wake-up time (a total deadline).
 */
async function seedRuns(ctx: KvContext): Promise<RunInfo[]> {
  const found: RunInfo[] = [];
  for (const status of RUN_STATUSES.filter((s) => !isTerminal(s))) {
    const runnable = status === "queued" || status === "running";
    for await (const entry of ctx.kv.list<Uint8Array>({ prefix: runStatusPrefix(status) })) {
      const summary = decodeValue<RunSummary>(entry.value);
      const info = await infoOf(ctx, summary.threadId, summary);
      if (info !== null && (runnable || info.wakeAt !== null)) found.push(info);
    }
  }
  return found;
}

async function lookupRun(ctx: KvContext, threadId: string): Promise<RunInfo | null> {
  const loaded = await load(ctx, threadId);
  if (loaded === null) return null;
  const run = currentSnapshot(loaded);
  return await infoOf(ctx, threadId as ThreadId, {
    status: run.status,
    graph: run.graph,
    createdAt: run.createdAt,
  });
}

async function infoOf(
  ctx: KvContext,
  threadId: ThreadId,
  summary: Pick<RunSummary, "status" | "graph" | "createdAt">,
): Promise<RunInfo | null> {
  const [first] = await readEvents(ctx, threadId, 1, { limit: 1 });
  if (first === undefined) return null;
  const created = first.event as RunCreatedEvent;
  return {
    threadId,
    status: summary.status,
    graph: summary.graph,
    createdAt: summary.createdAt,
    wakeAt: wakeAtOf({ ...summary, ...(created.deadline ? { deadline: created.deadline } : {}) }),
    ...schedulingOf(created.metadata),
  };
}
