import assert from "node:assert/strict";
import { IllegalTransitionError, OrisError } from "./errors.ts";
import {
  EVENT_FORMAT_VERSION,
  type InterruptRecord,
  RUN_EVENT_TYPES,
  type RunEvent,
  type RunEventType,
  type StoredEvent,
  type TaskSpec,
  type TaskWrite,
} from "./events.ts";
import type { AttemptId, CheckpointId, InterruptId, ThreadId } from "./ids.ts";
import { assertJson, type JsonObject } from "./json.ts";
import { diffJson } from "./json_delta.ts";
import {
  fold,
  foldAll,
  isTerminal,
  RUN_STATUSES,
  type RunSnapshot,
  type RunStatus,
  TERMINAL_STATUSES,
} from "./snapshot.ts";

// ---------------------------------------------------------------------------
// Fixtures. Times are fixed so every snapshot is deterministic.

const THREAD = "t-1" as ThreadId;

function created(
  options: { state?: JsonObject; next?: TaskSpec[]; at?: number } = {},
): RunEvent {
  return {
    type: "run.created",
    v: 1,
    at: options.at ?? 1000,
    threadId: THREAD,
    graph: "g",
    input: { q: "hi" },
    payloadHash: "sha256:abc",
    state: options.state ?? { messages: [] },
    next: options.next ?? [],
  };
}

function started(attempt = "at_1", at = 2000): RunEvent {
  return { type: "run.started", v: 1, at, attemptId: attempt as AttemptId };
}

function committed(
  step: number,
  options: {
    state?: { before: JsonObject; after: JsonObject };
    next?: TaskSpec[];
    parent?: string | null;
    at?: number;
  } = {},
): RunEvent {
  return {
    type: "step.committed",
    v: 1,
    at: options.at ?? 3000 + step,
    step,
    checkpointId: `cp_${step}` as CheckpointId,
    parentCheckpointId: (options.parent ?? null) as CheckpointId | null,
    tasks: [{ taskId: `${step}:a`, node: "a", update: null }],
    delta: options.state === undefined ? null : diffJson(options.state.before, options.state.after),
    next: options.next ?? [],
  };
}

function updated(
  options: { before?: JsonObject; after?: JsonObject; next?: TaskSpec[] | null; step?: number } =
    {},
): RunEvent {
  return {
    type: "state.updated",
    v: 1,
    at: 4500,
    step: options.step ?? 1,
    checkpointId: "cp_u" as CheckpointId,
    parentCheckpointId: null,
    asNode: options.next === undefined || options.next === null ? null : "a",
    update: options.after ?? null,
    delta: options.after === undefined ? null : diffJson(options.before ?? {}, options.after),
    next: options.next ?? null,
  };
}

function effect(at = 4000): RunEvent {
  return {
    type: "effect.recorded",
    v: 1,
    at,
    step: 1,
    node: "a",
    index: 0,
    name: "fetch",
    ok: true,
  };
}

function interrupt(id: string, taskId = "1:a", index = 0): InterruptRecord {
  return {
    id: id as InterruptId,
    step: 1,
    taskId,
    node: taskId.split(":")[1] ?? "a",
    index,
    value: { question: `approve ${id}?` },
  };
}

function write(taskId: string, update: JsonObject): TaskWrite {
  return { taskId, node: taskId.split(":")[1] ?? "a", update };
}

function raised(
  interrupts: InterruptRecord[] = [interrupt("in_1")],
  writes: TaskWrite[] = [],
  at = 5000,
): RunEvent {
  return { type: "interrupt.raised", v: 1, at, step: 1, interrupts, writes };
}

function resumed(values: Record<string, JsonObject | string | number | null>, at = 6000): RunEvent {
  return { type: "run.resumed", v: 1, at, values };
}

function paused(reason: string | null = "maintenance", at = 7000): RunEvent {
  return { type: "run.paused", v: 1, at, reason };
}

function completed(at = 8000): RunEvent {
  return { type: "run.completed", v: 1, at };
}

function failed(at = 9000): RunEvent {
  return { type: "run.failed", v: 1, at, error: { code: "internal", message: "boom", node: "a" } };
}

function cancelled(reason: string | null = "no longer needed", at = 9500): RunEvent {
  return { type: "run.cancelled", v: 1, at, reason };
}

/** Folds events onto `null`, failing the test if the log is empty. */
function run(...events: RunEvent[]): RunSnapshot {
  const snapshot = foldAll(null, events);
  assert.ok(snapshot !== null);
  return snapshot;
}

/** A run in each status, reached by the shortest legal log. */
function inStatus(status: RunStatus): RunSnapshot {
  switch (status) {
    case "queued":
      return run(created());
    case "running":
      return run(created(), started());
    case "interrupted":
      return run(created(), started(), raised());
    case "paused":
      return run(created(), started(), paused());
    case "completed":
      return run(created(), started(), completed());
    case "failed":
      return run(created(), started(), failed());
    case "cancelled":
      return run(created(), started(), cancelled());
  }
}

/** An event of each type, shaped to be legal where its type is legal at all. */
function sampleEvent(type: RunEventType, status: RunStatus): RunEvent {
  switch (type) {
    case "run.created":
      return created();
    case "run.started":
      return started("at_2");
    case "step.committed":
      return committed(1);
    case "state.updated":
      return updated();
    case "effect.recorded":
      return effect();
    case "interrupt.raised":
      return raised([interrupt("in_9")]);
    case "run.resumed":
      return status === "interrupted" ? resumed({ in_1: "yes" }) : resumed({});
    case "run.paused":
      return paused();
    case "run.completed":
      return completed();
    case "run.failed":
      return failed();
    case "run.cancelled":
      return cancelled();
  }
}

/** Which event types each non-terminal status accepts. */
const LEGAL: Record<"queued" | "running" | "interrupted" | "paused", readonly RunEventType[]> = {
  queued: ["run.started", "state.updated", "run.paused", "run.failed", "run.cancelled"],
  running: [
    "run.started",
    "step.committed",
    "state.updated",
    "effect.recorded",
    "interrupt.raised",
    "run.paused",
    "run.completed",
    "run.failed",
    "run.cancelled",
  ],
  interrupted: ["run.resumed", "state.updated", "run.failed", "run.cancelled"],
  paused: ["run.resumed", "state.updated", "run.failed", "run.cancelled"],
};

function assertIllegal(
  snapshot: RunSnapshot,
  event: RunEvent,
  message?: RegExp,
): IllegalTransitionError {
  let caught: unknown;
  try {
    fold(snapshot, event);
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof IllegalTransitionError,
    `expected IllegalTransitionError for "${event.type}" on ${snapshot.status}, got ${caught}`,
  );
  assert.equal(caught.code, "conflict");
  assert.equal(caught.threadId, THREAD);
  assert.equal(caught.status, snapshot.status);
  assert.equal(caught.eventType, event.type);
  assert.deepEqual(caught.details, {
    thread_id: THREAD,
    status: snapshot.status,
    event_type: event.type,
  });
  assert.match(caught.message, /^Cannot apply "/);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

// ---------------------------------------------------------------------------
// Creation

Deno.test("fold() creates a queued run from run.created", () => {
  const event = created({ state: { n: 1 }, next: [{ id: "1:a", node: "a" }], at: 42 });
  assert.deepEqual(fold(null, event), {
    v: EVENT_FORMAT_VERSION,
    status: "queued",
    threadId: THREAD,
    version: 1,
    graph: "g",
    payloadHash: "sha256:abc",
    step: 0,
    state: { n: 1 },
    next: [{ id: "1:a", node: "a" }],
    checkpointId: null,
    pendingWrites: [],
    resumes: [],
    attemptId: null,
    createdAt: 42,
    updatedAt: 42,
  });
});

Deno.test("fold() refuses a first event that is not run.created as an internal error", () => {
  for (const type of RUN_EVENT_TYPES.filter((t) => t !== "run.created")) {
    assert.throws(
      () => fold(null, sampleEvent(type, "running")),
      (error: unknown) => {
        assert.ok(error instanceof OrisError);
        assert.ok(!(error instanceof IllegalTransitionError));
        assert.equal(error.code, "internal");
        assert.match(error.message, new RegExp(`^Cannot apply "${type.replace(".", "\\.")}"`));
        return true;
      },
    );
  }
});

Deno.test("fold() refuses run.created on a run that exists", () => {
  for (const status of ["queued", "running", "interrupted", "paused"] as const) {
    assertIllegal(inStatus(status), created(), /the run already exists/);
  }
});

// ---------------------------------------------------------------------------
// Legal transitions

Deno.test("fold() starts a queued run with run.started", () => {
  const queued = inStatus("queued");
  const running = fold(queued, started("at_7", 2500));
  assert.deepEqual(running, {
    ...queued,
    status: "running",
    attemptId: "at_7",
    version: 2,
    updatedAt: 2500,
  });
});

Deno.test("fold() lets a new attempt take over a running run", () => {
  const first = inStatus("running");
  assert.equal(first.attemptId, "at_1");
  const taken = fold(first, started("at_2", 2600));
  assert.equal(taken.status, "running");
  assert.equal(taken.attemptId, "at_2");
  assert.equal(taken.version, first.version + 1);
  assert.equal(taken.updatedAt, 2600);
  assert.deepEqual({ ...taken, attemptId: "at_1", version: 2, updatedAt: 2000 }, first);
});

Deno.test("fold() applies a step.committed delta and advances the step", () => {
  const start = run(created({ state: { messages: ["a"], n: 1 } }), started());
  const after = { messages: ["a", "b"], n: 2 };
  const next = [{ id: "2:b", node: "b" }];
  const event = committed(1, { state: { before: start.state, after }, next, at: 3333 });
  const snapshot = fold(start, event);
  assert.equal(snapshot.status, "running");
  assert.equal(snapshot.step, 1);
  assert.deepEqual(snapshot.state, after);
  assert.deepEqual(snapshot.next, next);
  assert.equal(snapshot.checkpointId, "cp_1");
  assert.equal(snapshot.version, start.version + 1);
  assert.equal(snapshot.updatedAt, 3333);
  assert.deepEqual(snapshot.pendingWrites, []);
  assert.deepEqual(snapshot.resumes, []);
});

Deno.test("fold() keeps the state of a step.committed with a null delta", () => {
  const start = run(created({ state: { kept: true } }), started());
  const snapshot = fold(start, committed(1));
  assert.equal(snapshot.state, start.state);
  assert.deepEqual(snapshot.state, { kept: true });
});

Deno.test("fold() requires each step.committed to follow the previous step", () => {
  const start = inStatus("running");
  assertIllegal(start, committed(0), /step 0 does not follow step 0/);
  assertIllegal(start, committed(2), /step 2 does not follow step 0/);
  const one = fold(start, committed(1, { next: [{ id: "2:a", node: "a" }] }));
  assertIllegal(one, committed(1), /step 1 does not follow step 1/);
  assertIllegal(one, committed(3), /step 3 does not follow step 1/);
  const two = fold(one, committed(2, { parent: "cp_1" }));
  assert.equal(two.step, 2);
  assert.equal(two.checkpointId, "cp_2");
});

Deno.test("fold() refuses a step.committed delta that leaves the state not an object", () => {
  const start = inStatus("running");
  const event = { ...committed(1), delta: { $set: [1, 2] } } as RunEvent;
  assertIllegal(start, event, /the state must stay a JSON object/);
});

Deno.test("fold() clears pendingWrites and resumes on step.committed", () => {
  const resumedRun = run(
    created(),
    started(),
    raised([interrupt("in_1", "1:a")], [write("1:b", { b: 1 })]),
    resumed({ in_1: "ok" }),
  );
  assert.equal(resumedRun.pendingWrites.length, 1);
  assert.equal(resumedRun.resumes.length, 1);
  const snapshot = fold(resumedRun, committed(1));
  assert.deepEqual(snapshot.pendingWrites, []);
  assert.deepEqual(snapshot.resumes, []);
});

Deno.test("fold() only bumps version and time on effect.recorded", () => {
  const start = inStatus("running");
  assert.deepEqual(fold(start, effect(4242)), { ...start, version: 3, updatedAt: 4242 });
});

Deno.test("fold() moves a running run to interrupted on interrupt.raised", () => {
  const start = inStatus("running");
  const records = [interrupt("in_1", "1:a"), interrupt("in_2", "1:b")];
  const writes = [write("1:c", { c: 1 })];
  const snapshot = fold(start, raised(records, writes, 5555));
  assert.deepEqual(snapshot, {
    ...start,
    status: "interrupted",
    interrupts: records,
    pendingWrites: writes,
    version: 3,
    updatedAt: 5555,
  });
});

Deno.test("fold() merges pendingWrites by taskId across interrupts", () => {
  const first = run(
    created(),
    started(),
    raised([interrupt("in_1", "1:x")], [write("1:a", { a: 1 }), write("1:b", { b: 1 })]),
    resumed({ in_1: "go" }),
  );
  const second = fold(
    first,
    raised([interrupt("in_2", "1:x", 1)], [write("1:b", { b: 2 }), write("1:c", { c: 2 })]),
  );
  assert.equal(second.status, "interrupted");
  assert.deepEqual(second.pendingWrites, [
    write("1:a", { a: 1 }),
    write("1:b", { b: 2 }),
    write("1:c", { c: 2 }),
  ]);
  // The earlier answer is kept until the step commits.
  assert.deepEqual(second.resumes.map((r) => r.id), ["in_1"]);
});

Deno.test("fold() refuses interrupt.raised with no interrupts", () => {
  assertIllegal(inStatus("running"), raised([]), /it raises no interrupt/);
});

Deno.test("fold() resumes an interrupted run with answers to its pending interrupts", () => {
  const records = [interrupt("in_1", "1:a"), interrupt("in_2", "1:b")];
  const start = run(created(), started(), raised(records));
  const snapshot = fold(start, resumed({ in_2: { approved: true }, in_1: "yes" }, 6666));
  assert.equal(snapshot.status, "running");
  assert.equal(snapshot.version, start.version + 1);
  assert.equal(snapshot.updatedAt, 6666);
  assert.ok(!("interrupts" in snapshot), "a running snapshot has no interrupts");
  assert.deepEqual(snapshot.resumes, [
    { ...records[1]!, resume: { approved: true } },
    { ...records[0]!, resume: "yes" },
  ]);
});

Deno.test("fold() keeps a null answer to an interrupt", () => {
  const start = inStatus("interrupted");
  const snapshot = fold(start, resumed({ in_1: null }));
  assert.equal(snapshot.resumes[0]?.resume, null);
});

Deno.test("fold() lifts a pause with an empty run.resumed", () => {
  const start = inStatus("paused");
  const snapshot = fold(start, resumed({}, 6100));
  assert.equal(snapshot.status, "running");
  assert.ok(!("reason" in snapshot), "a running snapshot has no pause reason");
  const { status: _s, reason: _r, ...rest } = start as RunSnapshot & { reason: string | null };
  assert.deepEqual({ ...snapshot, status: undefined }, {
    ...rest,
    status: undefined,
    version: start.version + 1,
    updatedAt: 6100,
  });
});

Deno.test("fold() pauses a queued or running run", () => {
  for (const status of ["queued", "running"] as const) {
    const start = inStatus(status);
    const snapshot = fold(start, paused("ops", 7100));
    assert.deepEqual(snapshot, {
      ...start,
      status: "paused",
      reason: "ops",
      version: start.version + 1,
      updatedAt: 7100,
    });
    assert.equal(fold(start, paused(null)).status, "paused");
  }
});

Deno.test("fold() completes a running run that has no next tasks", () => {
  const start = inStatus("running");
  const snapshot = fold(start, completed(8100));
  assert.deepEqual(snapshot, {
    ...start,
    status: "completed",
    version: start.version + 1,
    updatedAt: 8100,
  });
});

Deno.test("fold() refuses run.completed while tasks are scheduled", () => {
  const start = run(created({ next: [{ id: "1:a", node: "a" }] }), started());
  assertIllegal(start, completed(), /tasks are still scheduled/);
  const stepped = fold(start, committed(1, { next: [{ id: "2:a", node: "a" }] }));
  assertIllegal(stepped, completed(), /tasks are still scheduled/);
  const done = fold(stepped, committed(2));
  assert.equal(fold(done, completed()).status, "completed");
});

Deno.test("fold() fails or cancels a run from every non-terminal status", () => {
  for (const status of ["queued", "running", "interrupted", "paused"] as const) {
    const start = inStatus(status);
    const failedRun = fold(start, failed(9100));
    assert.equal(failedRun.status, "failed");
    assert.deepEqual(failedRun.status === "failed" && failedRun.error, {
      code: "internal",
      message: "boom",
      node: "a",
    });
    assert.equal(failedRun.version, start.version + 1);
    assert.equal(failedRun.updatedAt, 9100);
    assert.ok(!("interrupts" in failedRun));

    const cancelledRun = fold(start, cancelled("user", 9200));
    assert.equal(cancelledRun.status, "cancelled");
    assert.equal(cancelledRun.status === "cancelled" && cancelledRun.reason, "user");
    assert.equal(cancelledRun.version, start.version + 1);
    assert.equal(fold(start, cancelled(null)).status, "cancelled");
  }
});

Deno.test("fold() accepts exactly the legal event types of each non-terminal status", () => {
  for (const status of ["queued", "running", "interrupted", "paused"] as const) {
    for (const type of RUN_EVENT_TYPES) {
      const start = inStatus(status);
      assert.equal(start.status, status);
      const event = sampleEvent(type, status);
      if (LEGAL[status].includes(type)) {
        const snapshot = fold(start, event);
        assert.equal(snapshot.version, start.version + 1, `${type} on ${status}`);
        assert.equal(snapshot.updatedAt, event.at, `${type} on ${status}`);
      } else {
        assertIllegal(start, event);
      }
    }
  }
});

Deno.test("fold() refuses any event after a terminal status", () => {
  for (const status of TERMINAL_STATUSES) {
    for (const type of RUN_EVENT_TYPES) {
      const start = inStatus(status);
      assert.equal(start.status, status);
      assertIllegal(start, sampleEvent(type, "interrupted"), new RegExp(`the run is ${status}$`));
      assertIllegal(start, sampleEvent(type, "paused"), new RegExp(`the run is ${status}$`));
    }
  }
});

Deno.test("fold() refuses run.resumed on a run with no pending interrupt", () => {
  for (const status of ["queued", "running"] as const) {
    assertIllegal(inStatus(status), resumed({ in_1: "x" }), /the run has no pending interrupt/);
    assertIllegal(inStatus(status), resumed({}), /the run has no pending interrupt/);
  }
});

Deno.test("fold() refuses run.resumed answering an interrupt that is not pending", () => {
  const start = inStatus("interrupted");
  assertIllegal(start, resumed({ in_404: "x" }), /interrupt "in_404" is not pending/);
  assertIllegal(start, resumed({ in_1: "x", in_404: "y" }), /interrupt "in_404" is not pending/);
  // An interrupt that was already answered is no longer pending.
  const again = fold(fold(start, resumed({ in_1: "x" })), raised([interrupt("in_2")]));
  assertIllegal(again, resumed({ in_1: "x" }), /interrupt "in_1" is not pending/);
});

Deno.test("fold() refuses run.resumed with no answers on an interrupted run", () => {
  assertIllegal(inStatus("interrupted"), resumed({}), /no interrupt is answered/);
});

Deno.test("fold() refuses run.resumed with answers on a paused run", () => {
  assertIllegal(inStatus("paused"), resumed({ in_1: "x" }), /the run is paused, not interrupted/);
});

Deno.test("fold() refuses run.started on an interrupted or paused run", () => {
  for (const status of ["interrupted", "paused"] as const) {
    assertIllegal(inStatus(status), started("at_9"), new RegExp(`the run is ${status}$`));
  }
});

// ---------------------------------------------------------------------------
// Purity and shape

/** Every legal transition of the fixtures: the snapshot before and the event. */
function legalTransitions(): [RunSnapshot | null, RunEvent][] {
  const cases: [RunSnapshot | null, RunEvent][] = [[null, created()]];
  for (const status of ["queued", "running", "interrupted", "paused"] as const) {
    for (const type of LEGAL[status]) cases.push([inStatus(status), sampleEvent(type, status)]);
  }
  const withState = run(created({ state: { list: [1, 2, { a: 1 }] } }), started());
  cases.push([
    withState,
    committed(1, { state: { before: withState.state, after: { list: [1, 2, { a: 2 }, 3] } } }),
  ]);
  const resumedRun = run(
    created(),
    started(),
    raised([interrupt("in_1")], [write("1:b", { b: 1 })]),
    resumed({ in_1: { ok: true } }),
  );
  cases.push([resumedRun, raised([interrupt("in_2")], [write("1:b", { b: 2 })])]);
  cases.push([resumedRun, committed(1)]);
  return cases;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

Deno.test("fold() does not modify the snapshot or the event", () => {
  for (const [snapshot, event] of legalTransitions()) {
    const snapshotBefore = structuredClone(snapshot);
    const eventBefore = structuredClone(event);
    fold(snapshot, event);
    assert.deepEqual(snapshot, snapshotBefore);
    assert.deepEqual(event, eventBefore);
  }
});

Deno.test("fold() works on deeply frozen inputs", () => {
  for (const [snapshot, event] of legalTransitions()) {
    const result = fold(deepFreeze(snapshot), deepFreeze(event));
    assert.equal(result.version, (snapshot?.version ?? 0) + 1);
  }
});

Deno.test("fold() is deterministic", () => {
  for (const [snapshot, event] of legalTransitions()) {
    assert.deepEqual(
      fold(snapshot, event),
      fold(structuredClone(snapshot), structuredClone(event)),
    );
  }
});

Deno.test("fold() makes snapshots that are JSON and survive a JSON round trip", () => {
  for (const [snapshot, event] of legalTransitions()) {
    const result = fold(snapshot, event);
    assertJson(result, "snapshot");
    assert.deepEqual(JSON.parse(JSON.stringify(result)), result);
    assert.equal(result.v, EVENT_FORMAT_VERSION);
    assert.equal(result.threadId, THREAD);
  }
});

Deno.test("fold() keeps the fields of the status and drops those of the last one", () => {
  const interrupted = inStatus("interrupted");
  assert.ok("interrupts" in interrupted);
  const p = inStatus("paused");
  assert.ok("reason" in p);
  for (const snapshot of [fold(interrupted, resumed({ in_1: 1 })), fold(p, resumed({}))]) {
    assert.ok(!("interrupts" in snapshot));
    assert.ok(!("reason" in snapshot));
  }
  const cancelledRun = fold(interrupted, cancelled());
  assert.ok(!("interrupts" in cancelledRun));
});

// ---------------------------------------------------------------------------
// foldAll

Deno.test("foldAll() folds a whole log in order", () => {
  const log = [
    created({ next: [{ id: "1:a", node: "a" }] }),
    started(),
    effect(),
    committed(1),
    completed(),
  ];
  const snapshot = foldAll(null, log);
  assert.equal(snapshot?.status, "completed");
  assert.equal(snapshot?.version, 5);
  assert.equal(snapshot?.step, 1);
  let manual: RunSnapshot | null = null;
  for (const event of log) manual = fold(manual, event);
  assert.deepEqual(snapshot, manual);
});

Deno.test("foldAll() returns the snapshot unchanged for no events", () => {
  assert.equal(foldAll(null, []), null);
  const start = inStatus("running");
  assert.equal(foldAll(start, []), start);
});

Deno.test("foldAll() folds stored events that follow the snapshot", () => {
  const start = inStatus("running");
  const stored: StoredEvent[] = [
    { seq: 3, event: effect() },
    { seq: 4, event: completed() },
  ];
  const snapshot = foldAll(start, stored);
  assert.equal(snapshot?.status, "completed");
  assert.equal(snapshot?.version, 4);
  const fromStart = foldAll(null, [
    { seq: 1, event: created() },
    { seq: 2, event: started() },
  ]);
  assert.equal(fromStart?.status, "running");
});

Deno.test("foldAll() refuses stored events with a gap, a repeat or a wrong start", () => {
  const start = inStatus("running");
  const cases: [RunSnapshot | null, StoredEvent[], string][] = [
    [start, [{ seq: 4, event: effect() }], "Cannot fold event 4: expected event 3"],
    [start, [{ seq: 2, event: effect() }], "Cannot fold event 2: expected event 3"],
    [
      start,
      [{ seq: 3, event: effect() }, { seq: 5, event: effect() }],
      "Cannot fold event 5: expected event 4",
    ],
    [
      start,
      [{ seq: 3, event: effect() }, { seq: 3, event: effect() }],
      "Cannot fold event 3: expected event 4",
    ],
    [null, [{ seq: 2, event: created() }], "Cannot fold event 2: expected event 1"],
    [null, [{ seq: 0, event: created() }], "Cannot fold event 0: expected event 1"],
  ];
  for (const [snapshot, events, message] of cases) {
    assert.throws(
      () => foldAll(snapshot, events),
      (error: unknown) => {
        assert.ok(error instanceof OrisError);
        assert.ok(!(error instanceof IllegalTransitionError));
        assert.equal(error.code, "internal");
        assert.equal(error.message, message);
        return true;
      },
    );
  }
});

Deno.test("foldAll() stops at the first illegal event", () => {
  assert.throws(
    () => foldAll(null, [created(), started(), completed(), started()]),
    IllegalTransitionError,
  );
});

// ---------------------------------------------------------------------------
// Statuses

Deno.test("isTerminal() is true exactly for completed, failed and cancelled", () => {
  assert.deepEqual(RUN_STATUSES.filter(isTerminal), ["completed", "failed", "cancelled"]);
  assert.deepEqual([...TERMINAL_STATUSES], ["completed", "failed", "cancelled"]);
  for (const status of RUN_STATUSES) {
    assert.equal(isTerminal(status), TERMINAL_STATUSES.includes(status));
  }
});

Deno.test("fold() applies state.updated without next: state and checkpoint change, status stays", () => {
  const before = run(created({ state: { n: 1 } }), started(), raised());
  const after = fold(before, updated({ before: { n: 1 }, after: { n: 5 } }));
  assert.equal(after.status, "interrupted");
  assert.deepEqual(after.state, { n: 5 });
  assert.equal(after.step, 1);
  assert.equal(after.checkpointId, "cp_u");
  assert.deepEqual(
    (after as { interrupts: unknown[] }).interrupts,
    (before as { interrupts: unknown[] }).interrupts,
  );
});

Deno.test("fold() applies state.updated with next: an interrupted run becomes paused with new tasks", () => {
  const before = run(
    created({ state: { n: 1 } }),
    started(),
    raised([interrupt("in_1")], [write("1:b", { n: 2 })]),
  );
  const next = [{ id: "2:c", node: "c" }];
  const after = fold(before, updated({ before: { n: 1 }, after: { n: 3 }, next }));
  assert.equal(after.status, "paused");
  assert.deepEqual(after.next, next);
  assert.deepEqual(after.pendingWrites, []);
  assert.equal("interrupts" in after, false);
  assertIllegal(before, updated({ step: 5 }), /step 5 does not follow step 0/);
});
