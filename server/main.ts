/**
 * `deno task start`: the Oris server. Reads its configuration from the
 * environment (validated with zod), opens the store (running PostgreSQL
 * migrations), registers the example graphs, recovers runs left running, and
 * serves the v1 API. Bad configuration or an unreachable backend is one
 * actionable line on stderr and exit code 1, never a half-started server.
 * SIGINT/SIGTERM: stop accepting, let in-flight steps commit, close the store.
 *
 * `deno task start --help` (or `deno run -A server/main.ts --help`) prints
 * every setting with its default ({@linkcode SETTINGS}) instead of starting.
 * Under a process supervisor run `deno run -A server/main.ts` itself: `deno
 * task` does not pass signals on to the server it starts.
 *
 * @module
 */

import { z } from "zod";
import { createJsonLogger, createRuntime, type Runtime } from "../actors/mod.ts";
import { agentModelFromEnv, registerExamples } from "../examples/mod.ts";
import {
  DEFAULT_MAX_JSON_DEPTH,
  type Logger,
  MAX_JSON_DEPTH_LIMIT,
  OrisError,
  type Store,
} from "../kernel/mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { PostgresStore, SCHEMA_MISSING } from "../storage/postgres/mod.ts";
import { hostPort } from "./address.ts";
import { createServer } from "./app.ts";
import { AUDIT_QUEUE_DEFAULTS } from "./audit_queue.ts";
import type { AuthConfig } from "./auth.ts";
import { loadGraphModules, splitGraphModules } from "./graphs.ts";

/** A setting of the server, as `--help` and docs/operations.md describe it. */
export interface Setting {
  /** The environment variable. */
  readonly name: string;
  /** Its default, when it has one. */
  readonly default?: string;
  /** What it means. */
  readonly meaning: string;
}

/** Every setting the server reads, in the order `--help` prints them. */
export const SETTINGS: readonly Setting[] = [
  {
    name: "ORIS_SERVER_ADDR",
    default: "127.0.0.1:8080",
    meaning: "host:port to listen on (port 0 picks a free one)",
  },
  { name: "ORIS_RUNTIME_BACKEND", default: "kv", meaning: "kv or postgres" },
  {
    name: "ORIS_KV_PATH",
    default: "oris.kv",
    meaning: "the Deno KV file (relative to the working directory)",
  },
  { name: "ORIS_POSTGRES_DSN", meaning: "PostgreSQL URL (required for postgres)" },
  { name: "ORIS_RUNTIME_DSN", meaning: "PostgreSQL URL when ORIS_POSTGRES_DSN is not set" },
  { name: "ORIS_POSTGRES_SCHEMA", default: "public", meaning: "the schema of Oris's tables" },
  {
    name: "ORIS_POSTGRES_REQUIRE_SCHEMA",
    default: "true",
    meaning: "true: fail at start if the schema is missing; false: create it",
  },
  { name: "ORIS_API_AUTH_BEARER_TOKEN", meaning: "bearer token (admin)" },
  {
    name: "ORIS_API_AUTH_API_KEY",
    meaning: "API key: admin by x-api-key alone, or with a key id an operator key",
  },
  {
    name: "ORIS_API_AUTH_API_KEY_ID",
    meaning: "stores the API key (hashed) under this id as an operator key",
  },
  {
    name: "ORIS_AUDIT_QUEUE_SIZE",
    default: String(AUDIT_QUEUE_DEFAULTS.maxEntries),
    meaning: "audit entries kept while the store is unavailable (more are dropped)",
  },
  {
    name: "ORIS_EXAMPLES_ACTION_LOG",
    meaning: "a file the approval example appends each performed action to",
  },
  {
    name: "ORIS_MAX_JSON_DEPTH",
    default: String(DEFAULT_MAX_JSON_DEPTH),
    meaning:
      `how deeply accepted JSON may nest, request bodies included (1 to ${MAX_JSON_DEPTH_LIMIT})`,
  },
  { name: "ORIS_ACCESS_LOG", default: "false", meaning: "true: one JSON line per request" },
  {
    name: "ORIS_EXECUTION",
    default: "embedded",
    meaning:
      "embedded: this process executes runs; workers: runs wait queued for oris worker processes",
  },
  {
    name: "ORIS_OWNER_ID",
    meaning: "this process's owner id for run leases (default: <hostname>-<pid>-<random>)",
  },
  {
    name: "ORIS_LEASE_TTL_MS",
    default: "15000",
    meaning: "how long a run's lease lasts unless renewed (renewed every third)",
  },
  {
    name: "ORIS_MAX_ACTIVE_RUNS",
    default: "64",
    meaning: "runs this process executes at most (others stay queued)",
  },
  {
    name: "ORIS_TENANT_MAX_ACTIVE_RUNS",
    meaning: "runs of one tenant_id executing at once across all processes (no cap when unset)",
  },
  {
    name: "ORIS_GRAPHS",
    meaning: "graph modules to serve (paths or URLs, comma-separated; or --graphs)",
  },
  {
    name: "ORIS_EXAMPLES",
    meaning: "true: serve the example graphs too (default: only when no graphs are given)",
  },
  { name: "OPENAI_API_KEY", meaning: "the agent example runs on OpenAI" },
  { name: "OPENAI_BASE_URL", meaning: "with OPENAI_API_KEY: an OpenAI-compatible server" },
  {
    name: "ANTHROPIC_API_KEY",
    meaning: "the agent example runs on Anthropic (when no OpenAI key is set)",
  },
  { name: "OLLAMA_HOST", meaning: "the agent example runs on Ollama (when neither key is set)" },
  { name: "ORIS_AGENT_MODEL", meaning: "the agent example's model at that provider" },
];

/**
 * The server's configuration help (`--help`): how to start it and every
 * setting with its default.
 *
 * @returns The text.
 */
export function configHelp(): string {
  const width = Math.max(...SETTINGS.map((setting) => setting.name.length)) + 2;
  const lines = SETTINGS.flatMap((setting) => [
    `  ${setting.name.padEnd(width)}${setting.meaning}`,
    ...(setting.default === undefined ? [] : [`  ${"".padEnd(width)}default: ${setting.default}`]),
  ]);
  return [
    "Usage: deno task start [--graphs <module>]... [--help]",
    "",
    "Runs the Oris server (server/main.ts). SIGINT or SIGTERM stops it. Under a process",
    "supervisor, run `deno run -A server/main.ts` in the project directory instead:",
    "`deno task` does not pass signals on to the server.",
    "",
    "Settings (environment variables):",
    "",
    ...lines,
    "",
    "OTEL_DENO=true makes Deno export the server's spans.",
  ].join("\n");
}

const optional = z.string().trim().min(1).optional();

/** A whole number setting from `min` (with its default, when it has one). */
function wholeNumber(min: number, fallback?: string) {
  const error = `must be a whole number from ${min}`;
  const text = z.string().trim().regex(/^\d{1,9}$/, { error });
  return (fallback === undefined ? text : text.default(fallback)).transform(Number).pipe(
    z.int().min(min, { error }),
  );
}

/** The server's configuration, from the environment. */
export const ConfigSchema = z.object({
  ORIS_SERVER_ADDR: z.string().default("127.0.0.1:8080").transform((value, ctx) => {
    const match = /^(.+):(\d{1,5})$/.exec(value.trim());
    const port = match === null ? NaN : Number(match[2]);
    if (match === null || port > 65535) {
      ctx.addIssue({ code: "custom", message: `must be host:port, got "${value}"` });
      return z.NEVER;
    }
    return { hostname: match[1]!.replace(/^\[(.*)\]$/, "$1"), port };
  }),
  ORIS_RUNTIME_BACKEND: z.enum(["kv", "postgres"], {
    error: (issue) => `must be "kv" or "postgres", got ${JSON.stringify(issue.input)}`,
  }).default("kv"),
  ORIS_KV_PATH: z.string().min(1).default("oris.kv"),
  ORIS_POSTGRES_DSN: optional,
  ORIS_RUNTIME_DSN: optional,
  ORIS_POSTGRES_SCHEMA: z.string().min(1).default("public"),
  ORIS_POSTGRES_REQUIRE_SCHEMA: z.enum(["true", "false", "1", "0"], {
    error: () => "must be true or false",
  }).default("true").transform((value) => value === "true" || value === "1"),
  ORIS_API_AUTH_BEARER_TOKEN: optional,
  ORIS_API_AUTH_API_KEY: optional,
  ORIS_API_AUTH_API_KEY_ID: optional,
  ORIS_AUDIT_QUEUE_SIZE: z.string().trim().regex(/^\d{1,9}$/, "must be a whole number from 0")
    .default(String(AUDIT_QUEUE_DEFAULTS.maxEntries)).transform(Number),
  ORIS_EXAMPLES_ACTION_LOG: optional,
  OPENAI_API_KEY: optional,
  OPENAI_BASE_URL: optional,
  ANTHROPIC_API_KEY: optional,
  OLLAMA_HOST: optional,
  ORIS_AGENT_MODEL: optional,
  ORIS_MAX_JSON_DEPTH: z.string().trim().regex(/^\d{1,4}$/, {
    error: `must be a whole number from 1 to ${MAX_JSON_DEPTH_LIMIT}`,
  }).default(String(DEFAULT_MAX_JSON_DEPTH)).transform(Number).pipe(
    z.int().min(1, { error: `must be a whole number from 1 to ${MAX_JSON_DEPTH_LIMIT}` }).max(
      MAX_JSON_DEPTH_LIMIT,
      { error: `must be a whole number from 1 to ${MAX_JSON_DEPTH_LIMIT}` },
    ),
  ),
  ORIS_EXECUTION: z.enum(["embedded", "workers"], {
    error: (issue) => `must be "embedded" or "workers", got ${JSON.stringify(issue.input)}`,
  }).default("embedded"),
  ORIS_OWNER_ID: z.string().trim().min(1).max(200).optional(),
  ORIS_LEASE_TTL_MS: wholeNumber(3, "15000"),
  ORIS_MAX_ACTIVE_RUNS: wholeNumber(1, "64"),
  ORIS_TENANT_MAX_ACTIVE_RUNS: wholeNumber(1).optional(),
  ORIS_ACCESS_LOG: z.enum(["true", "false", "1", "0"], {
    error: () => "must be true or false",
  }).default("false").transform((value) => value === "true" || value === "1"),
  ORIS_GRAPHS: z.string().optional().transform((value) =>
    value === undefined ? undefined : splitGraphModules(value)
  ),
  ORIS_EXAMPLES: z.enum(["true", "false", "1", "0"], {
    error: () => "must be true or false",
  }).optional().transform((value) =>
    value === undefined ? undefined : value === "true" || value === "1"
  ),
}).superRefine((config, ctx) => {
  if (
    config.ORIS_RUNTIME_BACKEND === "postgres" && !config.ORIS_POSTGRES_DSN &&
    !config.ORIS_RUNTIME_DSN
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["ORIS_POSTGRES_DSN"],
      message: "is required when ORIS_RUNTIME_BACKEND=postgres (or set ORIS_RUNTIME_DSN)",
    });
  }
  if (config.ORIS_API_AUTH_API_KEY_ID && !config.ORIS_API_AUTH_API_KEY) {
    ctx.addIssue({
      code: "custom",
      path: ["ORIS_API_AUTH_API_KEY"],
      message: "is required with ORIS_API_AUTH_API_KEY_ID",
    });
  }
});

/** The parsed configuration. */
export type Config = z.infer<typeof ConfigSchema>;

/**
 * Parses the configuration from environment variables.
 *
 * @param env The environment.
 * @returns The configuration.
 * @throws {OrisError} `invalid_argument` naming the first bad variable.
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = ConfigSchema.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new OrisError("invalid_argument", `${issue.path.join(".") || "config"} ${issue.message}`);
}

async function openStore(config: Config): Promise<Store> {
  if (config.ORIS_RUNTIME_BACKEND === "kv") {
    return await KvStore.open({ path: config.ORIS_KV_PATH });
  }
  const url = (config.ORIS_POSTGRES_DSN ?? config.ORIS_RUNTIME_DSN)!;
  const schema = config.ORIS_POSTGRES_SCHEMA;
  try {
    return await PostgresStore.connect({
      url,
      schema,
      createSchema: !config.ORIS_POSTGRES_REQUIRE_SCHEMA,
    });
  } catch (error) {
    // The store's message names its own option (createSchema): name the server's settings.
    if (error instanceof OrisError && error.details.reason === SCHEMA_MISSING) {
      throw new OrisError(
        error.code,
        `Cannot use schema "${schema}": it does not exist (create it with ` +
          `"oris migrate --schema ${schema}", or set ORIS_POSTGRES_REQUIRE_SCHEMA=false ` +
          `to create it at start)`,
        { cause: error, details: error.details },
      );
    }
    throw error;
  }
}

function authOf(config: Config): AuthConfig {
  return {
    ...(config.ORIS_API_AUTH_BEARER_TOKEN === undefined
      ? {}
      : { bearerToken: config.ORIS_API_AUTH_BEARER_TOKEN }),
    ...(config.ORIS_API_AUTH_API_KEY === undefined ? {} : { apiKey: config.ORIS_API_AUTH_API_KEY }),
    ...(config.ORIS_API_AUTH_API_KEY_ID === undefined
      ? {}
      : { apiKeyId: config.ORIS_API_AUTH_API_KEY_ID }),
  };
}

/** Options of {@linkcode main}. */
export interface MainOptions {
  /**
   * Signals that stop the server.
   * @default {["SIGINT", "SIGTERM"]}
   */
  signals?: Deno.Signal[];
  /**
   * Where the server's lines go (listening, recovering, stopped, and the
   * failures it cannot return to a caller).
   * @default {JSON lines on stdout}
   */
  logger?: Logger;
  /**
   * The directory `ORIS_GRAPHS` paths are relative to.
   * @default {Deno.cwd()}
   */
  cwd?: string;
}

/**
 * Starts the server from the environment; resolves when it has stopped.
 *
 * @param env The environment.
 * @param options The signals that stop it and its logger.
 */
export async function main(
  env: Record<string, string | undefined>,
  options: MainOptions = {},
): Promise<void> {
  const { signals = ["SIGINT", "SIGTERM"] } = options;
  const logger = options.logger ?? createJsonLogger({ write: (line) => console.log(line) });
  const config = parseConfig(env);
  const store = await openStore(config);
  let runtime: Runtime | null = null;
  try {
    await store.ping();
    runtime = createRuntime({
      store,
      logger,
      maxJsonDepth: config.ORIS_MAX_JSON_DEPTH,
      // With workers, the server's runtime only persists and serves: workers execute.
      execution: config.ORIS_EXECUTION === "workers" ? "none" : "embedded",
      ...(config.ORIS_OWNER_ID === undefined ? {} : { ownerId: config.ORIS_OWNER_ID }),
      leaseTtlMs: config.ORIS_LEASE_TTL_MS,
      maxActiveRuns: config.ORIS_MAX_ACTIVE_RUNS,
      ...(config.ORIS_TENANT_MAX_ACTIVE_RUNS === undefined
        ? {}
        : { tenantMaxActiveRuns: config.ORIS_TENANT_MAX_ACTIVE_RUNS }),
    });
    const modules = config.ORIS_GRAPHS ?? [];
    const graphs = await loadGraphModules(modules, options.cwd ?? Deno.cwd());
    for (const graph of graphs) runtime.register(graph);
    const examples = config.ORIS_EXAMPLES ?? modules.length === 0;
    if (examples) {
      registerExamples(runtime, config.ORIS_EXAMPLES_ACTION_LOG, {
        agentModel: agentModelFromEnv(config),
      });
    }
    const server = await createServer({
      runtime,
      // A run request without a graph runs `hello`, or the first of the user's graphs.
      defaultGraph: examples || graphs.length === 0 ? "hello" : graphs[0]!.name,
      auth: authOf(config),
      logger,
      accessLog: config.ORIS_ACCESS_LOG,
      auditQueue: { maxEntries: config.ORIS_AUDIT_QUEUE_SIZE },
    });
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    for (const signal of signals) Deno.addSignalListener(signal, onSignal);
    const http = Deno.serve({
      hostname: config.ORIS_SERVER_ADDR.hostname,
      port: config.ORIS_SERVER_ADDR.port,
      signal: stop.signal,
      onListen: ({ hostname, port }) => {
        logger.info("oris server listening", {
          addr: hostPort(hostname, port),
          pid: Deno.pid,
          backend: config.ORIS_RUNTIME_BACKEND,
          execution: config.ORIS_EXECUTION,
          auth: server.authEnabled,
          graphs: runtime!.graphNames(),
        });
      },
    }, server.app.fetch);
    const { recovered } = await runtime.recover();
    if (recovered.length > 0) logger.info("recovering runs", { count: recovered.length });
    await http.finished;
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    await server.close();
    logger.info("oris server stopped");
  } finally {
    await runtime?.close();
    await store.close();
  }
}

/**
 * The server's command line: `--help`, and `--graphs <module>` (repeatable,
 * or comma-separated), which sets `ORIS_GRAPHS`.
 *
 * @param args The arguments.
 * @returns Whether to print the help, and the graph modules given.
 * @throws {OrisError} `invalid_argument` naming an unknown argument.
 */
export function parseServerArgs(args: readonly string[]): { help: boolean; graphs?: string[] } {
  let help = false;
  let graphs: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--graphs" && i + 1 < args.length) {
      graphs = [...graphs ?? [], ...splitGraphModules(args[++i])];
    } else if (arg.startsWith("--graphs=")) {
      graphs = [...graphs ?? [], ...splitGraphModules(arg.slice("--graphs=".length))];
    } else {
      throw new OrisError(
        "invalid_argument",
        `unknown argument "${arg}" (--help lists the settings)`,
      );
    }
  }
  return graphs === undefined ? { help } : { help, graphs };
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseServerArgs(Deno.args);
  } catch (error) {
    console.error(`oris: cannot start: ${(error as Error).message}`);
    Deno.exit(2);
  }
  if (parsed.help) {
    console.log(configHelp());
    Deno.exit(0);
  }
  const env = Deno.env.toObject();
  if (parsed.graphs !== undefined) env.ORIS_GRAPHS = parsed.graphs.join(",");
  try {
    await main(env);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`oris: cannot start: ${message}`);
    Deno.exit(1);
  }
}
