/**
 * The SQL of the PostgreSQL adapter, for one schema. Every statement is sent
 * as a named prepared statement, so after its first use on a connection it
 * costs one round trip.
 *
 * @module
 */

/** The statements of a store, with the schema (quoted) inlined. */
export interface Statements {
  /** Creates a run: `$1..$11`, see {@linkcode statements}. Returns `created` (0 or 1). */
  createRun: string;
  /** Appends a batch of runs' events (arrays `$1..$17`). Returns the thread ids that were at their expected version. */
  append: string;
  /**
   * Appends one event to one run (the common case, with scalar parameters):
   * `$1` thread id, `$2` expected, `$3` version, `$4` status, `$5` updated at,
   * `$6` snapshot or null, `$7` type, `$8` at, `$9` event, `$10..$13`
   * checkpoint id (or null: none), parent, step, created at. Returns the
   * thread id when the run was at its expected version.
   */
  appendOne: string;
  /** `$1` thread ids: their current versions. */
  versions: string;
  /** `$1` thread id: the latest snapshot (first row) and the events after it. */
  load: string;
  /** `$1` thread id, `$2` from seq, `$3` limit or null. */
  readEvents: string;
  /** `$1` thread id, `$2` checkpoint id. */
  getCheckpoint: string;
  /** `$1` thread id, `$2` limit. */
  listCheckpoints: string;
  /** `$1` thread id, `$2` limit, `$3` versions below. */
  listCheckpointsBefore: string;
  /** `$1` limit. */
  listRuns: string;
  /** `$1` limit, `$2` updated at, `$3` thread id. */
  listRunsAfter: string;
  /** `$1` status, `$2` limit. */
  listRunsByStatus: string;
  /** `$1` status, `$2` limit, `$3` updated at, `$4` thread id. */
  listRunsByStatusAfter: string;
  /** `$1..$6` key, name, record: the stored record (none when a racing insert is not yet visible). */
  recordEffect: string;
  /** `$1..$4` key. */
  getEffect: string;
  /** `$1` thread id. */
  listEffects: string;
  /** `$1` thread id, `$2` step. */
  listEffectsOfStep: string;
}

/**
 * The statements for a schema.
 *
 * @param q The schema, already quoted.
 * @returns Every statement of the store.
 *
 * @example
 * ```ts
 * import { statements } from "./_sql.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(statements('"oris"').load, /"oris"\.runtime_snapshots/);
 * ```
 */
export function statements(q: string): Statements {
  const runs = `${q}.runtime_runs`;
  const events = `${q}.runtime_events`;
  const snapshots = `${q}.runtime_snapshots`;
  const checkpoints = `${q}.runtime_checkpoints`;
  const effects = `${q}.runtime_effects`;
  const summary = "thread_id, status, graph, version::float8 AS version, created_at, updated_at";
  const checkpoint = "thread_id, checkpoint_id, parent_checkpoint_id, step::float8 AS step, " +
    "version::float8 AS version, created_at";
  return {
    createRun: `
WITH run AS (
  INSERT INTO ${runs} (thread_id, status, graph, payload_hash, version, created_at, updated_at)
  VALUES ($1::text, $2::text, $3::text, $4::text, $5::int8, $6::float8, $7::float8)
  ON CONFLICT (thread_id) DO NOTHING
  RETURNING thread_id
), event AS (
  INSERT INTO ${events} (thread_id, seq, type, at, event)
  SELECT thread_id, $5::int8, $8::text, $9::float8, $10::text FROM run
), snapshot AS (
  INSERT INTO ${snapshots} (thread_id, version, snapshot)
  SELECT thread_id, $5::int8, $11::text FROM run
)
SELECT count(*)::int4 AS created FROM run`,
    // One statement, one transaction: the runs that are at their expected
    // version move on, and only for those are events, snapshots and
    // checkpoints inserted. A run at another version is left out (no error),
    // so the other appends of the batch still land.
    append: `
WITH input AS MATERIALIZED (
  SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::float8[], $6::text[])
    AS i(thread_id, expected, version, status, updated_at, snapshot)
), updated AS (
  UPDATE ${runs} AS r
     SET version = i.version, status = i.status, updated_at = i.updated_at
    FROM input AS i
   WHERE r.thread_id = i.thread_id AND r.version = i.expected
  RETURNING r.thread_id
), new_events AS (
  INSERT INTO ${events} (thread_id, seq, type, at, event)
  SELECT e.thread_id, e.seq, e.type, e.at, e.event
    FROM unnest($7::text[], $8::int8[], $9::text[], $10::float8[], $11::text[])
      AS e(thread_id, seq, type, at, event)
   WHERE e.thread_id IN (SELECT thread_id FROM updated)
), new_snapshots AS (
  INSERT INTO ${snapshots} (thread_id, version, snapshot)
  SELECT i.thread_id, i.version, i.snapshot FROM input AS i
   WHERE i.snapshot IS NOT NULL AND i.thread_id IN (SELECT thread_id FROM updated)
  ON CONFLICT (thread_id) DO UPDATE SET version = excluded.version, snapshot = excluded.snapshot
), new_checkpoints AS (
  INSERT INTO ${checkpoints}
    (thread_id, version, checkpoint_id, parent_checkpoint_id, step, created_at)
  SELECT c.thread_id, c.version, c.checkpoint_id, c.parent_checkpoint_id, c.step, c.created_at
    FROM unnest($12::text[], $13::int8[], $14::text[], $15::text[], $16::int8[], $17::float8[])
      AS c(thread_id, version, checkpoint_id, parent_checkpoint_id, step, created_at)
   WHERE c.thread_id IN (SELECT thread_id FROM updated)
)
SELECT thread_id FROM updated`,
    appendOne: `
WITH updated AS (
  UPDATE ${runs}
     SET version = $3::int8, status = $4::text, updated_at = $5::float8
   WHERE thread_id = $1::text AND version = $2::int8
  RETURNING thread_id
), new_event AS (
  INSERT INTO ${events} (thread_id, seq, type, at, event)
  SELECT thread_id, $3::int8, $7::text, $8::float8, $9::text FROM updated
), new_snapshot AS (
  INSERT INTO ${snapshots} (thread_id, version, snapshot)
  SELECT thread_id, $3::int8, $6::text FROM updated WHERE $6::text IS NOT NULL
  ON CONFLICT (thread_id) DO UPDATE SET version = excluded.version, snapshot = excluded.snapshot
), new_checkpoint AS (
  INSERT INTO ${checkpoints}
    (thread_id, version, checkpoint_id, parent_checkpoint_id, step, created_at)
  SELECT thread_id, $3::int8, $10::text, $11::text, $12::int8, $13::float8
    FROM updated WHERE $10::text IS NOT NULL
)
SELECT thread_id FROM updated`,
    versions:
      `SELECT thread_id, version::float8 AS version FROM ${runs} WHERE thread_id = ANY($1::text[])`,
    load: `
SELECT true AS is_snapshot, s.version::float8 AS seq, s.snapshot AS json
  FROM ${snapshots} AS s WHERE s.thread_id = $1::text
UNION ALL
SELECT false, e.seq::float8, e.event
  FROM ${events} AS e
 WHERE e.thread_id = $1::text
   AND e.seq > (SELECT version FROM ${snapshots} WHERE thread_id = $1::text)
ORDER BY is_snapshot DESC, seq`,
    readEvents: `
SELECT seq::float8 AS seq, event FROM ${events}
 WHERE thread_id = $1::text AND seq >= $2::int8
 ORDER BY seq LIMIT $3::int8`,
    getCheckpoint: `
SELECT ${checkpoint} FROM ${checkpoints}
 WHERE thread_id = $1::text AND checkpoint_id = $2::text
 ORDER BY version LIMIT 1`,
    listCheckpoints: `
SELECT ${checkpoint} FROM ${checkpoints}
 WHERE thread_id = $1::text
 ORDER BY version DESC LIMIT $2::int8`,
    listCheckpointsBefore: `
SELECT ${checkpoint} FROM ${checkpoints}
 WHERE thread_id = $1::text AND version < $3::int8
 ORDER BY version DESC LIMIT $2::int8`,
    listRuns: `
SELECT ${summary} FROM ${runs}
 ORDER BY updated_at DESC, thread_id DESC LIMIT $1::int8`,
    listRunsAfter: `
SELECT ${summary} FROM ${runs}
 WHERE (updated_at, thread_id) < ($2::float8, $3::text)
 ORDER BY updated_at DESC, thread_id DESC LIMIT $1::int8`,
    listRunsByStatus: `
SELECT ${summary} FROM ${runs}
 WHERE status = $1::text
 ORDER BY updated_at DESC, thread_id DESC LIMIT $2::int8`,
    listRunsByStatusAfter: `
SELECT ${summary} FROM ${runs}
 WHERE status = $1::text AND (updated_at, thread_id) < ($3::float8, $4::text)
 ORDER BY updated_at DESC, thread_id DESC LIMIT $2::int8`,
    recordEffect: `
WITH inserted AS (
  INSERT INTO ${effects} (thread_id, step, node, idx, name, record)
  VALUES ($1::text, $2::int8, $3::text, $4::int8, $5::text, $6::text)
  ON CONFLICT DO NOTHING
  RETURNING record
)
SELECT record FROM inserted
UNION ALL
SELECT record FROM ${effects}
 WHERE thread_id = $1::text AND step = $2::int8 AND node = $3::text AND idx = $4::int8
LIMIT 1`,
    getEffect: `
SELECT record FROM ${effects}
 WHERE thread_id = $1::text AND step = $2::int8 AND node = $3::text AND idx = $4::int8`,
    listEffects: `
SELECT record FROM ${effects} WHERE thread_id = $1::text ORDER BY step, node, idx`,
    listEffectsOfStep: `
SELECT record FROM ${effects} WHERE thread_id = $1::text AND step = $2::int8 ORDER BY node, idx`,
  };
}
