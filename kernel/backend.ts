/**
 * The aggregate Store interface: what a storage backend implements.
 *
 * @module
 */

import type { AttemptStore } from "./attempts.ts";
import type { ControlStore } from "./control.ts";
import type { OwnershipStore } from "./ownership.ts";
import type { EffectJournal, RunStore } from "./store.ts";

/**
 * A storage backend: run data, effect journal, control records and the
 * ownership of runs (leases, mailbox, signals), the worker plane's attempts
 * and dead letters (`attempts`), with a lifecycle.
 */
export interface Store
  extends RunStore, EffectJournal, ControlStore, OwnershipStore, AsyncDisposable {
  /** The worker plane's attempts and dead letters. */
  readonly attempts: AttemptStore;
  /** Checks that the backend is reachable. */
  ping(): Promise<void>;
  /** Releases connections and handles. Idempotent. */
  close(): Promise<void>;
}
