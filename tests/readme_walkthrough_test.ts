/**
 * The README's walk-through ("Your own service, from nothing") works as
 * written: its commands run one by one through bash, with `deno install`
 * installing the `oris` command into a temporary root (so it is tested as a
 * user installs it, outside this repository) and the project written to a
 * temporary directory instead of `../my-service`; the service starts (on a
 * free port instead of 8080) and the CLI commands of the second block drive
 * it, each printing the status its comment names. The installed command
 * also runs `oris server --help` and `oris migrate --status` outside the
 * checkout (they need the import map that `--config deno.json` installs).
 */

import assert from "node:assert/strict";
import { dirname } from "node:path";
import { listeningAddress, ROOT } from "./_server_process.ts";

/** The sh blocks of the README's section `title`, as lines without their comments. */
async function shBlocks(title: string): Promise<{ command: string; comment: string }[][]> {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const start = readme.indexOf(`## ${title}\n`);
  assert.ok(start >= 0, `README has no section "${title}"`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) =>
    match[1]!.trim().split("\n").map((line) => {
      const [command, ...comment] = line.split(" # ");
      return { command: command!.trim(), comment: comment.join(" # ").trim() };
    })
  );
}

Deno.test("README: the walk-through from nothing to a running service of one's own works as written", async () => {
  const [setup, drive] = await shBlocks("Your own service, from nothing");
  assert.ok(setup !== undefined && drive !== undefined);
  const tmp = await Deno.makeTempDir({ prefix: "oris-readme-" });
  const project = `${tmp}/my-service`;
  const env: Record<string, string> = {
    PATH: `${tmp}/bin:${dirname(Deno.execPath())}:/usr/local/bin:/usr/bin:/bin`,
    HOME: Deno.env.get("HOME") ?? tmp,
    NO_COLOR: "1",
  };
  // Deno's cache, where this process found it (the npm packages are there already).
  for (const key of ["DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  const bash = async (command: string, cwd: string) => {
    const output = await new Deno.Command("bash", {
      args: ["-c", command],
      cwd,
      env,
      clearEnv: true,
      stdin: "null",
    }).output();
    const decoder = new TextDecoder();
    const text = decoder.decode(output.stdout) + decoder.decode(output.stderr);
    assert.equal(output.code, 0, `${command}\n${text}`);
    return decoder.decode(output.stdout);
  };
  let service: Deno.ChildProcess | null = null;
  try {
    let cwd = ROOT;
    for (const { command } of setup) {
      const line = command.replaceAll("../my-service", project);
      if (line.startsWith("deno install ")) {
        await bash(line.replace("deno install ", `deno install --root ${tmp} `), cwd);
        // Installed with its import map: the processes load outside the checkout too.
        assert.match(await bash("oris server --help", tmp), /^Usage: oris server/);
        assert.match(await bash("oris --version", tmp), /^oris \d+\.\d+\.\d+/);
      } else if (line.startsWith("cd ")) {
        cwd = line.slice(3);
      } else if (line === "deno task start") {
        service = new Deno.Command("bash", {
          args: ["-c", `exec ${line}`],
          cwd,
          env: { ...env, PORT: "0", ORIS_KV_PATH: `${tmp}/oris.kv` },
          clearEnv: true,
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
      } else {
        await bash(line, cwd);
      }
    }
    assert.equal(cwd, project);
    assert.ok(service !== null, "the walk-through starts the service");
    env.ORIS_SERVER_URL = await listeningAddress(service.stderr);
    for (const { command, comment } of drive) {
      const out = await bash(command, cwd);
      const status = /^status: (\w+)/.exec(comment)?.[1];
      if (status !== undefined) {
        assert.match(out, new RegExp(`^status:\\s+${status}$`, "m"), command);
      }
    }
    const inspect = await bash("oris inspect order-1 --json", cwd);
    assert.equal(JSON.parse(inspect).graph, "review");
    const layout = JSON.parse(
      await bash(`oris migrate --status --kv-path ${tmp}/oris.kv --json`, cwd),
    );
    assert.equal(layout.pending, false);
  } finally {
    if (service !== null) {
      service.kill("SIGTERM");
      await service.status;
    }
    await Deno.remove(tmp, { recursive: true });
  }
});
