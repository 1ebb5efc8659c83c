/**
 * What the parts of a {@linkcode PostgresStore} (`runs.ts`, `checkpoints.ts`,
 * `effects.ts`, `interrupts.ts`, `idempotency.ts`, `audit.ts`,
 * `api_keys.ts`) share: the postgres.js pool, the schema and its statements,
 * the snapshot policy, and the group committers of run creations, of
 * appends, of lease releases and of audit entries. It also owns the
 * store's lifecycle: once closed, every part refuses work.
 *
 * It also fails fast while the database is unreachable: once an operation
 * cannot connect (refused, timed out, the database starting up or shutting
 * down) and nothing succeeded since it started, the others are refused at
 * once with a retryable `StorageError` (code `unavailable`), before anything
 * is sent, rather than waiting in the driver's queue for a connection; one
 * operation every {@linkcode PROBE_INTERVAL_MS} goes through to find out
 * whether the database is back, and its success lets every operation through
 * again. One connection that breaks (a backend terminated) fails only its
 * own operation: the driver reconnects. A read ({@linkcode PostgresContext.read})
 * on such a connection is sent once more, on a fresh one, since it wrote
 * nothing: after a database restart, the pool's connections to the old server
 * would otherwise each fail one request.
 *
 * @module
 */

import type postgres from "postgres";
import {
  type AuditRecord,
  type Claim,
  type EncodedAppend,
  type LeaseRef,
  type LeaseRequest,
  OrisError,
  type ReleaseOutcome,
  StorageError,
} from "../../kernel/mod.ts";
import type { GroupCommitter } from "../_group_commit.ts";
import {
  errorCode,
  isConnectionError,
  isRaceLost,
  isReplayedError,
  isSessionEnded,
  isUnreachable,
  RACE_RETRIES,
  toStorageError,
} from "./_errors.ts";
import { RenewablePool } from "./_pool.ts";
import { DEFAULT_STALL_MS, StallWatch } from "./_stalls.ts";
import type { InterruptPlan } from "./_interrupts.ts";
import { KnownSnapshots } from "./_snapshots.ts";
import { type Statements, statements } from "./_sql.ts";
import { type OwnershipStatements, ownershipStatements } from "./_ownership_sql.ts";
import { quoteIdentifier } from "./migrations.ts";
/**
 * While the database is unreachable, how often one operation is let through
 * to find out whether it is back (the others fail at once), in ms.
 */
export const PROBE_INTERVAL_MS = 200;

/** A parameter of a statement: a scalar, or an array of scalars. */
export type Parameter = string | number | null | (string | number | null)[];

/** An append ready for a batch: encoded, with the net changes to the interrupt index. */
export interface PreparedAppend {
  /** The append. */
  encoded: EncodedAppend;
  /** Its net changes to the interrupt index, `null` when it changes no interrupt. */
  interrupts: InterruptPlan | null;
  /** The holder's fencing token, or `null`. */
  fence: number | null;
  /** The mailbox message it applies, or `null`. */
  ack: number | null;
  /** The run's wake-up time after it (`wakeAtOf`), or `null`. */
  wakeAt: number | null;
}

/** An audit entry ready for a batch: checked, its details encoded. */
export interface PreparedAudit {
  /** The entry. */
  record: AuditRecord;
  /** Its details' JSON text. */
  details: string;
}

/** A run's creation ready for a batch (see `_creations.ts`). */
export interface PreparedCreate {
  /** The creation, encoded (its events: `run.created`, and `run.started` for a run created started). */
  encoded: EncodedAppend;
  /** The run's payload hash. */
  payloadHash: string;
  /** Its priority. */
  priority: number;
  /** Its tenant, or `null`. */
  tenantId: string | null;
  /** Its wake-up time (`wakeAtOf`), or `null`. */
  wakeAt: number | null;
  /** The first lease to grant with it (token 1), or `null`. */
  lease: Pick<LeaseRequest, "owner" | "ttlMs"> | null;
}

/** What a creation did: whether the run was created, and its lease when one was asked for. */
export interface Created {
  /** Whether it was created (else it existed). */
  created: boolean;
  /** Its lease, when created with one. */
  lease: Claim | null;
}

/** A lease's release ready for a batch (see `_releases.ts`). */
export interface PreparedRelease {
  /** The holder. */
  owner: string;
  /** The lease. */
  lease: LeaseRef;
}

/** Options of {@linkcode PostgresContext}. */
export interface PostgresContextOptions {
  /** The schema (a valid name). */
  schema: string;
  /** The snapshot policy's cap (see `PostgresStoreOptions.snapshotEvery`). */
  snapshotEvery: number;
  /** Makes the group committer of run creations, for this context. */
  creations(context: PostgresContext): GroupCommitter<PreparedCreate, Created>;
  /** Makes the group committer of appends, for this context. */
  appends(context: PostgresContext): GroupCommitter<PreparedAppend, number>;
  /** Makes the group committer of audit entries, for this context. */
  audits(context: PostgresContext): GroupCommitter<PreparedAudit, void>;
  /** Makes the group committer of lease releases, for this context. */
  releases(context: PostgresContext): GroupCommitter<PreparedRelease, ReleaseOutcome>;
  /**
   * Makes a fresh pool with the pool's settings, to replace it when its
   * connections stop connecting (`_pool.ts`); none: the pool is never renewed.
   */
  reopen?: () => postgres.Sql;
  /**
   * How long a statement may go unanswered before its connection is taken as
   * broken, in ms (`_stalls.ts`; default {@linkcode DEFAULT_STALL_MS}).
   */
  stallMs?: number;
}

/**
 * The state the parts of a {@linkcode PostgresStore} share; see the module doc.
 *
 * @example
 * ```ts ignore
 * import postgres from "postgres";
 * import { PostgresContext } from "./_context.ts";
 * import { appendCommitter } from "./runs.ts";
 * import { auditCommitter } from "./audit.ts";
 * import { releaseCommitter } from "./_releases.ts";
 * import { createCommitter } from "./_creations.ts";
 *
 * const context = new PostgresContext(postgres("postgres://postgres@127.0.0.1:5432/test"), {
 *   schema: "public",
 *   snapshotEvery: 64,
 *   creations: createCommitter,
 *   appends: appendCommitter,
 *   audits: auditCommitter,
 *   releases: releaseCommitter,
 * });
 * await context.io("ping PostgreSQL", () => context.query("SELECT 1", []));
 * await context.close();
 * ```
 */
export class PostgresContext {
  /** The schema the store uses. */
  readonly schema: string;
  /** The statements, for that schema. */
  readonly statements: Statements;
  /** The statements of run ownership, for that schema. */
  readonly ownership: OwnershipStatements;
  /** The channel of the schema's signals (`LISTEN`/`NOTIFY`). */
  readonly channel: string;
  /** The snapshot policy's cap. */
  readonly snapshotEvery: number;
  /** The stored snapshots this store knows of, for the snapshot policy. */
  readonly snapshots: KnownSnapshots = new KnownSnapshots();
  /** Batches creations of different runs (group commit). */
  readonly creations: GroupCommitter<PreparedCreate, Created>;
  /** Batches appends of different runs (group commit). */
  readonly appends: GroupCommitter<PreparedAppend, number>;
  /** Batches audit entries (group commit). */
  readonly audits: GroupCommitter<PreparedAudit, void>;
  /** Batches lease releases of different runs (group commit). */
  readonly releases: GroupCommitter<PreparedRelease, ReleaseOutcome>;
  #pool: RenewablePool;
  #stalls: StallWatch;
  #closing: Promise<void> | null = null;
  /** Since when the database is unreachable, and the last operation let through; `null`: reachable. */
  #unreachable: { since: number; probedAt: number; probing: boolean } | null = null;
  /** When an operation last succeeded (`performance.now()`). */
  #succeededAt = -Infinity;

  /**
   * @param sql The pool, which the context closes.
   * @param options The schema, the snapshot policy and the committers of creations, appends,
   * audit entries and lease releases.
   */
  constructor(sql: postgres.Sql, options: PostgresContextOptions) {
    this.#pool = new RenewablePool(sql, options.reopen);
    // A statement that is never answered fails, and the pool is renewed (`_stalls.ts`).
    this.#stalls = new StallWatch(options.stallMs ?? DEFAULT_STALL_MS, () => this.#pool.renew());
    this.schema = options.schema;
    this.statements = statements(quoteIdentifier(options.schema));
    this.ownership = ownershipStatements(quoteIdentifier(options.schema));
    this.channel = `oris_${options.schema}`.slice(0, 63);
    this.snapshotEvery = options.snapshotEvery;
    this.creations = options.creations(this);
    this.appends = options.appends(this);
    this.audits = options.audits(this);
    this.releases = options.releases(this);
  }

  /**
   * Runs the work of one store method: refused once the store is closed,
   * refused at once while the database is unreachable (see the module doc),
   * and any failure turned into an {@linkcode OrisError}.
   *
   * @param action What is done, for the message (`Cannot <action>: ...`).
   * @param body The work.
   * @returns What the work returns.
   * @throws {OrisError} `unavailable` when the store is closed or the database
   * unreachable, or the failure of the work.
   */
  async io<T>(action: string, body: () => Promise<T>): Promise<T> {
    if (this.#closing !== null) {
      throw new OrisError("unavailable", "Cannot use the store: it is closed");
    }
    const probe = this.#admit(action);
    const started = performance.now();
    try {
      const result = await body();
      this.#unreachable = null;
      this.#succeededAt = performance.now();
      return result;
    } catch (error) {
      // A failure of an operation older than the last success is no news.
      // A connection that cannot connect may be one the driver left unable to send (`_pool.ts`).
      if (errorCode(error) === "CONNECT_TIMEOUT") this.#pool.renew();
      if (cannotConnect(error) && started > this.#succeededAt) {
        const now = performance.now();
        this.#unreachable ??= { since: now, probedAt: now, probing: false };
      }
      throw toStorageError(action, error);
    } finally {
      if (probe && this.#unreachable !== null) this.#unreachable.probing = false;
    }
  }

  /**
   * Runs the work of a store method that only reads, as {@linkcode io} does,
   * and runs it once more when its connection broke (the backend was
   * terminated, the socket reset or closed) rather than failing: a read wrote
   * nothing, and the driver makes a new connection for the second try. A
   * database that cannot be reached is not retried (see the module doc).
   *
   * @param action What is read, for the message (`Cannot <action>: ...`).
   * @param body The reads; may run twice.
   * @returns What the reads return.
   * @throws {OrisError} as {@linkcode io} does, with the second try's failure.
   */
  read<T>(action: string, body: () => Promise<T>): Promise<T> {
    return this.io(action, async () => {
      try {
        return await body();
      } catch (error) {
        if (!isBrokenConnection(error)) throw error;
        return await body();
      }
    });
  }

  /**
   * Lets an operation through, or refuses it while the database is
   * unreachable and another operation is finding out whether it is back.
   *
   * @returns Whether the operation is that probe.
   */
  #admit(action: string): boolean {
    const unreachable = this.#unreachable;
    if (unreachable === null) return false;
    const now = performance.now();
    if (unreachable.probing || now - unreachable.probedAt < PROBE_INTERVAL_MS) {
      throw new StorageError(
        `Cannot ${action}: the database is unreachable (for ${
          Math.round(now - unreachable.since)
        } ms)`,
        { retryable: true },
      );
    }
    unreachable.probing = true;
    unreachable.probedAt = now;
    return true;
  }

  /**
   * Runs one statement as a named prepared statement. A statement left
   * unanswered for `stallMs` fails as on a broken connection, and the pool
   * is renewed (`_stalls.ts`).
   *
   * @param text The statement.
   * @param parameters Its parameters, `$1` first.
   * @returns The rows.
   */
  query<T>(text: string, parameters: Parameter[]): Promise<T[]> {
    const send = () =>
      this.#stalls.watch(
        this.#pool.sql.unsafe(text, parameters as never[], { prepare: true }) as unknown as Promise<
          T[]
        >,
      );
    // An error of an earlier connection replayed by the driver: the statement was never sent.
    return send().catch((error) => {
      if (!isReplayedError(error, parameters)) throw error;
      return send();
    });
  }

  /**
   * Runs statements in one transaction. A transaction whose `BEGIN` failed
   * because the server ended the session (or the driver replayed such an
   * error of an earlier connection, see {@linkcode query}) begins once more:
   * none of its statements was sent. One that lost a race (a deadlock or a
   * serialization failure: PostgreSQL rolled it back) runs again, up to
   * {@linkcode RACE_RETRIES} times in all.
   *
   * @param body The work, given a query function bound to the transaction.
   * @returns What the work returns, once committed.
   */
  async transaction<T>(
    body: (query: <R>(text: string, parameters: Parameter[]) => Promise<R[]>) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1;; attempt++) {
      let sent = false;
      try {
        return await this.#stalls.watch(
          this.#pool.sql.begin((tx) =>
            body(<R>(text: string, parameters: Parameter[]) => {
              sent = true;
              return tx.unsafe(text, parameters as never[], {
                prepare: true,
              }) as unknown as Promise<
                R[]
              >;
            })
          ),
        ) as T;
      } catch (error) {
        if (isRaceLost(error) && attempt < RACE_RETRIES) continue;
        if (sent || attempt > 1 || !isSessionEnded(error)) throw error;
      }
    }
  }

  /**
   * Listens to a channel on a connection of its own (postgres.js listens
   * again after a reconnect; a renewed pool listens in its turn).
   *
   * @param channel The channel.
   * @param onPayload Receives each notification's payload.
   * @returns A function that stops listening.
   */
  async listen(
    channel: string,
    onPayload: (payload: string) => void,
  ): Promise<() => Promise<void>> {
    return await this.#pool.listen(channel, onPayload);
  }

  /**
   * Waits for creations, appends, audit entries and lease releases in flight, then closes the pool.
   * Idempotent.
   *
   * @returns When closed.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([
        this.creations.drain(),
        this.appends.drain(),
        this.audits.drain(),
        this.releases.drain(),
      ]);
      this.#stalls.close();
      await this.#pool.end(5);
    })();
    return this.#closing;
  }
}

/** Whether a connection that was open broke (the database itself may well be reachable). */
function isBrokenConnection(error: unknown): boolean {
  return isConnectionError(error) && !cannotConnect(error);
}

/** Whether an error is (or wraps) a failure to connect to the database. */
function cannotConnect(error: unknown): boolean {
  return isUnreachable(error) ||
    (error instanceof OrisError && error.cause !== undefined && isUnreachable(error.cause));
}
