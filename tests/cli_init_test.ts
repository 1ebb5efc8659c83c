/**
 * `oris init`: the project it writes (service and agent templates, linked to
 * this checkout of Oris with `--link`, as the README's offline override
 * documents) passes `deno task test` inside it, and its server starts and
 * answers; a bad template or a directory that is not empty is refused and
 * writes nothing.
 */

import assert from "node:assert/strict";
import { runCli } from "../cli/main.ts";
import { listeningAddress, ROOT } from "./_server_process.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-init-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function denoIn(dir: string, args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    out: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

for (const template of ["service", "agent", "worker"]) {
  Deno.test(`oris init --template ${template}: the project passes deno task test`, async () => {
    await withDir(async (dir) => {
      const project = `${dir}/my-${template}`;
      const init = await runCli(["init", project, "--template", template, "--link", ROOT], {});
      assert.equal(init.code, 0, init.stderr.join("\n"));
      const files = [];
      for await (const entry of Deno.readDir(project)) files.push(entry.name);
      assert.deepEqual(files.sort(), [
        ".gitignore",
        "README.md",
        "deno.json",
        "graph.ts",
        "graph_test.ts",
        "main.ts",
      ]);
      const config = JSON.parse(await Deno.readTextFile(`${project}/deno.json`));
      assert.match(config.imports["@oris/runtime"], /^jsr:@oris\/runtime@\^/);
      assert.deepEqual(config.links, [ROOT.replace(/\/$/, "")]);
      const test = await denoIn(project, ["task", "test"]);
      assert.equal(test.code, 0, test.out);
      assert.match(test.out, /2 passed \| 0 failed/);
    });
  });
}

Deno.test("oris init: the service starts and answers", async () => {
  await withDir(async (dir) => {
    const project = `${dir}/svc`;
    assert.equal((await runCli(["init", project, "--link", ROOT], {})).code, 0);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts"],
      cwd: project,
      env: { NO_COLOR: "1", PORT: "0", ORIS_KV_PATH: `${dir}/oris.kv` },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new Response(child.stdout).text();
    try {
      const base = await listeningAddress(child.stderr);
      const run = await fetch(`${base}/v1/jobs/run`, {
        method: "POST",
        body: JSON.stringify({ thread_id: "r-1", input: { request: "ship" } }),
      });
      const body = await run.json();
      assert.equal(body.data.status, "interrupted");
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await stdout;
    }
  });
});

Deno.test("oris init refuses an unknown template and a directory that is not empty", async () => {
  await withDir(async (dir) => {
    const bad = await runCli(["init", `${dir}/x`, "--template", "nope"], {});
    assert.equal(bad.code, 2);
    assert.match(bad.stderr[0]!, /--template must be one of service, agent, worker, got "nope"/);
    await assert.rejects(Deno.stat(`${dir}/x`));
    await Deno.writeTextFile(`${dir}/keep.txt`, "mine");
    const busy = await runCli(["init", dir], {});
    assert.equal(busy.code, 4);
    assert.match(busy.stderr[0]!, /is not empty/);
    assert.equal(await Deno.readTextFile(`${dir}/keep.txt`), "mine");
  });
});
