/**
 * End to end: `deno task start` as a real process on a free port. The
 * approval job waits for a person; the server is killed with SIGKILL; a new
 * server on the same store resumes the interrupt through
 * `/v1/interrupts/:id/resume`; the run completes and its action was
 * performed exactly once. Also: SIGTERM stops the server cleanly, and bad
 * configuration is one line on stderr and exit code 1.
 */

import assert from "node:assert/strict";
import { postgresTest, postgresTestUrl, withFreshSchema } from "./_postgres.ts";
import { ROOT, type ServerProcess, startServer, stopServer } from "./_server_process.ts";

async function api(base: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

async function approvalSurvivesSigkill(
  env: Record<string, string>,
  actionLog: string,
): Promise<void> {
  const first = await startServer(env);
  let second: ServerProcess | null = null;
  try {
    const run = await api(first.base, "POST", "/v1/jobs/run", {
      thread_id: "e2e-approval",
      graph: "approval",
      input: { request: "ship release 1.2" },
    });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.data.status, "interrupted");
    const listed = await api(
      first.base,
      "GET",
      "/v1/interrupts?status=pending&run_id=e2e-approval",
    );
    assert.equal(listed.body.data.interrupts.length, 1);
    const interruptId = listed.body.data.interrupts[0].interrupt_id;

    const killed = await stopServer(first, "SIGKILL");
    assert.equal(killed.success, false);

    second = await startServer(env);
    const detail = await api(second.base, "GET", "/v1/jobs/e2e-approval");
    assert.equal(detail.body.data.status, "interrupted");
    const resumed = await api(second.base, "POST", `/v1/interrupts/${interruptId}/resume`, {
      value: true,
    });
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    assert.equal(resumed.body.data.status, "completed");
    const again = await api(second.base, "POST", `/v1/interrupts/${interruptId}/resume`, {
      value: true,
    });
    assert.deepEqual(again.body.data, resumed.body.data);

    const performed = (await Deno.readTextFile(actionLog)).trim().split("\n");
    assert.equal(performed.length, 1, `the action ran ${performed.length} times`);
    assert.deepEqual(JSON.parse(performed[0]!), { kind: "execute", request: "ship release 1.2" });
    const replay = await api(second.base, "POST", "/v1/jobs/e2e-approval/replay", {});
    assert.equal(replay.body.data.ok, true);

    const stopped = await stopServer(second, "SIGTERM");
    second = null;
    assert.equal(stopped.code, 0);
  } finally {
    if (second !== null) await stopServer(second, "SIGKILL");
  }
}

Deno.test("server e2e (kv): an approval survives SIGKILL of the server and its action runs exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-e2e-" });
  try {
    const actionLog = `${dir}/actions.log`;
    await approvalSurvivesSigkill(
      { ORIS_KV_PATH: `${dir}/oris.kv`, ORIS_EXAMPLES_ACTION_LOG: actionLog },
      actionLog,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

postgresTest(
  "server e2e (postgres): an approval survives SIGKILL of the server and its action runs exactly once",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "oris-e2e-" });
    try {
      const actionLog = `${dir}/actions.log`;
      await withFreshSchema((schema) =>
        approvalSurvivesSigkill({
          ORIS_RUNTIME_BACKEND: "postgres",
          ORIS_POSTGRES_DSN: postgresTestUrl(),
          ORIS_POSTGRES_SCHEMA: schema,
          ORIS_POSTGRES_REQUIRE_SCHEMA: "false",
          ORIS_EXAMPLES_ACTION_LOG: actionLog,
        }, actionLog)
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("server e2e: bad configuration is one line on stderr and exit code 1", async () => {
  for (
    const [env, expected] of [
      [{ ORIS_RUNTIME_BACKEND: "sqlite" }, /ORIS_RUNTIME_BACKEND must be "kv" or "postgres"/],
      [{ ORIS_RUNTIME_BACKEND: "postgres" }, /ORIS_POSTGRES_DSN is required/],
      [{ ORIS_SERVER_ADDR: "nowhere" }, /ORIS_SERVER_ADDR must be host:port/],
      [
        { ORIS_POSTGRES_REQUIRE_SCHEMA: "maybe" },
        /ORIS_POSTGRES_REQUIRE_SCHEMA must be true or false/,
      ],
      [{ ORIS_AUDIT_QUEUE_SIZE: "-1" }, /ORIS_AUDIT_QUEUE_SIZE must be a whole number from 0/],
      [
        {
          ORIS_RUNTIME_BACKEND: "postgres",
          ORIS_POSTGRES_DSN: "postgres://postgres@127.0.0.1:1/none",
        },
        /cannot start/,
      ],
    ] as const
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "server/main.ts"],
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr).trim();
    assert.equal(output.code, 1, stderr);
    assert.match(stderr, expected);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "");
  }
});

postgresTest(
  "server e2e (postgres): a missing schema fails at start naming the server's settings",
  async () => {
    await withFreshSchema(async (schema) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "server/main.ts"],
        cwd: ROOT,
        env: {
          NO_COLOR: "1",
          ORIS_RUNTIME_BACKEND: "postgres",
          ORIS_POSTGRES_DSN: postgresTestUrl(),
          ORIS_POSTGRES_SCHEMA: schema,
        },
        stdin: "null",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 1, stderr);
      // The server names its own settings, not the library's createSchema option.
      assert.equal(
        stderr.trim(),
        `oris: cannot start: Cannot use schema "${schema}": it does not exist (create it with ` +
          `"oris migrate --schema ${schema}", or set ORIS_POSTGRES_REQUIRE_SCHEMA=false to ` +
          `create it at start)`,
      );
    });
  },
);
