/**
 * Oris: a durable execution runtime for reasoning software. Runs persist as
 * events and snapshots; they pause for a person, survive crashes, resume
 * where they stopped and replay deterministically.
 *
 * This entry point re-exports the kernel (ids, errors, events, the run
 * snapshot and its `fold`, the Store interfaces) and the in-memory store.
 * Durable stores are subpath exports, so importing this module never pulls in
 * a database driver: `@oris/runtime/storage/kv` and
 * `@oris/runtime/storage/postgres`.
 *
 * @example Record a run's life in a store
 * ```ts
 * import { fold, MemoryStore, payloadHash, type RunCreatedEvent, parseThreadId } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * const input = { question: "What is Oris?" };
 * const created: RunCreatedEvent = {
 *   type: "run.created", v: 1, at: Date.now(), threadId: parseThreadId("t-1"), graph: "hello",
 *   input, payloadHash: payloadHash(input), state: {}, next: [],
 * };
 * const { run } = await store.createRun(created);
 * const cancelled = { type: "run.cancelled", v: 1, at: Date.now(), reason: "demo" } as const;
 * await store.append(run.threadId, run.version, [cancelled], fold(run, cancelled));
 * const page = await store.listRuns({ status: "cancelled" });
 * assert.deepEqual(page.items.map((item) => item.threadId), ["t-1"]);
 * ```
 *
 * @module
 */

export * from "./kernel/mod.ts";
export * from "./storage/memory/mod.ts";
export * from "./actors/mod.ts";
