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
  /** When it was raised (ms). */
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

/** A role of the control-plane API. */
export type Role = "admin" | "operator" | "worker";

/** Every {@linkcode Role}. */
export const ROLES: readonly Role[] = ["admin", "operator", "worker"];

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
  /** Interrupts, newest first. */
  listInterrupts(options?: ListInterruptsOptions): Promise<Page<InterruptRow>>;
  /** Appends an audit entry. */
  appendAudit(record: AuditRecord): Promise<void>;
  /** Audit entries, newest first. */
  listAudit(options?: ListAuditOptions): Promise<Page<AuditRecord>>;
  /** Creates or replaces an API key. */
  putApiKey(record: ApiKeyRecord): Promise<void>;
  /** An API key by id, or `null`. */
  getApiKey(keyId: string): Promise<ApiKeyRecord | null>;
  /** How many API keys are stored (auth is on when there are any). */
  countApiKeys(): Promise<number>;
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
