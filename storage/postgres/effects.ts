/**
 * The effect journal of a {@linkcode PostgresStore}: the recorded result of
 * each effect, by run, step, node and index; the first record of a key wins.
 *
 * @module
 */

import {
  checkEffectKey,
  type EffectKey,
  type EffectRecord,
  encodeEffect,
  OrisError,
  parseThreadId,
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
): Promise<EffectRecord> {
  return context.io(`record effect of run "${record?.threadId}"`, async () => {
    const json = encodeEffect(record);
    const [row] = await context.query<{ record: string }>(context.statements.recordEffect, [
      record.threadId,
      record.step,
      record.node,
      record.index,
      record.name,
      json,
    ]);
    if (row !== undefined) return JSON.parse(row.record) as EffectRecord;
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
  return context.io(`get effect of run "${key?.threadId}"`, () => {
    checkEffectKey(key);
    return readEffect(context, key);
  });
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
  return context.io(`list effects of run "${threadId}"`, async () => {
    parseThreadId(threadId);
    const s = context.statements;
    const rows = step === undefined
      ? await context.query<{ record: string }>(s.listEffects, [threadId])
      : await context.query<{ record: string }>(s.listEffectsOfStep, [threadId, step]);
    return rows.map((row) => JSON.parse(row.record) as EffectRecord);
  });
}
