/**
 * The effect journal of a {@linkcode MemoryStore}: JSON texts by (thread,
 * step, node, index), the first record of a key winning.
 *
 * @module
 */

import {
  checkEffectKey,
  type EffectKey,
  type EffectRecord,
  encodeEffect,
  parseThreadId,
  type ThreadId,
} from "../../kernel/mod.ts";

/** Journaled effects in memory. */
export class MemoryJournal {
  #effects = new Map<string, string>();

  /**
   * Records an effect unless its key is taken.
   *
   * @param record The effect.
   * @param check Runs once the record is validated, before it is written (a fence check).
   * @returns The stored record (the first of its key).
   */
  record(record: EffectRecord, check: () => void): EffectRecord {
    const json = encodeEffect(record);
    check();
    const key = effectKey(record);
    const stored = this.#effects.get(key) ?? json;
    this.#effects.set(key, stored);
    return JSON.parse(stored) as EffectRecord;
  }

  /**
   * A recorded effect.
   *
   * @param key Its key.
   * @returns The record, or `null`.
   */
  get(key: EffectKey): EffectRecord | null {
    checkEffectKey(key);
    const stored = this.#effects.get(effectKey(key));
    return stored === undefined ? null : JSON.parse(stored) as EffectRecord;
  }

  /**
   * A run's recorded effects by step, node and index.
   *
   * @param threadId The run.
   * @param step Only this step, if given.
   * @returns The records.
   */
  list(threadId: ThreadId, step?: number): EffectRecord[] {
    parseThreadId(threadId);
    return [...this.#effects.values()]
      .map((json) => JSON.parse(json) as EffectRecord)
      .filter((record) =>
        record.threadId === threadId && (step === undefined || record.step === step)
      )
      .sort((a, b) =>
        a.step - b.step || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.index - b.index
      );
  }
}

function effectKey(key: EffectKey): string {
  return JSON.stringify([key.threadId, key.step, key.node, key.index]);
}
