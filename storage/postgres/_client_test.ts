import assert from "node:assert/strict";
import type postgres from "postgres";
import { postgresTest, postgresTestUrl } from "../../tests/_postgres.ts";
import { openClient, pinArrayTypes } from "./_client.ts";

/** Runs three statements at once (so the pool opens three connections); returns who ran what. */
async function threeAtOnce(
  sql: postgres.Sql,
): Promise<{ typeFetches: number; connections: number }> {
  const typeFetches: number[] = [];
  const connections = new Set<number>();
  (sql.options as unknown as { debug: (id: number, text: string) => void }).debug = (id, text) => {
    if (text.includes("pg_catalog.pg_type")) typeFetches.push(id);
    else connections.add(id);
  };
  const rows = await Promise.all(
    [1, 2, 3].map((n) =>
      sql.unsafe("SELECT pg_sleep(0.05)::text AS s, $1::text[] AS a, $2::float8[] AS b", [
        ["x", String(n)],
        [n, 0.5],
      ] as never[])
    ),
  );
  // Arrays still go both ways on every connection.
  rows.forEach((result, i) => {
    assert.deepEqual(result[0]!.a, ["x", String(i + 1)]);
    assert.deepEqual(result[0]!.b, [i + 1, 0.5]);
  });
  return { typeFetches: typeFetches.length, connections: connections.size };
}

postgresTest("a pool fetches the array types once, not on each new connection", async () => {
  const pinned = openClient(postgresTestUrl(), { max: 3 });
  const unpinned = openClient(postgresTestUrl(), { max: 3 });
  try {
    await pinned`SELECT 1`;
    assert.equal(pinArrayTypes(pinned), true);
    const once = await threeAtOnce(pinned);
    assert.ok(once.connections >= 2, `${once.connections} connections`);
    assert.equal(once.typeFetches, 0, "the new connections fetched the types again");
    // Without it, postgres.js fetches them on each new connection (the fetch this avoids).
    const each = await threeAtOnce(unpinned);
    assert.equal(each.typeFetches, each.connections);
  } finally {
    await pinned.end();
    await unpinned.end();
  }
});

Deno.test("pinArrayTypes() leaves fetching on while the pool does not know the types", async () => {
  const sql = openClient("postgres://postgres@127.0.0.1:1/none", { max: 1 });
  assert.equal(pinArrayTypes(sql), false);
  assert.equal(sql.options.fetch_types, true);
  await sql.end();
});

Deno.test("openClient() refuses a URL that is not one, without quoting it", () => {
  assert.throws(() => openClient("postgres://user:secret@[bad", { max: 1 }), (error: Error) => {
    assert.equal(error.message, "Cannot connect: url is not a valid PostgreSQL URL");
    return true;
  });
});
