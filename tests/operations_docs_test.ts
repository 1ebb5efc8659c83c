/**
 * docs/operations.md matches the code: its settings table lists every
 * setting of the server, and its PostgreSQL table list is exactly the tables
 * the migrations create.
 */

import assert from "node:assert/strict";
import { SETTINGS } from "../server/main.ts";
import { MIGRATIONS, MIGRATIONS_TABLE } from "../storage/postgres/mod.ts";

const DOCS = await Deno.readTextFile(new URL("../docs/operations.md", import.meta.url));

/** The lines of the docs' Markdown tables (in lists too). */
const ROWS = DOCS.split("\n").map((line) => line.trim()).filter((line) => line.startsWith("|"));

Deno.test("docs/operations.md lists every setting of the server", () => {
  for (const setting of SETTINGS) {
    assert.ok(
      ROWS.some((row) => row.includes(`\`${setting.name}\``)),
      `${setting.name} is not in a table of docs/operations.md`,
    );
  }
});

Deno.test("docs/operations.md lists exactly the PostgreSQL tables the migrations create", () => {
  const created = MIGRATIONS.flatMap((migration) =>
    [...migration.sql.matchAll(/CREATE TABLE (\w+)/g)].map((match) => match[1]!)
  );
  assert.ok(created.length >= 9);
  const documented = ROWS.map((row) => /^\| `(runtime_\w+)`/.exec(row)?.[1])
    .filter((name) => name !== undefined);
  assert.deepEqual(documented.sort(), [...created, MIGRATIONS_TABLE].sort());
});
