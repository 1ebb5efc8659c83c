import assert from "node:assert/strict";
import {
  adminQuery,
  postgresClient,
  postgresTest,
  postgresTestUrl,
  withFreshSchema,
} from "../../tests/_postgres.ts";
import { applyMigrations, MIGRATIONS, quoteIdentifier } from "./migrations.ts";
import { migrationStatus } from "./migration_status.ts";

const LATEST = MIGRATIONS.at(-1)!.version;

postgresTest(
  "migrationStatus() shows a missing schema as all pending, and creates nothing",
  async () => {
    await withFreshSchema(async (schema) => {
      const status = await migrationStatus({ url: postgresTestUrl(), schema });
      assert.deepEqual(
        { ...status, pending: status.pending.map((migration) => migration.version) },
        {
          schema,
          exists: false,
          version: 0,
          latest: LATEST,
          applied: [],
          pending: MIGRATIONS.map((migration) => migration.version),
        },
      );
      const found = await adminQuery(`SELECT 1 FROM pg_namespace WHERE nspname = '${schema}'`);
      assert.equal(found.length, 0);
    });
  },
);

postgresTest(
  "migrationStatus() lists the applied migrations with their time and the pending ones",
  async () => {
    await withFreshSchema(async (schema) => {
      const sql = postgresClient();
      try {
        await applyMigrations(sql, schema, {
          createSchema: true,
          migrations: MIGRATIONS.slice(0, LATEST - 1),
        });
      } finally {
        await sql.end();
      }
      const before = Date.now();
      const partial = await migrationStatus({ url: postgresTestUrl(), schema });
      assert.equal(partial.exists, true);
      assert.equal(partial.version, LATEST - 1);
      assert.deepEqual(
        partial.applied.map((row) => [row.version, row.name]),
        MIGRATIONS.slice(0, LATEST - 1).map((migration) => [migration.version, migration.name]),
      );
      for (const row of partial.applied) assert.ok(row.appliedAt.getTime() <= before);
      assert.deepEqual(partial.pending.map((migration) => migration.version), [LATEST]);

      await adminQuery(
        `INSERT INTO ${
          quoteIdentifier(schema)
        }.runtime_schema_migrations (version, name) VALUES (${LATEST}, 'x'), (${
          LATEST + 1
        }, 'from the future')`,
      );
      const newer = await migrationStatus({ url: postgresTestUrl(), schema });
      assert.deepEqual([newer.version, newer.latest, newer.pending], [LATEST + 1, LATEST, []]);
    });
  },
);
