import assert from "node:assert/strict";
import {
  type CheckpointId,
  InvalidArgumentError,
  StorageError,
  type ThreadId,
} from "../../kernel/mod.ts";
import {
  adminQuery,
  freshSchemaName,
  postgresClient,
  postgresTest,
  postgresTestUrl,
  withFreshSchema,
} from "../../tests/_postgres.ts";
import {
  applyMigrations,
  migrate,
  type Migration,
  MIGRATIONS,
  parseSchemaName,
  quoteIdentifier,
} from "./migrations.ts";
import { PostgresStore } from "./mod.ts";

async function recorded(schema: string): Promise<{ version: number; name: string }[]> {
  const rows = await adminQuery(
    `SELECT version, name, applied_at FROM ${
      quoteIdentifier(schema)
    }.runtime_schema_migrations ORDER BY version`,
  );
  for (const row of rows) assert.ok(row.applied_at instanceof Date);
  return rows.map((row) => ({ version: Number(row.version), name: String(row.name) }));
}

async function tables(schema: string): Promise<string[]> {
  const rows = await adminQuery(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY 1`,
  );
  return rows.map((row) => String(row.table_name));
}

async function indexes(schema: string, table: string): Promise<string[]> {
  const rows = await adminQuery(
    `SELECT indexname FROM pg_indexes WHERE schemaname = '${schema}' AND tablename = '${table}'
      ORDER BY 1`,
  );
  return rows.map((row) => String(row.indexname));
}

async function schemaExists(schema: string): Promise<boolean> {
  const rows = await adminQuery(`SELECT 1 FROM pg_namespace WHERE nspname = '${schema}'`);
  return rows.length > 0;
}

Deno.test("MIGRATIONS are numbered 1, 2, 3 ... and named", () => {
  MIGRATIONS.forEach((migration, i) => {
    assert.equal(migration.version, i + 1);
    assert.ok(migration.name.length > 0);
    assert.ok(migration.sql.trim().length > 0);
  });
});

Deno.test("parseSchemaName() accepts plain names and refuses anything else", () => {
  for (const name of ["public", "oris", "Oris_2", "_x", "a".repeat(63)]) {
    assert.equal(parseSchemaName(name), name);
  }
  for (
    const name of ["", "1abc", 'x"; DROP TABLE y; --', "a b", "a.b", "pg_oris", "a".repeat(64), 7]
  ) {
    assert.throws(() => parseSchemaName(name), InvalidArgumentError);
  }
});

postgresTest("migrate() applies every migration once and records it", async () => {
  await withFreshSchema(async (schema) => {
    const result = await migrate({ url: postgresTestUrl(), schema });
    assert.equal(result.from, 0);
    assert.equal(result.to, MIGRATIONS.length);
    assert.deepEqual(result.applied, MIGRATIONS);
    assert.deepEqual(
      await recorded(schema),
      MIGRATIONS.map(({ version, name }) => ({ version, name })),
    );
    assert.deepEqual(await tables(schema), [
      "runtime_api_keys",
      "runtime_attempts",
      "runtime_audit_logs",
      "runtime_checkpoints",
      "runtime_dead_letters",
      "runtime_effects",
      "runtime_events",
      "runtime_idempotency_keys",
      "runtime_interrupts",
      "runtime_mailbox",
      "runtime_runs",
      "runtime_schema_migrations",
      "runtime_snapshots",
    ]);
    assert.deepEqual(await indexes(schema, "runtime_runs"), [
      "runtime_runs_created_idx",
      "runtime_runs_mail_idx",
      "runtime_runs_pkey",
      "runtime_runs_queued_idx",
      "runtime_runs_runnable_idx",
      "runtime_runs_status_created_idx",
      "runtime_runs_tenant_leases_idx",
      "runtime_runs_wake_idx",
    ]);
    assert.deepEqual(await indexes(schema, "runtime_interrupts"), [
      "runtime_interrupts_created_idx",
      "runtime_interrupts_pkey",
      "runtime_interrupts_status_created_idx",
      "runtime_interrupts_thread_created_idx",
    ]);
    assert.deepEqual(await indexes(schema, "runtime_audit_logs"), [
      "runtime_audit_logs_action_created_idx",
      "runtime_audit_logs_created_idx",
      "runtime_audit_logs_pkey",
      "runtime_audit_logs_request_created_idx",
    ]);

    // Ids compare byte-wise whatever the database's collation, as the kernel compares them.
    const collations = await adminQuery(
      `SELECT table_name || '.' || column_name AS col, collation_name FROM information_schema.columns
        WHERE table_schema = '${schema}' AND column_name IN ('thread_id', 'checkpoint_id', 'node')`,
    );
    assert.equal(collations.length, 13);
    for (const row of collations) assert.equal(row.collation_name, "C", String(row.col));

    const again = await migrate({ url: postgresTestUrl(), schema });
    assert.deepEqual(again, {
      schema,
      from: MIGRATIONS.length,
      to: MIGRATIONS.length,
      applied: [],
    });
    assert.equal((await recorded(schema)).length, MIGRATIONS.length);
  });
});

postgresTest("PostgresStore.connect() migrates, and a second connect is a no-op", async () => {
  await withFreshSchema(async (schema) => {
    const first = await PostgresStore.connect({ url: postgresTestUrl(), schema });
    await first.close();
    const before = await recorded(schema);
    assert.equal(before.length, MIGRATIONS.length);
    const second = await PostgresStore.connect({ url: postgresTestUrl(), schema });
    await second.ping();
    await second.close();
    assert.deepEqual(await recorded(schema), before);
  });
});

postgresTest("concurrent migrations of one schema apply each migration once", async () => {
  await withFreshSchema(async (schema) => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () => migrate({ url: postgresTestUrl(), schema })),
    );
    assert.equal(results.filter((result) => result.applied.length > 0).length, 1);
    assert.ok(results.every((result) => result.to === MIGRATIONS.length));
    assert.equal((await recorded(schema)).length, MIGRATIONS.length);
  });
});

postgresTest(
  "a database at version 1 migrates to the latest version and keeps its data",
  async () => {
    await withFreshSchema(async (schema) => {
      const sql = postgresClient();
      try {
        const v1 = await applyMigrations(sql, schema, {
          createSchema: true,
          migrations: MIGRATIONS.slice(0, 1),
        });
        assert.deepEqual([v1.from, v1.to], [0, 1]);
        assert.ok(!(await tables(schema)).includes("runtime_interrupts"));
        await adminQuery(
          `INSERT INTO ${schema}.runtime_runs
           (thread_id, status, graph, payload_hash, version, created_at, updated_at)
         VALUES ('old-run', 'paused', 'g', 'h', 3, 1, 2)`,
        );
        const latest = await migrate({ url: postgresTestUrl(), schema });
        assert.deepEqual([latest.from, latest.to], [1, MIGRATIONS.length]);
        assert.deepEqual(latest.applied, MIGRATIONS.slice(1));
        assert.deepEqual(
          (await recorded(schema)).map((row) => row.version),
          MIGRATIONS.map((migration) => migration.version),
        );
        for (
          const table of [
            "runtime_idempotency_keys",
            "runtime_interrupts",
            "runtime_audit_logs",
            "runtime_api_keys",
          ]
        ) {
          assert.ok((await tables(schema)).includes(table), table);
        }
        await using store = await PostgresStore.connect({ url: postgresTestUrl(), schema });
        assert.deepEqual((await store.listRuns()).items.map((run) => run.threadId), ["old-run"]);
        assert.equal(await store.countApiKeys(), 0);
        assert.deepEqual((await store.listInterrupts()).items, []);
      } finally {
        await sql.end();
      }
    });
  },
);

postgresTest(
  "migration 4 takes the priority and tenant of live runs from their metadata",
  async () => {
    await withFreshSchema(async (schema) => {
      const sql = postgresClient();
      try {
        await applyMigrations(sql, schema, {
          createSchema: true,
          migrations: MIGRATIONS.slice(0, 3),
        });
        const q = quoteIdentifier(schema);
        const created = (id: string, metadata: unknown) =>
          JSON.stringify({
            type: "run.created",
            v: 1,
            at: 1,
            threadId: id,
            graph: "g",
            input: null,
            payloadHash: "h",
            state: {},
            next: [],
            metadata,
          }).replaceAll("'", "''");
        for (
          const [id, status, metadata] of [
            ["live", "queued", { priority: 7, tenant_id: "acme" }],
            ["odd", "running", { priority: "high", tenant_id: "" }],
            ["done", "completed", { priority: 9, tenant_id: "acme" }],
          ] as const
        ) {
          await adminQuery(`
          INSERT INTO ${q}.runtime_runs
            (thread_id, status, graph, payload_hash, version, created_at, updated_at)
          VALUES ('${id}', '${status}', 'g', 'h', 1, 1, 1);
          INSERT INTO ${q}.runtime_events (thread_id, seq, type, at, event)
          VALUES ('${id}', 1, 'run.created', 1, '${created(id, metadata)}')`);
        }
        await migrate({ url: postgresTestUrl(), schema });
        const rows = await adminQuery(
          `SELECT thread_id, priority, tenant_id, lease_token FROM ${q}.runtime_runs ORDER BY 1`,
        );
        assert.deepEqual(rows.map((row) => [row.thread_id, row.priority, row.tenant_id]), [
          ["done", 0, null],
          ["live", 7, "acme"],
          ["odd", 0, null],
        ]);
      } finally {
        await sql.end();
      }
    });
  },
);

postgresTest(
  "migration 6 carries checkpoints into their events, and they read back the same",
  async () => {
    await withFreshSchema(async (schema) => {
      const sql = postgresClient();
      try {
        await applyMigrations(sql, schema, {
          createSchema: true,
          migrations: MIGRATIONS.slice(0, 5),
        });
        const q = quoteIdentifier(schema);
        await adminQuery(`
          INSERT INTO ${q}.runtime_runs
            (thread_id, status, graph, payload_hash, version, created_at, updated_at)
          VALUES ('old', 'running', 'g', 'h', 3, 1, 3);
          INSERT INTO ${q}.runtime_events (thread_id, seq, type, at, event) VALUES
            ('old', 1, 'run.created', 1, '{}'),
            ('old', 2, 'step.committed', 2, '{}'),
            ('old', 3, 'step.committed', 3, '{}');
          INSERT INTO ${q}.runtime_checkpoints
            (thread_id, version, checkpoint_id, parent_checkpoint_id, step, created_at) VALUES
            ('old', 2, 'cp_a', NULL, 1, 2),
            ('old', 3, 'cp_b', 'cp_a', 2, 3)`);
        await migrate({ url: postgresTestUrl(), schema });
        assert.ok(
          !(await indexes(schema, "runtime_events")).includes("runtime_checkpoints_id_idx"),
        );
        await using store = await PostgresStore.connect({ url: postgresTestUrl(), schema });
        const threadId = "old" as ThreadId;
        const a = {
          threadId,
          checkpointId: "cp_a",
          parentCheckpointId: null,
          step: 1,
          version: 2,
          createdAt: 2,
        };
        const b = {
          ...a,
          checkpointId: "cp_b",
          parentCheckpointId: "cp_a",
          step: 2,
          version: 3,
          createdAt: 3,
        };
        assert.deepEqual((await store.listCheckpoints(threadId)).items, [b, a]);
        assert.deepEqual(await store.getCheckpoint(threadId, "cp_a" as CheckpointId), a);
        const options = await adminQuery(
          `SELECT relname, reloptions FROM pg_class
            WHERE relnamespace = '${q}'::regnamespace AND reloptions IS NOT NULL ORDER BY 1`,
        );
        assert.deepEqual(options.map((row) => [row.relname, row.reloptions]), [
          ["runtime_runs", ["fillfactor=80"]],
        ]);
      } finally {
        await sql.end();
      }
    });
  },
);

postgresTest("a database at a newer schema version is refused", async () => {
  await withFreshSchema(async (schema) => {
    await migrate({ url: postgresTestUrl(), schema });
    const future = MIGRATIONS.length + 1;
    await adminQuery(
      `INSERT INTO ${schema}.runtime_schema_migrations (version, name) VALUES (${future}, 'from the future')`,
    );
    const newer = (error: unknown) =>
      error instanceof StorageError && !error.retryable &&
      error.message.includes(
        `schema version ${future} is newer than this Oris (knows up to ${MIGRATIONS.length}): upgrade Oris`,
      );
    await assert.rejects(() => migrate({ url: postgresTestUrl(), schema }), newer);
    await assert.rejects(() => PostgresStore.connect({ url: postgresTestUrl(), schema }), newer);
  });
});

postgresTest(
  "createSchema: false on a missing schema fails clearly and creates nothing",
  async () => {
    const schema = freshSchemaName();
    const missing = (error: unknown) =>
      error instanceof StorageError &&
      error.message.includes(`schema "${schema}": it does not exist`) &&
      error.message.includes("createSchema: true");
    await assert.rejects(
      () => migrate({ url: postgresTestUrl(), schema, createSchema: false }),
      missing,
    );
    await assert.rejects(
      () => PostgresStore.connect({ url: postgresTestUrl(), schema, createSchema: false }),
      missing,
    );
    assert.equal(await schemaExists(schema), false);
  },
);

postgresTest("createSchema: false on an existing empty schema creates the tables", async () => {
  await withFreshSchema(async (schema) => {
    await adminQuery(`CREATE SCHEMA ${schema}`);
    const result = await migrate({ url: postgresTestUrl(), schema, createSchema: false });
    assert.equal(result.to, MIGRATIONS.length);
  });
});

postgresTest(
  "applyMigrations() applies only what is new, and a failing migration leaves no trace",
  async () => {
    await withFreshSchema(async (schema) => {
      const sql = postgresClient();
      try {
        const extra: Migration = {
          version: MIGRATIONS.length + 1,
          name: "add a test table",
          sql:
            "CREATE TABLE runtime_test_extra (id int PRIMARY KEY); INSERT INTO runtime_test_extra VALUES (1);",
        };
        const broken: Migration = {
          version: MIGRATIONS.length + 2,
          name: "broken",
          sql: "CREATE TABLE runtime_test_broken (id int); SELECT * FROM no_such_table;",
        };
        await applyMigrations(sql, schema, { createSchema: true });
        const next = await applyMigrations(sql, schema, {
          createSchema: true,
          migrations: [...MIGRATIONS, extra],
        });
        assert.deepEqual(next.applied, [extra]);
        assert.deepEqual(await adminQuery(`SELECT id FROM ${schema}.runtime_test_extra`), [{
          id: 1,
        }]);

        await assert.rejects(
          () =>
            applyMigrations(sql, schema, {
              createSchema: true,
              migrations: [...MIGRATIONS, extra, broken],
            }),
          (error) => error instanceof StorageError && /no_such_table/.test(error.message),
        );
        assert.equal((await recorded(schema)).length, MIGRATIONS.length + 1);
        assert.ok(!(await tables(schema)).includes("runtime_test_broken"));

        await assert.rejects(
          () =>
            applyMigrations(sql, schema, {
              createSchema: true,
              migrations: [{ ...extra, version: 5 }],
            }),
          /numbered 5/,
        );
      } finally {
        await sql.end();
      }
    });
  },
);

Deno.test("migrate() to an unreachable server is a retryable StorageError", async () => {
  await assert.rejects(
    () => migrate({ url: "postgres://postgres@127.0.0.1:1/test", schema: "oris" }),
    (error) => error instanceof StorageError && error.retryable && error.code === "unavailable",
  );
});
