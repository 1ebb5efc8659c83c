/**
 * Ownership of runs when several runtimes share one store: leases, the
 * durable mailbox, scheduling and wake-up signals ({@linkcode OwnershipStore},
 * part of every `Store`).
 *
 * - A run executes only in the runtime holding its **lease**: an owner id,
 *   an expiry, and a fencing token that increases on every acquisition. The
 *   holder passes the token with every commit (`AppendOptions.fence`) and
 *   effect record; the store refuses a write whose token is not the run's
 *   current one, in the same atomic operation as the write, with a
 *   `LeaseLostError`.
 * - **Claims** take runnable runs that no other owner holds (queued, left
 *   running by a dead owner, with mail waiting, or with a timer due), by
 *   priority (highest first), then age, within a cap of live leases per
 *   tenant that the store enforces for every owner at once.
 * - The **mailbox** keeps control messages for a run owned elsewhere; its
 *   owner applies them in order and answers each once: the commit that
 *   applies a message also marks it applied (`AppendOptions.ack`), so a
 *   message is never applied twice, and a lease with mail waiting cannot be
 *   released.
 * - **Signals** wake runtimes (mail posted, a message answered, work to
 *   claim); they may be lost, so runtimes also poll.
 * - **Timers**: each store keeps with a run when it next needs a runtime
 *   although no message comes ({@linkcode wakeAtOf}: its total deadline), so
 *   that a run at rest is claimed when that time is due, in whichever process
 *   claims it.
 *
 * The helpers below keep the adapters' validation identical.
 *
 * @module
 */

import { InvalidArgumentError } from "./errors.ts";
import type { RunMessage } from "./decide.ts";
import { parseThreadId, type ThreadId } from "./ids.ts";
import { encodeJson, isJsonObject } from "./json.ts";
import type { CreateRunResult, SerializedError } from "./store.ts";
import type { RunCreatedEvent, RunStartedEvent } from "./events.ts";
import { isTerminal, type RunSnapshot } from "./snapshot.ts";
import { type Scheduling, schedulingOf } from "./scheduling.ts";

export { type Scheduling, schedulingOf };

/** A runtime's hold on a run. */
export interface Lease {
  /** The run. */
  threadId: ThreadId;
  /** The runtime that holds it. */
  owner: string;
  /** The fencing token: it increases on every acquisition of this run's lease. */
  token: number;
  /** When the lease ends unless renewed (ms, on the store's clock). */
  expiresAt: number;
}

/** A lease just acquired or renewed, and whether messages wait in the run's mailbox. */
export interface Claim extends Lease {
  /** Messages wait in the run's mailbox: the holder applies them (first, when it just acquired it). */
  mail: boolean;
}

/** What a runtime asks for when it acquires a lease. */
export interface LeaseRequest {
  /** Its owner id (unique among live runtimes). */
  owner: string;
  /** How long the lease lasts unless renewed (ms; 0 makes an already expired lease). */
  ttlMs: number;
  /**
   * Refuse a run whose tenant (`metadata.tenant_id`) already has this many
   * live leases, whoever holds them. No cap when absent.
   */
  tenantMaxActive?: number;
}

/** What a runtime asks for when it claims runnable runs. */
export interface ClaimRequest extends LeaseRequest {
  /** How many runs at most. */
  limit: number;
  /** Only runs of these graphs (those the runtime can execute). */
  graphs: readonly string[];
  /** Runs not to claim (those the runtime holds or is acquiring). */
  exclude?: readonly string[];
}

/** A lease as its holder names it. */
export interface LeaseRef {
  /** The run. */
  threadId: ThreadId;
  /** The fencing token of the holder's acquisition. */
  token: number;
}

/**
 * What {@linkcode OwnershipStore.releaseLease} did: `released`; `mail`
 * (messages wait in the mailbox: the holder keeps the lease and applies
 * them first); `lost` (the holder no longer holds it).
 */
export type ReleaseOutcome = "released" | "mail" | "lost";

/** A control message that can wait in a run's mailbox. */
export type MailMessage = Exclude<RunMessage, { type: "start" | "step" }>;

/** The status of a mailbox message. */
export type MailStatus = "pending" | "applied" | "refused";

/** A message in a run's mailbox. */
export interface MailRecord {
  /** The run. */
  threadId: ThreadId;
  /** Its position in the run's mailbox, from 1. */
  seq: number;
  /** The message. */
  message: MailMessage;
  /** Where it stands. */
  status: MailStatus;
  /** Why it was refused (when `refused`). */
  error: SerializedError | null;
  /** The run's version once it was applied (when `applied`). */
  version: number | null;
  /** When it was posted (ms, on the store's clock). */
  postedAt: number;
  /** When it was answered (ms, on the store's clock). */
  answeredAt: number | null;
}

/** What {@linkcode OwnershipStore.postMessage} did. */
export interface PostResult {
  /** The message's seq. */
  seq: number;
  /** The run's live lease when the message was posted (`null`: no runtime holds it). */
  lease: Lease | null;
}

/** How the owner answers a message it handled without a commit of its own. */
export type MailAnswer = { status: "applied" } | { status: "refused"; error: SerializedError };

/** Something that may need a runtime's attention. */
export type StoreSignal =
  /** A message was posted to a run's mailbox. */
  | { kind: "mail"; threadId: string }
  /** A message of a run's mailbox was answered. */
  | { kind: "answer"; threadId: string; seq: number }
  /** Runs may be waiting to be claimed. */
  | { kind: "work" }
  /** A run came to rest (sent by its owner when others may be waiting for it). */
  | { kind: "rest"; threadId: string };

/** The queue of runs waiting to start. */
export interface QueueStats {
  /** How many runs are `queued`. */
  depth: number;
  /** When the oldest of them was created (ms), or `null` when none is. */
  oldestCreatedAt: number | null;
}

/**
 * Leases, claims, the mailbox and signals: what runtimes sharing a store
 * coordinate through. Implemented by every storage adapter and checked by
 * the shared conformance suite.
 */
export interface OwnershipStore {
  /**
   * Acquires a run's lease if no other owner holds a live one (an expired
   * lease, a released one, or one of the same owner is taken over), within
   * the tenant cap. Each acquisition increases the run's fencing token.
   *
   * @returns The claim, or `null` when another owner holds it or the tenant is at its cap.
   * @throws {NotFoundError} for an unknown run.
   */
  acquireLease(threadId: ThreadId, request: LeaseRequest): Promise<Claim | null>;
  /**
   * Creates a run (as `RunStore.createRun`, idempotently) and, when this call
   * created it, grants its first lease (token 1) to `request.owner` and
   * appends `started` (its `run.started`, at seq 2), all in the same atomic
   * operation: a runtime that executes a run it creates saves the round
   * trips of `acquireLease` and of the start's commit. Optional: without it
   * (or when it grants no lease), the runtime creates the run, acquires its
   * lease, then commits its start.
   *
   * @returns What `createRun` returns (the run as it is now: started when
   * leased and `started` was given), and the claim: `null` when the run
   * existed already, or when the store leaves the lease to `acquireLease`
   * (a tenant cap, say); then `started` is not appended (a store that grants
   * leases after the creation's commit, as `KvStore` does in its process,
   * may leave a run another caller leased in between started: it is then
   * executed by that caller, as a run taken over).
   * @throws {IdempotencyConflictError} when the run exists with another payload.
   * @throws {InvalidArgumentError} when an event or the request is not valid.
   */
  createLeasedRun?(
    event: RunCreatedEvent,
    request: LeaseRequest,
    started?: RunStartedEvent,
  ): Promise<CreateRunResult & { lease: Claim | null }>;
  /**
   * Claims up to `limit` runnable runs of the given graphs that no other
   * owner holds: `queued` or `running`, with mail waiting, or with a timer
   * due; by priority (highest first), then age; within the tenant cap.
   * A run whose open attempt waits for its retry (`retry_backoff` with
   * `nextRetryAt` still ahead) is not claimed before then. Concurrent claims
   * never take the same run.
   */
  claimRuns(request: ClaimRequest): Promise<Claim[]>;
  /**
   * Extends the leases `owner` still holds by `ttlMs` from now.
   *
   * @returns The leases renewed (and whether mail waits for them); any other of `leases` is lost.
   */
  renewLeases(owner: string, leases: readonly LeaseRef[], ttlMs: number): Promise<Claim[]>;
  /** Releases a lease, unless messages wait in the run's mailbox (see {@linkcode ReleaseOutcome}). */
  releaseLease(owner: string, lease: LeaseRef): Promise<ReleaseOutcome>;
  /** A run's lease (live or expired), or `null` when none is held. */
  getLease(threadId: ThreadId): Promise<Lease | null>;
  /**
   * Stores a control message in a run's mailbox, after those before it.
   *
   * @throws {NotFoundError} for an unknown run.
   * @throws {InvalidArgumentError} for a message that is not a control message.
   */
  postMessage(threadId: ThreadId, message: MailMessage): Promise<PostResult>;
  /** A run's messages not answered yet, in order. */
  pendingMessages(threadId: ThreadId): Promise<MailRecord[]>;
  /** A message of a run's mailbox, or `null`. */
  getMessage(threadId: ThreadId, seq: number): Promise<MailRecord | null>;
  /**
   * Answers a pending message that the holder handled without a commit
   * (messages applied by a commit are answered by it, see `AppendOptions.ack`).
   *
   * @throws {LeaseLostError} when `fence` is not the run's current token.
   * @throws {NotFoundError} for an unknown message.
   */
  answerMessage(threadId: ThreadId, seq: number, answer: MailAnswer, fence: number): Promise<void>;
  /** How many runs are queued, and since when the oldest. */
  queueStats(): Promise<QueueStats>;
  /** Sends a signal to every runtime subscribed to this store (best effort). */
  notify(signal: StoreSignal): Promise<void>;
  /**
   * Receives signals (best effort: a runtime also polls).
   *
   * @returns A function that stops receiving.
   */
  subscribe(listener: (signal: StoreSignal) => void): Promise<() => Promise<void>>;
}

/**
 * When a run needs a runtime although no message comes for it: when its
 * `total` deadline passes (`createdAt + deadline.ms`) while it has not
 * ended, whether it executes or waits at an interrupt or a pause; `null`
 * for a run that has ended or has no total deadline. (An `execution`
 * deadline counts only while the run executes, in the runtime that executes
 * it; a `ctx.sleep` is inside a step that its holder executes, and its
 * wake-up time is journaled.) Every store keeps this with the run as it
 * writes it, and claims a run whose time is due (`claimRuns`).
 *
 * @param run The run (its status, creation time and deadline).
 * @returns The time (ms, on the run's clock), or `null`.
 *
 * @example
 * ```ts
 * import { wakeAtOf } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * const deadline = { ms: 500, status: "failed", scope: "total" } as const;
 * assert.equal(wakeAtOf({ status: "interrupted", createdAt: 1_000, deadline }), 1_500);
 * assert.equal(wakeAtOf({ status: "completed", createdAt: 1_000, deadline }), null);
 * assert.equal(
 *   wakeAtOf({ status: "running", createdAt: 1_000, deadline: { ...deadline, scope: "execution" } }),
 *   null,
 * );
 * ```
 */
export function wakeAtOf(
  run: Pick<RunSnapshot, "status" | "createdAt" | "deadline">,
): number | null {
  const deadline = run.deadline;
  if (deadline === undefined || deadline.scope !== "total" || isTerminal(run.status)) return null;
  return run.createdAt + deadline.ms;
}

/**
 * Validates a lease request.
 *
 * @internal Shared by the storage adapters.
 * @param request The request.
 * @throws {InvalidArgumentError} for an empty owner, a ttl that is not a whole
 * number from 0, or a cap that is not a whole number from 1.
 *
 * @example
 * ```ts
 * import { checkLeaseRequest } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * checkLeaseRequest({ owner: "a", ttlMs: 15_000 });
 * assert.throws(() => checkLeaseRequest({ owner: "", ttlMs: 1 }), /owner/);
 * ```
 */
export function checkLeaseRequest(request: LeaseRequest): void {
  checkOwner(request?.owner);
  checkWhole(request.ttlMs, "ttlMs", 0);
  if (request.tenantMaxActive !== undefined) {
    checkWhole(request.tenantMaxActive, "tenantMaxActive", 1);
  }
}

/**
 * Validates a claim request.
 *
 * @internal Shared by the storage adapters.
 * @param request The request.
 * @throws {InvalidArgumentError} as {@linkcode checkLeaseRequest}, and for a
 * limit that is not a whole number from 1 or graphs that are not a list of names.
 *
 * @example
 * ```ts
 * import { checkClaimRequest } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * checkClaimRequest({ owner: "a", ttlMs: 1, limit: 10, graphs: ["g"] });
 * assert.throws(() => checkClaimRequest({ owner: "a", ttlMs: 1, limit: 0, graphs: [] }), /limit/);
 * ```
 */
export function checkClaimRequest(request: ClaimRequest): void {
  checkLeaseRequest(request);
  checkWhole(request.limit, "limit", 1);
  if (!Array.isArray(request.graphs) || request.graphs.some((g) => typeof g !== "string")) {
    throw new InvalidArgumentError("graphs must be a list of graph names", { field: "graphs" });
  }
  if (
    request.exclude !== undefined &&
    (!Array.isArray(request.exclude) || request.exclude.some((t) => typeof t !== "string"))
  ) {
    throw new InvalidArgumentError("exclude must be a list of thread ids", { field: "exclude" });
  }
}

/**
 * Validates a lease holder's owner id: 1 to 200 characters.
 *
 * @internal Shared by the storage adapters and the runtime's settings.
 * @param owner Anything.
 * @param field Its name, for the message (default `owner`).
 * @returns The owner id.
 * @throws {InvalidArgumentError} otherwise.
 *
 * @example
 * ```ts
 * import { checkOwner } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkOwner("host-1"), "host-1");
 * assert.throws(() => checkOwner(""), /owner/);
 * ```
 */
export function checkOwner(owner: unknown, field = "owner"): string {
  if (typeof owner !== "string" || owner.length === 0 || owner.length > 200) {
    throw new InvalidArgumentError(`${field} must be 1 to 200 characters`, { field });
  }
  return owner;
}

/**
 * Validates a list of lease references.
 *
 * @internal Shared by the storage adapters.
 * @param leases The references.
 * @throws {InvalidArgumentError} for a malformed thread id or token.
 *
 * @example
 * ```ts
 * import { checkLeaseRefs } from "./ownership.ts";
 * import type { ThreadId } from "./ids.ts";
 * import assert from "node:assert/strict";
 *
 * checkLeaseRefs([{ threadId: "t" as ThreadId, token: 1 }]);
 * assert.throws(() => checkLeaseRefs([{ threadId: "t" as ThreadId, token: -1 }]), /token/);
 * ```
 */
export function checkLeaseRefs(leases: readonly LeaseRef[]): void {
  if (!Array.isArray(leases)) {
    throw new InvalidArgumentError("leases must be a list", { field: "leases" });
  }
  for (const lease of leases) {
    parseThreadId(lease?.threadId);
    checkWhole(lease.token, "token", 0);
  }
}

/**
 * Validates a fencing token or a mailbox seq given to a write.
 *
 * @internal Shared by the storage adapters.
 * @param value Anything.
 * @param field Its name, for the message.
 * @returns The number.
 * @throws {InvalidArgumentError} when it is not a whole number from 0.
 *
 * @example
 * ```ts
 * import { checkToken } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkToken(3, "fence"), 3);
 * assert.throws(() => checkToken(1.5, "fence"), /fence/);
 * ```
 */
export function checkToken(value: unknown, field: string): number {
  return checkWhole(value, field, 0);
}

/**
 * Validates the answer to a mailbox message and gives the error to store
 * with it.
 *
 * @internal Shared by the storage adapters.
 * @param answer Anything.
 * @returns The refusal's error as JSON text, or `null` when it was applied.
 * @throws {InvalidArgumentError} when the status is neither applied nor refused.
 *
 * @example
 * ```ts
 * import { checkMailAnswer } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkMailAnswer({ status: "applied" }), null);
 * assert.throws(() => checkMailAnswer({ status: "done" } as never), /applied/);
 * ```
 */
export function checkMailAnswer(answer: MailAnswer): string | null {
  if (answer?.status !== "applied" && answer?.status !== "refused") {
    throw new InvalidArgumentError('answer.status must be "applied" or "refused"', {
      field: "answer",
    });
  }
  return answer.status === "refused" ? JSON.stringify(answer.error) : null;
}

const MAIL_TYPES: ReadonlySet<string> = new Set([
  "resume",
  "pause",
  "cancel",
  "reject",
  "timeout",
  "update",
]);

/**
 * Validates a control message for the mailbox and encodes it as JSON text.
 *
 * @internal Shared by the storage adapters.
 * @param message Anything.
 * @returns The message's JSON text.
 * @throws {InvalidArgumentError} when it is not a control message or not JSON.
 *
 * @example
 * ```ts
 * import { encodeMailMessage } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(encodeMailMessage({ type: "cancel", reason: null }), '{"type":"cancel","reason":null}');
 * assert.throws(() => encodeMailMessage({ type: "step" } as never), /control message/);
 * ```
 */
export function encodeMailMessage(message: MailMessage): string {
  if (!isJsonObject(message as unknown) || !MAIL_TYPES.has(String(message.type))) {
    throw new InvalidArgumentError(
      "Cannot post the message: it is not a control message (resume, pause, cancel, reject, " +
        "timeout or update)",
      { field: "message" },
    );
  }
  return encodeJson(message, "the message");
}

/**
 * Validates a whole number from `min` (a setting, a ttl, a cap, a token).
 *
 * @internal Shared by the storage adapters and the runtime's settings.
 * @param value Anything.
 * @param field Its name, for the message.
 * @param min The smallest value allowed.
 * @returns The number.
 * @throws {InvalidArgumentError} otherwise.
 *
 * @example
 * ```ts
 * import { checkWhole } from "./ownership.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(checkWhole(64, "maxActiveRuns", 1), 64);
 * assert.throws(() => checkWhole(0, "maxActiveRuns", 1), /maxActiveRuns must be a whole number from 1/);
 * ```
 */
export function checkWhole(value: unknown, field: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `${field} must be a whole number from ${min}, got ${JSON.stringify(value)}`,
      { field },
    );
  }
  return value;
}
