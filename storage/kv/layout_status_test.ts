import assert from "node:assert/strict";
import { NotFoundError, type ThreadId } from "../../kernel/mod.ts";
import { LAYOUT_KEY } from "./_keys.ts";
import { LAYOUT_VERSION } from "./_layout.ts";
import { KvStore } from "./kv_store.ts";
import { layoutStatus } from "./layout_status.ts";

async function withPath(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-layout-status-" });
  try {
    await body(`${dir}/store.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("layoutStatus() refuses a missing file and creates none", async () => {
  await withPath(async (path) => {
    await assert.rejects(() => layoutStatus({ path }), NotFoundError);
    await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);
  });
});

Deno.test("layoutStatus() reads an empty, a layout 1, a current and a newer store without changing them", async () => {
  await withPath(async (path) => {
    (await Deno.openKv(path)).close();
    assert.deepEqual(await layoutStatus({ path }), {
      path,
      version: 0,
      latest: LAYOUT_VERSION,
      pending: true,
    });

    {
      await using store = await KvStore.open({ path });
      await store.createRun({
        type: "run.created",
        v: 1,
        at: 1,
        threadId: "t-1" as ThreadId,
        graph: "g",
        input: {},
        payloadHash: "h",
        state: {},
        next: [],
      });
    }
    assert.equal((await layoutStatus({ path })).pending, false);

    const kv = await Deno.openKv(path);
    await kv.delete(LAYOUT_KEY);
    const legacy = await layoutStatus({ path });
    assert.deepEqual([legacy.version, legacy.pending], [1, true]);
    // Reading did not upgrade it.
    assert.equal((await kv.get(LAYOUT_KEY)).value, null);
    await kv.set(LAYOUT_KEY, LAYOUT_VERSION + 1);
    kv.close();
    const newer = await layoutStatus({ path });
    assert.deepEqual([newer.version, newer.pending], [LAYOUT_VERSION + 1, false]);
  });
});
