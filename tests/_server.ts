/**
 * Test helper for the HTTP API: a server over a fresh store of each kind
 * (memory, Deno KV, PostgreSQL), with the example graphs (`hello`,
 * `approval`) and two test graphs registered:
 *
 * - `gate`: one node, `work`, that counts its executions per thread and,
 *   when the test has called `block(threadId)`, waits until the test
 *   releases it or the run's abort signal fires (cancel, timeout). Nothing
 *   in it depends on time, so tests using it are deterministic.
 * - `dice`: `setup`, then `roll`, which reads `Math.random()` outside `ctx`
 *   (a nondeterministic node that replay must catch).
 *
 * Requests go through `server.app.request()`: no network.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  createJsonLogger,
  createRuntime,
  defineState,
  END,
  type LogFields,
  type Logger,
  type LogLevel,
  type Runtime,
  START,
  StateGraph,
  type Store,
} from "../mod.ts";
import {
  type ControlStore,
  parseThreadId,
  type RunCreatedEvent,
  type RunDeadline,
  type StoredEvent,
  type ThreadId,
} from "../kernel/mod.ts";
import {
  type AuthConfig,
  createServer,
  type OrisServer,
  type ServerOptions,
} from "../server/mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { type StoreKind, storeTest } from "./_stores.ts";

/** A parsed JSON body (tests read it freely). */
// deno-lint-ignore no-explicit-any
export type Body = any;

/** An HTTP response with its body parsed as JSON (`null` when it is not JSON). */
export interface ApiResponse {
  /** The HTTP status. */
  status: number;
  /** The headers. */
  headers: Headers;
  /** The parsed body. */
  body: Body;
  /** The raw body. */
  text: string;
}

export { type Deferred, deferred } from "./_helpers.ts";
import { type Deferred, deferred } from "./_helpers.ts";

/**
 * A clock that follows `Date.now()` but never returns the same value twice
 * (each call is at least 1 ms after the previous one), so that records made
 * in a row have distinct, ordered times without waiting.
 *
 * @returns The clock.
 */
export function strictClock(): () => number {
  let last = 0;
  return () => {
    const now = Date.now();
    last = now > last ? now : last + 1;
    return last;
  };
}

/** A gate on the `gate` graph's node for one thread. */
export interface Gate {
  /** Resolves when the node has started and is waiting. */
  entered: Promise<void>;
  /** Lets the node finish. */
  release(): void;
  /** Resolves with the abort reason when the run's signal aborted the waiting node. */
  aborted: Promise<unknown>;
}

/** A server over a fresh store, with helpers. */
export interface Harness {
  /** The store kind. */
  kind: StoreKind;
  /** The store (with control records). */
  store: Store & ControlStore;
  /** The current runtime. */
  runtime: Runtime;
  /** The current server. */
  server: OrisServer;
  /** Sends a request; `body` is JSON-encoded unless it is a string. */
  request(
    method: string,
    path: string,
    options?: { body?: unknown; headers?: Record<string, string> },
  ): Promise<ApiResponse>;
  /** How many times the `gate` graph's node ran on a thread. */
  calls(threadId: string): number;
  /** Makes the next executions of the `gate` node on a thread wait. */
  block(threadId: string): Gate;
  /** Closes the server and runtime and starts new ones over the same store. */
  reopen(): Promise<void>;
  /** Every run summary in the store (all pages). */
  allRuns(): Promise<{ threadId: string; status: string }[]>;
  /** A run's events. */
  events(threadId: string): Promise<StoredEvent[]>;
  /** What the runtimes and servers logged (warnings and errors also go to stderr). */
  logs: LogEntry[];
}

/** One entry of {@linkcode Harness.logs}. */
export interface LogEntry {
  /** Its level. */
  level: LogLevel;
  /** Its message. */
  message: string;
  /** Its fields. */
  fields: LogFields;
}

const GateState = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

const DiceState = defineState({
  roll: { default: () => -1 },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

interface GateEntry {
  entered: Deferred<void>;
  released: Deferred<void>;
  aborted: Deferred<unknown>;
}

const BoomState = defineState({ log: { default: (): string[] => [] } });

/**
 * Compiles the `boom` graph in a runtime: one node, `explode`, that always
 * throws `boom`, so every run of it fails.
 *
 * @param runtime The runtime.
 */
export function compileBoom(runtime: Runtime): void {
  new StateGraph(BoomState)
    .addNode("explode", () => {
      throw new Error("boom");
    })
    .addEdge(START, "explode")
    .addEdge("explode", END)
    .compile({ name: "boom", runtime });
}

/**
 * Registers one test per store kind, each with a fresh store, runtime and server.
 *
 * @param name The test's name (` (<kind>)` is appended).
 * @param fn The test body.
 * @param options Credentials for the server, the clock of the runtime and server, the runtime's
 * sleep (its timers), and other server options (its logger, which the runtime shares, the access
 * log, the stream's keep-alive).
 */
export function serverTest(
  name: string,
  fn: (h: Harness) => Promise<void>,
  options:
    & {
      auth?: AuthConfig;
      now?: () => number;
      sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
    }
    & Pick<ServerOptions, "logger" | "accessLog" | "streamKeepAliveMs"> = {},
): void {
  storeTest(name, async (rawStore, kind) => {
    const store = rawStore as Store & ControlStore;
    const counts = new Map<string, number>();
    const gates = new Map<string, GateEntry>();
    const logs: LogEntry[] = [];
    const stderr = createJsonLogger({ level: "warn" });
    const at = (level: LogLevel) => (message: string, fields: LogFields = {}) => {
      logs.push({ level, message, fields });
      stderr[level](message, fields);
    };
    const logger: Logger = {
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
    };

    function setup(runtime: Runtime): void {
      registerExamples(runtime);
      new StateGraph(GateState)
        .addNode("work", async (_state, ctx) => {
          counts.set(ctx.threadId, (counts.get(ctx.threadId) ?? 0) + 1);
          const gate = gates.get(ctx.threadId);
          if (gate !== undefined) {
            await new Promise<void>((resolve, reject) => {
              const onAbort = () => {
                gate.aborted.resolve(ctx.signal.reason);
                reject(ctx.signal.reason);
              };
              if (ctx.signal.aborted) return onAbort();
              ctx.signal.addEventListener("abort", onAbort, { once: true });
              gate.released.promise.then(() => {
                ctx.signal.removeEventListener("abort", onAbort);
                resolve();
              });
              gate.entered.resolve();
            });
          }
          return { log: ["worked"] };
        })
        .addEdge(START, "work")
        .addEdge("work", END)
        .compile({ name: "gate", runtime });
      new StateGraph(DiceState)
        .addNode("setup", () => ({ log: ["setup"] }))
        .addNode("roll", () => ({ roll: Math.random(), log: ["rolled"] }))
        .addEdge(START, "setup")
        .addEdge("setup", "roll")
        .addEdge("roll", END)
        .compile({ name: "dice", runtime });
    }

    async function start(): Promise<{ runtime: Runtime; server: OrisServer }> {
      const runtime = createRuntime({
        store,
        logger,
        ...(options.now === undefined ? {} : { now: options.now }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
        ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
      });
      setup(runtime);
      const { sleep: _sleep, ...serverOptions } = options;
      const server = await createServer({ runtime, ...serverOptions });
      return { runtime, server };
    }

    async function stop(current: { runtime: Runtime; server: OrisServer }): Promise<void> {
      for (const gate of gates.values()) gate.released.resolve();
      await current.server.close();
      await current.runtime.close();
    }

    let current = await start();
    const h: Harness = {
      kind,
      store,
      get runtime() {
        return current.runtime;
      },
      get server() {
        return current.server;
      },
      async request(method, path, { body, headers = {} } = {}) {
        const init: RequestInit = { method, headers };
        if (body !== undefined) {
          init.body = typeof body === "string" ? body : JSON.stringify(body);
        }
        const response = await current.server.app.request(path, init);
        const text = await response.text();
        let parsed: Body = null;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = null;
        }
        return { status: response.status, headers: response.headers, body: parsed, text };
      },
      calls: (threadId) => counts.get(threadId) ?? 0,
      block(threadId) {
        const entry: GateEntry = {
          entered: deferred(),
          released: deferred(),
          aborted: deferred(),
        };
        gates.set(threadId, entry);
        return {
          entered: entry.entered.promise,
          release: () => entry.released.resolve(),
          aborted: entry.aborted.promise,
        };
      },
      async reopen() {
        await stop(current);
        current = await start();
      },
      async allRuns() {
        const runs: { threadId: string; status: string }[] = [];
        let cursor: string | null = null;
        do {
          const page = await store.listRuns({ limit: 100, cursor });
          runs.push(
            ...page.items.map((item) => ({ threadId: item.threadId, status: item.status })),
          );
          cursor = page.nextCursor;
        } while (cursor !== null);
        return runs.sort((a, b) => a.threadId < b.threadId ? -1 : 1);
      },
      events: (threadId) => store.readEvents(parseThreadId(threadId), 1),
      logs,
    };
    try {
      await fn(h);
    } finally {
      await stop(current);
    }
  });
}

/**
 * Asserts a success envelope, exactly `{ meta, request_id, data }`, whose
 * request id is the response's `x-request-id`.
 *
 * @param response The response.
 * @returns The `data`.
 */
export function assertOk(response: ApiResponse): Body {
  assert.equal(response.status, 200, `expected 200, got ${response.status}: ${response.text}`);
  assert.deepEqual(Object.keys(response.body).sort(), ["data", "meta", "request_id"]);
  assert.deepEqual(response.body.meta, { status: "ok", api_version: "v1" });
  assert.equal(typeof response.body.request_id, "string");
  assert.equal(response.body.request_id, response.headers.get("x-request-id"));
  return response.body.data;
}

/**
 * Asserts an error envelope, exactly `{ request_id, error: { code, message,
 * details } }`, with the given HTTP status and code.
 *
 * @param response The response.
 * @param status The HTTP status.
 * @param code The v1 error code.
 * @returns The `error`.
 */
export function assertError(response: ApiResponse, status: number, code: string): Body {
  assert.equal(
    response.status,
    status,
    `expected ${status}, got ${response.status}: ${response.text}`,
  );
  assert.deepEqual(Object.keys(response.body).sort(), ["error", "request_id"]);
  assert.equal(typeof response.body.request_id, "string");
  assert.equal(response.body.request_id, response.headers.get("x-request-id"));
  const error = response.body.error;
  assert.deepEqual(Object.keys(error).sort(), ["code", "details", "message"]);
  assert.equal(error.code, code, `expected code ${code}: ${response.text}`);
  assert.equal(typeof error.message, "string");
  assert.ok(error.message.length > 0);
  assert.ok(error.details === null || typeof error.details === "object");
  return error;
}

/** Options of {@linkcode createQueuedRun}. */
export interface QueuedRunOptions {
  /** Its tenant (`metadata.tenant_id`); none by default. */
  tenant?: string | null;
  /** Its deadline. */
  deadline?: RunDeadline;
  /** The trace it was created in. */
  traceparent?: string;
}

/**
 * Creates a run of the `gate` graph left `queued` in the store, as a server in
 * workers mode leaves it: no runtime takes it up, a worker's poll does.
 */
export async function createQueuedRun(
  store: Pick<Store, "createRun">,
  threadId: string,
  options: QueuedRunOptions = {},
): Promise<void> {
  const event: RunCreatedEvent = {
    type: "run.created",
    v: 1,
    at: Date.now(),
    threadId: threadId as ThreadId,
    graph: "gate",
    input: null,
    payloadHash: `h-${threadId}`,
    state: {},
    next: [],
    metadata: { priority: 0, tenant_id: options.tenant ?? null },
    ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
    ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
  };
  await store.createRun(event);
}
