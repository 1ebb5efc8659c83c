/**
 * Deno's built-in OpenTelemetry export (`OTEL_DENO=true`) ships the server's
 * spans: a run started by a request with a `traceparent` exports `oris.run`,
 * `oris.step` and `oris.node` spans in the caller's trace, the run span a
 * child of the request's span, with the `oris.*` attributes. A local OTLP/HTTP
 * (JSON) collector receives them.
 */

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

function attribute(span: OtlpSpan, key: string): unknown {
  const found = span.attributes?.find((item) => item.key === key);
  return found === undefined ? undefined : Object.values(found.value)[0];
}

Deno.test("server: OTEL_DENO=true exports oris.run, oris.step and oris.node spans in the caller's trace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oris-otel-" });
  const spans: OtlpSpan[] = [];
  const collector = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      if (new URL(request.url).pathname === "/v1/traces") {
        const body = await request.json() as {
          resourceSpans?: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const resource of body.resourceSpans ?? []) {
          for (const scope of resource.scopeSpans) spans.push(...scope.spans);
        }
      } else {
        await request.body?.cancel();
      }
      return Response.json({});
    },
  );
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "server/main.ts"],
    cwd: ROOT,
    env: {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      ORIS_SERVER_ADDR: "127.0.0.1:0",
      ORIS_KV_PATH: `${dir}/oris.kv`,
      NO_COLOR: "1",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(server.stderr).text();
  try {
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    let match: RegExpExecArray | null = null;
    while (match === null) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`The server exited: ${await stderr}`);
      seen += value;
      match = /"addr":"([^"]+)","pid":(\d+)/.exec(seen);
    }
    const drain = (async () => {
      while (!(await reader.read()).done) { /* keep the pipe flowing */ }
    })();
    const traceId = "0123456789abcdef0123456789abcdef";
    const response = await fetch(`http://${match[1]}/v1/jobs/run`, {
      method: "POST",
      headers: { traceparent: `00-${traceId}-1111111111111111-01` },
      body: JSON.stringify({ thread_id: "otel-1", input: "hi" }),
    });
    const body = await response.json();
    assert.equal(body.data.status, "completed");
    // SIGTERM: the server stops cleanly and Deno flushes the exporter.
    Deno.kill(Number(match[2]), "SIGTERM");
    assert.equal((await server.status).code, 0, await stderr);
    await drain;

    const byName = (name: string) => spans.filter((span) => span.name === name);
    const [run] = byName("oris.run");
    assert.ok(
      run !== undefined,
      `no oris.run span among ${spans.map((span) => span.name).join(", ")}`,
    );
    assert.equal(run.traceId, traceId);
    assert.equal(run.parentSpanId, body.data.trace.span_id);
    assert.equal(attribute(run, "oris.thread_id"), "otel-1");
    assert.equal(attribute(run, "oris.status"), "completed");
    const [step] = byName("oris.step");
    assert.equal(step?.parentSpanId, run.spanId);
    assert.equal(attribute(step!, "oris.checkpoint_id"), body.data.checkpoint_id);
    const [node] = byName("oris.node");
    assert.equal(node?.parentSpanId, step!.spanId);
    assert.equal(attribute(node!, "oris.node"), "mock_llm");
  } finally {
    await collector.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
