import assert from "node:assert/strict";
import {
  type AppendResult,
  type CheckpointId,
  type ControlStore,
  currentSnapshot,
  diffJson,
  fold,
  foldAll,
  type IdempotencyRecord,
  type InterruptId,
  InvalidArgumentError,
  type Json,
  type JsonObject,
  OrisError,
  type RunCreatedEvent,
  type RunEvent,
  type RunSnapshot,
  type StepCommittedEvent,
  StorageError,
  type Store,
  type ThreadId,
  VersionConflictError,
} from "../../kernel/mod.ts";
import { runStoreConformance } from "../testing/mod.ts";
import { runControlStoreConformance } from "../testing/mod.ts";
import { MemoryStore } from "../memory/mod.ts";
import {
  adminQuery,
  freshPostgresStore,
  postgresTest,
  postgresTestUrl,
  SKIP_POSTGRES,
  withFreshSchema,
} from "../../tests/_postgres.ts";
import { PostgresStore } from "./mod.ts";

if (SKIP_POSTGRES) {
  Deno.test({
    name: "PostgresStore: conformance (PostgreSQL is unreachable)",
    ignore: true,
    fn() {},
  });
} else {
  runStoreConformance(
    "PostgresStore",
    (options) => freshPostgresStore({ snapshotEvery: options.snapshotEvery }),
  );
  runControlStoreConformance("PostgresStore", () => freshPostgresStore());
}

function freshStore(snapshotEvery = 8): Promise<PostgresStore> {
  return freshPostgresStore({ snapshotEvery });
}

let clock = 1_800_000_000_000;
let checkpoints = 0;

function created(threadId: string, state: JsonObject = {}, at = ++clock): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at,
    threadId: threadId as ThreadId,
    graph: "postgres-test",
    input: { threadId },
    payloadHash: `h:${threadId}`,
    state,
    next: [{ id: "1:a", node: "a" }],
  };
}

function step(run: RunSnapshot, state: JsonObject, checkpointId?: string): StepCommittedEvent {
  return {
    type: "step.committed",
    v: 1,
    at: ++clock,
    step: run.step + 1,
    checkpointId: (checkpointId ?? `cp_${++checkpoints}`) as CheckpointId,
    parentCheckpointId: run.checkpointId,
    tasks: [{ taskId: `${run.step + 1}:a`, node: "a", update: state }],
    delta: diffJson(run.state, state),
    next: [{ id: `${run.step + 2}:a`, node: "a" }],
  };
}

async function startRun(
  store: Store,
  threadId: string,
  state: JsonObject = {},
): Promise<RunSnapshot> {
  const { run } = await store.createRun(created(threadId, state));
  const started: RunEvent = { type: "run.started", v: 1, at: ++clock, attemptId: "at_1" as never };
  const next = fold(run, started);
  await store.append(run.threadId, run.version, [started], next);
  return next;
}

function stepped(
  run: RunSnapshot,
  state: JsonObject,
  checkpointId?: string,
): [RunEvent, RunSnapshot] {
  const event = step(run, state, checkpointId);
  return [event, fold(run, event)];
}

postgresTest(
  "PostgresStore group commit: 200 concurrent appends to 100 runs, stale ones fail alone",
  async () => {
    await using store = await freshStore();
    const runs = await Promise.all(
      Array.from({ length: 100 }, (_, i) => startRun(store, `gc-${String(i).padStart(3, "0")}`)),
    );
    // For each run, two appends made in the same tick: the second expects the
    // version the first makes. Every tenth run's first append is stale, so both
    // of its appends conflict while the other runs of the same batch land.
    const attempts = runs.flatMap((run, i) => {
      const [first, afterFirst] = stepped(run, { n: 1 });
      const [second, afterSecond] = stepped(afterFirst, { n: 2 });
      const stale = i % 10 === 0;
      // A stale writer believes the run is one version behind.
      const [expected, snapshot] = stale ? [run.version - 1, run] : [run.version, afterFirst];
      return [
        {
          run,
          stale,
          version: afterFirst.version,
          promise: store.append(run.threadId, expected, [first], snapshot),
        },
        {
          run,
          stale,
          version: afterSecond.version,
          promise: store.append(run.threadId, afterFirst.version, [second], afterSecond),
        },
      ];
    });
    const results = await Promise.allSettled(attempts.map((attempt) => attempt.promise));
    results.forEach((result, i) => {
      const attempt = attempts[i]!;
      if (attempt.stale) {
        assert.equal(result.status, "rejected");
        const error = (result as PromiseRejectedResult).reason;
        assert.ok(error instanceof VersionConflictError, String(error));
        assert.equal(error.actualVersion, attempt.run.version);
      } else {
        assert.deepEqual(result, { status: "fulfilled", value: { version: attempt.version } });
      }
    });
    for (const [i, run] of runs.entries()) {
      const loaded = currentSnapshot((await store.load(run.threadId))!);
      const log = await store.readEvents(run.threadId, 1);
      const expected = i % 10 === 0 ? run.version : run.version + 2;
      assert.equal(loaded.version, expected);
      assert.deepEqual(
        log.map((item) => item.seq),
        Array.from({ length: expected }, (_, j) => j + 1),
      );
      assert.deepEqual(foldAll(null, log), loaded);
      assert.equal(
        (await store.listCheckpoints(run.threadId)).items.length,
        expected - run.version,
      );
    }
    // The 180 appends that landed were grouped: events written by one
    // transaction share its xmin.
    const [row] = await adminQuery(
      `SELECT count(DISTINCT xmin::text)::int AS transactions, count(*)::int AS events
       FROM ${store.schema}.runtime_events WHERE seq > 2`,
    );
    assert.equal(row?.events, 180);
    assert.ok(
      (row?.transactions as number) <= 20,
      `180 appends took ${row?.transactions} transactions`,
    );
  },
);

postgresTest(
  "PostgresStore group commit: a write PostgreSQL refuses fails only its own append",
  async () => {
    await using store = await freshStore();
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => startRun(store, `bad-${i}`)),
    );
    // A checkpoint id with a NUL character passes the kernel's checks but not
    // PostgreSQL's text type: the batch fails, then each append runs alone.
    const results = await Promise.allSettled(runs.map((run, i) => {
      const [event, next] = stepped(run, { n: 1 }, i === 3 ? "cp_bad\u0000id" : undefined);
      return store.append(run.threadId, run.version, [event], next);
    }));
    results.forEach((result, i) => {
      if (i === 3) {
        assert.equal(result.status, "rejected");
        assert.ok((result as PromiseRejectedResult).reason instanceof InvalidArgumentError);
      } else {
        assert.deepEqual(result, { status: "fulfilled", value: { version: runs[i]!.version + 1 } });
      }
    });
    assert.equal((await store.readEvents(runs[3]!.threadId, 1)).length, runs[3]!.version);
    assert.deepEqual((await store.listCheckpoints(runs[3]!.threadId)).items, []);
  },
);

postgresTest(
  "PostgresStore: a value PostgreSQL refuses is an invalid argument whose message quotes no driver text",
  async () => {
    await using store = await freshStore();
    await assert.rejects(() => store.listInterrupts({ threadId: "a\u0000b" }), (error) => {
      assert.ok(error instanceof InvalidArgumentError, String(error));
      assert.equal(
        error.message,
        "Cannot list interrupts: a text value contains a NUL character or is not valid UTF-8",
      );
      assert.deepEqual(error.details, { sqlstate: "22021" });
      // The driver's words stay in the cause, for logs.
      assert.match(String((error.cause as Error).message), /invalid byte sequence/);
      return true;
    });
  },
);

postgresTest(
  "PostgresStore: two stores on one schema write each version of a run exactly once",
  async () => {
    await withFreshSchema(async (schema) => {
      const url = postgresTestUrl();
      await using a = await PostgresStore.connect({ url, schema, snapshotEvery: 3, max: 3 });
      await using b = await PostgresStore.connect({ url, schema, snapshotEvery: 3, max: 3 });
      await startRun(a, "shared-1", { writes: [] });
      const writers = 8;
      const perWriter = 10;
      const stores = [a, b];
      const wins = await Promise.all(Array.from({ length: writers }, async (_, writer) => {
        const store = stores[writer % 2]!;
        let done = 0;
        while (done < perWriter) {
          const run = currentSnapshot((await store.load("shared-1" as ThreadId))!);
          const [event, next] = stepped(run, { writes: [...(run.state.writes as Json[]), writer] });
          try {
            await store.append(run.threadId, run.version, [event], next);
            done++;
          } catch (error) {
            if (!(error instanceof VersionConflictError)) throw error;
          }
        }
        return done;
      }));
      assert.deepEqual(wins, Array(writers).fill(perWriter));
      for (const store of stores) {
        const run = currentSnapshot((await store.load("shared-1" as ThreadId))!);
        assert.equal(run.version, 2 + writers * perWriter);
        const log = await store.readEvents(run.threadId, 1);
        assert.deepEqual(
          log.map((item) => item.seq),
          Array.from({ length: run.version }, (_, i) => i + 1),
        );
        assert.deepEqual(foldAll(null, log), run);
        for (let writer = 0; writer < writers; writer++) {
          assert.equal(
            (run.state.writes as number[]).filter((w) => w === writer).length,
            perWriter,
          );
        }
        const checkpoints = await store.listCheckpoints(run.threadId, { limit: 1000 });
        assert.equal(checkpoints.items.length, writers * perWriter);
      }
    });
  },
);

postgresTest("PostgresStore: a 1 MiB state round-trips exactly, alone and in a batch", async () => {
  await using store = await freshStore(1);
  // Quotes, backslashes and non-ASCII exercise the array encoding of batches.
  const chunk = 'quote " backslash \\ tab \t é ✓ 🚀 \u0000 '.padEnd(1024, "x");
  const blob = Array.from({ length: 1024 }, (_, i) => `${i}:${chunk}`.slice(0, 1024));
  const big = { blob };
  const first = (await store.createRun(created("big-a", big))).run;
  assert.deepEqual(first.state, big);
  let a = await startRun(store, "big-b", {});
  let b = await startRun(store, "big-c", {});
  // One append alone (the single-run statement) ...
  const [alone, afterAlone] = stepped(a, { blob, n: 1 });
  await store.append(a.threadId, a.version, [alone], afterAlone);
  a = afterAlone;
  // ... and two in one batch.
  const [ea, na] = stepped(a, { blob, n: 2 });
  const [eb, nb] = stepped(b, { blob, n: 3 });
  await Promise.all([
    store.append(a.threadId, a.version, [ea], na),
    store.append(b.threadId, b.version, [eb], nb),
  ]);
  [a, b] = [na, nb];
  for (const run of [a, b]) {
    const loaded = (await store.load(run.threadId))!;
    assert.deepEqual(loaded, { snapshot: run, events: [] });
    assert.equal((loaded.snapshot.state.blob as string[]).join("").length, 1024 * 1024);
    assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), run);
  }
  assert.deepEqual(currentSnapshot((await store.load("big-a" as ThreadId))!), first);
  const [row] = await adminQuery(
    `SELECT octet_length(snapshot) AS bytes FROM ${store.schema}.runtime_snapshots WHERE thread_id = 'big-c'`,
  );
  assert.ok((row?.bytes as number) > 1024 * 1024);
});

postgresTest(
  "PostgresStore: runs list in the kernel's order of thread ids, whatever the collation",
  async () => {
    await using store = await freshStore();
    const ids = ["a", "B", "_x", "Z", "-", "a.b", "a:b", "0"];
    for (const id of ids) await store.createRun(created(id, {}, 5));
    const listed = (await store.listRuns({ limit: 100 })).items.map((item) => item.threadId);
    assert.deepEqual(listed, [...ids].sort().reverse());
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await store.listRuns({ limit: 3, cursor, status: "queued" });
      paged.push(...page.items.map((item) => item.threadId));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(paged, listed);
  },
);

postgresTest("PostgresStore: schemas of one database are isolated", async () => {
  await using one = await freshStore();
  await using two = await freshStore();
  await startRun(one, "only-in-one");
  assert.equal(await two.load("only-in-one" as ThreadId), null);
  assert.deepEqual((await two.listRuns()).items, []);
  assert.equal((await one.listRuns()).items.length, 1);
});

postgresTest(
  "PostgresStore: close() waits for appends in flight, is idempotent, then refuses calls",
  async () => {
    const store = await freshStore();
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => startRun(store, `close-${i}`)),
    );
    const appends = runs.map((run) => {
      const [event, next] = stepped(run, { n: 1 });
      return store.append(run.threadId, run.version, [event], next);
    });
    const closing = store.close();
    assert.equal(store.close(), closing);
    await closing;
    assert.ok((await Promise.all(appends)).every((result) => result.version === 3));
    await assert.rejects(
      () => store.ping(),
      (error) =>
        error instanceof OrisError && error.code === "unavailable" && /closed/.test(error.message),
    );
    await store[Symbol.asyncDispose]();
  },
);

postgresTest(
  "PostgresStore: concurrent claims of one key from two stores yield exactly one claim",
  async () => {
    await withFreshSchema(async (schema) => {
      const url = postgresTestUrl();
      await using a = await PostgresStore.connect({ url, schema, max: 4 });
      await using b = await PostgresStore.connect({ url, schema, max: 4 });
      const claim = (key: string, i: number): IdempotencyRecord => ({
        key,
        operation: "job.run",
        threadId: `t-${i}`,
        payloadHash: `p${i}`,
        response: null,
        createdAt: ++clock,
      });
      for (let round = 0; round < 25; round++) {
        const key = `race-${round}`;
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) => {
            const store = i % 2 === 0 ? a : b;
            return store.claimIdempotency(claim(key, i));
          }),
        );
        const winners = results.filter((result) => result.claimed);
        assert.equal(winners.length, 1, `round ${round}`);
        for (const result of results) assert.deepEqual(result.record, winners[0]!.record);
      }
      // The response one store completes is what the other replays.
      await a.completeIdempotency("race-0", { status: "completed", n: 1 });
      const replay = await b.claimIdempotency(claim("race-0", 99));
      assert.equal(replay.claimed, false);
      assert.deepEqual(replay.record.response, { status: "completed", n: 1 });
      await assert.rejects(
        () => b.completeIdempotency("never-claimed", null),
        (error) => error instanceof OrisError && error.code === "not_found",
      );
      // Claims racing a store that claims and releases the key: every claim
      // either wins or reads a stored record, never fails.
      const churn = (async () => {
        for (let i = 0; i < 30; i++) {
          if ((await a.claimIdempotency(claim("churn", i))).claimed) {
            await a.releaseIdempotency("churn");
          }
        }
      })();
      const claims = await Promise.all(
        Array.from({ length: 30 }, (_, i) => b.claimIdempotency(claim("churn", 100 + i))),
      );
      await churn;
      assert.ok(claims.some((result) => result.record.key === "churn"));
    });
  },
);

/**
 * Runs appends that change the interrupt index on a store: setup appends one
 * at a time, then one batch of appends of several runs, made in one tick,
 * mixing appends with and without interrupt changes and one stale append.
 * Events are the same on every store, so two stores must end up with the
 * same index.
 */
async function interruptBatch(store: Store & ControlStore): Promise<{
  results: PromiseSettledResult<AppendResult>[];
  batchFrom: number;
}> {
  let time = 1_900_000_000_000;
  const at = () => ++time;
  const start = async (threadId: string): Promise<RunSnapshot> => {
    const { run } = await store.createRun(created(threadId, {}, at()));
    return apply(run, [{ type: "run.started", v: 1, at: at(), attemptId: "at_1" as never }]);
  };
  const apply = async (run: RunSnapshot, events: RunEvent[]): Promise<RunSnapshot> => {
    const next = foldAll(run, events)!;
    await store.append(run.threadId, run.version, events, next);
    return next;
  };
  const raise = (run: RunSnapshot, ...ids: string[]): RunEvent => ({
    type: "interrupt.raised",
    v: 1,
    at: at(),
    step: run.step + 1,
    interrupts: ids.map((id, index) => ({
      id: id as InterruptId,
      step: run.step + 1,
      taskId: `${run.step + 1}:a`,
      node: "a",
      index,
      value: { ask: id, note: 'quote " ✓' },
    })),
    writes: [],
  });
  const plainStep = (run: RunSnapshot): RunEvent => ({ ...step(run, { n: 1 }), at: at() });

  const plain = await start("mx-plain");
  const plain2 = await start("mx-plain2");
  const raiser = await start("mx-raise");
  let again = await start("mx-again");
  again = await apply(again, [raise(again, "in_g1", "in_g2")]);
  let reject = await start("mx-reject");
  reject = await apply(reject, [raise(reject, "in_j1", "in_j2")]);
  const raiseCancel = await start("mx-rc");
  let resumeCancel = await start("mx-resc");
  resumeCancel = await apply(resumeCancel, [raise(resumeCancel, "in_m1", "in_m2")]);
  let updated = await start("mx-upd");
  updated = await apply(updated, [raise(updated, "in_u1")]);
  const staleBefore = await start("mx-stale");
  await apply(staleBefore, [raise(staleBefore, "in_s1")]);

  const batchFrom = time + 1;
  const afterResume = foldAll(again, [{
    type: "run.resumed",
    v: 1,
    at: 0,
    values: { in_g1: null },
  }])!;
  const batch: [RunSnapshot, RunEvent[]][] = [
    [plain, [plainStep(plain)]],
    [raiser, [raise(raiser, "in_n1", "in_n2")]],
    // Answer one interrupt, and its task asks again (same id).
    [again, [
      { type: "run.resumed", v: 1, at: at(), values: { in_g1: { ok: true } } },
      raise(afterResume, "in_g1"),
    ]],
    [reject, [{
      type: "run.cancelled",
      v: 1,
      at: at(),
      reason: "interrupt rejected",
      rejectedInterruptId: "in_j2" as InterruptId,
    }]],
    [raiseCancel, [raise(raiseCancel, "in_k1"), {
      type: "run.cancelled",
      v: 1,
      at: at(),
      reason: null,
    }]],
    [resumeCancel, [
      { type: "run.resumed", v: 1, at: at(), values: { in_m1: [1, "two"] } },
      { type: "run.cancelled", v: 1, at: at(), reason: null },
    ]],
    [updated, [{
      type: "state.updated",
      v: 1,
      at: at(),
      step: updated.step + 1,
      checkpointId: "cp_mx_upd" as CheckpointId,
      parentCheckpointId: updated.checkpointId,
      asNode: "a",
      update: null,
      delta: null,
      next: [],
    }]],
    // Stale: it would raise in_s2 and cancel in_s1.
    [staleBefore, [raise(staleBefore, "in_s2"), {
      type: "run.cancelled",
      v: 1,
      at: at(),
      reason: null,
    }]],
    [plain2, [plainStep(plain2)]],
  ];
  const results = await Promise.allSettled(
    batch.map(([run, events]) =>
      store.append(run.threadId, run.version, events, foldAll(run, events)!)
    ),
  );
  return { results, batchFrom };
}

postgresTest(
  "PostgresStore: a batch mixing appends with and without interrupt changes lands in one transaction, the stale one alone failing",
  async () => {
    await using store = await freshStore();
    await using memory = new MemoryStore();
    const { results, batchFrom } = await interruptBatch(store);
    const expected = await interruptBatch(memory);
    assert.equal(results.length, 9);
    results.forEach((result, i) => {
      if (i === 7) {
        assert.equal(result.status, "rejected");
        const error = (result as PromiseRejectedResult).reason;
        assert.ok(error instanceof VersionConflictError, String(error));
        assert.equal(error.actualVersion, 3);
      } else {
        assert.equal(result.status, "fulfilled", String((result as PromiseRejectedResult).reason));
      }
    });
    assert.deepEqual(
      results.map((result) => result.status),
      expected.results.map((result) => result.status),
    );

    // The index is what the reference (memory) store keeps, row for row.
    const all = await store.listInterrupts({ limit: 1000 });
    assert.deepEqual(all, await memory.listInterrupts({ limit: 1000 }));
    const status = Object.fromEntries(all.items.map((row) => [row.interruptId, row.status]));
    assert.deepEqual(status, {
      in_n1: "pending",
      in_n2: "pending",
      in_g1: "pending",
      in_g2: "pending",
      in_j1: "cancelled",
      in_j2: "rejected",
      in_k1: "cancelled",
      in_m1: "cancelled", // answered, then cancelled before its node ran again
      in_m2: "cancelled",
      in_u1: "cancelled",
      in_s1: "pending",
    });
    const g1 = (await store.getInterrupt("in_g1"))!;
    assert.deepEqual([g1.resumeValue, g1.resolvedAt], [null, null]);
    assert.deepEqual((await store.getInterrupt("in_m1"))?.resumeValue, [1, "two"]);
    assert.equal(await store.getInterrupt("in_s2"), null);
    assert.equal(
      currentSnapshot((await store.load("mx-stale" as ThreadId))!).status,
      "interrupted",
    );
    for (const status of ["pending", "resumed", "rejected", "cancelled"] as const) {
      assert.deepEqual(
        await store.listInterrupts({ status }),
        await memory.listInterrupts({ status }),
      );
    }

    // Events and index rows of the batch were written by one transaction
    // (in_g1, raised again, keeps the time it was first raised).
    const [row] = await adminQuery(
      `SELECT count(DISTINCT x)::int AS transactions, count(*)::int AS rows FROM (
         SELECT xmin::text AS x FROM ${store.schema}.runtime_events WHERE at >= ${batchFrom}
         UNION ALL
         SELECT xmin::text FROM ${store.schema}.runtime_interrupts
          WHERE created_at >= ${batchFrom} OR resolved_at >= ${batchFrom}
             OR interrupt_id = 'in_g1'
       ) AS written`,
    );
    assert.ok((await store.getInterrupt("in_g1"))!.createdAt < batchFrom);
    assert.equal(row?.transactions, 1);
    assert.equal(row?.rows, 11 + 9); // in_g2 and in_s1 stay as they were
  },
);

postgresTest(
  "PostgresStore: two runs of one batch writing the same interrupt id go one after another",
  async () => {
    await using store = await freshStore();
    const runs = await Promise.all(["dup-a", "dup-b", "dup-c"].map((id) => startRun(store, id)));
    const events = runs.map((run, i): RunEvent =>
      i === 2 ? step(run, { n: 1 }) : {
        type: "interrupt.raised",
        v: 1,
        at: ++clock,
        step: 1,
        interrupts: [{
          id: "in_dup" as InterruptId,
          step: 1,
          taskId: "1:a",
          node: "a",
          index: 0,
          value: run.threadId,
        }],
        writes: [],
      }
    );
    const results = await Promise.all(
      runs.map((run, i) =>
        store.append(run.threadId, run.version, [events[i]!], fold(run, events[i]!))
      ),
    );
    assert.deepEqual(results.map((result) => result.version), [3, 3, 3]);
    const row = await store.getInterrupt("in_dup");
    assert.deepEqual([row?.threadId, row?.value, row?.status], ["dup-b", "dup-b", "pending"]);
  },
);

Deno.test("PostgresStore.connect() to an unreachable server is a retryable StorageError", async () => {
  await assert.rejects(
    () => PostgresStore.connect({ url: "postgres://postgres@127.0.0.1:1/test", schema: "oris" }),
    (error) =>
      error instanceof StorageError && error.retryable &&
      /Cannot migrate schema "oris": .*ECONNREFUSED/.test(error.message),
  );
});

Deno.test("PostgresStore.connect() refuses bad options before connecting", async () => {
  const url = "postgres://postgres@127.0.0.1:1/test";
  await assert.rejects(
    () => PostgresStore.connect({ url, schema: "bad name" }),
    InvalidArgumentError,
  );
  await assert.rejects(() => PostgresStore.connect({ url, snapshotEvery: 0 }), RangeError);
  await assert.rejects(() => PostgresStore.connect({ url, max: 1.5 }), RangeError);
});

function effectEvent(index: number): RunEvent {
  return {
    type: "effect.recorded",
    v: 1,
    at: ++clock,
    step: 1,
    node: "a",
    index,
    name: "tool",
    ok: true,
  };
}

async function appendOne(store: Store, run: RunSnapshot, event: RunEvent): Promise<RunSnapshot> {
  const next = fold(run, event);
  assert.deepEqual(await store.append(run.threadId, run.version, [event], next), {
    version: next.version,
  });
  return next;
}

postgresTest(
  "PostgresStore: a run this store has not written or loaded gets a snapshot at its next append",
  async () => {
    await withFreshSchema(async (schema) => {
      const url = postgresTestUrl();
      let run: RunSnapshot;
      {
        await using store = await PostgresStore.connect({ url, schema });
        run = await startRun(store, "policy-1", { blob: "x".repeat(64 * 1024) });
        run = await appendOne(store, run, effectEvent(0));
        const loaded = (await store.load(run.threadId))!;
        assert.equal(loaded.snapshot.version, 1, "small events after a large state: no rewrite");
        assert.deepEqual(currentSnapshot(loaded), run);
      }
      {
        await using store = await PostgresStore.connect({ url, schema });
        run = await appendOne(store, run, effectEvent(1));
        assert.deepEqual(await store.load(run.threadId), { snapshot: run, events: [] });
      }
      {
        await using store = await PostgresStore.connect({ url, schema });
        assert.deepEqual(currentSnapshot((await store.load(run.threadId))!), run);
        run = await appendOne(store, run, effectEvent(2));
        run = await appendOne(store, run, effectEvent(3));
        const loaded = (await store.load(run.threadId))!;
        assert.equal(loaded.snapshot.version, run.version - 2, "a loaded run's sizes are known");
        assert.deepEqual(currentSnapshot(loaded), run);
      }
    });
  },
);

postgresTest(
  "PostgresStore: a stale snapshot cache costs extra snapshots, never a wrong load",
  async () => {
    await withFreshSchema(async (schema) => {
      const url = postgresTestUrl();
      await using a = await PostgresStore.connect({ url, schema, max: 2 });
      await using b = await PostgresStore.connect({ url, schema, max: 2 });
      await using reader = await PostgresStore.connect({ url, schema, max: 2 });
      let run = await startRun(a, "stale-1", { blob: "x".repeat(64 * 1024) });
      for (let i = 0; i < 6; i++) {
        // Each store appends after the other: what it knows is behind, so it writes one.
        run = await appendOne(i % 2 === 0 ? b : a, run, effectEvent(i));
        assert.deepEqual(await reader.load(run.threadId), { snapshot: run, events: [] });
      }
      run = await appendOne(a, run, effectEvent(6));
      const loaded = (await reader.load(run.threadId))!;
      assert.equal(loaded.snapshot.version, run.version - 1, "a wrote the last one: no rewrite");
      assert.deepEqual(currentSnapshot(loaded), run);
      // A conflict leaves what the loser knows unused, not wrong.
      const ahead = fold(run, effectEvent(7));
      const event = effectEvent(8);
      await assert.rejects(
        () => b.append(run.threadId, ahead.version, [event], fold(ahead, event)),
        VersionConflictError,
      );
      run = await appendOne(b, run, effectEvent(9));
      assert.deepEqual(await reader.load(run.threadId), { snapshot: run, events: [] });
      assert.deepEqual(foldAll(null, await reader.readEvents(run.threadId, 1)), run);
    });
  },
);
