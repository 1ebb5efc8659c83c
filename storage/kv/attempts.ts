/**
 * Attempts and dead letters in Deno KV: the shared {@linkcode CellAttempts}
 * over cells that are Deno KV entries under `oris, att…` keys (see
 * `_keys.ts`), committed atomically with their versionstamps checked.
 *
 * @module
 */

import { type Cell, CellAttempts, type CellKey, type Cells } from "../_attempts.ts";
import { commit } from "./_commit.ts";

/** Cell keys as Deno KV keys: `oris, att, …` (each part a string of at most 128 characters). */
function kvKey(key: CellKey): Deno.KvKey {
  return ["oris", "att", ...key];
}

/**
 * The cells of a Deno KV database.
 *
 * @param kv The database.
 * @returns The cells.
 */
export function kvCells(kv: Deno.Kv): Cells {
  const toCell = (key: CellKey, entry: Deno.KvEntryMaybe<string>): Cell => ({
    key,
    value: entry.value,
    stamp: entry.versionstamp,
  });
  return {
    async get(key) {
      return toCell(key, await kv.get<string>(kvKey(key)));
    },
    async list(prefix, limit) {
      const cells: Cell[] = [];
      const options = limit === undefined ? {} : { limit };
      for await (const entry of kv.list<string>({ prefix: kvKey(prefix) }, options)) {
        cells.push(toCell(entry.key.slice(2) as string[], entry));
      }
      return cells;
    },
    async commit(checks, writes) {
      const atomic = kv.atomic();
      for (const check of checks) {
        atomic.check({ key: kvKey(check.key), versionstamp: check.stamp });
      }
      for (const write of writes) {
        if (write.value === null) atomic.delete(kvKey(write.key));
        else atomic.set(kvKey(write.key), write.value);
      }
      return (await commit(atomic)).ok;
    },
  };
}

/**
 * The attempts and dead letters of a Deno KV store.
 *
 * @param kv The database.
 * @returns The attempt store.
 */
export function kvAttempts(kv: Deno.Kv): CellAttempts {
  return new CellAttempts(kvCells(kv));
}
