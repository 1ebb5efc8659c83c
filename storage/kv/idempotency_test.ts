import assert from "node:assert/strict";
import type { IdempotencyRecord } from "../../kernel/mod.ts";
import { KvStore } from "./kv_store.ts";

const record: IdempotencyRecord = {
  key: "order-42",
  operation: "job.run",
  threadId: "t-1",
  payloadHash: "h",
  response: null,
  createdAt: 1,
};

Deno.test("KvStore.claimIdempotency() lets the first claim win", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.equal((await store.claimIdempotency(record)).claimed, true);
  assert.equal(
    (await store.claimIdempotency({ ...record, payloadHash: "x" })).record.payloadHash,
    "h",
  );
});

Deno.test("KvStore.completeIdempotency() stores the response to replay", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  await store.claimIdempotency(record);
  await store.completeIdempotency("order-42", { status: "completed" });
  assert.deepEqual((await store.claimIdempotency(record)).record.response, { status: "completed" });
});

Deno.test("KvStore.releaseIdempotency() lets the key be claimed again", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  await store.claimIdempotency(record);
  await store.releaseIdempotency("order-42");
  assert.equal((await store.claimIdempotency(record)).claimed, true);
});
