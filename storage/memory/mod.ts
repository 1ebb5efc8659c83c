/**
 * The in-memory storage adapter: a {@linkcode MemoryStore} keeps runs in the
 * process. For tests and examples; use `./storage/kv` or `./storage/postgres`
 * for durable runs.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * assert.deepEqual((await store.listRuns()).items, []);
 * ```
 *
 * @module
 */

export { MemoryStore, type MemoryStoreOptions } from "./memory_store.ts";
