import assert from "node:assert/strict";
import { KvStore } from "./kv_store.ts";

Deno.test("KvStore.getInterrupt() returns null for an unknown interrupt", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.equal(await store.getInterrupt("in_1"), null);
});

Deno.test("KvStore.listInterrupts() lists nothing in an empty store", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.deepEqual(await store.listInterrupts({ status: "pending" }), {
    items: [],
    nextCursor: null,
  });
});
