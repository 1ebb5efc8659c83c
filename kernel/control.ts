/**
 * Control-plane records kept beside run data: idempotency keys, the index of
 * interrupts, audit logs and API keys. Every store implements
 * {@linkcode ControlStore}; the checks here keep the adapters' validation
 * identical.
 *
 * The interrupt index is derived from the run's events inside the same
 * atomic commit as the events themselves (see `interrupt_index.ts`), so it
 * never disagrees with the log.
 *
 * @module
 */

import { InvalidArgumentError } from "./errors.ts";
import { isValidId } from "./ids.ts";
import type { Json, JsonObject } from "./json.ts";
import type { Page, PageOptions } from "./paging.ts";

/** A stored idempotency key: what an operation with this key did. */
export interface IdempotencyRecord {
  /** The key (1 to 256 printable characters). */
  key: string;
  /** The operation, e.g. `job.run` or `interrupt.resume`. */
  operation: string;
  /** The run it concerns. */
  threadId: string;
  /** Hash of the request payload. */
  payloadHash: string;
  /** The response to return on a replay, once the operation finished (`null` while it runs). */
  response: Json | null;
  /** When it was claimed (ms). */
  createdAt: number;
}

/** The status of an interrupt in the index. */
export type InterruptStatus = "pending" | "resumed" | "rejected" | "cancelled";

/** Every {@linkcode InterruptStatus}. */
export const INTERRUPT_STATUSES: readonly InterruptStatus[] = [
  "pending",
  "resumed",
  "rejected",
  "cancelled",
];

/** One interrupt in the index. */
export interface InterruptRow {
  /** The interrupt. */
  interruptId: string;
  /** Its run. */
  threadId: string;
  /** The node that asked. */
  node: string;
  /** The superstep. */
  step: number;
  /** What it asked. */
  value: Json;
  /** Where it stands. */
  status: InterruptStatus;
  /** The answer, once resumed. */
  resumeValue: Json | null;
  /** When it was first raised (ms); raised again, it keeps this time (and its place in listings). */
  createdAt: number;
  /** When it was resumed, rejected or cancelled (ms). */
  resolvedAt: number | null;
}

/** Who made a control-plane request. */
export type ActorType = "bearer" | "api_key" | "anonymous";

/** One audit log entry. */
export interface AuditRecord {
  /** Its id (sortable by time). */
  auditId: string;
  /** How the caller authenticated. */
  actorType: ActorType;
  /** The caller's key id, if any. */
  actorId: string | null;
  /** The caller's role, if authenticated. */
  actorRole: string | null;
  /** What was attempted, e.g. `job.run`. */
  action: string;
  /** The kind of resource, e.g. `thread` or `interrupt`. */
  resourceType: string;
  /** The resource's id, if known. */
  resourceId: string | null;
  /** `success` (2xx) or `error`. */
  result: "success" | "error";
  /** The request id. */
  requestId: string;
  /** Method, path, status code and other facts. */
  details: JsonObject;
  /** When (ms). */
  createdAt: number;
}

/** Options of {@linkcode ControlStore.listAudit}. */
export interface ListAuditOptions extends PageOptions {
  /** Only entries of this request. */
  requestId?: string;
  /** Only entries of this action. */
  action?: string;
  /** Only entries at or after this time (ms). */
  fromMs?: number;
  /** Only entries at or before this time (ms). */
  toMs?: number;
}

/** Options of {@linkcode ControlStore.listInterrupts}. */
export interface ListInterruptsOptions extends PageOptions {
  /** Only interrupts with this status. */
  status?: InterruptStatus;
  /** Only interrupts of this run. */
  threadId?: string;
}

/** A role of the control-plane API (`viewer` reads, `operator` also acts, `admin` also manages keys). */
export type Role = "admin" | "operator" | "viewer" | "worker";

/** Every {@linkcode Role}. */
export const ROLES: readonly Role[] = ["admin", "operator", "viewer", "worker"];

/** A stored API key. The secret is never stored, only its hash. */
export interface ApiKeyRecord {
  /** The key's public id. */
  keyId: string;
  /** SHA-256 of the secret, hex. */
  secretHash: string;
  /** What it may do. */
  role: Role;
  /** Disabled keys authenticate nothing. */
  status: "active" | "disabled";
  /** When it was created (ms). */
  createdAt: number;
  /** When it last changed (ms). */
  updatedAt: number;
}

/** Control-plane records. Implemented by every storage adapter beside {@linkcode RunStore}. */
export interface ControlStore {
  /**
   * Claims an idempotency key atomically: the first caller stores the record
   * and gets `claimed: true`; later callers get the stored record.
   */
  claimIdempotency(
    record: IdempotencyRecord,
  ): Promise<{ claimed: boolean; record: IdempotencyRecord }>;
  /** Stores the response of a claimed key. */
  completeIdempotency(key: string, response: Json): Promise<void>;
  /** Releases a claim whose operation failed before it did anything. */
  releaseIdempotency(key: string): Promise<void>;
  /** One interrupt of the index, or `null`. */
  getInterrupt(interruptId: string): Promise<InterruptRow | null>;
  /**
   * Interrupts, newest first (by when they were first raised, then id
   * descending), paged by that key: an interrupt that changes status while a
   * client pages is listed once (when it still matches a status filter).
   */
  listInterrupts(options?: ListInterruptsOptions): Promise<Page<InterruptRow>>;
  /** Appends an audit entry. */
  appendAudit(record: AuditRecord): Promise<void>;
  /**
   * Audit entries, newest first (by time, then id descending), paged by that key.
   *
   * @throws {InvalidArgumentError} for a filter no entry can match (see {@linkcode checkListAuditOptions}).
   */
  listAudit(options?: ListAuditOptions): Promise<Page<AuditRecord>>;
  /**
   * Creates or replaces an API key.
   *
   * @throws {InvalidArgumentError} for a malformed record (see {@linkcode checkApiKeyRecord}).
   */
  putApiKey(record: ApiKeyRecord): Promise<void>;
  /**
   * Creates an API key unless one with its id exists (then nothing is written).
   *
   * @returns `true` when it was created.
   * @throws {InvalidArgumentError} for a malformed record (see {@linkcode checkApiKeyRecord}).
   */
  createApiKey(record: ApiKeyRecord): Promise<boolean>;
  /** An API key by id, or `null`. */
  getApiKey(keyId: string): Promise<ApiKeyRecord | null>;
  /** API keys, active and disabled, by key id (ascending), paged by key id. */
  listApiKeys(options?: PageOptions): Promise<Page<ApiKeyRecord>>;
  /** How many API keys are stored, active or disabled (auth is on when there are any). */
  countApiKeys(): Promise<number>;
}

/** Whether a filter value is text every store can hold and compare: not empty, no NUL character. */
function isFilterText(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && !value.includes("\u0000");
}

/**
 * Validates the filters of an audit listing, identically in every store (so
 * that none answers a filter no entry can match differently): a request id
 * or action must be a non-empty string without NUL characters, the times
 * finite numbers.
 *
 * @internal Shared by the storage adapters.
 * @param options The listing's options.
 * @throws {InvalidArgumentError} naming the field otherwise.
 *
 * @example
 * ```ts
 * import { checkListAuditOptions } from "./control.ts";
 * import assert from "node:assert/strict";
 *
 * checkListAuditOptions({ requestId: "req-1", fromMs: 0 });
 * assert.throws(() => checkListAuditOptions({ requestId: "a\u0000b" }), /request_id/);
 * ```
 */
export function checkListAuditOptions(options: ListAuditOptions): void {
  for (const [field, value] of [["request_id", options.requestId], ["action", options.action]]) {
    if (value !== undefined && !isFilterText(value)) {
      throw new InvalidArgumentError(`${field} must be a non-empty string without NUL characters`, {
        field: field!,
      });
    }
  }
  for (const [field, value] of [["from_ms", options.fromMs], ["to_ms", options.toMs]] as const) {
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value))) {
      throw new InvalidArgumentError(`${field} must be a finite number`, { field });
    }
  }
}

/**
 * Validates an API key record before it is stored, identically in every
 * store: a valid key id, a SHA-256 hex hash, a known role and status, times
 * in ms.
 *
 * @internal Shared by the storage adapters.
 * @param record The record.
 * @throws {InvalidArgumentError} naming the field otherwise.
 *
 * @example
 * ```ts
 * import { checkApiKeyRecord } from "./control.ts";
 * import assert from "node:assert/strict";
 *
 * const record = { keyId: "ops-1", secretHash: "ab".repeat(32), role: "operator" as const, status: "active" as const, createdAt: 1, updatedAt: 1 };
 * checkApiKeyRecord(record);
 * assert.throws(() => checkApiKeyRecord({ ...record, keyId: "a b" }), /key_id/);
 * ```
 */
export function checkApiKeyRecord(record: ApiKeyRecord): void {
  if (!isValidId(record?.keyId)) {
    throw new InvalidArgumentError(
      'key_id may contain only letters, digits and "-_.:" (1 to 128)',
      {
        field: "key_id",
      },
    );
  }
  if (typeof record.secretHash !== "string" || !/^[0-9a-f]{64}$/.test(record.secretHash)) {
    throw new InvalidArgumentError("secretHash must be a SHA-256 hex digest", {
      field: "secretHash",
    });
  }
  if (!ROLES.includes(record.role)) {
    throw new InvalidArgumentError(`role must be one of ${ROLES.join(", ")}`, { field: "role" });
  }
  if (record.status !== "active" && record.status !== "disabled") {
    throw new InvalidArgumentError("status must be active or disabled", { field: "status" });
  }
  for (const field of ["createdAt", "updatedAt"] as const) {
    if (typeof record[field] !== "number" || !Number.isFinite(record[field])) {
      throw new InvalidArgumentError(`${field} must be a finite number`, { field });
    }
  }
}

/**
 * Validates an idempotency record before it is stored.
 *
 * @internal Shared by the storage adapters.
 * @param record The record.
 * @throws {InvalidArgumentError} for a malformed key or fields.
 *
 * @example
 * ```ts
 * import { checkIdempotencyRecord } from "./control.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => checkIdempotencyRecord({ key: "", operation: "job.run", threadId: "t", payloadHash: "h", response: null, createdAt: 0 }), /idempotency_key/);
 * ```
 */
export function checkIdempotencyRecord(record: IdempotencyRecord): void {
  checkIdempotencyKey(record.key);
  if (typeof record.operation !== "string" || record.operation.length === 0) {
    throw new InvalidArgumentError("operation must not be empty", { field: "operation" });
  }
  if (!isValidId(record.threadId)) {
    throw new InvalidArgumentError("thread_id is not valid", { field: "thread_id" });
  }
}

/**
 * Validates an idempotency key: 1 to 256 printable characters.
 *
 * @param key The key.
 * @returns The key.
 * @throws {InvalidArgumentError} otherwise.
 *
 * @example
 * ```ts
 * import { checkIdempotencyKey } from "./control.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkIdempotencyKey("order-42"), "order-42");
 * assert.throws(() => checkIdempotencyKey("  "), /idempotency_key/);
 * ```
 */
export function checkIdempotencyKey(key: unknown): string {
  if (
    typeof key !== "string" || key.trim().length === 0 || key.length > 256 ||
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f]/.test(key)
  ) {
    throw new InvalidArgumentError("idempotency_key must be 1 to 256 printable characters", {
      field: "idempotency_key",
    });
  }
  return key;
}
