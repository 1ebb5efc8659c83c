/**
 * Attempts and dead letters over a small atomic key-value interface
 * ({@linkcode Cells}), shared by the memory and Deno KV stores: each adapter
 * gives its cells (a map, or Deno KV itself) and gets the same
 * {@linkcode AttemptStore}.
 *
 * Keys: `["attempt", id]` (the record), `["attempt_open", threadId]` (the
 * id of the run's attempt that has not ended: at most one per run, checked
 * in every commit that opens one), `["attempt_status", status, id]` (the
 * index {@linkcode AttemptStore.listAttempts} reads; ids are time-ordered)
 * and `["dead_letter", id]`. Dead letters are listed by reading them all,
 * newest first (they are few: failures for good).
 *
 * @module
 */

import {
  attemptConflict,
  type AttemptRecord,
  type AttemptStore,
  checkAttemptRecord,
  checkListAttempts,
  type DeadLetterRecord,
  decodeTimeIdCursor,
  encodeJson,
  isAttemptEnded,
  type ListAttemptsOptions,
  type ListDeadLettersOptions,
  NotFoundError,
  type Page,
  pageLimit,
  pageOf,
  replayedRecords,
  timeIdPosition,
} from "../kernel/mod.ts";

/** A key of {@linkcode Cells}. */
export type CellKey = readonly string[];

/** A cell as read: its JSON text and a stamp that changes with every write (`null`: absent). */
export interface Cell {
  /** The key. */
  key: CellKey;
  /** The JSON text, or `null` when absent. */
  value: string | null;
  /** The write stamp, or `null` when absent. */
  stamp: string | null;
}

/** One write of a {@linkcode Cells.commit}: a value, or `null` to delete. */
export interface CellWrite {
  /** The key. */
  key: CellKey;
  /** The JSON text, or `null` to delete. */
  value: string | null;
}

/** An atomic key-value store of JSON text. */
export interface Cells {
  /** Reads a cell. */
  get(key: CellKey): Promise<Cell>;
  /** The cells under a prefix, in key order. */
  list(prefix: CellKey, limit?: number): Promise<Cell[]>;
  /**
   * Writes atomically if every checked cell still has its stamp.
   *
   * @returns `false` when a check failed (nothing is written).
   */
  commit(checks: readonly Cell[], writes: readonly CellWrite[]): Promise<boolean>;
}

const open = (threadId: string): CellKey => ["attempt_open", threadId];
const attemptKey = (id: string): CellKey => ["attempt", id];
const statusKey = (status: string, id: string): CellKey => ["attempt_status", status, id];
const letterKey = (id: string): CellKey => ["dead_letter", id];

/** Newest first by time, then id descending. */
function newestFirst(a: DeadLetterRecord, b: DeadLetterRecord): number {
  return b.deadAt - a.deadAt ||
    (a.attemptId < b.attemptId ? 1 : a.attemptId > b.attemptId ? -1 : 0);
}

/** The {@linkcode AttemptStore} of a store whose data are {@linkcode Cells}. */
export class CellAttempts implements AttemptStore {
  #cells: Cells;

  /** @param cells Where the records live. */
  constructor(cells: Cells) {
    this.#cells = cells;
  }

  /** See {@linkcode AttemptStore.createAttempt}. */
  async createAttempt(record: AttemptRecord): Promise<boolean> {
    checkAttemptRecord(record);
    const [slot, existing] = await Promise.all([
      this.#cells.get(open(record.threadId)),
      this.#cells.get(attemptKey(record.attemptId)),
    ]);
    if (existing.value !== null) return false;
    const writes: CellWrite[] = [
      { key: attemptKey(record.attemptId), value: encodeJson(record, "attempt") },
      { key: statusKey(record.status, record.attemptId), value: "1" },
    ];
    if (!isAttemptEnded(record.status)) {
      if (slot.value !== null) return false;
      writes.push({ key: open(record.threadId), value: JSON.stringify(record.attemptId) });
    }
    return await this.#cells.commit([slot, existing], writes);
  }

  /** See {@linkcode AttemptStore.getAttempt}. */
  async getAttempt(attemptId: string): Promise<AttemptRecord | null> {
    if (typeof attemptId !== "string") return null;
    const cell = await this.#cells.get(attemptKey(attemptId));
    return cell.value === null ? null : JSON.parse(cell.value) as AttemptRecord;
  }

  /** See {@linkcode AttemptStore.openAttempt}. */
  async openAttempt(threadId: string): Promise<AttemptRecord | null> {
    const slot = await this.#cells.get(open(threadId));
    return slot.value === null ? null : await this.getAttempt(JSON.parse(slot.value) as string);
  }

  /**
   * The runs whose open attempt waits for its retry (`retry_backoff` until
   * after `now`): claims skip them until then.
   *
   * @param now The time (ms).
   * @returns Their thread ids.
   */
  async waitingForRetry(now: number): Promise<Set<string>> {
    const waiting = new Set<string>();
    for (const cell of await this.#cells.list(["attempt_status", "retry_backoff"])) {
      const attempt = await this.getAttempt(cell.key[2]!);
      if (attempt?.status === "retry_backoff" && (attempt.nextRetryAt ?? 0) > now) {
        waiting.add(attempt.threadId);
      }
    }
    return waiting;
  }

  /** See {@linkcode AttemptStore.saveAttempt}. */
  async saveAttempt(
    record: AttemptRecord,
    deadLetter?: DeadLetterRecord,
  ): Promise<AttemptRecord> {
    checkAttemptRecord(record);
    const cell = await this.#cells.get(attemptKey(record.attemptId));
    if (cell.value === null) throw new NotFoundError("attempt", record.attemptId);
    const stored = JSON.parse(cell.value) as AttemptRecord;
    if (stored.version !== record.version || stored.threadId !== record.threadId) {
      throw attemptConflict(record.attemptId, "it changed meanwhile");
    }
    const next: AttemptRecord = { ...record, version: record.version + 1 };
    const slot = await this.#cells.get(open(record.threadId));
    const writes = this.#moves(stored, next, slot);
    if (writes === null) {
      throw attemptConflict(record.attemptId, "its run has another open attempt");
    }
    if (deadLetter !== undefined) {
      writes.push({
        key: letterKey(deadLetter.attemptId),
        value: encodeJson(deadLetter, "dead letter"),
      });
    }
    if (!await this.#cells.commit([cell, slot], writes)) {
      throw attemptConflict(record.attemptId, "it changed meanwhile");
    }
    return next;
  }

  /** The writes that replace `stored` by `next`, or `null` when the run's open slot is another's. */
  #moves(stored: AttemptRecord, next: AttemptRecord, slot: Cell): CellWrite[] | null {
    const writes: CellWrite[] = [
      { key: attemptKey(next.attemptId), value: encodeJson(next, "attempt") },
    ];
    if (stored.status !== next.status) {
      writes.push({ key: statusKey(stored.status, next.attemptId), value: null });
      writes.push({ key: statusKey(next.status, next.attemptId), value: "1" });
    }
    const holder = slot.value === null ? null : JSON.parse(slot.value) as string;
    if (isAttemptEnded(next.status)) {
      if (holder === next.attemptId) writes.push({ key: slot.key, value: null });
    } else if (holder === null) {
      writes.push({ key: slot.key, value: JSON.stringify(next.attemptId) });
    } else if (holder !== next.attemptId) {
      return null;
    }
    return writes;
  }

  /** See {@linkcode AttemptStore.listAttempts}. */
  async listAttempts(options: ListAttemptsOptions): Promise<AttemptRecord[]> {
    const limit = checkListAttempts(options);
    const found: AttemptRecord[] = [];
    for (const cell of await this.#cells.list(["attempt_status", options.status])) {
      const attempt = await this.getAttempt(cell.key[2]!);
      if (attempt === null || attempt.status !== options.status) continue;
      if (options.workerId !== undefined && attempt.workerId !== options.workerId) continue;
      found.push(attempt);
      if (found.length >= limit) break;
    }
    return found;
  }

  /** See {@linkcode AttemptStore.listDeadLetters}. */
  async listDeadLetters(options: ListDeadLettersOptions = {}): Promise<Page<DeadLetterRecord>> {
    const limit = pageLimit(options.limit);
    const after = decodeTimeIdCursor(options.cursor, "dead_letters");
    const letters = (await this.#cells.list(["dead_letter"]))
      .map((cell) => JSON.parse(cell.value!) as DeadLetterRecord)
      .filter((letter) => options.status === undefined || letter.replayStatus === options.status)
      .filter((letter) =>
        after === null ||
        newestFirst(letter, { deadAt: after.time, attemptId: after.id } as DeadLetterRecord) > 0
      )
      .sort(newestFirst);
    return pageOf(
      letters,
      limit,
      (last) => timeIdPosition("dead_letters", last.deadAt, last.attemptId),
    );
  }

  /** See {@linkcode AttemptStore.getDeadLetter}. */
  async getDeadLetter(attemptId: string): Promise<DeadLetterRecord | null> {
    if (typeof attemptId !== "string") return null;
    const cell = await this.#cells.get(letterKey(attemptId));
    return cell.value === null ? null : JSON.parse(cell.value) as DeadLetterRecord;
  }

  /** See {@linkcode AttemptStore.replayDeadLetter}. */
  async replayDeadLetter(
    attemptId: string,
    now: number,
  ): Promise<{ deadLetter: DeadLetterRecord; attempt: AttemptRecord }> {
    const letterCell = await this.#cells.get(letterKey(attemptId));
    const cell = await this.#cells.get(attemptKey(attemptId));
    if (letterCell.value === null || cell.value === null) {
      throw new NotFoundError("dead letter", attemptId, { details: { attempt_id: attemptId } });
    }
    const letter = JSON.parse(letterCell.value) as DeadLetterRecord;
    const stored = JSON.parse(cell.value) as AttemptRecord;
    const { deadLetter, attempt } = replayedRecords(letter, stored, now);
    const slot = await this.#cells.get(open(stored.threadId));
    const writes = this.#moves(stored, attempt, slot);
    if (writes === null) throw attemptConflict(attemptId, "its run has another open attempt");
    writes.push({ key: letterKey(attemptId), value: encodeJson(deadLetter, "dead letter") });
    if (!await this.#cells.commit([letterCell, cell, slot], writes)) {
      throw attemptConflict(attemptId, "it changed meanwhile");
    }
    return { deadLetter, attempt };
  }
}

/**
 * {@linkcode Cells} in a map (the memory store): stamps are a counter.
 *
 * @returns The cells.
 */
export function memoryCells(): Cells {
  const map = new Map<string, { key: CellKey; value: string; stamp: string }>();
  let counter = 0;
  const id = (key: CellKey) => JSON.stringify(key);
  const read = (key: CellKey): Cell => {
    const found = map.get(id(key));
    return found === undefined ? { key, value: null, stamp: null } : { ...found };
  };
  return {
    get: (key) => Promise.resolve(read(key)),
    list(prefix, limit) {
      const start = JSON.stringify(prefix).slice(0, -1);
      const cells = [...map.values()]
        .filter((cell) => id(cell.key).startsWith(start + ",") && cell.key.length > prefix.length)
        .sort((a, b) => compareKeys(a.key, b.key))
        .slice(0, limit);
      return Promise.resolve(cells.map((cell) => ({ ...cell })));
    },
    commit(checks, writes) {
      if (checks.some((check) => read(check.key).stamp !== check.stamp)) {
        return Promise.resolve(false);
      }
      for (const write of writes) {
        if (write.value === null) map.delete(id(write.key));
        else map.set(id(write.key), { key: write.key, value: write.value, stamp: `${++counter}` });
      }
      return Promise.resolve(true);
    },
  };
}

function compareKeys(a: CellKey, b: CellKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]! ? -1 : 1;
  }
  return a.length - b.length;
}
