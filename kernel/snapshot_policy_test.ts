import assert from "node:assert/strict";
import { fold, type RunSnapshot } from "./snapshot.ts";
import { encodeAppend } from "./codec.ts";
import {
  DEFAULT_SNAPSHOT_EVERY,
  SNAPSHOT_MIN_BYTES,
  snapshotDue,
  storedSnapshotAfter,
} from "./snapshot_policy.ts";
import { appendAfterRunning, createdEvent, queued, running, THREAD } from "./_fixtures_test.ts";

// ---------------------------------------------------------------------------
// snapshotDue

Deno.test("snapshotDue() always writes the first snapshot (or when nothing is known)", () => {
  assert.ok(snapshotDue(queued, null, 10, 100));
  assert.ok(snapshotDue(running, null, 10, 100));
});

Deno.test("snapshotDue() always writes a run at rest", () => {
  const interrupted = fold(running, {
    type: "interrupt.raised",
    v: 1,
    at: 300,
    step: 1,
    interrupts: [{ id: "in_1" as never, step: 1, taskId: "1:a", node: "a", index: 0, value: 1 }],
    writes: [],
  });
  const rest = [
    interrupted,
    fold(running, { type: "run.paused", v: 1, at: 300, reason: null }),
    fold(fold(null, createdEvent({ next: [] })), {
      type: "run.cancelled",
      v: 1,
      at: 3,
      reason: null,
    }),
    fold(running, { type: "run.failed", v: 1, at: 300, error: { code: "x", message: "y" } }),
  ];
  for (const snapshot of rest) {
    const stored = { version: snapshot.version - 1, bytes: 1_000_000, tailBytes: 0 };
    assert.ok(snapshotDue(snapshot, stored, 10, 1000), snapshot.status);
    assert.ok(snapshotDue(snapshot, { ...stored, version: snapshot.version }, 10, 1000));
  }
});

/** `running` after `n` more events (at version 2 + n). */
function runningAt(n: number): RunSnapshot {
  let snapshot = running;
  for (let i = 0; i < n; i++) {
    snapshot = fold(snapshot, {
      type: "effect.recorded",
      v: 1,
      at: 300 + i,
      step: 1,
      node: "a",
      index: i,
      name: "f",
      ok: true,
    });
  }
  return snapshot;
}

Deno.test("snapshotDue() writes a running or queued run at least every `every` versions", () => {
  const snapshot = runningAt(10);
  assert.equal(snapshot.version, 12);
  const big = (version: number) => ({ version, bytes: 1_000_000, tailBytes: 0 });
  assert.ok(!snapshotDue(snapshot, big(5), 10, 8));
  assert.ok(snapshotDue(snapshot, big(4), 10, 8));
  assert.ok(snapshotDue(snapshot, big(3), 10, 8));
  assert.ok(snapshotDue(snapshot, big(11), 10, 1));
  assert.ok(!snapshotDue(snapshot, big(12), 10, 1));
  assert.ok(!snapshotDue(queued, big(1), 10, 2));
  assert.ok(snapshotDue(queued, big(0), 10, 1));
});

Deno.test("snapshotDue() writes a running run once the events after its snapshot outweigh it", () => {
  const snapshot = runningAt(10);
  const stored = { version: 11, bytes: 50_000, tailBytes: 30_000 };
  assert.ok(!snapshotDue(snapshot, stored, 19_999, 64));
  assert.ok(snapshotDue(snapshot, stored, 20_000, 64));
  assert.ok(snapshotDue(snapshot, { ...stored, tailBytes: 50_000 }, 1, 64));
  assert.ok(snapshotDue(snapshot, stored, 100_000, 64), "one append larger than the snapshot");
});

Deno.test("snapshotDue() lets a small snapshot be followed by SNAPSHOT_MIN_BYTES of events", () => {
  const snapshot = runningAt(10);
  const stored = { version: 11, bytes: 100, tailBytes: 0 };
  assert.ok(!snapshotDue(snapshot, stored, 200, 64), "not at every step");
  assert.ok(!snapshotDue(snapshot, stored, SNAPSHOT_MIN_BYTES - 1, 64));
  assert.ok(snapshotDue(snapshot, stored, SNAPSHOT_MIN_BYTES, 64));
  assert.ok(snapshotDue(snapshot, { ...stored, tailBytes: SNAPSHOT_MIN_BYTES - 5 }, 5, 64));
});

Deno.test("storedSnapshotAfter() follows the stored snapshot and its tail", () => {
  const { events, snapshot } = appendAfterRunning();
  const skipped = encodeAppend(THREAD, 2, events, snapshot, false);
  assert.equal(
    skipped.eventBytes,
    skipped.events.reduce((total, event) => total + event.json.length, 0),
  );
  const before = { version: 1, bytes: 300, tailBytes: 40 };
  assert.deepEqual(storedSnapshotAfter(before, skipped), {
    version: 1,
    bytes: 300,
    tailBytes: 40 + skipped.eventBytes,
  });
  assert.deepEqual(before, { version: 1, bytes: 300, tailBytes: 40 }, "not modified");
  assert.equal(storedSnapshotAfter(null, skipped), null);
  const written = encodeAppend(THREAD, 2, events, snapshot, true);
  assert.deepEqual(storedSnapshotAfter(before, written), {
    version: snapshot.version,
    bytes: JSON.stringify(snapshot).length,
    tailBytes: 0,
  });
  assert.deepEqual(storedSnapshotAfter(null, written), storedSnapshotAfter(before, written));
});

Deno.test("the default snapshot cap is 64 versions", () => {
  assert.equal(DEFAULT_SNAPSHOT_EVERY, 64);
  assert.equal(SNAPSHOT_MIN_BYTES, 4096);
});
