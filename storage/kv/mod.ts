/**
 * The Deno KV storage adapter: a {@linkcode KvStore} keeps runs, their event
 * logs, snapshots, checkpoints and the effect journal in Deno KV (a local
 * SQLite file, or Deno Deploy's KV). Needs `--unstable-kv` (or
 * `"unstable": ["kv"]` in `deno.json`).
 *
 * @example Open a store, create a run and list it
 * ```ts
 * import { KvStore } from "./mod.ts";
 * import type { ThreadId } from "../../kernel/mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = await KvStore.open({ path: ":memory:" });
 * await store.createRun({
 *   type: "run.created", v: 1, at: Date.now(), threadId: "t-1" as ThreadId, graph: "hello",
 *   input: {}, payloadHash: "h", state: {}, next: [],
 * });
 * const page = await store.listRuns({ status: "queued" });
 * assert.deepEqual(page.items.map((run) => run.threadId), ["t-1"]);
 * ```
 *
 * @module
 */

export { KvStore, type KvStoreOptions } from "./kv_store.ts";
export { type LayoutStatus, layoutStatus } from "./layout_status.ts";
