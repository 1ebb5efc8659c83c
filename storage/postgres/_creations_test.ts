import assert from "node:assert/strict";
import { IdempotencyConflictError, type RunCreatedEvent, type ThreadId } from "../../kernel/mod.ts";
import { adminQuery, freshPostgresStore, postgresTest } from "../../tests/_postgres.ts";

function created(threadId: string, payloadHash = `h:${threadId}`): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at: 1_800_000_000_000,
    threadId: threadId as ThreadId,
    graph: "batched",
    input: null,
    payloadHash,
    state: {},
    next: [{ id: "1:a", node: "a" }],
  };
}

postgresTest(
  "PostgresStore: creations at once go out together, each with its own outcome and lease",
  async () => {
    await using store = await freshPostgresStore();
    await store.createRun(created("existing"));
    const ids = Array.from({ length: 20 }, (_, i) => `run-${String(i).padStart(2, "0")}`);
    const request = { owner: "me", ttlMs: 60_000 };
    const [leased, plain, again, conflict] = await Promise.all([
      Promise.all(ids.map((id) => store.createLeasedRun(created(id), request))),
      Promise.all(ids.map((id) => store.createRun(created(`plain-${id}`)))),
      store.createLeasedRun(created("existing"), request),
      store.createRun(created("existing", "other")).then(() => null, (error) => error),
    ]);
    for (const [i, result] of leased.entries()) {
      assert.equal(result.created, true);
      assert.equal(result.run.threadId, ids[i]);
      assert.equal(result.lease?.owner, "me");
      assert.equal(result.lease?.token, 1);
    }
    assert.ok(plain.every((result) => result.created && result.run.version === 1));
    assert.equal(again.created, false);
    assert.equal(again.lease, null);
    assert.ok(conflict instanceof IdempotencyConflictError);
    const [counts] = await adminQuery(
      `SELECT (SELECT count(*) FROM ${store.schema}.runtime_runs)::int AS runs,
              (SELECT count(*) FROM ${store.schema}.runtime_events)::int AS events,
              (SELECT count(*) FROM ${store.schema}.runtime_snapshots)::int AS snapshots,
              (SELECT count(*) FROM ${store.schema}.runtime_runs
                WHERE lease_owner = 'me' AND lease_token = 1)::int AS leased`,
    );
    assert.deepEqual(counts, { runs: 41, events: 41, snapshots: 41, leased: 20 });
    const loaded = await store.load("run-07" as ThreadId);
    assert.equal(loaded?.snapshot.version, 1);

    const released = await Promise.all([
      ...leased.map((result) => store.releaseLease("me", result.lease!)),
      store.releaseLease("me", { threadId: "existing" as ThreadId, token: 1 }),
      store.releaseLease("other", { threadId: "run-00" as ThreadId, token: 1 }),
    ]);
    assert.deepEqual(released.slice(0, 20), Array(20).fill("released"));
    assert.deepEqual(released.slice(20), ["lost", "lost"]);
    assert.deepEqual(await store.getLease("run-03" as ThreadId), null);
  },
);
