/**
 * Every operator command of `oris`, run as the process an operator runs
 * (`deno run -A cli/main.ts`) against `oris server --graphs <a user module of
 * test graphs>` (with the examples, `ORIS_EXAMPLES=true`): with `--json`
 * each prints the server's `data` unchanged (compared with the API's answer
 * to the same request), without it a table or a summary; `interrupts
 * reject` ends the run cancelled and is audited; `pause` stops a running job
 * and `resume` continues it; `run --wait` exits 1 when the run fails;
 * credentials come from flags as well as from the environment; `--input`
 * reads a file or stdin; an idempotency key makes the same run. A dead
 * letter made by driving the worker protocol over HTTP (a failed attempt,
 * retried once, failed again) is listed, shown and replayed with `oris dlq`
 * (a second replay is a conflict, exit 4), its retries shown with `oris
 * attempts retries`.
 */

import assert from "node:assert/strict";
import type { RunCreatedEvent, ThreadId } from "../kernel/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import {
  type OrisOutput,
  ROOT,
  runOris,
  type ServerProcess,
  startServer,
  stopServer,
} from "./_server_process.ts";

const TOKEN = "cli-json-token";
type Data = Record<string, unknown>;

type Oris = OrisOutput;

/**
 * `oris server --graphs tests/fixtures/cli_graphs.ts` (with the examples) for
 * `fn`, on Deno KV in a temp dir (`prepare` writes to it before the server
 * opens it).
 */
async function withServer(
  fn: (server: ServerProcess, dir: string) => Promise<void>,
  prepare?: (dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "oris-cli-json-" });
  await prepare?.(dir);
  const server = await startServer({
    ORIS_KV_PATH: `${dir}/oris.kv`,
    ORIS_API_AUTH_BEARER_TOKEN: TOKEN,
    ORIS_EXAMPLES: "true",
  }, { oris: true, args: ["--graphs", `${ROOT}tests/fixtures/cli_graphs.ts`] });
  try {
    await fn(server, dir);
  } finally {
    // `oris server` stops on SIGTERM, its in-flight work done, with exit code 0.
    assert.equal((await stopServer(server, "SIGTERM")).code, 0);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `oris <args>` as a process; the server and token in the environment unless `env` says. */
function oris(
  server: ServerProcess,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Oris> {
  return runOris(args, {
    env: options.env ?? { ORIS_SERVER_URL: server.base, ORIS_API_TOKEN: TOKEN },
    clearEnv: true,
    ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
  });
}

function ok(result: Oris): string {
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

function jsonOf(result: Oris): Data {
  return JSON.parse(ok(result));
}

/** The API's `data` for a request, as the admin. */
async function api(server: ServerProcess, method: string, path: string): Promise<Data> {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.data;
}

/** Data without its `trace` block (new ids on every request). */
function untraced(data: Data): Data {
  const { trace: _, ...rest } = data;
  return rest;
}

Deno.test("oris as a process: every operator command prints the server's data with --json, tables without", async (t) => {
  await withServer(async (server, dir) => {
    const run = (args: string[]) => oris(server, args);

    await t.step("run, list, inspect, timeline and state", async () => {
      const started = jsonOf(
        await run(["run", "j-1", "--graph", "hello", "--input", '"hi"', "--json"]),
      );
      assert.equal(started.thread_id, "j-1");
      assert.ok(typeof started.status === "string");
      const waited = jsonOf(
        await run(["run", "j-2", "--graph", "hello", "--input", '"hi"', "--wait", "--json"]),
      );
      assert.deepEqual(untraced(waited), untraced(await api(server, "GET", "/v1/jobs/j-2/detail")));
      assert.equal(waited.status, "completed");

      assert.deepEqual(
        jsonOf(await run(["list", "--json"])),
        await api(server, "GET", "/v1/jobs?"),
      );
      const page = jsonOf(await run(["list", "--limit", "1", "--json"]));
      assert.deepEqual(page, await api(server, "GET", "/v1/jobs?limit=1"));
      const cursor = String(page.next_cursor);
      const next = jsonOf(await run(["list", "--limit", "1", "--cursor", cursor, "--json"]));
      assert.deepEqual(next, await api(server, "GET", `/v1/jobs?limit=1&cursor=${cursor}`));
      assert.deepEqual(
        [...(page.jobs as Data[]), ...(next.jobs as Data[])].map((job) => job.thread_id),
        ["j-2", "j-1"],
      );
      const inspected = jsonOf(await run(["inspect", "j-2", "--json"]));
      const { last_events: lastEvents, ...detail } = inspected;
      assert.deepEqual(untraced(detail), untraced(await api(server, "GET", "/v1/jobs/j-2/detail")));
      const timeline = await api(server, "GET", "/v1/jobs/j-2/timeline");
      assert.deepEqual(lastEvents, (timeline.timeline as unknown[]).slice(-5));
      assert.deepEqual(jsonOf(await run(["timeline", "j-2", "--json"])), timeline);
      assert.deepEqual(
        untraced(jsonOf(await run(["state", "j-2", "--json"]))),
        untraced(await api(server, "GET", "/v1/jobs/j-2")),
      );
      const checkpoint = (timeline.timeline as { checkpoint_id?: string }[])
        .find((entry) => entry.checkpoint_id !== undefined)!.checkpoint_id!;
      assert.deepEqual(
        untraced(jsonOf(await run(["state", "j-2", "--checkpoint", checkpoint, "--json"]))),
        untraced(await api(server, "GET", `/v1/jobs/j-2/checkpoints/${checkpoint}`)),
      );
      assert.match(ok(await run(["state", "j-2"])), /^checkpoint:\s+cp_\S+$/m);
    });

    await t.step(
      "interrupts reject ends the run cancelled, audited; in a table and --json",
      async () => {
        ok(
          await run(["run", "r-1", "--graph", "approval", "--input", '{"request":"a"}', "--wait"]),
        );
        ok(
          await run(["run", "r-2", "--graph", "approval", "--input", '{"request":"b"}', "--wait"]),
        );
        const idOf = async (thread: string) => {
          const listed = jsonOf(await run(["interrupts", "list", "--run", thread, "--json"]));
          assert.deepEqual(listed, await api(server, "GET", `/v1/interrupts?run_id=${thread}`));
          return (listed.interrupts as { interrupt_id: string }[])[0]!.interrupt_id;
        };
        const page = jsonOf(await run(["interrupts", "--limit", "1", "--json"]));
        assert.deepEqual(page, await api(server, "GET", "/v1/interrupts?limit=1"));
        const cursor = String(page.next_cursor);
        assert.deepEqual(
          jsonOf(await run(["interrupts", "--limit", "1", "--cursor", cursor, "--json"])),
          await api(server, "GET", `/v1/interrupts?limit=1&cursor=${cursor}`),
        );
        const first = await idOf("r-1");
        const shown = jsonOf(await run(["interrupts", "show", first, "--json"]));
        assert.deepEqual(
          untraced(shown),
          untraced(await api(server, "GET", `/v1/interrupts/${first}`)),
        );
        assert.equal(shown.status, "pending");

        const table = ok(await run(["interrupts", "reject", first, "--reason", "not today"]));
        assert.match(table, /^thread_id:\s+r-1$/m);
        assert.match(table, new RegExp(`^interrupt_id:\\s+${first}$`, "m"));
        assert.match(table, /^status:\s+cancelled$/m);
        assert.match(table, /^reason:\s+not today$/m);
        const second = await idOf("r-2");
        const rejected = jsonOf(await run(["interrupts", "reject", second, "--json"]));
        assert.deepEqual(untraced(rejected), {
          thread_id: "r-2",
          interrupt_id: second,
          status: "cancelled",
          reason: "interrupt rejected",
        });

        assert.match(ok(await run(["interrupts", "show", first])), /^status:\s+rejected$/m);
        assert.match(ok(await run(["inspect", "r-1"])), /^status:\s+cancelled$/m);
        assert.match(ok(await run(["inspect", "r-1"])), /^reason:\s+not today$/m);
        // Answered already: a conflict, exit 4.
        const again = await run(["interrupts", "reject", first]);
        assert.equal(again.code, 4, again.stderr);
        assert.match(again.stderr, /^oris: conflict: /);
        const audit = ok(await run(["audit", "--action", "interrupt.reject"]));
        assert.match(audit, new RegExp(`interrupt\\.reject\\s+${first}\\s+bearer\\s+success`));
      },
    );

    await t.step("interrupts resume, resume, cancel, replay and fork", async () => {
      ok(await run(["run", "c-1", "--graph", "approval", "--input", '{"request":"c"}', "--wait"]));
      const id = (jsonOf(await run(["interrupts", "list", "--run", "c-1", "--json"]))
        .interrupts as { interrupt_id: string }[])[0]!.interrupt_id;
      const resumed = jsonOf(await run(["interrupts", "resume", id, "--value", "true", "--json"]));
      assert.equal(resumed.status, "completed");
      assert.equal(resumed.thread_id, "c-1");

      const waiting = jsonOf(
        await run([
          "run",
          "c-2",
          "--graph",
          "approval",
          "--input",
          '{"request":"d"}',
          "--wait",
          "--json",
        ]),
      );
      // Only if the checkpoint is still the latest: a stale one is a conflict (exit 4).
      const stale = await run(["resume", "c-2", "--value", "true", "--checkpoint-id", "cp_stale"]);
      assert.equal(stale.code, 4, stale.stderr);
      assert.match(stale.stderr, /^oris: conflict: .*"cp_stale" is not its latest/);
      assert.equal((await api(server, "GET", "/v1/jobs/c-2")).checkpoint_id, waiting.checkpoint_id);
      const cancelled = jsonOf(await run(["cancel", "c-2", "--reason", "stop", "--json"]));
      assert.deepEqual([cancelled.thread_id, cancelled.status, cancelled.reason], [
        "c-2",
        "cancelled",
        "stop",
      ]);

      const verified = jsonOf(await run(["replay", "c-1", "--json"]));
      assert.equal(verified.mode, "verify");
      assert.equal(verified.thread_id, "c-1");
      assert.ok((verified.steps as number) > 0);
      // From a checkpoint: the first committed step of c-1.
      const timeline = await api(server, "GET", "/v1/jobs/c-1/timeline");
      const first = (timeline.timeline as { event_type: string; checkpoint_id?: string }[])
        .find((entry) => entry.event_type === "step.committed")!.checkpoint_id!;
      const after = jsonOf(await run(["replay", "c-1", "--checkpoint-id", first, "--json"]));
      assert.equal(after.from_checkpoint_id, first);
      assert.ok((after.steps as number) < (verified.steps as number));
      assert.match(
        ok(await run(["replay", "c-1", "--checkpoint-id", first])),
        new RegExp(`^replay of c-1 matches: \\d+ steps verified after ${first}$`, "m"),
      );
      const rerun = ok(await run(["replay", "c-1", "--mode", "rerun", "--checkpoint-id", first]));
      assert.match(rerun, new RegExp(`^rerun of c-1 from ${first}:$`, "m"));
      assert.match(rerun, new RegExp(`^thread:\\s+c-1-rerun-${first}$`, "m"));
      const fromFirst = jsonOf(
        await run(["fork", "c-1", "--checkpoint-id", first, "--thread-id", "c-1-a", "--json"]),
      );
      assert.equal(fromFirst.thread_id, "c-1-a");
      const forked = jsonOf(await run(["fork", "c-1", "--thread-id", "c-1-b", "--json"]));
      assert.equal(forked.thread_id, "c-1-b");
      assert.deepEqual(
        untraced(jsonOf(await run(["inspect", "c-1-b", "--json"]))).thread_id,
        "c-1-b",
      );
    });

    await t.step("pause stops a running job between two steps; resume continues it", async () => {
      const stop = `${dir}/stop-p-1`;
      const input = JSON.stringify({ stop });
      ok(await run(["run", "p-1", "--graph", "ticker", "--input", input]));
      // Pause it once it is running: its first tick has committed.
      for (let polls = 0;; polls++) {
        const job = await api(server, "GET", "/v1/jobs/p-1");
        if ((job.values as { ticks: number }).ticks > 0) break;
        assert.ok(polls < 600, "the ticker never ticked");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const paused = jsonOf(await run(["pause", "p-1", "--reason", "maintenance", "--json"]));
      assert.deepEqual([paused.thread_id, paused.status, paused.reason], [
        "p-1",
        "paused",
        "maintenance",
      ]);
      const table = ok(await run(["inspect", "p-1"]));
      assert.match(table, /^status:\s+paused$/m);
      assert.match(table, /^reason:\s+maintenance$/m);
      const before = (await api(server, "GET", "/v1/jobs/p-1")).values as { ticks: number };
      await Deno.writeTextFile(stop, "");
      const resumed = jsonOf(await run(["resume", "p-1", "--json"]));
      assert.equal(resumed.status, "completed");
      assert.ok((resumed.values as { ticks: number }).ticks > before.ticks);
      const audit = jsonOf(await run(["audit", "--action", "job.pause", "--json"]));
      assert.deepEqual(audit, await api(server, "GET", "/v1/audit/logs?action=job.pause"));
      assert.equal((audit.logs as { resource_id: string }[])[0]!.resource_id, "p-1");
    });

    await t.step(
      "run --wait and --follow exit 1 when the run fails, naming the error",
      async () => {
        const failed = await run(["run", "b-1", "--graph", "boom", "--wait"]);
        assert.equal(failed.code, 1, failed.stderr);
        assert.match(failed.stdout, /^status:\s+failed$/m);
        assert.match(failed.stdout, /^error:\s+\S+: .*the fuse was lit/m);
        const followed = await run(["run", "b-2", "--graph", "boom", "--follow", "--json"]);
        assert.equal(followed.code, 1, followed.stderr);
        const lines = followed.stdout.trim().split("\n").map((line) => JSON.parse(line));
        assert.equal(lines[0].event, "run.created");
        assert.ok(lines.some((line) => line.event === "run.failed"), followed.stdout);
        const job = lines.at(-1);
        assert.deepEqual(
          untraced(job),
          untraced(await api(server, "GET", "/v1/jobs/b-2/detail")),
        );
        assert.equal(job.status, "failed");
      },
    );

    await t.step(
      "keys create, list and revoke; a created key's secret is printed once",
      async () => {
        const created = jsonOf(
          await run(["keys", "create", "script", "--role", "operator", "--json"]),
        );
        assert.equal(created.key_id, "script");
        assert.equal(created.role, "operator");
        assert.equal(typeof created.secret, "string");
        const keys = jsonOf(await run(["keys", "list", "--json"]));
        assert.deepEqual(keys, await api(server, "GET", "/v1/keys?"));
        assert.doesNotMatch(JSON.stringify(keys), new RegExp(created.secret as string));
        const table = ok(await run(["keys", "list"]));
        assert.match(table, /^KEY_ID\s+ROLE\s+STATUS\s+CREATED_AT$/m);
        assert.match(table, /^script\s+operator\s+active\s+\S+$/m);
        const revoked = jsonOf(await run(["keys", "revoke", "script", "--json"]));
        assert.deepEqual([revoked.key_id, revoked.status], ["script", "disabled"]);
        const audit = jsonOf(await run(["audit", "--json"]));
        assert.deepEqual(audit, await api(server, "GET", "/v1/audit/logs?"));
        assert.deepEqual(
          (audit.logs as { action: string }[]).slice(0, 2).map((row) => row.action),
          ["key.revoke", "key.create"],
        );
      },
    );
  });
});

Deno.test("oris as a process: credentials from flags, --input from a file or stdin, idempotency keys", async () => {
  await withServer(async (server, dir) => {
    // No environment at all: the server and credentials are flags.
    const bare = (args: string[], stdin?: string) =>
      oris(server, args, { env: {}, ...(stdin === undefined ? {} : { stdin }) });
    const denied = await bare(["list", "--server", server.base]);
    assert.equal(denied.code, 5, denied.stderr);
    assert.match(denied.stderr, /^oris: unauthorized: /);
    const withToken = ["--server", server.base, "--token", TOKEN];
    assert.match(ok(await bare(["list", ...withToken])), /^THREAD_ID/);

    const created = jsonOf(await bare(["keys", "create", "flags", "--json", ...withToken]));
    const withKey = [
      "--server",
      server.base,
      "--api-key-id",
      "flags",
      "--api-key",
      String(created.secret),
    ];
    await Deno.writeTextFile(`${dir}/input.json`, '{"request":"from a file"}');
    const fromFile = jsonOf(
      await bare([
        "run",
        "i-1",
        "--graph",
        "approval",
        "--input",
        `@${dir}/input.json`,
        "--wait",
        "--json",
        ...withKey,
      ]),
    );
    assert.equal(fromFile.status, "interrupted");
    const state = jsonOf(await bare(["state", "i-1", "--json", ...withKey]));
    assert.equal((state.values as { request: string }).request, "from a file");
    const fromStdin = jsonOf(
      await bare([
        "run",
        "i-2",
        "--graph",
        "approval",
        "--input",
        "-",
        "--wait",
        "--json",
        ...withKey,
      ], '{"request":"piped"}'),
    );
    assert.equal(fromStdin.status, "interrupted");
    const piped = jsonOf(await bare(["state", "i-2", "--json", ...withKey]));
    assert.equal((piped.values as { request: string }).request, "piped");
    const answered = jsonOf(
      await bare(["resume", "i-2", "--value", "-", "--json", ...withKey], "true"),
    );
    assert.equal(answered.status, "completed");
    const wrongKey = await bare([
      "list",
      "--server",
      server.base,
      "--api-key-id",
      "flags",
      "--api-key",
      "nope",
    ]);
    assert.equal(wrongKey.code, 5, wrongKey.stderr);
    const missingFile = await bare(["run", "i-3", "--input", `@${dir}/none.json`, ...withKey]);
    assert.equal(missingFile.code, 2);
    assert.match(missingFile.stderr, /^oris: --input: cannot read /);

    // The same idempotency key and input is the same run; another input under it, a conflict.
    const keyed = ["--graph", "hello", "--idempotency-key", "k-1", "--wait", "--json", ...withKey];
    const first = jsonOf(await bare(["run", "k-1", "--input", '"hi"', ...keyed]));
    const second = jsonOf(await bare(["run", "k-1", "--input", '"hi"', ...keyed]));
    assert.equal(second.checkpoint_id, first.checkpoint_id);
    const clash = await bare(["run", "k-1", "--input", '"other"', ...keyed]);
    assert.equal(clash.code, 4, clash.stderr);
    assert.match(clash.stderr, /^oris: conflict: /);
  });
});

/** A worker's call over HTTP (as the admin, who may act as a worker). */
async function worker(server: ServerProcess, path: string, body: unknown): Promise<Data> {
  const response = await fetch(`${server.base}/v1/workers${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer.data;
}

Deno.test("oris dlq and oris attempts: a dead letter made through the worker protocol is listed, shown and replayed once", async () => {
  const graph = "remote-only";
  await withServer(async (server) => {
    const policy = { strategy: "fixed", backoff_ms: 50, max_retries: 1 };
    const first = await worker(server, "/poll", { worker_id: "w-1", graphs: [graph] });
    assert.equal(first.decision, "dispatched", JSON.stringify(first));
    const attemptId = String(first.attempt_id);
    const retried = await worker(server, "/w-1/ack", {
      attempt_id: attemptId,
      terminal_status: "failed",
      retry_policy: policy,
    });
    assert.equal(retried.status, "retry_scheduled");
    // Poll until the retry is due (the backoff is short; the guard only stops a hang).
    const guard = Date.now() + 30_000;
    let second = await worker(server, "/poll", { worker_id: "w-1", graphs: [graph] });
    while (second.decision !== "dispatched") {
      assert.ok(Date.now() < guard, "the retry was never dispatched");
      await new Promise((resolve) => setTimeout(resolve, 20));
      second = await worker(server, "/poll", { worker_id: "w-1", graphs: [graph] });
    }
    assert.deepEqual([second.attempt_id, second.attempt_no], [attemptId, 2]);
    const dead = await worker(server, "/w-1/ack", {
      attempt_id: attemptId,
      terminal_status: "failed",
      retry_policy: policy,
    });
    assert.equal(dead.status, "failed");

    const run = (args: string[]) => oris(server, args);
    // The attempt's retries.
    const retries = jsonOf(await run(["attempts", "retries", attemptId, "--json"]));
    assert.deepEqual(retries, await api(server, "GET", `/v1/attempts/${attemptId}/retries`));
    assert.equal((retries.history as Data[]).length, 1);
    const retriesTable = ok(await run(["attempts", "retries", attemptId]));
    assert.match(retriesTable, /^current_attempt_no:\s+2$/m);
    assert.match(retriesTable, /^RETRY\s+ATTEMPT\s+STRATEGY\s+BACKOFF_MS/m);
    assert.match(retriesTable, /^1\s+2\s+fixed\s+50\s+1\s/m);
    assert.equal((await run(["attempts", "retries", "at_nope"])).code, 3);

    // The dead letter: listed, shown, in a table and --json.
    const listed = jsonOf(await run(["dlq", "--json"]));
    assert.deepEqual(listed, await api(server, "GET", "/v1/dlq?"));
    assert.deepEqual((listed.entries as Data[]).map((entry) => entry.attempt_id), [attemptId]);
    assert.deepEqual(
      jsonOf(await run(["dlq", "list", "--status", "pending", "--limit", "5", "--json"])),
      await api(server, "GET", "/v1/dlq?status=pending&limit=5"),
    );
    assert.match(
      ok(await run(["dlq", "list"])),
      new RegExp(`^${attemptId}\\s+dl-1\\s+2\\s+terminal_failed\\s+\\S+\\s+pending$`, "m"),
    );
    const shown = jsonOf(await run(["dlq", "show", attemptId, "--json"]));
    assert.deepEqual(shown, await api(server, "GET", `/v1/dlq/${attemptId}`));
    assert.deepEqual([shown.run_id, shown.replay_status, shown.replay_count], [
      "dl-1",
      "pending",
      0,
    ]);
    assert.match(ok(await run(["dlq", "show", attemptId])), /^replay_status:\s+pending$/m);
    const missing = await run(["dlq", "show", "at_nope"]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /^oris: not_found: /);
    const noId = await run(["dlq", "replay"]);
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /^oris: dlq replay needs an attempt id$/m);
    assert.equal((await run(["dlq", "list", "--status", "nope"])).code, 2);

    // Replayed once; again, a conflict (exit 4); audited.
    const replayed = jsonOf(await run(["dlq", "replay", attemptId, "--json"]));
    assert.deepEqual(untraced(replayed), {
      attempt_id: attemptId,
      status: "requeued",
      replay_count: 1,
    });
    const again = await run(["dlq", "replay", attemptId]);
    assert.equal(again.code, 4, again.stderr);
    assert.match(again.stderr, /^oris: conflict: /);
    assert.deepEqual(
      jsonOf(await run(["dlq", "--status", "replayed", "--json"])),
      await api(server, "GET", "/v1/dlq?status=replayed"),
    );
    assert.match(ok(await run(["dlq", "show", attemptId])), /^replay_status:\s+replayed$/m);
    assert.match(
      ok(await run(["audit", "--action", "dlq.replay"])),
      new RegExp(`dlq\\.replay\\s+${attemptId}\\s+bearer\\s+error`),
    );
    // The replayed attempt is dispatched again.
    const requeued = await worker(server, "/poll", { worker_id: "w-2", graphs: [graph] });
    assert.equal(requeued.attempt_id, attemptId);
  }, async (dir) => {
    // A queued run of a graph the server does not serve (the Deno KV store's
    // run index is its process's, read at its first claim: the run is written
    // before the server starts): only this test's worker takes it.
    {
      await using store = await KvStore.open({ path: `${dir}/oris.kv` });
      const event: RunCreatedEvent = {
        type: "run.created",
        v: 1,
        at: Date.now(),
        threadId: "dl-1" as ThreadId,
        graph,
        input: null,
        payloadHash: "h-dl-1",
        state: {},
        next: [],
      };
      await store.createRun(event);
    }
  });
});

Deno.test("oris server: a --graphs module that cannot be loaded stops the start with one line, exit 1", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/main.ts", "server", "--graphs", "./no/such/graphs.ts"],
    cwd: ROOT,
    env: { NO_COLOR: "1", ORIS_KV_PATH: ":memory:", ORIS_SERVER_ADDR: "127.0.0.1:0" },
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr).trim();
  assert.equal(output.code, 1, stderr);
  assert.match(stderr, /^oris: cannot start: Cannot load graph module "\.\/no\/such\/graphs\.ts"/);
  assert.equal(stderr.split("\n").length, 1, stderr);
});
