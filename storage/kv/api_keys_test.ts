import assert from "node:assert/strict";
import { KvStore } from "./kv_store.ts";

Deno.test("KvStore.putApiKey() stores a key", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  await store.putApiKey({
    keyId: "ops-1",
    secretHash: "ab".repeat(32),
    role: "operator",
    status: "active",
    createdAt: 1,
    updatedAt: 1,
  });
  assert.equal((await store.getApiKey("ops-1"))?.role, "operator");
});

Deno.test("KvStore.getApiKey() returns null for an unknown key", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.equal(await store.getApiKey("nobody"), null);
});

Deno.test("KvStore.countApiKeys() is 0 in an empty store", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.equal(await store.countApiKeys(), 0);
});
