/**
 * `createServer()`: the Oris v1 control-plane API as a Hono app over a
 * runtime. Every route is declared once (see `route.ts`); one wrapper gives
 * each the same pipeline: request id, trace context, authentication and
 * RBAC, validation of query and body, the handler, the envelope, the audit
 * record of control actions, and metrics.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { Runtime } from "../actors/mod.ts";
import {
  type ControlStore,
  createIdGenerator,
  type IdGenerator,
  InvalidArgumentError,
  isValidId,
  OrisError,
  sha256Hex,
} from "../kernel/mod.ts";
import type { ApiDeps, RequestState, ServerStore } from "./api.ts";
import {
  type AuthConfig,
  authenticate,
  authorize,
  type Principal,
  SUPPORTED_AUTH,
} from "./auth.ts";
import { errorResponse, HttpError, ok } from "./envelope.ts";
import { createMetrics, type ServerMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { readJsonBody, type RouteDef, validate } from "./route.ts";
import { auditRoutes } from "./routes/audit.ts";
import { interruptRoutes } from "./routes/interrupts.ts";
import { jobRoutes } from "./routes/jobs.ts";
import { NoQuery } from "./schemas.ts";
import { startRequestTrace } from "./trace.ts";

/** Options of {@linkcode createServer}. */
export interface ServerOptions {
  /** The runtime whose runs the API controls (its store must keep control records). */
  runtime: Runtime;
  /** Credentials; when any is set (or keys are stored), every `/v1` route needs one. */
  auth?: AuthConfig;
  /**
   * The graph a job runs when it names none.
   * @default {"hello"}
   */
  defaultGraph?: string;
  /** The clock (ms), for audit times. */
  now?: () => number;
}

/** The HTTP side of the server: a fetch handler, and `request()` for tests. */
export interface HttpApp {
  /** Handles a request (pass it to `Deno.serve`). */
  fetch(request: Request): Response | Promise<Response>;
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
  /** Stops observing the runtime (does not close it). */
  close(): void;
}

const REQUEST_ID = /^[A-Za-z0-9\-_.:]{1,128}$/;
const ANONYMOUS: Principal = { actorType: "anonymous", actorId: null, role: null };

function isControlStore(store: unknown): store is ServerStore {
  return typeof (store as ControlStore).claimIdempotency === "function" &&
    typeof (store as ControlStore).listAudit === "function";
}

function pathPattern(path: string): RegExp {
  return new RegExp(
    `^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z_]+/g, "[^/]+")}$`,
  );
}

/**
 * Creates the API over a runtime.
 *
 * @param options The runtime, credentials and default graph.
 * @returns The server.
 * @throws {InvalidArgumentError} when the runtime's store keeps no control records.
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
 * server.close();
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
  const now = options.now ?? (() => Date.now());
  const auth = options.auth ?? {};
  if (auth.apiKeyId !== undefined) {
    if (auth.apiKey === undefined || !isValidId(auth.apiKeyId)) {
      throw new InvalidArgumentError("An API key id needs a valid id and an API key", {
        field: "apiKeyId",
      });
    }
    const existing = await store.getApiKey(auth.apiKeyId);
    await store.putApiKey({
      keyId: auth.apiKeyId,
      secretHash: sha256Hex(auth.apiKey),
      role: "operator",
      status: "active",
      createdAt: existing?.createdAt ?? now(),
      updatedAt: now(),
    });
  }
  const authEnabled = auth.bearerToken !== undefined || auth.apiKey !== undefined ||
    (await store.countApiKeys()) > 0;
  const ids: IdGenerator = createIdGenerator({
    now,
    randomBytes: (bytes) => crypto.getRandomValues(bytes),
  });
  const deps: ApiDeps = { runtime, store, defaultGraph: options.defaultGraph ?? "hello", now };
  const metrics = createMetrics(runtime);

  const routes: RouteDef[] = [
    ...jobRoutes(deps),
    ...interruptRoutes(deps),
    ...auditRoutes(deps),
  ];
  routes.push(
    {
      method: "GET",
      path: "/v1/openapi.json",
      summary: "This API's OpenAPI 3.1 document",
      query: NoQuery,
      handler: (c) => Promise.resolve(c.json(openApiDocument(routes))),
    },
    {
      method: "GET",
      path: "/healthz",
      summary: "Liveness",
      public: true,
      query: NoQuery,
      handler: () => Promise.resolve({ status: "ok" }),
    },
    {
      method: "GET",
      path: "/readyz",
      summary: "Readiness: the store answers",
      public: true,
      query: NoQuery,
      async handler() {
        try {
          await store.ping();
        } catch (error) {
          throw new HttpError(503, "unavailable", "The store is not reachable", {
            cause: error instanceof Error ? error.message : String(error),
          });
        }
        return { status: "ready" };
      },
    },
    {
      method: "GET",
      path: "/metrics",
      summary: "Prometheus metrics",
      public: true,
      query: NoQuery,
      async handler(c) {
        return c.body(await metrics.registry.metrics(), 200, {
          "content-type": metrics.registry.contentType,
        });
      },
    },
  );

  const app = new Hono();
  app.use("*", async (c, next) => {
    const sent = c.req.header("x-request-id");
    const requestId = sent !== undefined && REQUEST_ID.test(sent) ? sent : crypto.randomUUID();
    c.set("requestId" as never, requestId as never);
    await next();
    c.res.headers.set("x-request-id", requestId);
  });

  /**
   * Authenticates a request (401) and checks its role may call the method on
   * its path (403); `state.principal` is set before RBAC can refuse, so a 403
   * is audited with the caller's identity.
   */
  async function checkAccess(
    c: Context,
    method: string,
    state: { principal?: Principal },
  ): Promise<void> {
    const principal = await authenticate(c.req.raw.headers, auth, store);
    if (principal === null) {
      throw new OrisError("unauthorized", "Authentication required", {
        details: { supported_auth: [...SUPPORTED_AUTH] },
      });
    }
    state.principal = principal;
    if (!authorize(principal.role!, method, c.req.path)) {
      throw new OrisError(
        "forbidden",
        `Role "${principal.role}" may not ${method} ${c.req.path}`,
        {
          details: { role: principal.role, method, path: c.req.path },
        },
      );
    }
  }

  async function handle(c: Context, def: RouteDef): Promise<Response> {
    const started = performance.now();
    const state: Partial<RequestState> & { requestId: string } = {
      requestId: c.get("requestId" as never) as string,
      principal: ANONYMOUS,
    };
    c.set("oris" as never, state as never);
    let response: Response;
    let body: unknown = undefined;
    try {
      state.trace = startRequestTrace(c.req.header("traceparent"), `${def.method} ${def.path}`);
      if (!def.public && authEnabled) await checkAccess(c, def.method, state);
      const params = c.req.param() as Record<string, string>;
      for (const [name, value] of Object.entries(params)) {
        if (!isValidId(value)) {
          throw new InvalidArgumentError(
            `${name} may contain only 1 to 128 letters, digits and "-_.:"`,
            {
              field: name,
            },
          );
        }
      }
      const query = validate(def.query ?? NoQuery, c.req.query(), "query");
      body = def.body === undefined
        ? {}
        : validate(def.body, await readJsonBody(c.req.raw), "body");
      const data = await def.handler(c, { body, query, params });
      response = data instanceof Response ? data : ok(c, data);
    } catch (error) {
      response = errorResponse(c, error);
    }
    if (def.audit !== undefined) {
      const params = c.req.param() as Record<string, string>;
      const field = def.audit.resourceParam ?? "";
      const named = params[field] ?? (body as Record<string, unknown> | undefined)?.[field];
      const resourceId = isValidId(named) ? named : null;
      await store.appendAudit({
        auditId: `au_${ids.ulid()}`,
        actorType: state.principal!.actorType,
        actorId: state.principal!.actorId,
        actorRole: state.principal!.role,
        action: def.audit.action,
        resourceType: def.audit.resourceType,
        resourceId,
        result: response.status < 300 ? "success" : "error",
        requestId: state.requestId,
        details: { method: def.method, path: c.req.path, status_code: response.status },
        createdAt: now(),
      }).catch((error) =>
        console.error(JSON.stringify({ level: "error", msg: "audit failed", error: String(error) }))
      );
    }
    state.trace?.span.end();
    metrics.observeRequest(def.method, def.path, response.status, performance.now() - started);
    return response;
  }

  for (const def of routes) app.on(def.method, def.path, (c) => handle(c, def));

  const patterns = routes.map((def) => ({ def, pattern: pathPattern(def.path) }));
  app.notFound(async (c) => {
    const matched = patterns.filter((item) => item.pattern.test(c.req.path)).map((item) =>
      item.def
    );
    const allowed = [...new Set(matched.map((def) => def.method))];
    if (allowed.length > 0) {
      // A known /v1 path needs credentials and the role, whatever the method (401/403 before 405).
      if (authEnabled && matched.some((def) => !def.public)) {
        try {
          await checkAccess(c, c.req.method, {});
        } catch (error) {
          return errorResponse(c, error);
        }
      }
      const response = errorResponse(
        c,
        new HttpError(
          405,
          "invalid_argument",
          `Method ${c.req.method} is not allowed on ${c.req.path}`,
          {
            allowed,
          },
        ),
      );
      response.headers.set("allow", allowed.join(", "));
      return response;
    }
    return errorResponse(
      c,
      new HttpError(404, "not_found", `No route for ${c.req.method} ${c.req.path}`),
    );
  });
  app.onError((error, c) => errorResponse(c, error));

  return {
    app,
    metrics,
    routes,
    authEnabled,
    close: () => metrics.close(),
  };
}
