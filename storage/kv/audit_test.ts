import assert from "node:assert/strict";
import { KvStore } from "./kv_store.ts";

Deno.test("KvStore.appendAudit() writes an entry listed by its action", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  await store.appendAudit({
    auditId: "au_1",
    actorType: "anonymous",
    actorId: null,
    actorRole: null,
    action: "job.run",
    resourceType: "thread",
    resourceId: "t-1",
    result: "success",
    requestId: "req-1",
    details: { status_code: 200 },
    createdAt: 1,
  });
  assert.equal((await store.listAudit({ action: "job.run" })).items.length, 1);
});

Deno.test("KvStore.listAudit() lists nothing for an unknown request", async () => {
  await using store = await KvStore.open({ path: ":memory:" });
  assert.deepEqual(await store.listAudit({ requestId: "req-1" }), { items: [], nextCursor: null });
});
