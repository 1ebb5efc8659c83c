/**
 * `oris init <dir> [--template service|agent|worker] [--link <path>]`:
 * writes a small project that starts with `deno task start` and passes
 * `deno task test`: a deno.json importing `@oris/runtime` from JSR, one
 * graph, an entry point (a server; for `worker`, a worker executing the
 * graph for a server), a test and a README. `--link` points the project at a
 * local checkout of Oris instead of JSR (Deno's `links`), for offline use.
 *
 * @module
 */

import { join, resolve } from "node:path";
import denoJson from "../../deno.json" with { type: "json" };
import { CliError, UsageError } from "../_http.ts";
import type { CommandSpec } from "../_command.ts";

const TEMPLATES = ["service", "agent", "worker"] as const;
type Template = typeof TEMPLATES[number];

const SERVICE_GRAPH = `import { defineState, END, START, StateGraph } from "@oris/runtime";

const State = defineState({
  request: { default: () => "" },
  approved: { default: (): boolean | null => null },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** Plans a request, asks a person to approve it, then performs it (once) or records the refusal. */
export const review = new StateGraph(State)
  .addNode("plan", (state) => ({ log: [\`planned \${state.request}\`] }))
  .addNode("approve", async (_state, ctx) => ({
    approved: await ctx.interrupt<boolean>({ question: "Approve this request?" }),
  }))
  .addNode("perform", async (state, ctx) => {
    // Effects are journaled: a re-execution returns the recorded result.
    const at = await ctx.effect("perform", () => new Date().toISOString());
    return { log: [\`performed \${state.request} at \${at}\`] };
  })
  .addNode("refuse", () => ({ log: ["refused"] }))
  .addEdge(START, "plan")
  .addEdge("plan", "approve")
  .addConditionalEdges("approve", (state) => state.approved ? "perform" : "refuse", [
    "perform",
    "refuse",
  ])
  .addEdge("perform", END)
  .addEdge("refuse", END)
  .compile({ name: "review" });
`;

const AGENT_GRAPH = `import { createAgent, ScriptedModel, tool } from "@oris/runtime/agents";
import { z } from "zod";

/** A tool the agent may call: its result is journaled like any effect. */
const getWeather = tool({
  name: "get_weather",
  description: "The weather in a city",
  schema: z.object({ city: z.string().describe("The city") }),
  run: ({ city }) => \`Sunny in \${city}\`,
});

/**
 * An agent with a scripted model (no API key needed): use a provider's model
 * from @oris/runtime/agents instead (OpenAI, Anthropic, Ollama).
 */
export const review = createAgent({
  name: "review",
  model: new ScriptedModel({
    replies: [{ tool_calls: [{ name: "get_weather", args: { city: "Paris" } }] }, "Sunny."],
  }),
  tools: [getWeather],
  system: "Answer weather questions briefly.",
});
`;

const WORKER_MAIN = `/**
 * The worker: executes the runs of graph.ts that an Oris server dispatches to
 * it (a server started with ORIS_EXECUTION=workers that serves the same
 * graphs), until SIGINT or SIGTERM. \`deno task start\`.
 */
import { createWorker, type WorkerCredentials } from "@oris/runtime";
import { review } from "./graph.ts";

const env = Deno.env.toObject();
const credentials: WorkerCredentials = {};
if (env.ORIS_API_KEY_ID) credentials.apiKeyId = env.ORIS_API_KEY_ID;
if (env.ORIS_API_KEY) credentials.apiKey = env.ORIS_API_KEY;
const worker = createWorker({
  server: env.ORIS_SERVER_URL ?? "http://127.0.0.1:8080",
  credentials,
  graphs: { review },
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void worker.stop());
}
await worker.stopped;
`;

function mainTs(): string {
  return `/**
 * The service: serves the graphs of graph.ts over the Oris v1 API, runs stored
 * in Deno KV (ORIS_KV_PATH, default oris.kv). \`deno task start\`.
 */
import { createRuntime } from "@oris/runtime";
import { createServer } from "@oris/runtime/server";
import { KvStore } from "@oris/runtime/storage/kv";
import { review } from "./graph.ts";

const store = await KvStore.open({ path: Deno.env.get("ORIS_KV_PATH") ?? "oris.kv" });
const runtime = createRuntime({ store });
runtime.register(review.definition);
const server = await createServer({ runtime, defaultGraph: "review" });
const port = Number(Deno.env.get("PORT") ?? 8080);
Deno.serve({ hostname: "127.0.0.1", port }, server.app.fetch);
await runtime.recover();
`;
}

function testTs(template: Template): string {
  const body = template !== "agent"
    ? `  const first = await runtime.invoke("review", { request: "ship v1" }, { threadId: "t-1" });
  assert.equal(first.status, "interrupted");
  const done = await runtime.resume("t-1", true);
  assert.equal(done.status, "completed");
  assert.match(String((done.state.log as string[]).at(-1)), /^performed ship v1/);`
    : `  const done = await runtime.invoke("review", { messages: [humanMessage("Weather in Paris?")] }, {
    threadId: "t-1",
  });
  assert.equal(done.status, "completed");
  assert.equal((done.state.messages as { content: unknown }[]).at(-1)?.content, "Sunny.");`;
  const second = template === "worker"
    ? `Deno.test("the worker starts and stops", async () => {
  // Nothing listens on port 9: the worker retries quietly until it is stopped.
  const worker = createWorker({
    server: "http://127.0.0.1:9",
    graphs: { review },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  assert.equal(worker.activeRuns(), 0);
  await worker.stop();
});
`
    : `Deno.test("the service answers over the v1 API", async () => {
  await using runtime = createRuntime();
  runtime.register(review.definition);
  const server = await createServer({ runtime, defaultGraph: "review" });
  try {
    const response = await server.app.request("/healthz");
    assert.equal(response.status, 200);
    await response.body?.cancel();
  } finally {
    await server.close();
  }
});
`;
  const names = [
    "createRuntime",
    ...template === "agent" ? ["humanMessage"] : [],
    ...template ===
        "worker"
      ? ["createWorker"]
      : [],
  ];
  return `import assert from "node:assert/strict";
import { ${names.join(", ")} } from "@oris/runtime";
${
    template === "worker"
      ? ""
      : 'import { createServer } from "@oris/runtime/server";\n'
  }import { review } from "./graph.ts";

Deno.test("the review graph runs to its end", async () => {
  await using runtime = createRuntime();
  runtime.register(review.definition);
${body}
});

${second}`;
}

function readme(name: string, template: Template): string {
  if (template === "worker") return workerReadme(name);
  return `# ${name}

A durable ${
    template === "service" ? "service" : "agent service"
  } on [Oris](https://jsr.io/@oris/runtime).

\`\`\`sh
deno task start   # the Oris v1 API on 127.0.0.1:8080 (PORT), runs stored in ./oris.kv
deno task test
\`\`\`

Then, with the \`oris\` CLI (or curl, see the Oris API docs):

\`\`\`sh
oris run r-1 --input '{"request":"ship v1"}' --wait
oris interrupts
oris resume r-1 --value true
\`\`\`

\`graph.ts\` holds the graph; \`main.ts\` serves it. Node code goes through \`ctx\` for
anything that is not a pure function of the state (effects, time, randomness, interrupts).

## Offline, or against a local checkout of Oris

\`deno.json\` imports \`@oris/runtime\` from JSR. To use a local checkout instead, add its path to
\`links\` in \`deno.json\` (\`oris init --link <path>\` does it):

\`\`\`json
{ "links": ["../oris"] }
\`\`\`
`;
}

function workerReadme(name: string): string {
  return `# ${name}

A worker for an [Oris](https://jsr.io/@oris/runtime) server: it executes the runs of \`graph.ts\`
that the server dispatches to it.

\`\`\`sh
# a server that leaves execution to workers, serving the same graph
ORIS_EXECUTION=workers oris server --graphs ./graph.ts
# one or more workers (an API key with role worker when the server has auth)
ORIS_SERVER_URL=http://127.0.0.1:8080 deno task start
deno task test
\`\`\`

Then start runs on the server (\`oris run r-1 --input '{"request":"ship v1"}'\`); a worker takes
each one, and resumes (\`oris resume r-1 --value true\`) go through the server to a worker. Stop a
worker with SIGTERM: the step in hand commits and its runs go to other workers at once.

## Offline, or against a local checkout of Oris

\`deno.json\` imports \`@oris/runtime\` from JSR. To use a local checkout instead, add its path to
\`links\` in \`deno.json\` (\`oris init --link <path>\` does it).
`;
}

function denoJsonOf(template: Template, link: string | undefined): string {
  return JSON.stringify(
    {
      imports: {
        "@oris/runtime": `jsr:@oris/runtime@^${denoJson.version}`,
        ...(template === "agent" ? { zod: denoJson.imports.zod } : {}),
      },
      tasks: { start: "deno run -A main.ts", test: "deno test -A" },
      unstable: ["kv"],
      ...(link === undefined ? {} : { links: [link] }),
    },
    null,
    2,
  ) + "\n";
}

const init: CommandSpec = {
  name: "init",
  summary: "Write a small Oris project: a graph, a server, a test and a README",
  usage: "init <dir> [--template service|agent] [--link <path to oris>]",
  flags: { template: { type: "string" }, link: { type: "string" } },
  flagHelp: [
    "  --template <name>     service (default: a graph with an approval), agent, or worker",
    "  --link <path>         use a local checkout of Oris instead of JSR (offline)",
  ],
  examples: [
    "oris init my-service",
    "oris init my-agent --template agent",
    "oris init my-worker --template worker",
  ],
  remote: false,
  args: { min: 1, max: 1 },
  async run(ctx, invocation) {
    const [dir] = invocation.positionals as [string];
    const template = (invocation.values.template ?? "service") as string;
    if (!(TEMPLATES as readonly string[]).includes(template)) {
      throw new UsageError(`--template must be one of ${TEMPLATES.join(", ")}, got "${template}"`);
    }
    const link = invocation.values.link as string | undefined;
    const target = resolve(dir);
    try {
      for await (const _ of Deno.readDir(target)) {
        throw new CliError(`Cannot init "${dir}": the directory is not empty`, 4);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await Deno.mkdir(target, { recursive: true });
    const files: Record<string, string> = {
      "deno.json": denoJsonOf(template as Template, link === undefined ? undefined : resolve(link)),
      "graph.ts": template === "agent" ? AGENT_GRAPH : SERVICE_GRAPH,
      "main.ts": template === "worker" ? WORKER_MAIN : mainTs(),
      "graph_test.ts": testTs(template as Template),
      "README.md": readme(
        dir.split("/").filter((part) => part !== "").at(-1) ?? dir,
        template as Template,
      ),
      ".gitignore": "oris.kv*\n",
    };
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(join(target, name), text);
    }
    ctx.output.out(`wrote ${Object.keys(files).length} files to ${dir} (template ${template})`);
    ctx.output.out(`next: cd ${dir} && deno task test && deno task start`);
    return 0;
  },
};

/** The project command. */
export const INIT_COMMANDS: readonly CommandSpec[] = [init];
