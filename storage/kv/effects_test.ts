import assert from "node:assert/strict";
import type { ThreadId } from "../../kernel/mod.ts";
import { KvStore } from "./kv_store.ts";

Deno.test("KvStore.recordEffect() keeps the first record of a key", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const key = { threadId: "t-1" as ThreadId, step: 1, node: "agent", index: 0 };
  const first = { ...key, name: "llm", result: { ok: true, value: "hi" }, recordedAt: 1 } as const;
  await store.recordEffect(first);
  const again = await store.recordEffect({ ...first, result: { ok: true, value: "other" } });
  assert.deepEqual(again, first);
});

Deno.test("KvStore.getEffect() returns null for an unrecorded key", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  const key = { threadId: "t-1" as ThreadId, step: 1, node: "agent", index: 0 };
  assert.equal(await store.getEffect(key), null);
});

Deno.test("KvStore.listEffects() lists nothing for an unknown run", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.deepEqual(await store.listEffects("t-1" as ThreadId, 1), []);
});
