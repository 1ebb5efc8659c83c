/**
 * Serving your own graphs: the server started as a process with
 * `ORIS_GRAPHS` (or `--graphs`) serves the compiled graphs a user's module
 * exports (by name, or a default record) instead of the examples (unless
 * `ORIS_EXAMPLES=true`); a module that cannot be loaded or exports no graph
 * stops the start with one line naming it; and a graph deployed in a new
 * shape while a run waits makes the run fail with `graph_changed` when it
 * needs a node that is gone, the log and the detail saying so.
 */

import assert from "node:assert/strict";
import { ROOT, type ServerProcess, startServer, stopServer } from "./_server_process.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/** A module with graph `greeter` (and, with `ask`, a `review` graph: `plan` -> `ask` -> `done`). */
function userModule(options: { review?: "v1" | "v2"; record?: boolean } = {}): string {
  const review = options.review === undefined ? "" : `
export const review = new StateGraph(State)
  .addNode("plan", () => ({ log: ["plan"] }))
  ${
    options.review === "v1"
      ? `.addNode("ask", async () => ({ log: ["ask:" + await interrupt("ok?")] }))
  .addNode("done", () => ({ log: ["done"] }))
  .addEdge(START, "plan").addEdge("plan", "ask").addEdge("ask", "done").addEdge("done", END)`
      : `.addNode("done", () => ({ log: ["done"] }))
  .addEdge(START, "plan").addEdge("plan", "done").addEdge("done", END)`
  }
  .compile();`;
  return `import { defineState, END, interrupt, START, StateGraph } from "${MOD}";
const State = defineState({
  log: { default: () => [], reducer: (a, b) => [...a, ...b] },
});
export const helper = 42;
${options.record === true ? "const greeter =" : "export const greeter ="} new StateGraph(State)
  .addNode("greet", () => ({ log: ["hi"] }))
  .addEdge(START, "greet").addEdge("greet", END)
  .compile();
${options.record === true ? "export default { welcome: greeter };" : ""}
${review}
`;
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

function listenedGraphs(server: ServerProcess): string[] {
  const line = server.lines.find((line) => line.includes("oris server listening"))!;
  return JSON.parse(line).graphs;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "oris-graphs-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("user graphs: ORIS_GRAPHS serves a module's named graphs and not the examples", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/graphs.ts`, userModule());
    // A path relative to the working directory.
    const server = await startServer(
      { ORIS_KV_PATH: `${dir}/oris.kv`, ORIS_GRAPHS: "graphs.ts" },
      { args: [], cwd: dir },
    );
    try {
      assert.deepEqual(listenedGraphs(server), ["greeter"]);
      // Without a graph, a run runs the first of the user's graphs.
      const run = await api(server.base, "POST", "/v1/jobs/run", { thread_id: "u-1" });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      assert.equal(run.body.data.status, "completed");
      assert.deepEqual(run.body.data.values, { log: ["hi"] });
      const hello = await api(server.base, "POST", "/v1/jobs/run", {
        thread_id: "u-2",
        graph: "hello",
      });
      assert.equal(hello.status, 400);
      assert.equal(hello.body.error.code, "invalid_argument");
      assert.deepEqual(hello.body.error.details.known, ["greeter"]);
    } finally {
      assert.equal((await stopServer(server, "SIGTERM")).code, 0);
    }
  });
});

Deno.test("user graphs: --graphs serves a default record, and ORIS_EXAMPLES=true the examples too", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/record.ts`, userModule({ record: true }));
    const server = await startServer(
      { ORIS_KV_PATH: `${dir}/oris.kv`, ORIS_EXAMPLES: "true" },
      { args: ["--graphs", `${dir}/record.ts`] },
    );
    try {
      assert.deepEqual(listenedGraphs(server).sort(), ["agent", "approval", "hello", "welcome"]);
      const run = await api(server.base, "POST", "/v1/jobs/run", {
        thread_id: "r-1",
        graph: "welcome",
      });
      assert.equal(run.body.data.status, "completed");
    } finally {
      assert.equal((await stopServer(server, "SIGTERM")).code, 0);
    }
  });
});

Deno.test("user graphs: a module that fails to load or exports no graph stops the start, naming it", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/empty.ts`, "export const answer = 42;\n");
    await Deno.writeTextFile(`${dir}/broken.ts`, 'throw new Error("boom at import");\n');
    for (
      const [module, expected] of [
        [
          `${dir}/missing.ts`,
          new RegExp(`^oris: cannot start: Cannot load graph module "${dir}/missing\\.ts": `),
        ],
        [
          `${dir}/broken.ts`,
          new RegExp(`^oris: cannot start: Cannot load graph module "${dir}/broken\\.ts": .*boom`),
        ],
        [
          `${dir}/empty.ts`,
          new RegExp(
            `^oris: cannot start: Cannot serve graph module "${dir}/empty\\.ts": it exports no compiled graph`,
          ),
        ],
      ] as const
    ) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "server/main.ts"],
        cwd: ROOT,
        env: { NO_COLOR: "1", ORIS_KV_PATH: `${dir}/oris.kv`, ORIS_GRAPHS: module },
        stdin: "null",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr).trim();
      assert.equal(output.code, 1, stderr);
      assert.match(stderr, expected);
      assert.equal(stderr.split("\n").length, 1, stderr);
      assert.doesNotMatch(new TextDecoder().decode(output.stdout), /listening/);
    }
  });
});

Deno.test("user graphs: a graph changed with a run in flight fails the run with graph_changed", async () => {
  await withDir(async (dir) => {
    const env = { ORIS_KV_PATH: `${dir}/oris.kv`, ORIS_GRAPHS: `${dir}/graphs.ts` };
    await Deno.writeTextFile(`${dir}/graphs.ts`, userModule({ review: "v1" }));
    const first = await startServer(env);
    let second: ServerProcess | null = null;
    try {
      const run = await api(first.base, "POST", "/v1/jobs/run", {
        thread_id: "change-1",
        graph: "review",
      });
      assert.equal(run.body.data.status, "interrupted", JSON.stringify(run.body));
      const before = await api(first.base, "GET", "/v1/jobs/change-1/detail");
      assert.equal(before.body.data.graph_changed, false);
      assert.equal((await stopServer(first, "SIGTERM")).code, 0);

      // The new version no longer has the node the run waits in.
      await Deno.writeTextFile(`${dir}/graphs.ts`, userModule({ review: "v2" }));
      second = await startServer(env);
      const detail = await api(second.base, "GET", "/v1/jobs/change-1/detail");
      assert.equal(detail.body.data.graph_changed, true);
      assert.equal(detail.body.data.graph_fingerprint, before.body.data.graph_fingerprint);
      const resumed = await api(second.base, "POST", "/v1/jobs/change-1/resume", { value: "yes" });
      assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
      assert.equal(resumed.body.data.status, "failed");
      assert.equal(resumed.body.data.error.code, "graph_changed");
      assert.equal(resumed.body.data.error.node, "ask");
      const warning = second.lines.map((line) => JSON.parse(line)).find((entry) =>
        entry.msg === "The run's graph changed since the run was created" ||
        entry.message === "The run's graph changed since the run was created"
      );
      assert.equal(warning?.thread_id, "change-1");
      assert.equal(warning?.recorded_fingerprint, before.body.data.graph_fingerprint);
    } finally {
      if (second !== null) await stopServer(second, "SIGTERM");
    }
  });
});
