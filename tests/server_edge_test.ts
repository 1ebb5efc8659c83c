/**
 * The server's edge, on memory, Deno KV and PostgreSQL:
 *
 * - thread ids made only of dots are invalid (clients normalise `.` and `..`
 *   away, so such a run could not be reached), in bodies and paths;
 * - route words: `run` is a route of `/v1/jobs`, not a thread id (refused at
 *   creation); `GET /v1/jobs/run` and `PUT /v1/jobs/run` are 405s that allow
 *   exactly `POST`;
 * - unmatched requests and 405s count in `oris_http_requests_total` under
 *   the fixed route `unmatched`;
 * - a `Content-Encoding` the server does not decode is a 415 that writes
 *   nothing; any `Content-Type` (or none) is read as JSON;
 * - every credential a request carries must be valid (a wrong bearer token
 *   beside a valid API key is a 401), and with auth on an unknown `/v1`
 *   path is a 401 before it is a 404;
 * - the optional access log: one line per request through the server's
 *   logger, IPv6 client addresses in brackets (also the server's listening
 *   line, started by `main()` on `[::1]`).
 */

import assert from "node:assert/strict";
import { createRuntime, MemoryStore } from "../mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { createServer } from "../server/mod.ts";
import { main, parseConfig } from "../server/main.ts";
import { collectingLogger, deferred, type LogEntry } from "./_helpers.ts";
import { assertError, assertOk, type Body, type Harness, serverTest } from "./_server.ts";
import { parseSse, sseReader } from "./_sse.ts";

// ---------------------------------------------------------------------------
// Helpers

/** Everything a refused request must leave alone. */
async function snapshot(h: Harness): Promise<unknown> {
  const runs = await h.allRuns();
  const events: Record<string, unknown> = {};
  for (const run of runs) events[run.threadId] = await h.events(run.threadId);
  return JSON.parse(JSON.stringify({ runs, events }));
}

function assertAllowed(response: Awaited<ReturnType<Harness["request"]>>, methods: string[]) {
  const error = assertError(response, 405, "invalid_argument");
  assert.deepEqual(error.details.allowed, methods);
  assert.equal(response.headers.get("allow"), methods.join(", "));
}

/** Prometheus samples by series (`name{labels}`). */
async function samples(h: Harness): Promise<Map<string, number>> {
  const text = await (await h.server.app.request("/metrics")).text();
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    map.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return map;
}

// ---------------------------------------------------------------------------
// Ids and route words

serverTest("thread ids made only of dots are a 400, in the body and in the path", async (h) => {
  assertOk(await h.request("POST", "/v1/jobs/run", { body: { thread_id: "d-1", input: "hi" } }));
  const before = await snapshot(h);
  for (const id of [".", "..", "...", "....."]) {
    for (const path of ["/v1/jobs/run", "/v1/jobs"]) {
      const error = assertError(
        await h.request("POST", path, { body: { thread_id: id, input: "hi" } }),
        400,
        "invalid_argument",
      );
      assert.equal(error.details.field, "thread_id");
      assert.equal(
        error.message,
        "Invalid body: thread_id must not be made only of dots",
      );
    }
  }
  // `.` and `..` never reach the server as segments; longer runs of dots do.
  for (const [method, path] of [["GET", "/v1/jobs/..."], ["POST", "/v1/jobs/..../cancel"]]) {
    const error = assertError(
      await h.request(method!, path!, method === "POST" ? { body: {} } : {}),
      400,
      "invalid_argument",
    );
    assert.equal(error.details.field, "thread_id");
    assert.equal(error.message, "thread_id must not be made only of dots");
  }
  assert.deepEqual(await snapshot(h), before);
  // Dots among other characters are fine.
  assertOk(await h.request("POST", "/v1/jobs/run", { body: { thread_id: "..a", input: "hi" } }));
  assertOk(await h.request("GET", "/v1/jobs/..a"));
});

serverTest(
  "route words are not thread ids: GET and PUT /v1/jobs/run are 405s allowing exactly POST",
  async (h) => {
    assertOk(await h.request("POST", "/v1/jobs/run", { body: { thread_id: "w-1", input: "hi" } }));
    const before = await snapshot(h);
    // Every literal segment where a route of the table has `:thread_id` (found here from the table).
    const paths = h.server.routes.map((route) => route.path.split("/"));
    const words = new Set<string>();
    for (const segments of paths) {
      segments.forEach((segment, i) => {
        if (segment !== ":thread_id") return;
        for (const other of paths) {
          const prefix = other.slice(0, i).every((s, j) => s === segments[j] || s.startsWith(":"));
          if (prefix && other[i] !== undefined && !other[i]!.startsWith(":")) words.add(other[i]!);
        }
      });
    }
    assert.deepEqual([...words], ["run"]);
    for (const word of words) {
      const error = assertError(
        await h.request("POST", "/v1/jobs/run", { body: { thread_id: word, input: "hi" } }),
        400,
        "invalid_argument",
      );
      assert.equal(error.details.field, "thread_id");
      assert.match(error.message, new RegExp(`thread_id "${word}" is reserved`));
    }
    for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
      const response = await h.request(
        method,
        "/v1/jobs/run",
        method === "GET" ? {} : { body: {} },
      );
      assertAllowed(response, ["POST"]);
      assert.doesNotMatch(response.text, /Cannot find/);
    }
    // Under a route word, a thread's routes do not exist.
    for (
      const [method, path] of [
        ["GET", "/v1/jobs/run/detail"],
        ["GET", "/v1/jobs/run/stream"],
        ["POST", "/v1/jobs/run/resume"],
        ["POST", "/v1/jobs/run/cancel"],
      ]
    ) {
      const error = assertError(
        await h.request(method!, path!, method === "POST" ? { body: {} } : {}),
        404,
        "not_found",
      );
      assert.match(error.message, /No route/);
    }
    // Other 405s list exactly their methods.
    assertAllowed(await h.request("PUT", "/v1/jobs/w-1"), ["GET"]);
    assertAllowed(await h.request("PUT", "/v1/jobs"), ["POST", "GET"]);
    assert.deepEqual(await snapshot(h), before);
  },
);

// ---------------------------------------------------------------------------
// Metrics of unmatched requests

serverTest(
  'unmatched requests and 405s count under route="unmatched", whatever their path',
  async (h) => {
    const requests: [string, string, number][] = [
      ["GET", "/nope", 404],
      ["GET", "/v1/nope/1", 404],
      ["GET", "/v1/nope/2", 404],
      ["DELETE", "/v1/jobs/u-1", 405],
      ["GET", "/v1/jobs/run", 405],
      ["PUT", "/v1/jobs/run", 405],
      ["GET", "/v1/jobs/run/detail", 404],
      ["FOO", "/v1/anything", 404],
    ];
    for (const [method, path, status] of requests) {
      assert.equal((await h.server.app.request(path, { method })).status, status, path);
    }
    const values = await samples(h);
    const unmatched = [...values].filter(([series]) =>
      series.startsWith("oris_http_requests_total{") && series.includes('route="unmatched"')
    );
    assert.deepEqual(Object.fromEntries(unmatched), {
      'oris_http_requests_total{method="GET",route="unmatched",status="404"}': 4,
      'oris_http_requests_total{method="DELETE",route="unmatched",status="405"}': 1,
      'oris_http_requests_total{method="GET",route="unmatched",status="405"}': 1,
      'oris_http_requests_total{method="PUT",route="unmatched",status="405"}': 1,
      'oris_http_requests_total{method="OTHER",route="unmatched",status="404"}': 1,
    }, "GET /v1/jobs/run/detail counts with the other GET 404s");
    assert.equal(values.get('oris_http_request_duration_ms_count{route="unmatched"}'), 8);
    assert.ok(![...values.keys()].some((series) => /nope|anything|u-1/.test(series)));
  },
);

// ---------------------------------------------------------------------------
// Content headers

serverTest(
  "a Content-Encoding the server does not decode is a 415 that writes nothing; any Content-Type is JSON",
  async (h) => {
    const before = await snapshot(h);
    for (const encoding of ["gzip", "br", "deflate", "identity, gzip", "x-custom"]) {
      const response = await h.request("POST", "/v1/jobs/run", {
        body: { thread_id: "ce-1", input: "hi" },
        headers: { "content-encoding": encoding, "content-type": "application/json" },
      });
      const error = assertError(response, 415, "invalid_argument");
      assert.equal(error.details.content_encoding, encoding);
      assert.deepEqual(error.details.supported, ["identity"]);
      assert.match(error.message, /Content-Encoding .* is not supported/);
    }
    assert.deepEqual(await snapshot(h), before);

    const accepted: [string, Record<string, string>][] = [
      ["ce-identity", { "content-encoding": "identity" }],
      ["ce-identity-caps", { "content-encoding": "Identity" }],
      ["ce-form", { "content-type": "application/x-www-form-urlencoded" }],
      ["ce-text", { "content-type": "text/plain" }],
      ["ce-none", {}],
    ];
    for (const [threadId, headers] of accepted) {
      const body = new TextEncoder().encode(JSON.stringify({ thread_id: threadId, input: "hi" }));
      // A body of bytes: fetch adds no Content-Type of its own.
      const response = await h.server.app.request("/v1/jobs/run", {
        method: "POST",
        body,
        headers,
      });
      assert.equal(response.status, 200, `${threadId}: ${await response.clone().text()}`);
      assert.equal((await response.json()).data.status, "completed");
    }
  },
);

// ---------------------------------------------------------------------------
// Auth

const BEARER = "edge-Bearer-1";
const KEY = "edge-Key-1";

serverTest(
  "every credential sent must be valid: a wrong bearer beside a valid API key is a 401, and the other way round",
  async (h) => {
    const refused: Record<string, string>[] = [
      { authorization: "Bearer wrong", "x-api-key": KEY },
      { authorization: `Bearer ${BEARER}`, "x-api-key": "wrong" },
      { authorization: `Basic ${btoa(`a:${KEY}`)}`, "x-api-key": KEY },
      { authorization: "", "x-api-key": KEY },
      { "x-api-key-id": "nobody", "x-api-key": KEY },
      { authorization: `Bearer ${BEARER}`, "x-api-key-id": "nobody" },
    ];
    for (const headers of refused) {
      const error = assertError(
        await h.request("POST", "/v1/jobs/run", { body: { thread_id: "a-1" }, headers }),
        401,
        "unauthorized",
      );
      assert.deepEqual(error.details.supported_auth, [
        "bearer",
        "x-api-key",
        "x-api-key-id+x-api-key",
      ]);
      assertError(await h.request("GET", "/v1/jobs", { headers }), 401, "unauthorized");
    }
    assert.deepEqual(await h.allRuns(), []);
    for (
      const headers of [
        { authorization: `Bearer ${BEARER}` },
        { "x-api-key": KEY },
        { authorization: `Bearer ${BEARER}`, "x-api-key": KEY },
      ]
    ) {
      assertOk(await h.request("GET", "/v1/jobs", { headers }));
    }
  },
  { auth: { bearerToken: BEARER, apiKey: KEY } },
);

serverTest(
  "with auth on, an unknown /v1 path is a 401 before it is a 404",
  async (h) => {
    for (
      const path of [
        "/v1",
        "/v1/nope",
        "/v1/jobs/run/detail",
        "/v1/keys/k-1/rotate",
        "/v1/jobs/a/b/c",
      ]
    ) {
      assertError(await h.request("GET", path), 401, "unauthorized");
      assertError(
        await h.request("GET", path, { headers: { authorization: "Bearer wrong" } }),
        401,
        "unauthorized",
      );
      const error = assertError(
        await h.request("GET", path, { headers: { authorization: `Bearer ${BEARER}` } }),
        404,
        "not_found",
      );
      assert.match(error.message, /No route/);
    }
    // Outside /v1 nothing needs credentials: an unknown path is a 404 to anyone.
    assertError(await h.request("GET", "/nope"), 404, "not_found");
    assertOk(await h.request("GET", "/healthz"));
  },
  { auth: { bearerToken: BEARER } },
);

// ---------------------------------------------------------------------------
// Access log

const accessLog = collectingLogger();

function requestLines(entries: LogEntry[], requestId: string): LogEntry[] {
  return entries.filter((entry) =>
    entry.message === "request" && entry.fields.request_id === requestId
  );
}

serverTest(
  "with the access log on, every request is one line: request id, route, status, duration, actor",
  async (h) => {
    const id = (name: string) => `${h.kind}-${name}`;
    const cases: [string, string, Record<string, string>, Body][] = [
      ["POST", "/v1/jobs/run", { authorization: `Bearer ${BEARER}` }, {
        method: "POST",
        path: "/v1/jobs/run",
        route: "/v1/jobs/run",
        status: 200,
        actor_type: "bearer",
        actor_id: null,
      }],
      ["GET", "/v1/jobs/al-1", { authorization: `Bearer ${BEARER}` }, {
        method: "GET",
        path: "/v1/jobs/al-1",
        route: "/v1/jobs/:thread_id",
        status: 200,
        actor_type: "bearer",
        actor_id: null,
      }],
      ["GET", "/v1/jobs", {}, {
        method: "GET",
        path: "/v1/jobs",
        route: "/v1/jobs",
        status: 401,
        actor_type: "anonymous",
        actor_id: null,
      }],
      ["GET", "/nope", {}, {
        method: "GET",
        path: "/nope",
        route: "unmatched",
        status: 404,
        actor_type: "anonymous",
        actor_id: null,
      }],
      ["GET", "/healthz", {}, {
        method: "GET",
        path: "/healthz",
        route: "/healthz",
        status: 200,
        actor_type: "anonymous",
        actor_id: null,
      }],
    ];
    for (const [i, [method, path, headers, expected]] of cases.entries()) {
      const requestId = id(`r${i}`);
      const response = await h.request(method, path, {
        headers: { ...headers, "x-request-id": requestId },
        ...(method === "POST" ? { body: { thread_id: "al-1", input: "hi" } } : {}),
      });
      assert.equal(response.status, expected.status);
      const lines = requestLines(accessLog.entries, requestId);
      assert.equal(lines.length, 1, path);
      assert.equal(lines[0]!.level, "info");
      const { duration_ms: duration, client, ...fields } = lines[0]!.fields;
      assert.deepEqual(fields, { request_id: requestId, ...expected });
      assert.equal(typeof duration, "number");
      assert.ok((duration as number) >= 0);
      assert.equal(client, null, "app.request() has no connection");
    }

    // Behind Deno.serve the client's address is logged, an IPv6 one in brackets.
    for (
      const [hostname, logged] of [
        ["::1", "[::1]:50123"],
        ["127.0.0.1", "127.0.0.1:50123"],
      ] as const
    ) {
      const requestId = id(`addr-${hostname}`);
      const response = await h.server.app.fetch(
        new Request("http://localhost/healthz", { headers: { "x-request-id": requestId } }),
        {
          remoteAddr: { transport: "tcp", hostname, port: 50123 },
          completed: Promise.resolve(),
        },
      );
      assert.equal(response.status, 200);
      assert.equal(requestLines(accessLog.entries, requestId)[0]!.fields.client, logged);
    }
  },
  { auth: { bearerToken: BEARER }, logger: accessLog.logger, accessLog: true },
);

Deno.test("the access log is off by default; ORIS_ACCESS_LOG turns it on", async () => {
  await using store = new MemoryStore();
  await using runtime = createRuntime({ store });
  registerExamples(runtime);
  const { logger, entries } = collectingLogger();
  const server = await createServer({ runtime, logger });
  try {
    assert.equal((await server.app.request("/healthz")).status, 200);
    assert.equal((await server.app.request("/nope")).status, 404);
    // The start line names the credentials; no request is logged.
    assert.deepEqual(entries.map((entry) => entry.message), ["api credentials"]);
  } finally {
    await server.close();
  }
  assert.equal(parseConfig({}).ORIS_ACCESS_LOG, false);
  assert.equal(parseConfig({ ORIS_ACCESS_LOG: "true" }).ORIS_ACCESS_LOG, true);
  assert.equal(parseConfig({ ORIS_ACCESS_LOG: "0" }).ORIS_ACCESS_LOG, false);
  assert.throws(
    () => parseConfig({ ORIS_ACCESS_LOG: "yes" }),
    /ORIS_ACCESS_LOG must be true or false/,
  );
});

Deno.test("main() on [::1] logs its address and each client's in brackets; a followed stream does not hold it at its stop", async () => {
  const dir = await Deno.makeTempDir();
  const { logger, entries } = collectingLogger();
  const listening = deferred<string>();
  const watched = {
    ...logger,
    info(message: string, fields?: Record<string, unknown>) {
      logger.info(message, fields);
      if (message === "oris server listening") listening.resolve(String(fields?.addr));
    },
  };
  const stopped = main({
    ORIS_SERVER_ADDR: "[::1]:0",
    ORIS_KV_PATH: `${dir}/oris.kv`,
    ORIS_ACCESS_LOG: "true",
  }, { logger: watched, signals: ["SIGUSR2"] });
  let signalled = false;
  let ended = false;
  stopped.finally(() => ended = true).catch(() => {});
  // Once only, while main() listens: otherwise the signal's default action ends this process.
  const stop = () => {
    if (!signalled && !ended) Deno.kill(Deno.pid, "SIGUSR2");
    signalled = true;
  };
  try {
    const addr = await Promise.race([listening.promise, stopped.then(() => "stopped")]);
    assert.match(addr, /^\[::1\]:\d+$/);
    const response = await fetch(`http://${addr}/healthz`, { headers: { "x-request-id": "v6-1" } });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const [line] = requestLines(entries, "v6-1");
    assert.match(String(line!.fields.client), /^\[::1\]:\d+$/);

    // A followed stream of an interrupted run does not hold the server open at its stop.
    const run = await fetch(`http://${addr}/v1/jobs/run`, {
      method: "POST",
      body: JSON.stringify({ thread_id: "v6-run", graph: "approval", input: { request: "x" } }),
    });
    assert.equal((await run.json()).data.status, "interrupted");
    const followed = await fetch(`http://${addr}/v1/jobs/v6-run/stream?follow=true`);
    const reader = sseReader(followed);
    await reader.untilBlock((block) => block.kind === "event" && block.event.id === "1");
    stop();
    await stopped;
    const events = await reader.rest().catch(() => parseSse(""));
    assert.ok(events.every((event) => event.event !== "end"), "closed, not ended: clients resume");
  } finally {
    stop();
    await stopped;
    await Deno.remove(dir, { recursive: true });
  }
});
