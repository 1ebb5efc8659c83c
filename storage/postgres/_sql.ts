/**
 * The SQL of the PostgreSQL adapter, for one schema. Every statement is sent
 * as a named prepared statement, so after its first use on a connection it
 * costs one round trip.
 *
 * @module
 */

/** The statements of a store, with the schema (quoted) inlined. */
export interface Statements {
  /**
   * Creates a run: `$1..$11`, see {@linkcode statements}, `$12` priority,
   * `$13` tenant id, `$14` wake-up time or null (`wakeAtOf`). Returns
   * `created` (0 or 1).
   */
  createRun: string;
  /**
   * {@linkcode Statements.createRun} with the run's first lease (token 1)
   * granted in the same statement, and its events as arrays (the
   * `run.created` and, for a run created started, its `run.started`, at seqs
   * 1, 2): `$8` types, `$9` times, `$10` events; `$15` owner, `$16` ttl (ms,
   * on the database's clock). Returns the lease (`thread_id`, `lease_owner`,
   * `lease_token`, `lease_expires_at`, `mail`) when created, no row otherwise.
   */
  createRunLeased: string;
  /**
   * Creates several runs (group commit), each as
   * {@linkcode Statements.createRun} or, where an owner is given,
   * {@linkcode Statements.createRunLeased}: arrays `$1..$13` of the runs
   * (thread id, status, graph, payload hash, version, created at, updated
   * at, snapshot, priority, tenant id, wake-up time, lease owner or null,
   * lease ttl or null) and `$14..$18` of their events (thread id, seq, type,
   * at, event). Returns a row per run created (`thread_id`, and its lease
   * as `createRunLeased` returns it).
   */
  createRuns: string;
  /**
   * Appends a batch of runs' events: arrays `$1..$6` of the runs (thread id,
   * expected version, version, status, updated at, snapshot or null),
   * `$7..$14` of their events (thread id, seq, type, at, event, and the
   * checkpoint the event makes: id, parent, step, null where none), `$15`
   * fencing tokens, `$16` mailbox messages applied, null where none, `$17`
   * the runs' wake-up times, null where none. Returns the thread ids that
   * were at their expected version (and token).
   */
  append: string;
  /**
   * Appends one event to one run (the common case, with scalar parameters):
   * `$1` thread id, `$2` expected, `$3` version, `$4` status, `$5` updated at,
   * `$6` snapshot or null, `$7` type, `$8` at, `$9` event, `$10..$12` the
   * checkpoint it makes: id (or null: none), parent, step, `$13` fencing
   * token or null, `$14` the run's wake-up time or null. Returns the thread
   * id when the run was at its expected version (and token).
   */
  appendOne: string;
  /**
   * {@linkcode Statements.append} (`$1..$17`) and, only for the runs that
   * move on, the net changes to the interrupt index (see `_interrupts.ts`):
   * `$18..$26` arrays of final rows of raised interrupts (id, thread id,
   * node, step, value, status, answer, created at, resolved at); `$27..$31`
   * arrays of answers (the appending run, interrupt id, answer, at, status);
   * `$32..$35` arrays of closes (thread id, status, rejected id, at) and `$36`
   * the answered interrupts the closes drop. A close leaves alone the rows
   * the other changes of the batch write.
   */
  appendWithInterrupts: string;
  /** `$1` thread ids: their current versions and fencing tokens. */
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
  /** `$1` limit, `$2` created at, `$3` thread id. */
  listRunsAfter: string;
  /** `$1` status, `$2` limit. */
  listRunsByStatus: string;
  /** `$1` status, `$2` limit, `$3` created at, `$4` thread id. */
  listRunsByStatusAfter: string;
  /**
   * `$1` graph, `$2` status or null, `$3` limit, `$4` created at and `$5`
   * thread id of the cursor, or nulls.
   */
  listRunsByGraph: string;
  /** `$1..$6` key, name, record: the stored record (none when a racing insert is not yet visible). */
  recordEffect: string;
  /**
   * {@linkcode Statements.recordEffect} for a lease holder, `$7` its fencing
   * token: `fenced` false (and no record) when the token is not current.
   */
  recordEffectFenced: string;
  /** `$1..$4` key. */
  getEffect: string;
  /** `$1` thread id. */
  listEffects: string;
  /** `$1` thread id, `$2` step. */
  listEffectsOfStep: string;
  /**
   * Claims an idempotency key, `$1..$6` key, operation, thread id, payload
   * hash, response, created at: the inserted row (`claimed` true) or the
   * stored one (`claimed` false); none when a racing claim is not yet visible.
   */
  claimIdempotency: string;
  /** `$1` key: the stored record. */
  getIdempotency: string;
  /** `$1` key, `$2` response: returns the key when it was stored. */
  completeIdempotency: string;
  /** `$1` key. */
  releaseIdempotency: string;
  /** `$1` interrupt id. */
  getInterrupt: string;
  /**
   * Lists interrupts newest first: `$1` limit, then, for each filter given
   * and in this order, status, thread id, and the cursor's time and id.
   */
  listInterrupts(filters: { status: boolean; threadId: boolean; after: boolean }): string;
  /** `$1..$11` the entry's columns; an entry whose id is stored already is kept. */
  appendAudit: string;
  /** {@linkcode Statements.appendAudit} of several entries: `$1..$11` arrays of their columns. */
  appendAudits: string;
  /**
   * Lists audit entries newest first: `$1` limit, then, for each filter
   * given and in this order, request id, action, from, to, and the cursor's
   * time and id.
   */
  listAudit(filters: {
    requestId: boolean;
    action: boolean;
    from: boolean;
    to: boolean;
    after: boolean;
  }): string;
  /** `$1..$6` key id, secret hash, role, status, created at, updated at. */
  putApiKey: string;
  /** `$1..$6` as {@linkcode Statements.putApiKey}: returns the key id when it was created. */
  createApiKey: string;
  /** `$1` key id. */
  getApiKey: string;
  /** `$1` limit: keys by id. */
  listApiKeys: string;
  /** `$1` limit, `$2` the key id to list after. */
  listApiKeysAfter: string;
  /** Returns `count`. */
  countApiKeys: string;
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
  const effects = `${q}.runtime_effects`;
  const idempotency = `${q}.runtime_idempotency_keys`;
  const interrupts = `${q}.runtime_interrupts`;
  const audit = `${q}.runtime_audit_logs`;
  const apiKeys = `${q}.runtime_api_keys`;
  const mailbox = `${q}.runtime_mailbox`;
  const idempotencyColumns = "key, operation, thread_id, payload_hash, response, created_at";
  const interrupt = "interrupt_id, thread_id, node, step::float8 AS step, value, status, " +
    "resume_value, created_at, resolved_at";
  const auditColumns = "audit_id, actor_type, actor_id, actor_role, action, resource_type, " +
    "resource_id, result, request_id, details, created_at";
  const apiKey = "key_id, secret_hash, role, status, created_at, updated_at";
  const summary =
    "thread_id, status, graph, version::float8 AS version, created_at, updated_at, tenant_id, priority";
  // A checkpoint is read from the row of the event that made it (the view
  // `runtime_checkpoints` says the same), in the order of the log's key.
  const checkpoint =
    "e.thread_id, e.checkpoint_id, e.parent_checkpoint_id, e.step::float8 AS step, " +
    "e.seq::float8 AS version, e.at AS created_at";
  // One statement, one transaction: the runs that are at their expected
  // version move on, and only for those are events and snapshots inserted.
  // A run at another version is left out (no error), so the other appends
  // of the batch still land. An event that makes a checkpoint carries it in
  // its own row (`runtime_checkpoints` is a view of those rows).
  // A holder's append also carries its fencing token (checked in the same
  // UPDATE) and the mailbox message it applies (marked applied with it).
  const appendCtes = `WITH input AS MATERIALIZED (
  SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::float8[], $6::text[],
                       $15::int8[], $16::int8[], $17::float8[])
    AS i(thread_id, expected, version, status, updated_at, snapshot, fence, ack, wake_at)
), updated AS (
  UPDATE ${runs} AS r
     SET version = i.version, status = i.status, updated_at = i.updated_at, wake_at = i.wake_at,
         mail_done = CASE WHEN i.ack IS NULL THEN r.mail_done ELSE greatest(r.mail_done, i.ack) END
    FROM input AS i
   WHERE r.thread_id = i.thread_id AND r.version = i.expected
     AND (i.fence IS NULL OR r.lease_token = i.fence)
  RETURNING r.thread_id
), acked AS (
  UPDATE ${mailbox} AS m
     SET status = 'applied', version = i.version, answered_at = i.updated_at
    FROM input AS i
   WHERE i.ack IS NOT NULL AND m.thread_id = i.thread_id AND m.seq = i.ack
     AND m.status = 'pending' AND i.thread_id IN (SELECT thread_id FROM updated)
), new_events AS (
  INSERT INTO ${events}
    (thread_id, seq, type, at, event, checkpoint_id, parent_checkpoint_id, step)
  SELECT e.thread_id, e.seq, e.type, e.at, e.event, e.checkpoint_id, e.parent_checkpoint_id, e.step
    FROM unnest($7::text[], $8::int8[], $9::text[], $10::float8[], $11::text[], $12::text[],
                $13::text[], $14::int8[])
      AS e(thread_id, seq, type, at, event, checkpoint_id, parent_checkpoint_id, step)
   WHERE e.thread_id IN (SELECT thread_id FROM updated)
), new_snapshots AS (
  INSERT INTO ${snapshots} (thread_id, version, snapshot)
  SELECT i.thread_id, i.version, i.snapshot FROM input AS i
   WHERE i.snapshot IS NOT NULL AND i.thread_id IN (SELECT thread_id FROM updated)
  ON CONFLICT (thread_id) DO UPDATE SET version = excluded.version, snapshot = excluded.snapshot
)
`;
  // The interrupt index changes of the runs that moved on (see `_interrupts.ts`).
  // Each row is written by one sub-statement only: the closes skip the rows
  // that the upserts and answers write.
  const interruptCtes = `, raised AS MATERIALIZED (
  SELECT x.* FROM unnest($18::text[], $19::text[], $20::text[], $21::int8[], $22::text[],
                         $23::text[], $24::text[], $25::float8[], $26::float8[])
    AS x(interrupt_id, thread_id, node, step, value, status, resume_value, created_at, resolved_at)
   WHERE x.thread_id IN (SELECT thread_id FROM updated)
), answered AS MATERIALIZED (
  SELECT x.* FROM unnest($27::text[], $28::text[], $29::text[], $30::float8[], $31::text[])
    AS x(owner, interrupt_id, resume_value, resolved_at, status)
   WHERE x.owner IN (SELECT thread_id FROM updated)
), raised_rows AS (
  INSERT INTO ${interrupts}
    (interrupt_id, thread_id, node, step, value, status, resume_value, created_at, resolved_at)
  SELECT interrupt_id, thread_id, node, step, value, status, resume_value, created_at, resolved_at
    FROM raised
  ON CONFLICT (interrupt_id) DO UPDATE SET
    thread_id = excluded.thread_id, node = excluded.node, step = excluded.step,
    value = excluded.value, status = excluded.status, resume_value = excluded.resume_value,
    resolved_at = excluded.resolved_at
), answered_rows AS (
  UPDATE ${interrupts} AS r
     SET status = a.status, resume_value = a.resume_value, resolved_at = a.resolved_at
    FROM answered AS a
   WHERE r.interrupt_id = a.interrupt_id
), closed_rows AS (
  UPDATE ${interrupts} AS r
     SET status = CASE WHEN r.interrupt_id = c.rejected_id THEN 'rejected' ELSE c.status END,
         resolved_at = c.at
    FROM unnest($32::text[], $33::text[], $34::text[], $35::float8[])
      AS c(thread_id, status, rejected_id, at)
   WHERE r.thread_id = c.thread_id
     AND (r.status = 'pending' OR (r.status = 'resumed' AND r.interrupt_id = ANY($36::text[])))
     AND c.thread_id IN (SELECT thread_id FROM updated)
     AND r.interrupt_id NOT IN (SELECT interrupt_id FROM raised)
     AND r.interrupt_id NOT IN (SELECT interrupt_id FROM answered)
)
`;
  const listInterrupts = memoize(
    (filters: { status: boolean; threadId: boolean; after: boolean }) => {
      const where = conditions([
        [filters.status, (n) => `status = $${n}::text`],
        [filters.threadId, (n) => `thread_id = $${n}::text`],
        [filters.after, (n) => `(created_at, interrupt_id) < ($${n}::float8, $${n + 1}::text)`, 2],
      ]);
      return `
SELECT ${interrupt} FROM ${interrupts}${where}
 ORDER BY created_at DESC, interrupt_id DESC LIMIT $1::int8`;
    },
  );
  const listAudit = memoize((filters: {
    requestId: boolean;
    action: boolean;
    from: boolean;
    to: boolean;
    after: boolean;
  }) => {
    const where = conditions([
      [filters.requestId, (n) => `request_id = $${n}::text`],
      [filters.action, (n) => `action = $${n}::text`],
      [filters.from, (n) => `created_at >= $${n}::float8`],
      [filters.to, (n) => `created_at <= $${n}::float8`],
      [filters.after, (n) => `(created_at, audit_id) < ($${n}::float8, $${n + 1}::text)`, 2],
    ]);
    return `
SELECT ${auditColumns} FROM ${audit}${where}
 ORDER BY created_at DESC, audit_id DESC LIMIT $1::int8`;
  });
  return {
    createRun: `
WITH run AS (
  INSERT INTO ${runs}
    (thread_id, status, graph, payload_hash, version, created_at, updated_at, priority, tenant_id,
     wake_at)
  VALUES ($1::text, $2::text, $3::text, $4::text, $5::int8, $6::float8, $7::float8, $12::int4,
          $13::text, $14::float8)
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
    createRunLeased: `
WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms), run AS (
  INSERT INTO ${runs}
    (thread_id, status, graph, payload_hash, version, created_at, updated_at, priority, tenant_id,
     wake_at, lease_owner, lease_token, lease_expires_at)
  SELECT $1::text, $2::text, $3::text, $4::text, $5::int8, $6::float8, $7::float8, $12::int4,
         $13::text, $14::float8, $15::text, 1, now.ms + $16::float8
    FROM now
  ON CONFLICT (thread_id) DO NOTHING
  RETURNING thread_id, lease_owner, lease_token::float8 AS lease_token, lease_expires_at
), event AS (
  INSERT INTO ${events} (thread_id, seq, type, at, event)
  SELECT run.thread_id, e.seq, e.type, e.at, e.event
    FROM run, unnest($8::text[], $9::float8[], $10::text[]) WITH ORDINALITY AS e(type, at, event, seq)
), snapshot AS (
  INSERT INTO ${snapshots} (thread_id, version, snapshot)
  SELECT thread_id, $5::int8, $11::text FROM run
)
SELECT thread_id, lease_owner, lease_token, lease_expires_at, false AS mail FROM run`,
    createRuns: `
WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms),
input AS MATERIALIZED (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::float8[],
                       $7::float8[], $8::text[], $9::int4[], $10::text[], $11::float8[],
                       $12::text[], $13::float8[])
    AS i(thread_id, status, graph, payload_hash, version, created_at, updated_at, snapshot,
         priority, tenant_id, wake_at, owner, ttl)
), run AS (
  INSERT INTO ${runs}
    (thread_id, status, graph, payload_hash, version, created_at, updated_at, priority, tenant_id,
     wake_at, lease_owner, lease_token, lease_expires_at)
  SELECT i.thread_id, i.status, i.graph, i.payload_hash, i.version, i.created_at, i.updated_at,
         i.priority, i.tenant_id, i.wake_at, i.owner,
         CASE WHEN i.owner IS NULL THEN 0 ELSE 1 END, now.ms + i.ttl
    FROM input AS i, now
  ON CONFLICT (thread_id) DO NOTHING
  RETURNING thread_id, lease_owner, lease_token::float8 AS lease_token, lease_expires_at
), event AS (
  INSERT INTO ${events} (thread_id, seq, type, at, event)
  SELECT e.thread_id, e.seq, e.type, e.at, e.event
    FROM unnest($14::text[], $15::int8[], $16::text[], $17::float8[], $18::text[])
      AS e(thread_id, seq, type, at, event)
   WHERE e.thread_id IN (SELECT thread_id FROM run)
), snapshot AS (
  INSERT INTO ${snapshots} (thread_id, version, snapshot)
  SELECT i.thread_id, i.version, i.snapshot FROM input AS i
   WHERE i.thread_id IN (SELECT thread_id FROM run)
)
SELECT thread_id, lease_owner, lease_token, lease_expires_at, false AS mail FROM run`,
    append: `
${appendCtes}SELECT thread_id FROM updated`,
    appendWithInterrupts: `
${appendCtes}${interruptCtes}SELECT thread_id FROM updated`,
    appendOne: `
WITH updated AS (
  UPDATE ${runs}
     SET version = $3::int8, status = $4::text, updated_at = $5::float8, wake_at = $14::float8
   WHERE thread_id = $1::text AND version = $2::int8
     AND ($13::int8 IS NULL OR lease_token = $13::int8)
  RETURNING thread_id
), new_event AS (
  INSERT INTO ${events}
    (thread_id, seq, type, at, event, checkpoint_id, parent_checkpoint_id, step)
  SELECT thread_id, $3::int8, $7::text, $8::float8, $9::text, $10::text, $11::text, $12::int8
    FROM updated
), new_snapshot AS (
  INSERT INTO ${snapshots} (thread_id, version, snapshot)
  SELECT thread_id, $3::int8, $6::text FROM updated WHERE $6::text IS NOT NULL
  ON CONFLICT (thread_id) DO UPDATE SET version = excluded.version, snapshot = excluded.snapshot
)
SELECT thread_id FROM updated`,
    versions: `
SELECT thread_id, version::float8 AS version, lease_token::float8 AS lease_token
  FROM ${runs} WHERE thread_id = ANY($1::text[])`,
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
SELECT ${checkpoint} FROM ${events} AS e
 WHERE e.thread_id = $1::text AND e.checkpoint_id = $2::text
 ORDER BY e.seq LIMIT 1`,
    listCheckpoints: `
SELECT ${checkpoint} FROM ${events} AS e
 WHERE e.thread_id = $1::text AND e.checkpoint_id IS NOT NULL
 ORDER BY e.seq DESC LIMIT $2::int8`,
    listCheckpointsBefore: `
SELECT ${checkpoint} FROM ${events} AS e
 WHERE e.thread_id = $1::text AND e.checkpoint_id IS NOT NULL AND e.seq < $3::int8
 ORDER BY e.seq DESC LIMIT $2::int8`,
    listRuns: `
SELECT ${summary} FROM ${runs}
 ORDER BY created_at DESC, thread_id DESC LIMIT $1::int8`,
    listRunsAfter: `
SELECT ${summary} FROM ${runs}
 WHERE (created_at, thread_id) < ($2::float8, $3::text)
 ORDER BY created_at DESC, thread_id DESC LIMIT $1::int8`,
    listRunsByStatus: `
SELECT ${summary} FROM ${runs}
 WHERE status = $1::text
 ORDER BY created_at DESC, thread_id DESC LIMIT $2::int8`,
    listRunsByStatusAfter: `
SELECT ${summary} FROM ${runs}
 WHERE status = $1::text AND (created_at, thread_id) < ($3::float8, $4::text)
 ORDER BY created_at DESC, thread_id DESC LIMIT $2::int8`,
    listRunsByGraph: `
SELECT ${summary} FROM ${runs}
 WHERE graph = $1::text AND ($2::text IS NULL OR status = $2::text)
   AND ($4::float8 IS NULL OR (created_at, thread_id) < ($4::float8, $5::text))
 ORDER BY created_at DESC, thread_id DESC LIMIT $3::int8`,
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
    recordEffectFenced: `
WITH fence AS (
  SELECT thread_id FROM ${runs} WHERE thread_id = $1::text AND lease_token = $7::int8 FOR SHARE
), inserted AS (
  INSERT INTO ${effects} (thread_id, step, node, idx, name, record)
  SELECT $1::text, $2::int8, $3::text, $4::int8, $5::text, $6::text FROM fence
  ON CONFLICT DO NOTHING
  RETURNING record
)
SELECT record, true AS fenced FROM inserted
UNION ALL
SELECT record, true FROM ${effects}
 WHERE thread_id = $1::text AND step = $2::int8 AND node = $3::text AND idx = $4::int8
   AND EXISTS (SELECT 1 FROM fence)
UNION ALL
SELECT NULL, false WHERE NOT EXISTS (SELECT 1 FROM fence)
LIMIT 1`,
    getEffect: `
SELECT record FROM ${effects}
 WHERE thread_id = $1::text AND step = $2::int8 AND node = $3::text AND idx = $4::int8`,
    listEffects: `
SELECT record FROM ${effects} WHERE thread_id = $1::text ORDER BY step, node, idx`,
    listEffectsOfStep: `
SELECT record FROM ${effects} WHERE thread_id = $1::text AND step = $2::int8 ORDER BY node, idx`,
    claimIdempotency: `
WITH inserted AS (
  INSERT INTO ${idempotency} (${idempotencyColumns})
  VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::float8)
  ON CONFLICT (key) DO NOTHING
  RETURNING ${idempotencyColumns}
)
SELECT true AS claimed, ${idempotencyColumns} FROM inserted
UNION ALL
SELECT false, ${idempotencyColumns} FROM ${idempotency} WHERE key = $1::text
LIMIT 1`,
    getIdempotency: `SELECT ${idempotencyColumns} FROM ${idempotency} WHERE key = $1::text`,
    completeIdempotency:
      `UPDATE ${idempotency} SET response = $2::text WHERE key = $1::text RETURNING key`,
    releaseIdempotency: `DELETE FROM ${idempotency} WHERE key = $1::text`,
    getInterrupt: `SELECT ${interrupt} FROM ${interrupts} WHERE interrupt_id = $1::text`,
    listInterrupts,
    appendAudit: `
INSERT INTO ${audit} (${auditColumns})
VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text,
        $9::text, $10::text, $11::float8)
ON CONFLICT (audit_id) DO NOTHING`,
    appendAudits: `
INSERT INTO ${audit} (${auditColumns})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::float8[])
ON CONFLICT (audit_id) DO NOTHING`,
    listAudit,
    putApiKey: `
INSERT INTO ${apiKeys} (${apiKey})
VALUES ($1::text, $2::text, $3::text, $4::text, $5::float8, $6::float8)
ON CONFLICT (key_id) DO UPDATE SET
  secret_hash = excluded.secret_hash, role = excluded.role, status = excluded.status,
  created_at = excluded.created_at, updated_at = excluded.updated_at`,
    createApiKey: `
INSERT INTO ${apiKeys} (${apiKey})
VALUES ($1::text, $2::text, $3::text, $4::text, $5::float8, $6::float8)
ON CONFLICT (key_id) DO NOTHING
RETURNING key_id`,
    getApiKey: `SELECT ${apiKey} FROM ${apiKeys} WHERE key_id = $1::text`,
    listApiKeys: `SELECT ${apiKey} FROM ${apiKeys} ORDER BY key_id LIMIT $1::int8`,
    listApiKeysAfter: `
SELECT ${apiKey} FROM ${apiKeys} WHERE key_id > $2::text ORDER BY key_id LIMIT $1::int8`,
    countApiKeys: `SELECT count(*)::int4 AS count FROM ${apiKeys}`,
  };
}

/**
 * A WHERE clause of the conditions that apply, numbering their parameters
 * from `$2` (`$1` is the limit) in order.
 */
function conditions(
  parts: [apply: boolean, condition: (n: number) => string, parameters?: number][],
): string {
  let n = 2;
  const applied: string[] = [];
  for (const [apply, condition, parameters = 1] of parts) {
    if (!apply) continue;
    applied.push(condition(n));
    n += parameters;
  }
  return applied.length === 0 ? "" : `\n WHERE ${applied.join("\n   AND ")}`;
}

/** Caches a statement builder by its (boolean) filters. */
function memoize<F extends Record<string, boolean>>(
  build: (filters: F) => string,
): (filters: F) => string {
  const cache = new Map<string, string>();
  return (filters) => {
    const key = Object.keys(filters).sort().map((name) => `${name}:${filters[name]}`).join(",");
    let text = cache.get(key);
    if (text === undefined) {
      text = build(filters);
      cache.set(key, text);
    }
    return text;
  };
}
