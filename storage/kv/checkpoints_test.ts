import assert from "node:assert/strict";
import type { CheckpointId, ThreadId } from "../../kernel/mod.ts";
import { KvStore } from "./kv_store.ts";

Deno.test("KvStore.getCheckpoint() returns null for an unknown checkpoint", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.equal(await store.getCheckpoint("t-1" as ThreadId, "cp_1" as CheckpointId), null);
});

Deno.test("KvStore.listCheckpoints() lists nothing for an unknown run", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const page = await store.listCheckpoints("t-1" as ThreadId, { limit: 10 });
  assert.deepEqual(page, { items: [], nextCursor: null });
});
