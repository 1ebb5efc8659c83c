/**
 * The `oris` operator CLI end to end, against a server started as a process
 * (Deno KV, bearer-token auth): every operator command in table and `--json`
 * modes, the exit codes (0 ok, 1 server or network failure or a failed run
 * with `--wait`, 2 usage or bad input, 3 not found, 4 conflict, 5
 * unauthorized or forbidden), credentials (token, API key id and secret),
 * `--follow` on a run that interrupts and is resumed, `--help` for every
 * command, and `NO_COLOR`. Commands run through `runCli` (the same code as
 * the binary, in this process); a few run as the `oris` process itself.
 */

import assert from "node:assert/strict";
import { type CliResult, runCli } from "../cli/main.ts";
import { deferred } from "./_helpers.ts";
import { runOris, type ServerProcess, startServer, stopServer } from "./_server_process.ts";

const TOKEN = "cli-e2e-token";
const ESC = String.fromCharCode(27);

interface Session {
  server: ServerProcess;
  /** Runs `oris <args>` as the admin (the bearer token in the environment). */
  oris(args: string[], env?: Record<string, string>): Promise<CliResult>;
}

async function withServer(fn: (session: Session) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-cli-" });
  const server = await startServer({
    ORIS_KV_PATH: `${dir}/oris.kv`,
    ORIS_API_AUTH_BEARER_TOKEN: TOKEN,
  });
  try {
    await fn({
      server,
      oris: (args, env = { ORIS_API_TOKEN: TOKEN }) =>
        runCli(args, { ORIS_SERVER_URL: server.base, ...env }),
    });
  } finally {
    await stopServer(server, "SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
}

function ok(result: CliResult): string {
  assert.equal(result.code, 0, result.stderr.join("\n"));
  return result.stdout.join("\n");
}

// deno-lint-ignore no-explicit-any
function jsonOf(result: CliResult): any {
  return JSON.parse(ok(result));
}

function fails(result: CliResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, `${result.stdout.join("\n")}\n${result.stderr.join("\n")}`);
  assert.match(result.stderr.join("\n"), pattern);
}

Deno.test("oris CLI end to end: jobs, interrupts, time travel, audit and keys against a server", async (t) => {
  await withServer(async ({ server, oris }) => {
    await t.step(
      "run --wait, list, inspect, timeline and state, in tables and --json",
      async () => {
        const done = ok(
          await oris(["run", "h-1", "--graph", "hello", "--input", '"hi"', "--wait"]),
        );
        assert.match(done, /^thread:\s+h-1$/m);
        assert.match(done, /^status:\s+completed$/m);
        const started = jsonOf(
          await oris(["run", "h-2", "--graph", "hello", "--input", '{"messages":[]}', "--json"]),
        );
        assert.equal(started.thread_id, "h-2");
        const table = ok(await oris(["list"]));
        assert.match(
          table.split("\n")[0]!,
          /^THREAD_ID\s+STATUS\s+GRAPH\s+TENANT\s+PRIORITY\s+VERSION\s+UPDATED_AT$/,
        );
        assert.match(table, /^h-1\s+completed\s+hello\s+-\s+0\s+\d+\s+\S+$/m);
        const byGraph = jsonOf(await oris(["list", "--graph", "hello", "--json"]));
        assert.deepEqual(
          (byGraph.jobs as { thread_id: string }[]).map((job) => job.thread_id).sort(),
          ["h-1", "h-2"],
        );
        assert.deepEqual(jsonOf(await oris(["list", "--graph", "approval", "--json"])).jobs, []);
        const listed = jsonOf(await oris(["list", "--status", "completed", "--json"]));
        assert.ok((listed.jobs as { thread_id: string }[]).some((job) => job.thread_id === "h-1"));
        const page = ok(await oris(["list", "--limit", "1"]));
        assert.match(page, /^next page: --cursor \S+$/m);

        const inspect = ok(await oris(["inspect", "h-1"]));
        assert.match(inspect, /^graph:\s+hello$/m);
        assert.match(inspect, /Last events/);
        assert.match(inspect, /run\.completed/);
        const detail = jsonOf(await oris(["inspect", "h-1", "--json"]));
        assert.equal(detail.status, "completed");
        assert.ok(Array.isArray(detail.last_events));
        const timeline = ok(await oris(["timeline", "h-1"]));
        assert.match(timeline.split("\n")[0]!, /^SEQ\s+AT\s+EVENT\s+STEP\s+NODE\s+CHECKPOINT$/);
        assert.match(timeline, /^1\s+\S+\s+run\.created/m);
        const events = jsonOf(await oris(["timeline", "h-1", "--json"]));
        const committed = (events.timeline as { event_type: string; checkpoint_id?: string }[])
          .find((entry) => entry.event_type === "step.committed")!;
        const state = ok(await oris(["state", "h-1"]));
        assert.match(state, /"hello world"/);
        const at = jsonOf(
          await oris(["state", "h-1", "--checkpoint", committed.checkpoint_id!, "--json"]),
        );
        assert.equal(at.checkpoint_id, committed.checkpoint_id);
      },
    );

    await t.step(
      "interrupts list, show and resume; resume, pause, cancel, replay, fork",
      async () => {
        const waiting = ok(
          await oris([
            "run",
            "a-1",
            "--graph",
            "approval",
            "--input",
            '{"request":"ship"}',
            "--wait",
          ]),
        );
        assert.match(waiting, /^status:\s+interrupted$/m);
        assert.match(waiting, /^interrupt:\s+in_\S+ \(approve\)/m);
        const pending = ok(await oris(["interrupts", "--status", "pending", "--run", "a-1"]));
        assert.match(pending.split("\n")[0]!, /^INTERRUPT_ID\s+THREAD_ID\s+STATUS\s+NODE\s+VALUE$/);
        const listed = jsonOf(await oris(["interrupts", "list", "--run", "a-1", "--json"]));
        const id = (listed.interrupts as { interrupt_id: string }[])[0]!.interrupt_id;
        assert.match(ok(await oris(["interrupts", "show", id])), /^status:\s+pending$/m);
        assert.match(ok(await oris(["inspect", "a-1"])), /Pending interrupts/);
        // A paused run cannot be asked for while interrupted: a conflict (exit 4) with the request id.
        fails(await oris(["pause", "a-1"]), 4, /^oris: conflict: .*\(request id \S+\)$/);
        const resumed = ok(await oris(["interrupts", "resume", id, "--value", "true"]));
        assert.match(resumed, /^status:\s+completed$/m);

        ok(
          await oris(["run", "a-2", "--graph", "approval", "--input", '{"request":"x"}', "--wait"]),
        );
        const viaJob = jsonOf(await oris(["resume", "a-2", "--value", "false", "--json"]));
        assert.equal(viaJob.status, "completed");

        ok(
          await oris(["run", "c-1", "--graph", "approval", "--input", '{"request":"y"}', "--wait"]),
        );
        const cancelled = ok(await oris(["cancel", "c-1", "--reason", "wrong input"]));
        assert.match(cancelled, /^status:\s+cancelled$/m);
        assert.match(cancelled, /^reason:\s+wrong input$/m);
        // A cancelled thread cannot run again: a conflict.
        fails(
          await oris(["run", "c-1", "--graph", "approval", "--input", '{"request":"y"}', "--wait"]),
          4,
          /^oris: conflict: thread 'c-1' is cancelled/,
        );

        assert.match(
          ok(await oris(["replay", "a-1"])),
          /^replay of a-1 matches: \d+ steps verified$/m,
        );
        const rerun = jsonOf(await oris(["replay", "a-1", "--mode", "rerun", "--json"]));
        assert.equal(rerun.run.thread_id, "a-1-rerun-input");
        const forked = ok(await oris(["fork", "a-1", "--thread-id", "a-1-b"]));
        assert.match(forked, /^thread:\s+a-1-b$/m);
      },
    );

    await t.step(
      "--follow streams a run that interrupts and is resumed, to its final status",
      async () => {
        const interrupted = deferred();
        const lines: string[] = [];
        const statusLines: string[] = [];
        const following = runCli(
          ["run", "f-1", "--graph", "approval", "--input", '{"request":"go"}', "--follow"],
          { ORIS_SERVER_URL: server.base, ORIS_API_TOKEN: TOKEN },
          {
            write: (_stream, line) => {
              lines.push(line);
              if (line.includes("interrupt.raised")) interrupted.resolve();
            },
            status: (line) => statusLines.push(line),
          },
        );
        await interrupted.promise;
        ok(await oris(["resume", "f-1", "--value", "true"]));
        const result = await following;
        const out = ok(result);
        assert.match(out, /^\s+1\s+run\.created$/m);
        assert.match(out, /interrupt\.raised\s+step \d+/);
        assert.match(out, /run\.resumed/);
        assert.match(out, /run\.completed/);
        assert.match(out, /^status:\s+completed$/m);
        // The live status line names the latest event, and is cleared at the end.
        assert.ok(statusLines.includes("f-1: interrupt.raised"), statusLines.join("\n"));
        assert.ok(statusLines.includes("f-1: run.completed"), statusLines.join("\n"));
        assert.equal(statusLines.at(-1), "");

        // A followed run that ends cancelled exits 1.
        const raised = deferred();
        const second = runCli(
          ["run", "f-2", "--graph", "approval", "--input", '{"request":"no"}', "--follow"],
          { ORIS_SERVER_URL: server.base, ORIS_API_TOKEN: TOKEN },
          {
            write: (_stream, line) => void (line.includes("interrupt.raised") && raised.resolve()),
          },
        );
        await raised.promise;
        ok(await oris(["cancel", "f-2"]));
        const cancelled = await second;
        assert.equal(cancelled.code, 1);
        assert.match(cancelled.stdout.join("\n"), /^status:\s+cancelled$/m);
      },
    );

    await t.step("audit and keys: a created key's secret is printed once and works", async () => {
      const audit = ok(await oris(["audit", "--action", "job.cancel", "--since", "1h"]));
      assert.match(audit.split("\n")[0]!, /^AT\s+ACTION\s+RESOURCE\s+ACTOR\s+RESULT\s+REQUEST_ID$/);
      assert.match(audit, /job\.cancel\s+c-1\s+bearer\s+success/);
      const created = ok(await oris(["keys", "create", "ci-bot", "--role", "operator"]));
      const secret = /^secret:\s+(\S+)$/m.exec(created)![1]!;
      const asKey = { ORIS_API_KEY_ID: "ci-bot", ORIS_API_KEY: secret };
      assert.match(ok(await oris(["list"], asKey)), /h-1/);
      // An operator may not manage keys: forbidden is exit 5.
      fails(await oris(["keys", "list"], asKey), 5, /^oris: forbidden: /);
      const keys = jsonOf(await oris(["keys", "list", "--json"]));
      assert.ok((keys.keys as { key_id: string }[]).some((key) => key.key_id === "ci-bot"));
      assert.doesNotMatch(JSON.stringify(keys), new RegExp(secret));
      assert.match(ok(await oris(["keys", "revoke", "ci-bot"])), /^status:\s+disabled$/m);
      fails(await oris(["list"], asKey), 5, /^oris: unauthorized: /);
    });

    await t.step(
      "exit codes: not found 3, bad input 2, no credentials 5, unreachable 1, usage 2",
      async () => {
        fails(await oris(["inspect", "ghost"]), 3, /^oris: not_found: .*\(request id \S+\)$/);
        fails(await oris(["list", "--limit", "0"]), 2, /^oris: invalid_argument: /);
        fails(await oris(["list"], {}), 5, /^oris: unauthorized: /);
        fails(
          await runCli(["list"], { ORIS_SERVER_URL: "http://127.0.0.1:1", ORIS_API_TOKEN: TOKEN }),
          1,
          /^oris: Cannot reach the server at http:\/\/127\.0\.0\.1:1/,
        );
        fails(
          await oris(["list", "--bogus"]),
          2,
          /^oris: list: Unknown option '--bogus'\nUsage: oris list/,
        );
        fails(await oris(["inspect"]), 2, /^oris: inspect needs <thread_id>/);
        fails(await oris(["interrupts", "frob"]), 2, /unknown subcommand "frob"/);
        fails(await oris(["run", "x", "--input", "{nope"]), 2, /--input must be JSON/);
        fails(await oris(["frobnicate"]), 2, /^oris: unknown command "frobnicate"\nUsage: oris/);
      },
    );
  });
});

Deno.test("oris CLI: --help for every command, with examples", async () => {
  const usage = await runCli(["help"], {});
  const commands = usage.stdout.join("\n").split("\n")
    .map((line) => /^ {2}([a-z]+) {2,}/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== "help" && name !== "version");
  assert.ok(commands.length >= 15, commands.join(", "));
  for (const command of commands) {
    const help = await runCli([command, "--help"], {});
    assert.equal(help.code, 0, `${command}: ${help.stderr.join("\n")}`);
    const text = help.stdout.join("\n");
    assert.match(text, new RegExp(`^Usage: oris ${command}`), command);
    assert.match(text, /\nExamples:\n {2}(\S+=\S+ )*oris /, command);
  }
});

Deno.test("oris CLI: tables are bold on a terminal unless NO_COLOR is set; --json never", async () => {
  await withServer(async ({ server }) => {
    const env = { ORIS_SERVER_URL: server.base, ORIS_API_TOKEN: TOKEN };
    const colored = await runCli(["list"], env, { color: true });
    assert.match(colored.stdout[0]!, new RegExp(`^${ESC}\\[1mTHREAD_ID`));
    const plain = await runCli(["list"], { ...env, NO_COLOR: "1" }, { color: true });
    assert.match(plain.stdout[0]!, /^THREAD_ID/);
    const json = await runCli(["list", "--json"], env, { color: true });
    assert.doesNotMatch(json.stdout.join("\n"), new RegExp(`${ESC}\\[`));
  });
});

Deno.test("oris CLI as a process: exit codes and output of the binary", async () => {
  await withServer(async ({ server }) => {
    const oris = (args: string[]) =>
      runOris(args, {
        env: { ORIS_SERVER_URL: server.base, ORIS_API_TOKEN: TOKEN, NO_COLOR: "1" },
      });
    const done = await oris(["run", "p-1", "--graph", "hello", "--input", '"hi"', "--wait"]);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^status:\s+completed$/m);
    const missing = await oris(["inspect", "ghost"]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^oris: not_found: /);
    assert.equal(missing.stderr.trim().split("\n").length, 1);
  });
});
