import assert from "node:assert/strict";
import {
  type CheckpointId,
  currentSnapshot,
  diffJson,
  fold,
  foldAll,
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
import { runStoreConformance } from "../_conformance.ts";
import {
  adminQuery,
  assertPostgres,
  dropSchema,
  dropSchemaOnClose,
  freshSchemaName,
  postgresTest,
  postgresTestUrl,
  SKIP_POSTGRES,
} from "../../tests/_postgres.ts";
import { PostgresStore } from "./mod.ts";

if (SKIP_POSTGRES) {
  Deno.test({
    name: "PostgresStore: conformance (PostgreSQL is unreachable)",
    ignore: true,
    fn() {},
  });
} else {
  runStoreConformance("PostgresStore", async (options) => {
    assertPostgres();
    const schema = freshSchemaName();
    const store = await PostgresStore.connect({
      url: postgresTestUrl(),
      schema,
      snapshotEvery: options.snapshotEvery,
    });
    return dropSchemaOnClose(store, schema);
  });
}

async function freshStore(snapshotEvery = 8): Promise<PostgresStore> {
  const schema = freshSchemaName();
  return dropSchemaOnClose(
    await PostgresStore.connect({ url: postgresTestUrl(), schema, snapshotEvery }),
    schema,
  );
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
  "PostgresStore: two stores on one schema write each version of a run exactly once",
  async () => {
    const schema = freshSchemaName();
    const url = postgresTestUrl();
    try {
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
    } finally {
      await dropSchema(schema);
    }
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
