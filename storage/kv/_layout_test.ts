import assert from "node:assert/strict";
import {
  type AttemptId,
  fold,
  type RunCreatedEvent,
  type RunStartedEvent,
  StorageError,
  type ThreadId,
} from "../../kernel/mod.ts";
import { encodeValue } from "./_blobs.ts";
import { LAYOUT_KEY, LEGACY_RUNS_PREFIX, runKey, runStatusKey } from "./_keys.ts";
import { LAYOUT_VERSION } from "./_layout.ts";
import { KvStore } from "./kv_store.ts";

function created(threadId: string, at: number): RunCreatedEvent {
  return {
    type: "run.created",
    v: 1,
    at,
    threadId: threadId as ThreadId,
    graph: "g",
    input: {},
    payloadHash: "h",
    state: {},
    next: [],
  };
}

async function withPath(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-layout-" });
  try {
    await body(`${dir}/store.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KvStore.open() moves the run listing of a layout 1 store to layout 2", async () => {
  await withPath(async (path) => {
    {
      await using store = await KvStore.open({ path });
      for (const [id, at] of [["old-a", 10], ["old-b", 20]] as const) {
        const { run } = await store.createRun(created(id, at));
        const cancel = { type: "run.cancelled", v: 1, at: at + 100, reason: null } as const;
        await store.append(run.threadId, run.version, [cancel], fold(run, cancel));
      }
    }
    // Rewrite it as layout 1 wrote it: one listing line by status and last update.
    const kv = await Deno.openKv(path);
    try {
      for (const id of ["old-a", "old-b"]) {
        const at = id === "old-a" ? 10 : 20;
        const line = await kv.get<Uint8Array>(runKey(at, id));
        await kv.atomic()
          .delete(runKey(at, id))
          .delete(runStatusKey("cancelled", at, id))
          .set([...LEGACY_RUNS_PREFIX, "cancelled", at + 100, id], line.value!)
          .commit();
      }
      await kv.delete(LAYOUT_KEY);
    } finally {
      kv.close();
    }
    {
      await using store = await KvStore.open({ path });
      assert.deepEqual(
        (await store.listRuns()).items.map((run) => [run.threadId, run.status, run.updatedAt]),
        [["old-b", "cancelled", 120], ["old-a", "cancelled", 110]],
      );
      assert.deepEqual(
        (await store.listRuns({ status: "cancelled", limit: 1 })).items.map((run) => run.threadId),
        ["old-b"],
      );
    }
    const after = await Deno.openKv(path);
    try {
      const legacy = await Array.fromAsync(after.list({ prefix: LEGACY_RUNS_PREFIX }));
      assert.deepEqual(legacy, []);
      assert.equal((await after.get(LAYOUT_KEY)).value, LAYOUT_VERSION);
    } finally {
      after.close();
    }
  });
});

Deno.test("KvStore.open() keeps the newer line of a run a layout 2 writer appended to meanwhile", async () => {
  await withPath(async (path) => {
    const kv = await Deno.openKv(path);
    try {
      const stale = {
        threadId: "both",
        status: "running",
        graph: "g",
        version: 2,
        createdAt: 5,
        updatedAt: 6,
      };
      const fresh = { ...stale, status: "completed", version: 3, updatedAt: 7 };
      await kv.set([...LEGACY_RUNS_PREFIX, "running", 6, "both"], encodeValue(stale));
      await kv.set(runKey(5, "both"), encodeValue(fresh));
      await kv.set(runStatusKey("completed", 5, "both"), encodeValue(fresh));
    } finally {
      kv.close();
    }
    await using store = await KvStore.open({ path });
    const { items } = await store.listRuns();
    assert.deepEqual(items.map((run) => [run.threadId, run.status, run.version]), [
      ["both", "completed", 3],
    ]);
    assert.deepEqual((await store.listRuns({ status: "running" })).items, []);
  });
});

Deno.test("KvStore.open() refuses a store of a newer key layout", async () => {
  await withPath(async (path) => {
    const kv = await Deno.openKv(path);
    await kv.set(LAYOUT_KEY, LAYOUT_VERSION + 1);
    kv.close();
    await assert.rejects(() => KvStore.open({ path }), (error) => {
      assert.ok(error instanceof StorageError);
      assert.match(
        error.message,
        new RegExp(`key layout ${LAYOUT_VERSION + 1} is newer than this Oris .*upgrade Oris`),
      );
      return true;
    });
  });
});

Deno.test("an append that keeps the run's status writes only its batch: a listing reads the version from it", async () => {
  await withPath(async (path) => {
    const threadId = "steady" as ThreadId;
    {
      await using store = await KvStore.open({ path });
      const { run } = await store.createRun(created(threadId, 10));
      const started: RunStartedEvent = {
        type: "run.started",
        v: 1,
        at: 20,
        attemptId: "att_1" as AttemptId,
      };
      const running = fold(run, started);
      await store.append(threadId, run.version, [started], running);
      const kv = await Deno.openKv(path);
      try {
        const before = await kv.get(runKey(10, threadId));
        const effect = {
          type: "effect.recorded",
          v: 1,
          at: 30,
          step: 1,
          node: "1:a",
          index: 0,
          name: "x",
          ok: true,
        } as const;
        await store.append(threadId, running.version, [effect], fold(running, effect));
        const after = await kv.get(runKey(10, threadId));
        assert.equal(after.versionstamp, before.versionstamp, "the listing line is not rewritten");
      } finally {
        kv.close();
      }
      for (const page of [await store.listRuns(), await store.listRuns({ status: "running" })]) {
        assert.deepEqual(
          page.items.map((line) => [line.threadId, line.status, line.version, line.updatedAt]),
          [[threadId, "running", 3, 30]],
        );
      }
    }
    // A store of layout 2 (lines rewritten at every append) reads the same: only the version moves.
    const kv = await Deno.openKv(path);
    await kv.set(LAYOUT_KEY, 2);
    kv.close();
    {
      await using store = await KvStore.open({ path });
      assert.deepEqual(
        (await store.listRuns()).items.map((line) => [line.status, line.version, line.updatedAt]),
        [["running", 3, 30]],
      );
    }
    const after = await Deno.openKv(path);
    try {
      assert.equal((await after.get(LAYOUT_KEY)).value, LAYOUT_VERSION);
    } finally {
      after.close();
    }
  });
});
