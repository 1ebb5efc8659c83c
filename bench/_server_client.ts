/**
 * The load generator of `bench/server_bench.ts`, run as a separate process so
 * that its work does not share the server's event loop. It imports nothing
 * from the project.
 *
 * Usage: `deno run -A bench/_server_client.ts <base-url>`. It reads one JSON
 * command per line on stdin, `{ "seconds": 5, "clients": 64, "prefix": "b1" }`,
 * and for each runs `clients` loops that `POST <base-url>/v1/jobs/run` the
 * `hello` graph, one request after another, each with a fresh thread id
 * (`<prefix>-<client>-<n>`), over keep-alive connections, until `seconds`
 * have passed; requests in flight then finish. It answers with one JSON line:
 * `{ runs, errors, first_error, elapsed_ms, latencies_ms }` (`runs` counts
 * 200 responses whose run `completed`; latency is from sending the request to
 * having read the whole body). It exits when stdin closes.
 *
 * @module
 */

/** A request that has not answered within this long counts as an error. */
const REQUEST_TIMEOUT_MS = 30_000;

interface Command {
  seconds: number;
  clients: number;
  prefix: string;
}

interface Answer {
  runs: number;
  errors: number;
  first_error: string | null;
  elapsed_ms: number;
  latencies_ms: number[];
}

async function load(base: string, client: Deno.HttpClient, command: Command): Promise<Answer> {
  const url = `${base}/v1/jobs/run`;
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const deadline = started + command.seconds * 1000;
  await Promise.all(Array.from({ length: command.clients }, async (_, worker) => {
    for (let n = 0; performance.now() < deadline; n++) {
      const body = JSON.stringify({ thread_id: `${command.prefix}-${worker}-${n}`, input: "hi" });
      const t0 = performance.now();
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          client,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await response.text();
        const ms = performance.now() - t0;
        if (response.status === 200 && JSON.parse(text).data?.status === "completed") {
          latencies.push(ms);
        } else {
          errors++;
          firstError ??= `${response.status} ${text.slice(0, 300)}`;
        }
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  }));
  return {
    runs: latencies.length,
    errors,
    first_error: firstError,
    elapsed_ms: performance.now() - started,
    latencies_ms: latencies.map((ms) => Math.round(ms * 1000) / 1000),
  };
}

if (import.meta.main) {
  const base = Deno.args[0];
  if (base === undefined || !/^http:\/\/127\.0\.0\.1:\d+$/.test(base)) {
    console.error("usage: _server_client.ts http://127.0.0.1:<port> (loopback only)");
    Deno.exit(2);
  }
  const client = Deno.createHttpClient({ http1: true, http2: false, poolMaxIdlePerHost: 128 });
  const encoder = new TextEncoder();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffer = "";
  for await (const chunk of lines) {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line === "") continue;
      const command = JSON.parse(line) as Command;
      const answer = await load(base, client, command);
      await Deno.stdout.write(encoder.encode(`${JSON.stringify(answer)}\n`));
    }
  }
  client.close();
}
