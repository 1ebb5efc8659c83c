/**
 * The CLI's client of the v1 API: the server's address and credentials from
 * flags or the environment, the envelope unwrapped, and errors as
 * {@linkcode CliError}s with the exit code of the issue (1 server or network
 * failure, 2 bad input, 3 not found, 4 conflict, 5 unauthorized or
 * forbidden) and the server's code, message and request id.
 *
 * @module
 */

/** An error that ends a command with an exit code. */
export class CliError extends Error {
  /** The exit code. */
  readonly exitCode: number;
  /**
   * @param message One line for stderr.
   * @param exitCode The exit code.
   */
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Bad usage: exit code 2, the command's usage printed. */
export class UsageError extends CliError {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(message, 2);
  }
}

/** Exit codes by the API's error code. */
const EXIT_CODES: Record<string, number> = {
  invalid_argument: 2,
  not_found: 3,
  conflict: 4,
  unauthorized: 5,
  forbidden: 5,
};

/** How to reach the server. */
export interface ClientOptions {
  /** `--server`, `ORIS_SERVER_URL`, or `http://127.0.0.1:8080`. */
  server: string;
  /** Headers with the credentials. */
  headers: Record<string, string>;
  /** The fetch to use. */
  fetch: typeof fetch;
}

/** The connection flags every operator command takes. */
export const CONNECTION_OPTIONS = {
  server: { type: "string" },
  token: { type: "string" },
  "api-key-id": { type: "string" },
  "api-key": { type: "string" },
} as const;

/** The help lines of the connection flags. */
export const CONNECTION_HELP = [
  "  --server <url>        the server (ORIS_SERVER_URL; default http://127.0.0.1:8080)",
  "  --token <token>       a bearer token (ORIS_API_TOKEN)",
  "  --api-key-id <id>     an API key's id (ORIS_API_KEY_ID), with --api-key",
  "  --api-key <secret>    an API key (ORIS_API_KEY)",
  "  --json                print the server's data as JSON",
];

/**
 * The client options from flags and the environment.
 *
 * @param values The parsed flags.
 * @param env The environment.
 * @param fetchFn The fetch to use.
 * @returns The options.
 */
export function clientOptions(
  values: { server?: string; token?: string; "api-key-id"?: string; "api-key"?: string },
  env: Record<string, string | undefined>,
  fetchFn: typeof fetch,
): ClientOptions {
  const server = (values.server ?? env.ORIS_SERVER_URL ?? "http://127.0.0.1:8080").replace(
    /\/+$/,
    "",
  );
  try {
    const url = new URL(server);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
  } catch {
    throw new UsageError(`--server must be an http(s) URL, got "${server}"`);
  }
  const headers: Record<string, string> = {};
  const token = values.token ?? env.ORIS_API_TOKEN;
  const keyId = values["api-key-id"] ?? env.ORIS_API_KEY_ID;
  const key = values["api-key"] ?? env.ORIS_API_KEY;
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers["x-api-key"] = key;
  if (keyId) {
    if (!key) throw new UsageError("--api-key-id needs --api-key (or ORIS_API_KEY)");
    headers["x-api-key-id"] = keyId;
  }
  return { server, headers, fetch: fetchFn };
}

/**
 * Sends a request and returns the envelope's `data`.
 *
 * @param client The server and credentials.
 * @param method The method.
 * @param path The path (with its query).
 * @param body A JSON body.
 * @returns The data.
 * @throws {CliError} for an error response or a network failure.
 */
export async function request<T = Record<string, unknown>>(
  client: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await send(client, method, path, body);
  const text = await response.text();
  let parsed: { data?: unknown; error?: { code?: string; message?: string } } | null = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!response.ok || parsed === null || parsed.data === undefined) {
    const code = parsed?.error?.code ?? `http_${response.status}`;
    const message = parsed?.error?.message ?? (text.slice(0, 200) || response.statusText);
    const requestId = response.headers.get("x-request-id");
    throw new CliError(
      `${code}: ${message}${requestId === null ? "" : ` (request id ${requestId})`}`,
      response.ok ? 1 : EXIT_CODES[code] ?? 1,
    );
  }
  return parsed.data as T;
}

/**
 * Sends a request; a network failure is a {@linkcode CliError} (exit code 1).
 *
 * @param client The server and credentials.
 * @param method The method.
 * @param path The path.
 * @param body A JSON body.
 * @returns The response.
 */
export async function send(
  client: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  try {
    return await client.fetch(`${client.server}${path}`, {
      method,
      headers: {
        ...client.headers,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`Cannot reach the server at ${client.server}: ${reason}`, 1);
  }
}

/**
 * Reads a server-sent event stream, calling `onEvent` for each event.
 *
 * @param response The streaming response.
 * @param onEvent Called with each event's name and parsed data; `true` stops reading.
 */
export async function readEvents(
  response: Response,
  onEvent: (event: string, data: unknown) => boolean | void,
): Promise<void> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = blocks.pop()!;
    for (const block of blocks) {
      let event = "message";
      const data: string[] = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length === 0) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.join("\n"));
      } catch {
        parsed = data.join("\n");
      }
      if (onEvent(event, parsed) === true) {
        await reader.cancel();
        return;
      }
    }
  }
}
