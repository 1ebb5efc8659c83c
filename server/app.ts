/**
 * `createServer()`: the Oris v1 control-plane API as a Hono app over a
 * runtime. Every route is declared once (see `route.ts`) and registered with
 * the same middleware, outermost first:
 *
 * 1. `requestId()` (every request, 404s and 405s too),
 * 2. `requestMetrics()` (every request): counts and times it under its
 *    route (or `unmatched`), and writes the access log when it is on,
 * 3. `matchRoute()`: a parameter that is a route word (`GET /v1/jobs/run`)
 *    is answered as unmatched; otherwise it names the route,
 * 4. `audit()` (control routes): records the action once answered,
 * 5. `traceContext()`: the request's span from its `traceparent`,
 * 6. `auth()` (`/v1` routes, when credentials are configured): 401, 403,
 * 7. `routeHandler()`: the path parameters, the query, then the body (size,
 *    UTF-8, JSON nesting within the runtime's `maxJsonDepth`, then its schema;
 *    routes with a body), then the route's handler, its data in the success
 *    envelope.
 *
 * Whatever a step throws becomes the error envelope (`errorHandler()`), which
 * the outer middleware then see as the response. Unknown paths are 404s,
 * known paths with another method 405s (`notFound()`).
 *
 * @module
 */

import { AuditQueue } from "./audit_queue.ts";
import { IdempotentActions } from "./idempotency.ts";
import { Hono, type MiddlewareHandler, type NotFoundHandler } from "hono";
import type { Runtime } from "../actors/mod.ts";
import {
  type ControlStore,
  createIdGenerator,
  InvalidArgumentError,
  isValidId,
  type Logger,
} from "../kernel/mod.ts";
import type { ApiDeps, ServerStore } from "./api.ts";
import type { AuthConfig } from "./auth.ts";
import type { ServerEnv } from "./env.ts";
import { serveConsole } from "./console.ts";
import { errorHandler } from "./error_handler.ts";
import { startCredentials } from "./credentials.ts";
import { createMetrics, type ServerMetrics } from "./metrics.ts";
import { audit, type AuditOptions } from "./middleware/audit.ts";
import { auth, type AuthOptions } from "./middleware/auth.ts";
import { MAX_BODY_BYTES } from "./middleware/json_body.ts";
import { requestMetrics } from "./middleware/metrics.ts";
import { requestId } from "./middleware/request_id.ts";
import { traceContext } from "./middleware/trace_context.ts";
import { notFound } from "./not_found.ts";
import type { RouteDef } from "./route.ts";
import { routeHandler } from "./route_handler.ts";
import { createRouteMatcher, matchRoute, type RouteMatcher } from "./route_match.ts";
import { auditRoutes } from "./routes/audit.ts";
import { graphRoutes } from "./routes/graphs.ts";
import { keyRoutes } from "./routes/keys.ts";
import { inspectRoutes } from "./routes/inspect.ts";
import { interruptRoutes } from "./routes/interrupts.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { timeTravelRoutes } from "./routes/time_travel.ts";
import { systemRoutes } from "./routes/system.ts";
import { workerRoutes } from "./routes/workers.ts";
import { workerRunRoutes } from "./routes/worker_runs.ts";
import { workerLeaseRoutes } from "./routes/worker_leases.ts";
import { workerMetrics } from "./worker_metrics.ts";
import { NoQuery } from "./schemas.ts";

/** Options of {@linkcode createServer}. */
export interface ServerOptions {
  /** The runtime whose runs the API controls (its store must keep control records). */
  runtime: Runtime;
  /**
   * Credentials; when any is set (or API keys are stored, even revoked ones),
   * every `/v1` route needs one. The server logs which are active when it is
   * created (`api credentials`).
   */
  auth?: AuthConfig;
  /**
   * The graph a job runs when it names none.
   * @default {"hello"}
   */
  defaultGraph?: string;
  /** The clock (ms), for audit times. */
  now?: () => number;
  /**
   * Where the server logs what it cannot return to a caller (a failed audit
   * write, an unexpected 500), and the access log.
   * @default {the runtime's logger}
   */
  logger?: Logger;
  /**
   * Logs one line per request (request id, method, path, route, status,
   * duration, actor, client address) at `info`.
   * @default {false}
   */
  accessLog?: boolean;
  /**
   * How often a followed event stream (`GET /v1/jobs/:thread_id/stream?follow=true`)
   * sends a keep-alive comment, in ms.
   * @default {15000}
   */
  streamKeepAliveMs?: number;
  /**
   * The queue of audit entries made while the store is unavailable: they are
   * kept in memory (at most `maxEntries`, default 10000; more are dropped and
   * counted in `oris_audit_dropped_total`) and written in order once the
   * store answers, retried after `retryInitialMs` (default 100), doubling up
   * to `retryMaxMs` (default 5000).
   */
  auditQueue?: { maxEntries?: number; retryInitialMs?: number; retryMaxMs?: number };
  /**
   * Serves the operator console at `/console/` (static files; it calls this API).
   * @default {true}
   */
  console?: boolean;
}

/** The HTTP side of the server: a fetch handler, and `request()` for tests. */
export interface HttpApp {
  /**
   * Handles a request (pass it to `Deno.serve`, whose connection info names
   * the client in the access log).
   */
  fetch(request: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response>;
  /** Sends a request to the app without a network (tests). */
  request(input: string | Request | URL, init?: RequestInit): Response | Promise<Response>;
}

/** A route of the API, as listed by {@linkcode OrisServer.routes}. */
export interface RouteSummary {
  /** HTTP method. */
  readonly method: string;
  /** Path, with `:param` segments. */
  readonly path: string;
  /** What it does. */
  readonly summary: string;
  /** The audit action of a control route. */
  readonly audit?: { readonly action: string };
}

/** A running API: the Hono app and its parts. */
export interface OrisServer {
  /** The app (`app.request()` in tests, `Deno.serve(app.fetch)` in production). */
  readonly app: HttpApp;
  /** The metrics. */
  readonly metrics: ServerMetrics;
  /** The route table. */
  readonly routes: readonly RouteSummary[];
  /** Whether requests need credentials. */
  readonly authEnabled: boolean;
  /**
   * Stops observing the runtime (does not close it) and closes the audit
   * queue: entries in flight and those waiting for the store are written if
   * it answers, else dropped and counted. Call it before closing the store.
   */
  close(): Promise<void>;
}

function isControlStore(store: unknown): store is ServerStore {
  return typeof (store as ControlStore).claimIdempotency === "function" &&
    typeof (store as ControlStore).listAudit === "function";
}

/**
 * Creates the API over a runtime.
 *
 * @param options The runtime, credentials, default graph, clock, logger and audit queue.
 * @returns The server.
 * @throws {InvalidArgumentError} when the runtime's store keeps no control records, or an
 * option is invalid.
 *
 * @example Serve the hello graph
 * ```ts
 * import { createServer } from "./app.ts";
 * import { createRuntime, END, START, MessagesState, StateGraph, aiMessage } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using runtime = createRuntime();
 * new StateGraph(MessagesState)
 *   .addNode("reply", () => ({ messages: [aiMessage("hello world")] }))
 *   .addEdge(START, "reply")
 *   .addEdge("reply", END)
 *   .compile({ name: "hello", runtime });
 * const server = await createServer({ runtime });
 * const response = await server.app.request("/v1/jobs/run", {
 *   method: "POST",
 *   body: JSON.stringify({ thread_id: "t-1", input: "hi" }),
 * });
 * const body = await response.json();
 * assert.equal(body.data.status, "completed");
 * await server.close();
 * ```
 */
export async function createServer(options: ServerOptions): Promise<OrisServer> {
  const { runtime } = options;
  if (!isControlStore(runtime.store)) {
    throw new InvalidArgumentError(
      "Cannot create the server: the runtime's store keeps no control records",
    );
  }
  const store: ServerStore = runtime.store;
  const keepAliveMs = options.streamKeepAliveMs ?? 15_000;
  if (!Number.isSafeInteger(keepAliveMs) || keepAliveMs < 1) {
    throw new InvalidArgumentError(
      `streamKeepAliveMs must be a whole number of ms, at least 1, got ${keepAliveMs}`,
      { field: "streamKeepAliveMs" },
    );
  }
  const now = options.now ?? (() => Date.now());
  const credentials = options.auth ?? {};
  if (credentials.apiKeyId !== undefined) {
    if (credentials.apiKey === undefined || !isValidId(credentials.apiKeyId)) {
      throw new InvalidArgumentError("An API key id needs a valid id and an API key", {
        field: "apiKeyId",
      });
    }
  }
  const logger = options.logger ?? runtime.logger;
  const decided = await startCredentials(credentials, store, now);
  const authEnabled = decided.enabled;
  logger.info("api credentials", decided.fields);
  if (authEnabled && !decided.admin) {
    logger.warn(
      "auth is on but no admin credential is active: configure a bearer token (ORIS_API_AUTH_BEARER_TOKEN) to list, create and revoke API keys",
      { stored_keys: decided.fields.stored_keys },
    );
  }
  const ids = createIdGenerator({
    now,
    randomBytes: (bytes) => crypto.getRandomValues(bytes),
  });
  const deps: ApiDeps = {
    runtime,
    store,
    defaultGraph: options.defaultGraph ?? "hello",
    now,
    logger,
    idempotency: new IdempotentActions({ store, now, logger }),
  };
  const auditQueue: AuditQueue = new AuditQueue({
    ...options.auditQueue,
    store,
    logger,
    onDropped: (reason) => metrics.observeAuditDropped(reason),
  });
  const metrics = createMetrics(runtime, {
    auditQueueDepth: () => auditQueue.depth,
    queueStats: () => store.queueStats(),
    clock: now,
    logger,
  });
  const workerObserver = workerMetrics(metrics.registry);
  const routes: RouteDef[] = [
    ...jobRoutes(deps, { keepAliveMs }),
    ...timeTravelRoutes(deps),
    ...inspectRoutes(deps),
    ...interruptRoutes(deps),
    ...auditRoutes(deps),
    ...keyRoutes(deps, { authEnabled }),
    ...workerRoutes(deps, workerObserver),
    ...workerRunRoutes(deps, workerObserver),
    ...workerLeaseRoutes(deps),
    ...graphRoutes(deps, { authEnabled, routes: () => routes }),
    ...systemRoutes(deps, { metrics, routes: () => routes }),
  ];
  const access: AuthOptions | null = authEnabled ? { config: credentials, store } : null;
  const auditing: AuditOptions = { queue: auditQueue, ids, now };

  const matcher = createRouteMatcher(routes);
  const onError = errorHandler(logger);
  const unmatched = notFound(matcher, access, onError);

  const app = new Hono<ServerEnv>();
  app.use("*", requestId());
  app.use("*", requestMetrics(metrics, { logger, accessLog: options.accessLog ?? false }));
  const parts: PipelineParts = {
    matcher,
    unmatched,
    access,
    auditing,
    logger,
    maxJsonDepth: runtime.maxJsonDepth,
  };
  for (const def of routes) {
    app.on(def.method, [def.path], ...pipeline(def, parts));
  }
  if (options.console ?? true) serveConsole(app);
  app.notFound(unmatched);
  app.onError(onError);

  return {
    app,
    metrics,
    routes,
    authEnabled,
    async close() {
      metrics.close();
      await auditQueue.close();
    },
  };
}

/** What every route's pipeline shares. */
interface PipelineParts {
  matcher: RouteMatcher;
  unmatched: NotFoundHandler<ServerEnv>;
  access: AuthOptions | null;
  auditing: AuditOptions;
  logger: Logger;
  maxJsonDepth: number;
}

/** The middleware and handler of one route, outermost first (see the module doc). */
function pipeline(def: RouteDef, parts: PipelineParts): MiddlewareHandler<ServerEnv>[] {
  const { access, auditing } = parts;
  const steps: MiddlewareHandler<ServerEnv>[] = [matchRoute(def, parts.matcher, parts.unmatched)];
  if (def.audit !== undefined) {
    steps.push(audit(auditing, { method: def.method, audit: def.audit }));
  }
  steps.push(traceContext(`${def.method} ${def.path}`, parts.logger));
  if (access !== null && !def.public) steps.push(auth(access, def.method));
  steps.push(
    routeHandler(def, { noQuery: NoQuery, maxBytes: MAX_BODY_BYTES, maxDepth: parts.maxJsonDepth }),
  );
  return steps;
}
