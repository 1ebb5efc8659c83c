/**
 * The Oris kernel: pure and free of I/O. Ids, errors, JSON and deltas, the
 * run's events and snapshot with its `fold`, the Store interfaces that the
 * storage adapters implement, and the toolkit they share (encoding, paging,
 * the snapshot policy and the interrupt index).
 *
 * @example Fold a run's log
 * ```ts
 * import { foldAll, type ThreadId } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const run = foldAll(null, [
 *   { type: "run.created", v: 1, at: 1, threadId: "t-1" as ThreadId, graph: "hello", input: {}, payloadHash: "h", state: {}, next: [] },
 *   { type: "run.paused", v: 1, at: 2, reason: "maintenance" },
 * ]);
 * assert.equal(run?.status, "paused");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./ids.ts";
export * from "./json.ts";
export * from "./json_delta.ts";
export * from "./hash.ts";
export * from "./events.ts";
export * from "./snapshot.ts";
export * from "./store.ts";
export * from "./control.ts";
export * from "./ownership.ts";
export * from "./attempts.ts";
export * from "./backend.ts";
export * from "./paging.ts";
export * from "./codec.ts";
export * from "./snapshot_policy.ts";
export * from "./interrupt_index.ts";
export * from "./replay.ts";
export * from "./graph/constants.ts";
export * from "./graph/command.ts";
export * from "./graph/state.ts";
export * from "./graph/standard_schema.ts";
export * from "./graph/messages.ts";
export * from "./graph/graph.ts";
export * from "./logger.ts";
export * from "./decide.ts";
