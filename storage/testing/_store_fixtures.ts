/**
 * What the parts of the Store conformance suite share: the registrar a part
 * adds its tests with, a clock, events of a conformance run, and helpers that
 * create, advance and read runs.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type CheckpointId,
  currentSnapshot,
  diffJson,
  foldAll,
  type Json,
  type JsonObject,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type RunSummary,
  type StepCommittedEvent,
  type Store,
  type ThreadId,
} from "../../kernel/mod.ts";

/**
 * Registers one conformance test: `body` runs against a fresh store that
 * persists a running run's snapshot every `snapshotEvery` versions (default 1).
 */
export type ConformanceTest = (
  title: string,
  body: (store: Store) => Promise<void>,
  snapshotEvery?: number,
) => void;

let clock = 1_700_000_000_000;
/** The next time of the suite's clock (ms), later than any before. */
export function tick(): number {
  return ++clock;
}

/** A `run.created` event of `threadId` whose payload hash follows `input`. */
export function createdEvent(
  threadId: string,
  input: Json = { n: 0 },
  state: JsonObject = {},
): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: tick(),
    threadId: threadId as ThreadId,
    graph: "conformance",
    input,
    payloadHash: `hash:${JSON.stringify(input)}`,
    state,
    next: [{ id: "1:a", node: "a" }],
  };
}

/** A `run.started` event. */
export function started(): RunEvent {
  return { type: "run.started", v: 1, at: tick(), attemptId: `at_${tick()}` as never };
}

let checkpointCounter = 0;
/** A checkpoint id not used before in this process, in order. */
export function nextCheckpointId(): CheckpointId {
  return `cp_${String(++checkpointCounter).padStart(8, "0")}` as CheckpointId;
}

/** A `step.committed` event of `run` that sets its state to `state` through node `node`. */
export function stepEvent(run: RunSnapshot, state: JsonObject, node = "a"): StepCommittedEvent {
  return {
    type: "step.committed",
    v: 1,
    at: tick(),
    step: run.step + 1,
    checkpointId: nextCheckpointId(),
    parentCheckpointId: run.checkpointId,
    tasks: [{ taskId: `${run.step + 1}:${node}`, node, update: state }],
    delta: diffJson(run.state, state),
    next: [{ id: `${run.step + 2}:${node}`, node }],
  };
}

/** Folds events onto `run` and appends them; returns the run after them. */
export async function appendAll(
  store: Store,
  run: RunSnapshot,
  events: RunEvent[],
): Promise<RunSnapshot> {
  const next = foldAll(run, events)!;
  const result = await store.append(run.threadId, run.version, events, next);
  assert.equal(result.version, next.version);
  return next;
}

/** Creates a run of `threadId` with `state` and starts it; returns the running run. */
export async function startRun(
  store: Store,
  threadId: string,
  state: JsonObject = {},
): Promise<RunSnapshot> {
  const { run } = await store.createRun(createdEvent(threadId, { id: threadId }, state));
  return appendAll(store, run, [started()]);
}

/** The current snapshot of `threadId` (its snapshot with the events after it folded in). */
export async function current(store: Store, threadId: string): Promise<RunSnapshot | null> {
  const loaded = await store.load(threadId as ThreadId);
  return loaded === null ? null : currentSnapshot(loaded);
}

/** Every run summary `listRuns()` lists, page by page. */
export async function allRuns(
  store: Store,
  options: {
    status?: RunSummary["status"];
    graph?: string;
    limit: number;
    cursor?: string | null;
  },
): Promise<RunSummary[]> {
  const seen: RunSummary[] = [];
  let cursor: string | null = options.cursor ?? null;
  do {
    const page = await store.listRuns({ ...options, cursor });
    seen.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return seen;
}
