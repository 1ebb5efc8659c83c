/**
 * The server's configuration is described in one place (`SETTINGS` in
 * server/main.ts): `deno task start --help` prints every setting with its
 * default instead of starting, and the descriptions match the settings the
 * server parses and their defaults (docs/operations.md lists them: see
 * operations_docs_test.ts).
 */

import assert from "node:assert/strict";
import { ConfigSchema, parseConfig, SETTINGS } from "../server/main.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("SETTINGS describes exactly the settings the server parses", () => {
  assert.deepEqual(
    SETTINGS.map((setting) => setting.name).sort(),
    Object.keys(ConfigSchema.shape).sort(),
  );
});

Deno.test("SETTINGS' defaults are the server's defaults", () => {
  const withDefaults = SETTINGS.filter((setting) => setting.default !== undefined);
  assert.ok(withDefaults.length >= 5);
  const unset = parseConfig({});
  for (const setting of withDefaults) {
    assert.deepEqual(
      parseConfig({ [setting.name]: setting.default }),
      unset,
      `${setting.name}=${setting.default} is not what the server uses when it is unset`,
    );
  }
  // Settings without a default are unset by default.
  for (const setting of SETTINGS.filter((setting) => setting.default === undefined)) {
    assert.equal((unset as Record<string, unknown>)[setting.name], undefined, setting.name);
  }
});

Deno.test("deno task start --help prints every setting with its default and does not start", async () => {
  for (const flag of ["--help", "-h"]) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "start", flag],
      cwd: ROOT,
      // A configuration that could not start: --help must not try.
      env: { NO_COLOR: "1", ORIS_RUNTIME_BACKEND: "sqlite" },
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(stdout, /^Usage: deno task start/);
    assert.match(stdout, /deno run -A server\/main\.ts/);
    const lines = stdout.split("\n");
    for (const setting of SETTINGS) {
      const at = lines.findIndex((line) => line.trimStart().startsWith(`${setting.name} `));
      assert.notEqual(at, -1, `${setting.name} is missing from --help`);
      if (setting.default !== undefined) {
        assert.equal(lines[at + 1]!.trim(), `default: ${setting.default}`, setting.name);
      }
    }
    assert.doesNotMatch(stdout, /listening/);
  }
});

Deno.test("server/main.ts with an unknown argument is a usage error (exit 2)", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "server/main.ts", "--port=1"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  assert.equal(output.code, 2);
  assert.equal(
    new TextDecoder().decode(output.stderr).trim(),
    'oris: cannot start: unknown argument "--port=1" (--help lists the settings)',
  );
});
