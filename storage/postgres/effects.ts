/**
 * The effect journal of a {@linkcode PostgresStore}: the recorded result of
 * each effect, by run, step, node and index; the first record of a key wins.
 *
 * @module
 */

import {
  checkEffectKey,
  checkToken,
  type EffectKey,
  type EffectRecord,
  encodeEffect,
  LeaseLostError,
  OrisError,
  parseThreadId,
  type RecordEffectOptions,
  type ThreadId,
} from "../../kernel/mod.ts";
import type { PostgresContext } from "./_context.ts";

/**
 * Records an effect unless its key is taken; see {@linkcode PostgresStore.recordEffect}.
 *
 * @param context The store's shared state.
 * @param record The effect.
 * @returns The stored record (the first one recorded for its key).
 */
export function recordEffect(
  context: PostgresContext,
  record: EffectRecord,
  options: RecordEffectOptions = {},
): Promise<EffectRecord> {
  return context.io(`record effect of run "${record?.threadId}"`, async () => {
    const json = encodeEffect(record);
    const fence = options.fence === undefined ? null : checkToken(options.fence, "fence");
    const parameters = [record.threadId, record.step, record.node, record.index, record.name, json];
    const s = context.statements;
    const [row] = fence === null
      ? await context.query<{ record: string }>(s.recordEffect, parameters)
      : await context.query<{ record: string | null; fenced: boolean }>(
        s.recordEffectFenced,
        [...parameters, fence],
      );
    if (row !== undefined && "fenced" in row && !row.fenced) {
      throw new LeaseLostError(record.threadId, fence!, await currentToken(context, record));
    }
    if (row?.record != null) return JSON.parse(row.record) as EffectRecord;
    // A racing insert committed after this statement's snapshot: read it now.
    const stored = await readEffect(context, record);
    if (stored === null) {
      throw new OrisError(
        "internal",
        `Cannot record effect of run "${record.threadId}": it vanished`,
      );
    }
    return stored;
  });
}

/**
 * Gets a recorded effect; see {@linkcode PostgresStore.getEffect}.
 *
 * @param context The store's shared state.
 * @param key Its key.
 * @returns The record, or `null`.
 */
export function getEffect(context: PostgresContext, key: EffectKey): Promise<EffectRecord | null> {
  return context.read(`get effect of run "${key?.threadId}"`, () => {
    checkEffectKey(key);
    return readEffect(context, key);
  });
}

async function currentToken(context: PostgresContext, key: EffectKey): Promise<number | null> {
  const [row] = await context.query<{ lease_token: number }>(context.statements.versions, [
    [key.threadId],
  ]);
  return row?.lease_token ?? null;
}

async function readEffect(context: PostgresContext, key: EffectKey): Promise<EffectRecord | null> {
  const [row] = await context.query<{ record: string }>(context.statements.getEffect, [
    key.threadId,
    key.step,
    key.node,
    key.index,
  ]);
  return row === undefined ? null : JSON.parse(row.record) as EffectRecord;
}

/**
 * Lists a run's recorded effects by step, node and index; see
 * {@linkcode PostgresStore.listEffects}.
 *
 * @param context The store's shared state.
 * @param threadId The run.
 * @param step Only this step, if given.
 * @returns The records.
 */
export function listEffects(
  context: PostgresContext,
  threadId: ThreadId,
  step?: number,
): Promise<EffectRecord[]> {
  return context.read(`list effects of run "${threadId}"`, async () => {
    parseThreadId(threadId);
    const s = context.statements;
    const rows = step === undefined
      ? await context.query<{ record: string }>(s.listEffects, [threadId])
      : await context.query<{ record: string }>(s.listEffectsOfStep, [threadId, step]);
    return rows.map((row) => JSON.parse(row.record) as EffectRecord);
  });
}
