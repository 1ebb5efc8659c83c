/**
 * `deno task start`: the Oris server. Reads its configuration from the
 * environment (validated with zod), opens the store (running PostgreSQL
 * migrations), registers the example graphs, recovers runs left running, and
 * serves the v1 API. Bad configuration or an unreachable backend is one
 * actionable line on stderr and exit code 1, never a half-started server.
 * SIGINT/SIGTERM: stop accepting, let in-flight steps commit, close the store.
 *
 * | variable | meaning |
 * | --- | --- |
 * | `ORIS_SERVER_ADDR` | `host:port` (default `127.0.0.1:8080`; port 0 picks a free one) |
 * | `ORIS_RUNTIME_BACKEND` | `kv` (default) or `postgres` |
 * | `ORIS_KV_PATH` | Deno KV file (default `oris.kv` in the working directory) |
 * | `ORIS_POSTGRES_DSN` / `ORIS_RUNTIME_DSN` | PostgreSQL URL (required for `postgres`) |
 * | `ORIS_POSTGRES_SCHEMA` | schema (default `public`) |
 * | `ORIS_POSTGRES_REQUIRE_SCHEMA` | `true` (default): fail if the schema is missing |
 * | `ORIS_API_AUTH_BEARER_TOKEN` | bearer token (admin) |
 * | `ORIS_API_AUTH_API_KEY` | API key (admin; with a key id: an operator key) |
 * | `ORIS_API_AUTH_API_KEY_ID` | stores the API key under this id as an operator key |
 * | `ORIS_EXAMPLES_ACTION_LOG` | file the approval example appends each performed action to |
 * | `ORIS_MAX_JSON_DEPTH` | how deeply accepted JSON may nest, request bodies included (default 256, at most 1000) |
 * | `ORIS_ACCESS_LOG` | `true`: one JSON line per request (default `false`) |
 * | `OPENAI_API_KEY` (`OPENAI_BASE_URL`), `ANTHROPIC_API_KEY`, `OLLAMA_HOST` | the `agent` example's provider, the first one set (default: a scripted model) |
 * | `ORIS_AGENT_MODEL` | the `agent` example's model at that provider |
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
import { PostgresStore } from "../storage/postgres/mod.ts";
import { hostPort } from "./address.ts";
import { createServer } from "./app.ts";
import type { AuthConfig } from "./auth.ts";

const optional = z.string().trim().min(1).optional();

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
  ORIS_EXAMPLES_ACTION_LOG: optional,
  ORIS_MAX_JSON_DEPTH: z.string().trim().regex(/^\d{1,4}$/, {
    error: `must be a whole number from 1 to ${MAX_JSON_DEPTH_LIMIT}`,
  }).default(String(DEFAULT_MAX_JSON_DEPTH)).transform(Number).pipe(
    z.int().min(1, { error: `must be a whole number from 1 to ${MAX_JSON_DEPTH_LIMIT}` }).max(
      MAX_JSON_DEPTH_LIMIT,
      { error: `must be a whole number from 1 to ${MAX_JSON_DEPTH_LIMIT}` },
    ),
  ),
  ORIS_ACCESS_LOG: z.enum(["true", "false", "1", "0"], {
    error: () => "must be true or false",
  }).default("false").transform((value) => value === "true" || value === "1"),
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
  return await PostgresStore.connect({
    url,
    schema: config.ORIS_POSTGRES_SCHEMA,
    createSchema: !config.ORIS_POSTGRES_REQUIRE_SCHEMA,
  });
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
    runtime = createRuntime({ store, logger, maxJsonDepth: config.ORIS_MAX_JSON_DEPTH });
    registerExamples(runtime, config.ORIS_EXAMPLES_ACTION_LOG, {
      agentModel: agentModelFromEnv(env),
    });
    const server = await createServer({
      runtime,
      auth: authOf(config),
      logger,
      accessLog: config.ORIS_ACCESS_LOG,
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
          auth: server.authEnabled,
          graphs: runtime!.graphNames(),
        });
      },
    }, server.app.fetch);
    const { recovered } = await runtime.recover();
    if (recovered.length > 0) logger.info("recovering runs", { count: recovered.length });
    await http.finished;
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    server.close();
    logger.info("oris server stopped");
  } finally {
    await runtime?.close();
    await store.close();
  }
}

if (import.meta.main) {
  try {
    await main(Deno.env.toObject());
  } catch (error) {
    const message = error instanceof OrisError
      ? error.message
      : error instanceof Error
      ? error.message
      : String(error);
    console.error(`oris: cannot start: ${message}`);
    Deno.exit(1);
  }
}
