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
  assert.match(result.stderr, /does not exist/);
});
