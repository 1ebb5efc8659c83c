import assert from "node:assert/strict";
import {
  adminQuery,
  freshSchemaName,
  postgresTest,
  postgresTestUrl,
  withFreshSchema,
} from "../tests/_postgres.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function oris(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
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
