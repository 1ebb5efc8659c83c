/**
 * The SQL of run ownership in PostgreSQL: leases on the run's own row (so
 * that an append checks its fencing token in the `UPDATE` it makes anyway),
 * claims with `FOR UPDATE SKIP LOCKED` by priority then age, the mailbox and
 * its counters on the run's row (so that posting a message and releasing the
 * lease serialize on that row), and the queue's statistics. Times are the
 * database's clock, in ms, so that runtimes on several machines agree.
 *
 * @module
 */

/** The database's clock, in ms since the epoch. */
const NOW = "(extract(epoch FROM clock_timestamp()) * 1000)::float8";

/** The columns of a lease as the statements return them. */
const LEASE = "r.thread_id, r.lease_owner, r.lease_token::float8 AS lease_token, " +
  "r.lease_expires_at";

/** The ownership statements of a schema. */
export interface OwnershipStatements {
  /** `$1` thread, `$2` owner, `$3` ttl: the claim, or no row. */
  acquire: string;
  /** `$1` thread: `tenant_id`, or no row for an unknown run. */
  runTenant: string;
  /** `$1` lock class, `$2` key text: waits for the tenant's lock (until the transaction ends). */
  tenantLock: string;
  /** `$1` tenants, `$2` runs not to count: `tenant_id`, `live` leases now. */
  tenantLive: string;
  /** `$1` owner, `$2` graphs, `$3` excluded, `$4` limit, `$5` ttl: the claims. */
  claim: string;
  /** `$1` owner, `$2` graphs, `$3` excluded, `$4` limit: candidates, locked (in a transaction). */
  candidates: string;
  /** `$1` owner, `$2` ttl, `$3` runs: the claims. */
  grant: string;
  /** `$1` owner, `$2` threads, `$3` tokens, `$4` ttl: the leases renewed. */
  renew: string;
  /**
   * `$1` threads, `$2` owners, `$3` tokens (arrays, one item per lease): the
   * `thread_id` of each lease released (none where mail waits, or the lease
   * is not held with that token).
   */
  release: string;
  /** `$1` thread: `lease_owner`, `lease_token`. */
  leaseOf: string;
  /** `$1` threads: `thread_id`, `lease_owner`, `lease_token`. */
  leasesOf: string;
  /** `$1` thread: the lease, if one is held. */
  getLease: string;
  /** `$1` thread, `$2` message, `$3` channel, `$4` payload: `seq` and the live lease, if any. */
  post: string;
  /** `$1` thread: pending messages in order. */
  pending: string;
  /** `$1` thread, `$2` seq. */
  getMessage: string;
  /** `$1` thread, `$2` seq, `$3` status, `$4` error, `$5` fence: `fenced`, `answered` counts. */
  answer: string;
  /** `depth`, `oldest`. */
  queueStats: string;
  /** `$1` channel, `$2` payload. */
  notify: string;
}

/**
 * The ownership statements for a schema.
 *
 * @param q The schema, already quoted.
 * @returns The statements.
 *
 * @example
 * ```ts
 * import { ownershipStatements } from "./_ownership_sql.ts";
 * import assert from "node:assert/strict";
 *
 * assert.match(ownershipStatements('"oris"').claim, /SKIP LOCKED/);
 * ```
 */
export function ownershipStatements(q: string): OwnershipStatements {
  const runs = `${q}.runtime_runs`;
  const mailbox = `${q}.runtime_mailbox`;
  const free =
    "(r.lease_owner IS NULL OR r.lease_expires_at <= now.ms OR r.lease_owner = $1::text)";
  // A run whose open attempt waits for its retry (`retry_backoff`) is not claimed before its time.
  const retrying = `EXISTS (
    SELECT 1 FROM ${q}.runtime_attempts AS a
     WHERE a.thread_id = r.thread_id AND a.status = 'retry_backoff'
       AND (a.record::jsonb ->> 'nextRetryAt')::float8 > now.ms)`;
  const candidate = (condition: string) =>
    `(
  SELECT r.thread_id, r.priority, r.created_at, r.tenant_id FROM ${runs} AS r, now
   WHERE ${condition} AND r.graph = ANY($2::text[]) AND r.thread_id <> ALL($3::text[])
     AND ${free} AND NOT ${retrying}
   ORDER BY r.priority DESC, r.created_at, r.thread_id
   LIMIT $4::int8
   FOR UPDATE OF r SKIP LOCKED
)`;
  // A run is claimable when it is queued or running, has mail waiting, or has a timer due.
  const candidates = `WITH now AS (SELECT ${NOW} AS ms),
runnable AS ${candidate("r.status IN ('queued', 'running')")},
mailed AS ${candidate("r.mail_posted > r.mail_done")},
woken AS ${candidate("r.wake_at <= now.ms")},
chosen AS (
  SELECT * FROM runnable UNION SELECT * FROM mailed UNION SELECT * FROM woken
   ORDER BY priority DESC, created_at, thread_id
   LIMIT $4::int8
)`;
  const grantSet = (ttl: number) =>
    `lease_owner = $1::text, lease_token = r.lease_token + 1,
       lease_expires_at = now.ms + $${ttl}::float8`;
  const claimed = `${LEASE}, (r.mail_posted > r.mail_done) AS mail`;
  const mail = "thread_id, seq::float8 AS seq, message, status, error, " +
    "version::float8 AS version, posted_at, answered_at";
  return {
    acquire: `
WITH now AS (SELECT ${NOW} AS ms)
UPDATE ${runs} AS r
   SET lease_owner = $2::text, lease_token = r.lease_token + 1,
       lease_expires_at = now.ms + $3::float8
  FROM now
 WHERE r.thread_id = $1::text
   AND (r.lease_owner IS NULL OR r.lease_expires_at <= now.ms OR r.lease_owner = $2::text)
RETURNING ${claimed}`,
    runTenant: `SELECT tenant_id FROM ${runs} WHERE thread_id = $1::text`,
    tenantLock: "SELECT pg_advisory_xact_lock($1::int4, hashtext($2::text))::text AS locked",
    tenantLive: `
WITH now AS (SELECT ${NOW} AS ms)
SELECT r.tenant_id, count(*)::int4 AS live FROM ${runs} AS r, now
 WHERE r.tenant_id = ANY($1::text[]) AND r.lease_owner IS NOT NULL
   AND r.lease_expires_at > now.ms AND r.thread_id <> ALL($2::text[])
 GROUP BY r.tenant_id`,
    claim: `
${candidates},
granted AS (
  UPDATE ${runs} AS r SET ${grantSet(5)}
    FROM chosen AS c, now
   WHERE r.thread_id = c.thread_id
  RETURNING ${claimed}, r.priority, r.created_at
)
SELECT * FROM granted ORDER BY priority DESC, created_at, thread_id`,
    candidates: `
${candidates}
SELECT thread_id, tenant_id, priority, created_at FROM chosen
 ORDER BY priority DESC, created_at, thread_id`,
    grant: `
WITH now AS (SELECT ${NOW} AS ms),
granted AS (
  UPDATE ${runs} AS r SET ${grantSet(2)}
    FROM now
   WHERE r.thread_id = ANY($3::text[])
  RETURNING ${claimed}, r.priority, r.created_at
)
SELECT * FROM granted ORDER BY priority DESC, created_at, thread_id`,
    renew: `
WITH now AS (SELECT ${NOW} AS ms)
UPDATE ${runs} AS r SET lease_expires_at = now.ms + $4::float8
  FROM now, unnest($2::text[], $3::int8[]) AS l(thread_id, token)
 WHERE r.thread_id = l.thread_id AND r.lease_token = l.token AND r.lease_owner = $1::text
RETURNING ${claimed}`,
    release: `
UPDATE ${runs} AS r SET lease_owner = NULL, lease_expires_at = NULL
  FROM unnest($1::text[], $2::text[], $3::int8[]) AS l(thread_id, owner, token)
 WHERE r.thread_id = l.thread_id AND r.lease_owner = l.owner AND r.lease_token = l.token
   AND r.mail_posted = r.mail_done
RETURNING r.thread_id`,
    leaseOf: `
SELECT lease_owner, lease_token::float8 AS lease_token FROM ${runs} WHERE thread_id = $1::text`,
    leasesOf: `
SELECT thread_id, lease_owner, lease_token::float8 AS lease_token
  FROM ${runs} WHERE thread_id = ANY($1::text[])`,
    getLease: `
SELECT ${LEASE} FROM ${runs} AS r WHERE r.thread_id = $1::text AND r.lease_owner IS NOT NULL`,
    post: `
WITH now AS (SELECT ${NOW} AS ms),
r AS (
  UPDATE ${runs} SET mail_posted = mail_posted + 1 WHERE thread_id = $1::text
  RETURNING thread_id, mail_posted, lease_owner, lease_token, lease_expires_at
), m AS (
  INSERT INTO ${mailbox} (thread_id, seq, message, status, posted_at)
  SELECT r.thread_id, r.mail_posted, $2::text, 'pending', now.ms FROM r, now
)
SELECT r.mail_posted::float8 AS seq, ${LEASE},
       (r.lease_owner IS NOT NULL AND r.lease_expires_at > now.ms) AS live,
       pg_notify($3::text, $4::text)::text AS notified
  FROM r, now`,
    pending: `
SELECT ${mail} FROM ${mailbox} WHERE thread_id = $1::text AND status = 'pending' ORDER BY seq`,
    getMessage: `SELECT ${mail} FROM ${mailbox} WHERE thread_id = $1::text AND seq = $2::int8`,
    answer: `
WITH now AS (SELECT ${NOW} AS ms),
r AS (
  UPDATE ${runs} SET mail_done = greatest(mail_done, $2::int8)
   WHERE thread_id = $1::text AND lease_token = $5::int8
     AND EXISTS (SELECT 1 FROM ${mailbox} WHERE thread_id = $1::text AND seq = $2::int8)
  RETURNING thread_id, version
), m AS (
  UPDATE ${mailbox} AS x
     SET status = $3::text, error = $4::text, answered_at = now.ms,
         version = CASE WHEN $3::text = 'applied' THEN r.version END
    FROM r, now
   WHERE x.thread_id = r.thread_id AND x.seq = $2::int8 AND x.status = 'pending'
  RETURNING x.seq
)
SELECT (SELECT count(*) FROM r)::int4 AS fenced, (SELECT count(*) FROM m)::int4 AS answered`,
    queueStats: `
SELECT count(*)::float8 AS depth, min(created_at) AS oldest FROM ${runs} WHERE status = 'queued'`,
    notify: "SELECT pg_notify($1::text, $2::text)::text AS notified",
  };
}
