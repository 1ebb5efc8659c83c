/**
 * The attempts and dead letters of a {@linkcode PostgresStore}: one row per
 * attempt (the record as JSON text, with the columns that are queried: run,
 * status, worker, version) and one per dead letter. A partial unique index
 * keeps at most one open attempt per run.
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
  type ListAttemptsOptions,
  type ListDeadLettersOptions,
  NotFoundError,
  type Page,
  pageLimit,
  pageOf,
  replayedRecords,
  timeIdPosition,
} from "../../kernel/mod.ts";
import type { Parameter, PostgresContext } from "./_context.ts";
import { errorCode } from "./_errors.ts";
import { quoteIdentifier } from "./migrations.ts";

const UNIQUE_VIOLATION = "23505";

interface Statements {
  insert: string;
  get: string;
  open: string;
  update: string;
  list: string;
  listWorker: string;
  putLetter: string;
  getLetter: string;
  letters: string;
  replay: string;
}

function statementsOf(schema: string): Statements {
  const a = `${schema}.runtime_attempts`;
  const d = `${schema}.runtime_dead_letters`;
  const letters = (where: string) =>
    `SELECT record FROM ${d} WHERE ($1::text IS NULL OR replay_status = $1) ${where}
     ORDER BY dead_at DESC, attempt_id DESC LIMIT $2`;
  return {
    insert:
      `INSERT INTO ${a} (attempt_id, thread_id, status, worker_id, version, created_at, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING attempt_id`,
    get: `SELECT record FROM ${a} WHERE attempt_id = $1`,
    open: `SELECT record FROM ${a} WHERE thread_id = $1
           AND status IN ('queued', 'leased', 'retry_backoff')`,
    update: `UPDATE ${a} SET status = $3, worker_id = $4, version = $2 + 1, record = $5
             WHERE attempt_id = $1 AND version = $2 RETURNING attempt_id`,
    list: `SELECT record FROM ${a} WHERE status = $1 ORDER BY created_at, attempt_id LIMIT $2`,
    listWorker: `SELECT record FROM ${a} WHERE status = $1 AND worker_id = $3
                 ORDER BY created_at, attempt_id LIMIT $2`,
    putLetter:
      `INSERT INTO ${d} (attempt_id, dead_at, replay_status, record) VALUES ($1, $2, $3, $4)
                ON CONFLICT (attempt_id) DO UPDATE SET dead_at = $2, replay_status = $3, record = $4`,
    getLetter: `SELECT record FROM ${d} WHERE attempt_id = $1`,
    letters: letters(""),
    replay: letters('AND (dead_at, attempt_id) < ($3::float8, $4::text COLLATE "C")'),
  };
}

interface RecordRow {
  record: string;
}

/** The attempt store of a PostgreSQL schema; see the module doc. */
export class PostgresAttempts implements AttemptStore {
  #context: PostgresContext;
  #sql: Statements;

  /** @param context The store's shared state. */
  constructor(context: PostgresContext) {
    this.#context = context;
    this.#sql = statementsOf(quoteIdentifier(context.schema));
  }

  /** See {@linkcode AttemptStore.createAttempt}. */
  createAttempt(record: AttemptRecord): Promise<boolean> {
    return this.#context.io(`create attempt "${record?.attemptId}"`, async () => {
      checkAttemptRecord(record);
      try {
        const rows = await this.#context.query(this.#sql.insert, insertColumns(record));
        return rows.length === 1;
      } catch (error) {
        if (errorCode(error) === UNIQUE_VIOLATION) return false;
        throw error;
      }
    });
  }

  /** See {@linkcode AttemptStore.getAttempt}. */
  getAttempt(attemptId: string): Promise<AttemptRecord | null> {
    return this.#context.read(`get attempt "${attemptId}"`, async () => {
      if (typeof attemptId !== "string") return null;
      return first(await this.#context.query<RecordRow>(this.#sql.get, [attemptId]));
    });
  }

  /** See {@linkcode AttemptStore.openAttempt}. */
  openAttempt(threadId: string): Promise<AttemptRecord | null> {
    return this.#context.read(`get the open attempt of run "${threadId}"`, async () => {
      return first(await this.#context.query<RecordRow>(this.#sql.open, [threadId]));
    });
  }

  /** See {@linkcode AttemptStore.saveAttempt}. */
  saveAttempt(record: AttemptRecord, deadLetter?: DeadLetterRecord): Promise<AttemptRecord> {
    return this.#context.io(`save attempt "${record?.attemptId}"`, async () => {
      checkAttemptRecord(record);
      const next: AttemptRecord = { ...record, version: record.version + 1 };
      try {
        return await this.#context.transaction(async (query) => {
          const rows = await query(this.#sql.update, updateColumns(record, next));
          if (rows.length === 0) {
            const exists = await query(this.#sql.get, [record.attemptId]);
            if (exists.length === 0) throw new NotFoundError("attempt", record.attemptId);
            throw attemptConflict(record.attemptId, "it changed meanwhile");
          }
          if (deadLetter !== undefined) await query(this.#sql.putLetter, letterColumns(deadLetter));
          return next;
        });
      } catch (error) {
        if (errorCode(error) === UNIQUE_VIOLATION) {
          throw attemptConflict(record.attemptId, "its run has another open attempt");
        }
        throw error;
      }
    });
  }

  /** See {@linkcode AttemptStore.listAttempts}. */
  listAttempts(options: ListAttemptsOptions): Promise<AttemptRecord[]> {
    return this.#context.read("list attempts", async () => {
      const limit = checkListAttempts(options);
      const rows = options.workerId === undefined
        ? await this.#context.query<RecordRow>(this.#sql.list, [options.status, limit])
        : await this.#context.query<RecordRow>(this.#sql.listWorker, [
          options.status,
          limit,
          options.workerId,
        ]);
      return rows.map((row) => JSON.parse(row.record) as AttemptRecord);
    });
  }

  /** See {@linkcode AttemptStore.listDeadLetters}. */
  listDeadLetters(options: ListDeadLettersOptions = {}): Promise<Page<DeadLetterRecord>> {
    return this.#context.read("list dead letters", async () => {
      const limit = pageLimit(options.limit);
      const after = decodeTimeIdCursor(options.cursor, "dead_letters");
      const status = options.status ?? null;
      const rows = after === null
        ? await this.#context.query<RecordRow>(this.#sql.letters, [status, limit + 1])
        : await this.#context.query<RecordRow>(this.#sql.replay, [
          status,
          limit + 1,
          after.time,
          after.id,
        ]);
      return pageOf(
        rows.map((row) => JSON.parse(row.record) as DeadLetterRecord),
        limit,
        (last) => timeIdPosition("dead_letters", last.deadAt, last.attemptId),
      );
    });
  }

  /** See {@linkcode AttemptStore.getDeadLetter}. */
  getDeadLetter(attemptId: string): Promise<DeadLetterRecord | null> {
    return this.#context.read(`get dead letter "${attemptId}"`, async () => {
      if (typeof attemptId !== "string") return null;
      const rows = await this.#context.query<RecordRow>(this.#sql.getLetter, [attemptId]);
      return rows.length === 0 ? null : JSON.parse(rows[0]!.record) as DeadLetterRecord;
    });
  }

  /** See {@linkcode AttemptStore.replayDeadLetter}. */
  replayDeadLetter(
    attemptId: string,
    now: number,
  ): Promise<{ deadLetter: DeadLetterRecord; attempt: AttemptRecord }> {
    return this.#context.io(`replay dead letter "${attemptId}"`, async () => {
      try {
        return await this.#context.transaction(async (query) => {
          const letters = await query<RecordRow>(`${this.#sql.getLetter} FOR UPDATE`, [attemptId]);
          const attempts = await query<RecordRow>(`${this.#sql.get} FOR UPDATE`, [attemptId]);
          if (letters.length === 0 || attempts.length === 0) {
            throw new NotFoundError("dead letter", attemptId, {
              details: { attempt_id: attemptId },
            });
          }
          const letter = JSON.parse(letters[0]!.record) as DeadLetterRecord;
          const stored = JSON.parse(attempts[0]!.record) as AttemptRecord;
          const { deadLetter, attempt } = replayedRecords(letter, stored, now);
          await query(this.#sql.update, updateColumns(stored, attempt));
          await query(this.#sql.putLetter, letterColumns(deadLetter));
          return { deadLetter, attempt };
        });
      } catch (error) {
        if (errorCode(error) === UNIQUE_VIOLATION) {
          throw attemptConflict(attemptId, "its run has another open attempt");
        }
        throw error;
      }
    });
  }
}

function first(rows: RecordRow[]): AttemptRecord | null {
  return rows.length === 0 ? null : JSON.parse(rows[0]!.record) as AttemptRecord;
}

function insertColumns(record: AttemptRecord): Parameter[] {
  return [
    record.attemptId,
    record.threadId,
    record.status,
    record.workerId,
    record.version,
    record.createdAt,
    encodeJson(record, "attempt"),
  ];
}

function updateColumns(stored: AttemptRecord, next: AttemptRecord): Parameter[] {
  return [
    stored.attemptId,
    stored.version,
    next.status,
    next.workerId,
    encodeJson(next, "attempt"),
  ];
}

function letterColumns(letter: DeadLetterRecord): Parameter[] {
  return [letter.attemptId, letter.deadAt, letter.replayStatus, encodeJson(letter, "dead letter")];
}
