/**
 * Fixtures shared by the tests of the adapters' toolkit (`codec_test.ts`,
 * `snapshot_policy_test.ts`, `paging_test.ts`): a run at its first versions,
 * and an assertion on `InvalidArgumentError`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { InvalidArgumentError } from "./errors.ts";
import type { RunCreatedEvent, RunEvent, StepCommittedEvent } from "./events.ts";
import type { CheckpointId, ThreadId } from "./ids.ts";
import { fold, foldAll, type RunSnapshot } from "./snapshot.ts";

/** The run of the fixtures. */
export const THREAD = "t-1" as ThreadId;

/**
 * The `run.created` event of {@linkcode THREAD}.
 *
 * @param overrides Fields to change.
 * @returns The event.
 */
export function createdEvent(overrides: Partial<RunCreatedEvent> = {}): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: 100,
    threadId: THREAD,
    graph: "g",
    input: { q: "hi" },
    payloadHash: "sha256:abc",
    state: { n: 0 },
    next: [{ id: "1:a", node: "a" }],
    ...overrides,
  };
}

function stepEvent(step: number, parent: string | null, at: number): StepCommittedEvent {
  return {
    type: "step.committed",
    v: 1,
    at,
    step,
    checkpointId: `cp_${step}` as CheckpointId,
    parentCheckpointId: parent as CheckpointId | null,
    tasks: [{ taskId: `${step}:a`, node: "a", update: { n: step } }],
    delta: { $obj: { n: { $set: step } } },
    next: step < 2 ? [{ id: `${step + 1}:a`, node: "a" }] : [],
  };
}

/** The run after `run.created` (version 1). */
export const queued: RunSnapshot = fold(null, createdEvent());
/** The `run.started` event of version 2. */
export const startedEvent: RunEvent = {
  type: "run.started",
  v: 1,
  at: 200,
  attemptId: "at_1" as never,
};
/** The run after `run.started` (version 2). */
export const running: RunSnapshot = fold(queued, startedEvent);

/**
 * The events of an append after `running` (version 2), and the snapshot they make.
 *
 * @returns The events and the snapshot.
 */
export function appendAfterRunning(): { events: RunEvent[]; snapshot: RunSnapshot } {
  const events: RunEvent[] = [
    { type: "effect.recorded", v: 1, at: 300, step: 1, node: "a", index: 0, name: "f", ok: true },
    stepEvent(1, null, 400),
    stepEvent(2, "cp_1", 500),
    { type: "run.completed", v: 1, at: 600 },
  ];
  const snapshot = foldAll(running, events);
  assert.ok(snapshot !== null);
  return { events, snapshot };
}

/**
 * Asserts that `fn` throws an `InvalidArgumentError` about `field`.
 *
 * @param fn What should throw.
 * @param field The field the error names.
 * @param message What its message should match.
 * @returns The error.
 */
export function assertInvalid(
  fn: () => unknown,
  field: string,
  message?: RegExp,
): InvalidArgumentError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${caught}`);
  assert.equal(caught.code, "invalid_argument");
  assert.equal(caught.field, field);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}
