/**
 * The conformance suites of the Store contract, for storage adapters: call
 * them from your adapter's test file (`deno test`) with a factory of fresh,
 * empty stores, and your adapter is held to exactly the contract the
 * in-memory, Deno KV and PostgreSQL stores keep: the event log and its
 * optimistic concurrency, snapshots, checkpoints, listings and their paging,
 * the effect journal ({@linkcode runStoreConformance}), and the control
 * records: idempotency keys, the interrupt index, audit logs and API keys
 * ({@linkcode runControlStoreConformance}).
 *
 * @example Run both suites against the in-memory store
 * ```ts ignore
 * import { MemoryStore } from "@oris/runtime";
 * import { runControlStoreConformance, runStoreConformance } from "@oris/runtime/testing";
 *
 * runStoreConformance("MemoryStore", (options) => Promise.resolve(new MemoryStore(options)));
 * runControlStoreConformance("MemoryStore", () => Promise.resolve(new MemoryStore()));
 * ```
 *
 * @module
 */

export {
  type ConformanceStoreOptions,
  runStoreConformance,
  type StoreFactory,
} from "./store_conformance.ts";
export { type ControlStoreFactory, runControlStoreConformance } from "./control_conformance.ts";
