import assert from "node:assert/strict";
import {
  adminQuery,
  freshSchemaName,
  postgresTest,
  postgresTestUrl,
  withFreshSchema,
} from "../tests/_postgres.ts";
import { type OrisOutput, runOris } from "../tests/_server_process.ts";

function oris(args: string[], env: Record<string, string> = {}): Promise<OrisOutput> {
  return runOris(args, { env });
}

Deno.test("oris version prints the package version", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const result = await oris(["version"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout.trim(), `oris ${denoJson.version}`);
});

Deno.test("oris --version prints the version; version and help take no arguments", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const flag = await oris(["--version"]);
  assert.equal(flag.code, 0, flag.stderr);
  assert.equal(flag.stdout.trim(), `oris ${denoJson.version}`);
  for (const args of [["version", "extra"], ["--version", "extra"], ["help", "me"]]) {
    const extra = await oris(args);
    assert.equal(extra.code, 2, args.join(" "));
    assert.match(
      extra.stderr,
      new RegExp(`^oris: ${args[0]} takes no arguments, got "${args[1]}"`),
    );
    assert.match(extra.stderr, /Usage: oris/);
    assert.equal(extra.stdout, "");
  }
});

Deno.test("oris: bad input is a plain message and exit 2, a failure a plain message and exit 1", async () => {
  const badUrl = await oris(["migrate", "--postgres-url", "not a url", "--schema", "oris"]);
  assert.equal(badUrl.code, 2, badUrl.stderr);
  assert.equal(badUrl.stderr.trim(), "oris: Cannot connect: url is not a valid PostgreSQL URL");
  const badSchema = await oris([
    "migrate",
    "--postgres-url",
    "postgres://postgres@127.0.0.1:1/none",
    "--schema",
    "bad-name",
  ]);
  assert.equal(badSchema.code, 2, badSchema.stderr);
  assert.match(badSchema.stderr, /^oris: Cannot use schema "bad-name": a schema name must be/);
  const unreachable = await oris([
    "migrate",
    "--postgres-url",
    "postgres://postgres@127.0.0.1:1/none",
    "--schema",
    "oris",
  ]);
  assert.equal(unreachable.code, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /^oris: Cannot migrate schema "oris": .*ECONNREFUSED/);
  for (const result of [badUrl, badSchema, unreachable]) {
    assert.doesNotMatch(
      result.stderr,
      /internal:|unavailable:|invalid_argument:|TypeError|\n\s+at /,
    );
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  }
});

Deno.test("oris migrate without --schema refuses the public schema unless --schema public", async () => {
  // An unreachable database: a refusal is exit 2 before any connection, an attempt exit 1.
  const url = "postgres://postgres@127.0.0.1:1/none";
  for (
    const env of [{ ORIS_POSTGRES_DSN: url }, {
      ORIS_POSTGRES_DSN: url,
      ORIS_POSTGRES_SCHEMA: "public",
    }]
  ) {
    const refused = await oris(["migrate"], env);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /migrate needs --schema .*--schema public/);
  }
  const asked = await oris(["migrate", "--schema", "public"], { ORIS_POSTGRES_DSN: url });
  assert.equal(asked.code, 1, asked.stderr);
  assert.match(asked.stderr, /Cannot migrate schema "public": .*ECONNREFUSED/);
  const fromEnv = await oris(["migrate"], { ORIS_POSTGRES_DSN: url, ORIS_POSTGRES_SCHEMA: "oris" });
  assert.equal(fromEnv.code, 1, fromEnv.stderr);
  assert.match(fromEnv.stderr, /Cannot migrate schema "oris"/);
});

Deno.test("oris with an unknown command or bad flags exits 2 with the usage", async () => {
  const unknown = await oris(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  assert.match(unknown.stderr, /Usage: oris/);
  const badFlag = await oris(["migrate", "--bogus"]);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /bogus/);
  const noUrl = await oris(["migrate"], { ORIS_POSTGRES_DSN: "" });
  assert.equal(noUrl.code, 2);
  assert.match(noUrl.stderr, /needs --postgres-url/);
});

postgresTest("oris migrate creates the schema once, then reports it up to date", async () => {
  await withFreshSchema(async (schema) => {
    const first = await oris(["migrate", "--postgres-url", postgresTestUrl(), "--schema", schema]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`schema "${schema}" migrated from version 0 to \\d+`));
    const rows = await adminQuery(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = '${schema}' AND table_name = 'runtime_runs'`,
    );
    assert.equal(rows[0]?.n, 1);
    const again = await oris(["migrate", "--schema", schema], {
      ORIS_POSTGRES_DSN: postgresTestUrl(),
    });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /is up to date/);
  });
});

postgresTest("oris migrate --no-create-schema fails clearly on a missing schema", async () => {
  const schema = freshSchemaName();
  const result = await oris([
    "migrate",
    "--postgres-url",
    postgresTestUrl(),
    "--schema",
    schema,
    "--no-create-schema",
  ]);
  assert.equal(result.code, 1);
  assert.equal(
    result.stderr.trim(),
    `oris: Cannot use schema "${schema}": it does not exist (create it, or run oris migrate ` +
      `without --no-create-schema)`,
  );
});

postgresTest(
  "oris migrate --status shows pending migrations, then applied ones, changing nothing",
  async () => {
    await withFreshSchema(async (schema) => {
      const args = ["migrate", "--status", "--postgres-url", postgresTestUrl(), "--schema", schema];
      const missing = await oris(args);
      assert.equal(missing.code, 0, missing.stderr);
      assert.match(
        missing.stdout,
        new RegExp(`^schema "${schema}" does not exist: \\d+ migrations pending`),
      );
      assert.match(missing.stdout, /^VERSION\s+NAME\s+APPLIED_AT$/m);
      assert.match(
        missing.stdout,
        /^1\s+create runs, events, snapshots, checkpoints and effects\s+pending$/m,
      );
      const exists = await adminQuery(`SELECT 1 FROM pg_namespace WHERE nspname = '${schema}'`);
      assert.equal(exists.length, 0, "--status created the schema");

      const migrated = await oris([
        "migrate",
        "--postgres-url",
        postgresTestUrl(),
        "--schema",
        schema,
        "--json",
      ]);
      assert.equal(migrated.code, 0, migrated.stderr);
      const result = JSON.parse(migrated.stdout);
      assert.equal(result.backend, "postgres");
      assert.equal(result.from, 0);
      assert.ok(result.applied.length >= 1);

      const table = await oris(args);
      assert.match(
        table.stdout,
        new RegExp(`^schema "${schema}" is at version ${result.to} of ${result.to}: up to date`),
      );
      assert.match(
        table.stdout,
        /^1\s+create runs, events, snapshots, checkpoints and effects\s+\d{4}-\d\d-\d\dT\S+Z$/m,
      );
      assert.doesNotMatch(table.stdout, /pending$/m);
      const status = JSON.parse((await oris([...args, "--json"])).stdout);
      assert.deepEqual(
        [
          status.backend,
          status.schema,
          status.exists,
          status.version,
          status.latest,
          status.pending,
        ],
        ["postgres", schema, true, result.to, result.to, []],
      );
      assert.deepEqual(
        status.applied.map((row: { version: number; name: string }) => [row.version, row.name]),
        result.applied.map((row: { version: number; name: string }) => [row.version, row.name]),
      );
    });
  },
);

Deno.test("oris migrate --kv-path: --status reads a store's key layout, migrate brings it up to date", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-migrate-kv-" });
  try {
    const path = `${dir}/oris.kv`;
    const missing = await oris(["migrate", "--status", "--kv-path", path]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /^oris: Cannot find store ".*oris\.kv"/);
    await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);

    const migrated = await oris(["migrate", "--kv-path", path, "--json"]);
    assert.equal(migrated.code, 0, migrated.stderr);
    const result = JSON.parse(migrated.stdout);
    assert.deepEqual([result.backend, result.path, result.from], ["kv", path, 0]);
    const again = await oris(["migrate", "--kv-path", path]);
    assert.equal(again.stdout.trim(), `store "${path}" is up to date at key layout ${result.to}`);
    const status = await oris(["migrate", "--status", "--kv-path", path, "--json"]);
    assert.deepEqual(JSON.parse(status.stdout), {
      backend: "kv",
      path,
      version: result.to,
      latest: result.to,
      pending: false,
    });
    assert.equal(
      (await oris(["migrate", "--status", "--kv-path", path])).stdout.trim(),
      `store "${path}" is up to date at key layout ${result.to}`,
    );
    const mixed = await oris(["migrate", "--kv-path", path, "--schema", "oris"]);
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /--kv-path and --schema do not go together/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
