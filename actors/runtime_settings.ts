/**
 * The runtime's settings for sharing a store with other runtimes (leases,
 * scheduling), and their defaults and validation.
 *
 * @module
 */

import { checkOwner, checkWhole, InvalidArgumentError } from "../kernel/mod.ts";

/**
 * Whether a runtime executes runs: `embedded` (it claims runs and executes
 * them) or `none` (it never claims or executes a run: runs it starts wait
 * `queued` until another runtime, such as a remote worker, takes them, and
 * its messages for runs go through their durable mailboxes).
 */
export type ExecutionMode = "embedded" | "none";

/** How a runtime shares its store with other runtimes (other processes). */
export interface OwnershipSettings {
  /**
   * Whether this runtime executes runs (see {@linkcode ExecutionMode}). With
   * `none` it only persists and serves: `start` leaves a run `queued`,
   * `invoke` and `resume` wait for another runtime to bring the run to rest,
   * and `cancel`, `pause` and resumes are posted to the run's mailbox, which
   * makes a run at rest claimable by the runtimes that execute.
   * @default {"embedded"}
   */
  execution?: ExecutionMode;
  /**
   * This runtime's owner id, unique among the live runtimes on a store (1 to
   * 200 characters).
   * @default {"<hostname>-<pid>-<random>"}
   */
  ownerId?: string;
  /**
   * How long a run's lease lasts unless renewed (ms). The runtime renews its
   * leases at most every third of it; a lease it cannot renew in time (lost to
   * another runtime, or the store is down) makes it stop executing the run
   * before the lease ends, and another runtime takes the run over once it has.
   * @default {15000}
   */
  leaseTtlMs?: number;
  /**
   * How many runs this runtime executes (holds leases of) at most; others stay
   * `queued` until a place frees.
   * @default {64}
   */
  maxActiveRuns?: number;
  /**
   * How many runs of one tenant (`metadata.tenant_id`) execute at once across
   * every runtime on the store (enforced by the store). No cap when absent.
   */
  tenantMaxActiveRuns?: number;
  /**
   * How often the runtime looks for work (runs to claim, messages, answers)
   * when no signal of the store woke it (ms).
   * @default {1000}
   */
  pollIntervalMs?: number;
}

/** The ownership settings with their defaults applied. @internal */
export interface ResolvedOwnership {
  execution: ExecutionMode;
  ownerId: string;
  leaseTtlMs: number;
  maxActiveRuns: number;
  tenantMaxActiveRuns: number | undefined;
  pollIntervalMs: number;
}

/**
 * Applies the defaults to ownership settings and checks them.
 *
 * @internal Used by `createRuntime`.
 * @param settings The settings.
 * @returns The settings with defaults.
 * @throws {InvalidArgumentError} for a value out of range.
 */
export function resolveOwnership(settings: OwnershipSettings): ResolvedOwnership {
  const execution = settings.execution ?? "embedded";
  if (execution !== "embedded" && execution !== "none") {
    throw new InvalidArgumentError(
      `execution must be "embedded" or "none", got ${JSON.stringify(execution)}`,
      { field: "execution" },
    );
  }
  return {
    execution,
    ownerId: checkOwner(settings.ownerId ?? defaultOwnerId(), "ownerId"),
    leaseTtlMs: checkWhole(settings.leaseTtlMs ?? 15_000, "leaseTtlMs", 3),
    maxActiveRuns: checkWhole(settings.maxActiveRuns ?? 64, "maxActiveRuns", 1),
    tenantMaxActiveRuns: settings.tenantMaxActiveRuns === undefined
      ? undefined
      : checkWhole(settings.tenantMaxActiveRuns, "tenantMaxActiveRuns", 1),
    pollIntervalMs: checkWhole(settings.pollIntervalMs ?? 1000, "pollIntervalMs", 1),
  };
}

/** `<hostname>-<pid>-<random>`: unique among live runtimes. */
function defaultOwnerId(): string {
  let host = "host";
  try {
    host = Deno.hostname();
  } catch {
    // No permission to read the host name: the pid and random part still make it unique.
  }
  const random = crypto.getRandomValues(new Uint8Array(4));
  const suffix = [...random].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${host.slice(0, 150)}-${Deno.pid}-${suffix}`;
}
