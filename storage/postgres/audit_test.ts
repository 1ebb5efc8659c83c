import assert from "node:assert/strict";
import type { AuditRecord } from "../../kernel/mod.ts";
import { adminQuery, freshPostgresStore, postgresTest } from "../../tests/_postgres.ts";

function entry(i: number, requestId = `req-${i}`): AuditRecord {
  return {
    auditId: `au_${String(i).padStart(4, "0")}`,
    actorType: "anonymous",
    actorId: null,
    actorRole: null,
    action: "job.run",
    resourceType: "thread",
    resourceId: `t-${i}`,
    result: "success",
    requestId,
    details: { method: "POST", path: "/v1/jobs/run", status_code: 200 },
    createdAt: 1_000 + i,
  };
}

postgresTest(
  "PostgresStore audit group commit: 100 concurrent entries land in a few transactions, a written id once",
  async () => {
    await using store = await freshPostgresStore();
    const records = Array.from({ length: 100 }, (_, i) => entry(i));
    // Each entry twice (a retried write of a stored id is a no-op), in the same tick.
    await Promise.all([...records, ...records].map((record) => store.appendAudit(record)));
    const listed = await store.listAudit({ limit: 200 });
    assert.deepEqual(
      listed.items.map((item) => item.auditId),
      records.map((record) => record.auditId).reverse(),
    );
    assert.deepEqual(listed.items.at(-1), records[0]);
    const [row] = await adminQuery(
      `SELECT count(DISTINCT xmin::text)::int AS transactions, count(*)::int AS entries
       FROM ${store.schema}.runtime_audit_logs`,
    );
    assert.equal(row?.entries, 100);
    assert.ok(
      (row?.transactions as number) <= 20,
      `100 entries took ${row?.transactions} transactions`,
    );
  },
);

postgresTest(
  "PostgresStore audit group commit: an entry PostgreSQL refuses fails alone",
  async () => {
    await using store = await freshPostgresStore();
    // A NUL character passes the kernel's checks but not PostgreSQL's text type.
    const records = Array.from(
      { length: 10 },
      (_, i) => entry(i, i === 4 ? "req-\u0000-bad" : `req-${i}`),
    );
    const results = await Promise.allSettled(records.map((record) => store.appendAudit(record)));
    results.forEach((result, i) => assert.equal(result.status, i === 4 ? "rejected" : "fulfilled"));
    const listed = await store.listAudit({ limit: 20 });
    assert.deepEqual(
      listed.items.map((item) => item.auditId).sort(),
      records.filter((_, i) => i !== 4).map((record) => record.auditId),
    );
  },
);
