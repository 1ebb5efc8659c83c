/**
 * `decide` on deadlines and on updates that drop answers: a run's deadline
 * is recorded by `run.created` and kept by every fold; a `total` timeout ends
 * a run waiting at an interrupt; an update that moves a run on names the
 * answers it drops, and only those the run has not used.
 */
import assert from "node:assert/strict";
import { decide, type DecideEnv } from "./decide.ts";
import type { InterruptRecord, RunEvent } from "./events.ts";
import type { AttemptId, CheckpointId, InterruptId } from "./ids.ts";
import { foldAll, type RunSnapshot } from "./snapshot.ts";
import { createdEvent } from "./_fixtures_test.ts";

const env: DecideEnv = {
  now: 1_000,
  stepLimit: 100,
  attemptId: () => "at_2" as AttemptId,
  checkpointId: () => "cp_9" as CheckpointId,
};

function record(id: string, node: string): InterruptRecord {
  return { id: id as InterruptId, step: 1, taskId: `1:${node}`, node, index: 0, value: "ok?" };
}

function interrupted(...events: RunEvent[]): RunSnapshot {
  return foldAll(null, [
    createdEvent({
      deadline: { ms: 500, status: "failed", scope: "total" },
      next: [{ id: "1:a", node: "a" }, { id: "1:b", node: "b" }],
    }),
    { type: "run.started", v: 1, at: 101, attemptId: "at_1" as AttemptId },
    {
      type: "interrupt.raised",
      v: 1,
      at: 102,
      step: 1,
      interrupts: [record("in_a", "a"), record("in_b", "b")],
      writes: [],
    },
    ...events,
  ])!;
}

Deno.test("decide(): a total timeout ends a run waiting at an interrupt; the deadline is kept", () => {
  const run = interrupted();
  assert.deepEqual(run.deadline, { ms: 500, status: "failed", scope: "total" });
  const decision = decide(run, { type: "timeout", ms: 500, status: "failed", scope: "total" }, env);
  assert.equal(decision.kind, "commit");
  if (decision.kind !== "commit") return;
  assert.equal(decision.run.status, "failed");
  assert.deepEqual(decision.run.deadline, run.deadline);
  assert.deepEqual(decision.run.status === "failed" && decision.run.error, {
    code: "timeout",
    message: 'Run "t-1" did not finish within its total timeout of 500 ms (time waiting included)',
  });
  const plain = decide(run, { type: "timeout", ms: 500, status: "cancelled" }, env);
  assert.equal(plain.kind === "commit" && plain.run.status, "cancelled");
  assert.deepEqual(
    plain.kind === "commit" && plain.run.status === "cancelled" && plain.run.reason,
    'Run "t-1" did not finish within its timeout of 500 ms',
  );
});

Deno.test("decide(): an update that moves the run on names the answers it drops", () => {
  const plan = { state: { n: 1 }, next: [{ id: "2:c", node: "c" }] };
  const update = (run: RunSnapshot, asNode: string | null) =>
    decide(run, { type: "update.planned", update: { n: 1 }, asNode, plan }, env);

  // in_a answered, its task not run again: dropped.
  const answered = interrupted({ type: "run.resumed", v: 1, at: 103, values: { in_a: true } });
  const moved = update(answered, "a");
  assert.equal(moved.kind, "commit");
  const event = moved.kind === "commit" ? moved.events[0] : undefined;
  assert.equal(event?.type, "state.updated");
  assert.deepEqual(event?.type === "state.updated" && event.droppedInterruptIds, ["in_a"]);
  assert.deepEqual(moved.kind === "commit" && moved.run.resumes, []);

  // Task a ran again with its answer (its write is pending): nothing is dropped.
  const used = foldAll(answered, [{
    type: "interrupt.raised",
    v: 1,
    at: 104,
    step: 1,
    interrupts: [record("in_b", "b")],
    writes: [{ taskId: "1:a", node: "a", update: null }],
  }])!;
  const kept = update(used, "a");
  const keptEvent = kept.kind === "commit" ? kept.events[0] : undefined;
  assert.equal(keptEvent?.type === "state.updated" && "droppedInterruptIds" in keptEvent, false);

  // An update that does not move the run on drops nothing.
  const stays = update(answered, null);
  const staysEvent = stays.kind === "commit" ? stays.events[0] : undefined;
  assert.equal(staysEvent?.type === "state.updated" && "droppedInterruptIds" in staysEvent, false);
  assert.deepEqual(stays.kind === "commit" && stays.run.resumes.map((r) => r.id), ["in_a"]);
});
