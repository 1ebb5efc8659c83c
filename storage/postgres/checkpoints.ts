/**
 * The checkpoints of a {@linkcode PostgresStore}: one row per committed
 * step, written by the append that commits it (see `runs.ts`), read here.
 *
 * @module
 */

import {
  type CheckpointId,
  type CheckpointRecord,
  decodeVersionCursor,
  type Page,
  pageLimit,
  pageOf,
  type PageOptions,
  parseThreadId,
  type ThreadId,
  versionPosition,
} from "../../kernel/mod.ts";
import type { PostgresContext } from "./_context.ts";

interface CheckpointRow {
  thread_id: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  step: number;
  version: number;
  created_at: number;
}

/**
 * Gets one checkpoint of a run; see {@linkcode PostgresStore.getCheckpoint}.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param checkpointId The checkpoint.
 * @returns The checkpoint, or `null`.
 */
export function getCheckpoint(
  context: PostgresContext,
  threadId: ThreadId,
  checkpointId: CheckpointId,
): Promise<CheckpointRecord | null> {
  return context.read(`get checkpoint "${checkpointId}" of run "${threadId}"`, async () => {
    parseThreadId(threadId);
    if (typeof checkpointId !== "string") return null;
    const [row] = await context.query<CheckpointRow>(context.statements.getCheckpoint, [
      threadId,
      checkpointId,
    ]);
    return row === undefined ? null : toCheckpoint(row);
  });
}

/**
 * Lists a run's checkpoints, newest first; see {@linkcode PostgresStore.listCheckpoints}.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param options Limit and cursor.
 * @returns One page.
 */
export function listCheckpoints(
  context: PostgresContext,
  threadId: ThreadId,
  options: PageOptions = {},
): Promise<Page<CheckpointRecord>> {
  return context.read(`list checkpoints of run "${threadId}"`, async () => {
    parseThreadId(threadId);
    const limit = pageLimit(options.limit);
    const before = decodeVersionCursor(options.cursor);
    const s = context.statements;
    const rows = before === null
      ? await context.query<CheckpointRow>(s.listCheckpoints, [threadId, limit + 1])
      : await context.query<CheckpointRow>(s.listCheckpointsBefore, [threadId, limit + 1, before]);
    return pageOf(rows, limit, (last) => versionPosition(last.version), toCheckpoint);
  });
}

function toCheckpoint(row: CheckpointRow): CheckpointRecord {
  return {
    threadId: row.thread_id as ThreadId,
    checkpointId: row.checkpoint_id as CheckpointId,
    parentCheckpointId: row.parent_checkpoint_id as CheckpointId | null,
    step: row.step,
    version: row.version,
    createdAt: row.created_at,
  };
}
