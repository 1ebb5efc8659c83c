/**
 * The examples run as their README says (`deno run -A examples/<name>.ts`)
 * and print what they show: time travel (history, fork, state edit),
 * verified replay (a clean replay, a nondeterministic node caught) and a
 * durable job resumed by another process on Deno KV, and the hello,
 * approval and agent examples of the README.
 */

import assert from "node:assert/strict";
import { embeddedService } from "../examples/embedded_service.ts";
import { ROOT, startServer, stopServer } from "./_server_process.ts";

async function runExample(
  name: string,
  args: string[] = [],
  options: { clearEnv?: boolean } = {},
): Promise<string> {
  // clearEnv: no model provider's key or host from this environment (the agents stay scripted).
  const kept = ["HOME", "PATH", "DENO_DIR"].flatMap((key) => {
    const value = Deno.env.get(key);
    return value === undefined ? [] : [[key, value] as const];
  });
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `examples/${name}`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...(options.clearEnv === true ? Object.fromEntries(kept) : {}) },
    clearEnv: options.clearEnv === true,
    stdin: "null",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  return new TextDecoder().decode(output.stdout);
}

Deno.test("examples/time_travel.ts: history, a fork from an earlier checkpoint, a state edit", async () => {
  const out = await runExample("time_travel.ts");
  assert.match(out, /^run: interrupted with "An essay on rivers\."$/m);
  assert.match(
    out,
    /^history: step 2 next \[review\]; step 1 next \[write\]; step 0 next \[outline\]$/m,
  );
  assert.match(out, /^fork: interrupted with "An essay on mountains\."$/m);
  assert.match(out, /^edited: paused at step 3$/m);
  assert.match(out, /^done: A short essay on rivers\. \(polished\)$/m);
  assert.match(out, /^before the edit: An essay on rivers\.$/m);
});

Deno.test("examples/replay_check.ts: a clean replay, and a nondeterministic node caught", async () => {
  const out = await runExample("replay_check.ts");
  assert.match(out, /^good: 2 steps verified, the charge ran 1 time$/m);
  assert.match(out, /^bad: caught at step 1 in node "draw"$/m);
});

Deno.test("examples/durable_job.ts: interrupted in one process, resumed in another on Deno KV", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-durable-" });
  try {
    const first = await runExample("durable_job.ts", ["start", `${dir}/job.kv`]);
    assert.match(first, /^reserving stock for order-7 \(pid \d+\)$/m);
    assert.match(first, /^status: interrupted$/m);
    assert.match(first, /^question: Ship reservation of order-7\?$/m);
    const second = await runExample("durable_job.ts", ["resume", `${dir}/job.kv`, "yes"]);
    assert.doesNotMatch(second, /reserving/, "the journaled reservation is not made again");
    assert.match(second, /^status: completed$/m);
    assert.match(second, /^log: shipped order-7$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/operator.sh: the operator's CLI session runs against a real server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-operator-" });
  const server = await startServer({
    ORIS_KV_PATH: `${dir}/oris.kv`,
    ORIS_API_AUTH_BEARER_TOKEN: "operator-token",
  });
  try {
    const output = await new Deno.Command("bash", {
      args: ["examples/operator.sh", "op-1"],
      cwd: ROOT,
      env: { ORIS_SERVER_URL: server.base, ORIS_API_TOKEN: "operator-token", NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, `${stdout}\n${new TextDecoder().decode(output.stderr)}`);
    assert.match(stdout, /^status:\s+interrupted$/m);
    assert.match(stdout, /^INTERRUPT_ID\s+THREAD_ID/m);
    assert.match(stdout, /Pending interrupts/);
    assert.match(stdout, /^status:\s+completed$/m);
    assert.match(stdout, /run\.completed/);
    assert.match(stdout, /^replay of op-1 matches: \d+ steps verified$/m);
    assert.match(stdout, /job\.resume\s+op-1\s+bearer\s+success/);
    assert.match(stdout, /^op-1\s+completed\s+approval/m);
  } finally {
    await stopServer(server, "SIGTERM");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/parallel_research.ts: a fan-out with Send in one step, merged", async () => {
  const out = await runExample("parallel_research.ts");
  assert.match(out, /^tasks in one step: 3$/m);
  assert.match(out, /^summary: tides: 3 findings \(notes on causes of tides; /m);
});

Deno.test("examples/embedded_service.ts: the user's routes beside the Oris API under /v1, with auth", async () => {
  const service = await embeddedService("s3cret");
  try {
    const home = await service.fetch(new Request("http://shop/"));
    assert.equal(await home.text(), "my shop");
    const denied = await service.fetch(
      new Request("http://shop/v1/jobs/run", { method: "POST", body: "{}" }),
    );
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const run = await service.fetch(
      new Request("http://shop/v1/jobs/run", {
        method: "POST",
        headers: { authorization: "Bearer s3cret" },
        body: JSON.stringify({ thread_id: "o-1", input: { request: "ship" } }),
      }),
    );
    assert.equal((await run.json()).data.status, "interrupted");
    const order = await service.fetch(new Request("http://shop/orders/o-1"));
    assert.deepEqual(await order.json(), { order: "o-1", status: "interrupted" });
    const missing = await service.fetch(new Request("http://shop/orders/none"));
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await service.close();
  }
});

Deno.test("examples/hello.ts and approval.ts: the graphs of the README, run as they are", async () => {
  assert.equal(await runExample("hello.ts"), "human: hi!\nai: hello world\n");
  const approval = await runExample("approval.ts");
  assert.match(approval, /^interrupted \{\n\s+question: "Approve this action\?"/);
  assert.match(approval, /^completed .*\[ "prepared", "approved", "performed" \]$/m);
});

Deno.test("examples/agent.ts and agent_approval.ts: scripted agents, a tool call approved", async () => {
  const agent = await runExample("agent.ts", [], { clearEnv: true });
  assert.match(agent, /^tool: sunny, 21 °C$/m);
  assert.match(agent, /^ai: The weather in Paris: sunny, 21 °C\.$/m);
  const approval = await runExample("agent_approval.ts", [], { clearEnv: true });
  assert.match(approval, /^interrupted \{"action_requests":\[\{"name":"transfer_money"/);
  assert.match(approval, /^completed Done: /m);
});

Deno.test("examples/worker.ts: a worker executes the server's run; the resume goes through the server", async () => {
  const out = await runExample("worker.ts");
  assert.match(out, /^started: queued$/m);
  assert.match(out, /^worker ran it to: interrupted$/m);
  assert.match(out, /^resumed through the server: completed$/m);
  assert.match(out, /^log: reserved res-order-7 \(pid \d+\); shipped$/m);
  assert.match(out, /^reservations made: 1$/m);
});
