/**
 * Test helper: the server as a real process on a free port (`deno task
 * start`, or `deno run -A server/main.ts` with arguments), its stdout lines
 * collected while it runs, stopped by signalling the server's own pid.
 *
 * @module
 */

/** A server process. */
export interface ServerProcess {
  /** `http://host:port`. */
  base: string;
  /** The process started (`deno task` or `deno run`). */
  child: Deno.ChildProcess;
  /** The server's own pid (`deno task` runs it as a child). */
  pid: number;
  /** Lines the server printed to stdout (collected while it runs). */
  lines: string[];
  /** Its stderr, when it has exited. */
  stderr: Promise<string>;
  /** Its exit. */
  exited: Promise<Deno.CommandStatus>;
  /**
   * Waits for a stdout line (one already printed, or a later one) that
   * `predicate` accepts.
   *
   * @param predicate Which line.
   * @param options `from`: look only at lines from this index of `lines`;
   * `timeoutMs`: how long at most (a failure guard, default 60 s).
   * @returns The line.
   * @throws {Error} when the process exits first or the time is up.
   */
  waitForLine(
    predicate: (line: string) => boolean,
    options?: { from?: number; timeoutMs?: number },
  ): Promise<string>;
}

/** Options of {@linkcode startServer}. */
export interface StartServerOptions {
  /** Arguments after `server/main.ts`; with them, the server runs with `deno run`. */
  args?: string[];
  /** The working directory (default: the repository). */
  cwd?: string;
  /** Start it as `oris server <args>` (`deno run -A cli/main.ts server`) instead. */
  oris?: boolean;
}

/** The repository's root directory. */
export const ROOT: string = new URL("..", import.meta.url).pathname;

/**
 * Starts the server and waits for its listening line.
 *
 * @param env Its environment (`ORIS_SERVER_ADDR`, unless given, is a free port on 127.0.0.1).
 * @param options Arguments and working directory.
 * @returns The process.
 */
export async function startServer(
  env: Record<string, string>,
  options: StartServerOptions = {},
): Promise<ServerProcess> {
  const config = ["run", "-A", "--config", `${ROOT}deno.json`];
  const args = options.oris === true
    ? [...config, `${ROOT}cli/main.ts`, "server", ...options.args ?? []]
    : options.args === undefined
    ? ["task", "start"]
    : [...config, `${ROOT}server/main.ts`, ...options.args];
  return await spawnWithLines(
    args,
    { ORIS_SERVER_ADDR: "127.0.0.1:0", ...env, NO_COLOR: "1" },
    options.cwd ?? ROOT,
    (line) => {
      const match = /"addr":"([^"]+)","pid":(\d+)/.exec(line);
      return match === null ? null : { base: `http://${match[1]}`, pid: Number(match[2]) };
    },
  );
}

/**
 * Starts `oris worker <args>` (`deno run -A cli/main.ts worker`) and waits
 * for its `oris worker started` line.
 *
 * @param env Its environment (on top of this process's).
 * @param args Its arguments (`--graphs`, ...).
 * @returns The process (`base` is the server it works for).
 */
export async function startWorker(
  env: Record<string, string>,
  args: string[],
): Promise<ServerProcess> {
  return await spawnWithLines(
    ["run", "-A", "--config", `${ROOT}deno.json`, `${ROOT}cli/main.ts`, "worker", ...args],
    { ...env, NO_COLOR: "1" },
    ROOT,
    (line) => {
      const match = /"msg":"oris worker started".*"server":"([^"]+)".*"pid":(\d+)/.exec(line);
      return match === null ? null : { base: match[1]!, pid: Number(match[2]) };
    },
  );
}

/** Spawns a process, collects its stdout lines, and waits for the line `ready` accepts. */
async function spawnWithLines(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  ready: (line: string) => { base: string; pid: number } | null,
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let base: string | null = null;
  let pid = 0;
  while (base === null) {
    const { done, value } = await reader.read();
    if (done) {
      throw new Error(`The process exited before it was ready: ${await stderr}`);
    }
    buffer += value;
    const parts = buffer.split("\n");
    buffer = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      const found = ready(line);
      if (found !== null) ({ base, pid } = found);
    }
  }
  const watchers = new Set<() => void>();
  let ended = false;
  // Keep draining stdout so the server never blocks on a full pipe.
  (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts.filter((line) => line !== ""));
      for (const watcher of watchers) watcher();
    }
    ended = true;
    for (const watcher of watchers) watcher();
  })();
  const waitForLine = (
    predicate: (line: string) => boolean,
    options: { from?: number; timeoutMs?: number } = {},
  ): Promise<string> => {
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    let next = options.from ?? 0;
    const check = () => {
      for (; next < lines.length; next++) {
        if (predicate(lines[next]!)) return settle(() => resolve(lines[next]!));
      }
      if (ended) {
        settle(() => reject(new Error(`The server (pid ${pid}) exited without printing the line`)));
      }
    };
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(
      () =>
        settle(() =>
          reject(
            new Error(
              `No such line from the server (pid ${pid}) in ${timeoutMs} ms; its last lines:\n${
                lines.slice(-40).join("\n")
              }`,
            ),
          )
        ),
      timeoutMs,
    );
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      watchers.delete(check);
      fn();
    };
    watchers.add(check);
    check();
    return promise;
  };
  return { base, child, pid, lines, stderr, exited: child.status, waitForLine };
}

/**
 * Signals the server process itself (never a group); `deno task` exits with it.
 *
 * @param server The server.
 * @param signal The signal.
 * @returns Its exit status.
 */
export async function stopServer(
  server: ServerProcess,
  signal: "SIGKILL" | "SIGTERM",
): Promise<Deno.CommandStatus> {
  if (!(server.pid > 1) || server.pid === Deno.pid) {
    throw new Error(`Refusing to signal pid ${server.pid}`);
  }
  Deno.kill(server.pid, signal);
  const status = await server.exited;
  await server.stderr;
  return status;
}

/**
 * Waits for a `Deno.serve` process to say where it listens (on stderr), and
 * keeps draining its stderr after, so the process never blocks on a full pipe.
 *
 * @param stderr The process's stderr.
 * @returns `http://host:port`.
 * @throws {Error} when the process exits first (with what it printed).
 */
export async function listeningAddress(
  stderr: ReadableStream<Uint8Array<ArrayBuffer>>,
): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let base: string | null = null;
  while (base === null) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`The service exited: ${text}`);
    text += value;
    base = /Listening on (http:\/\/\S+?)\/?\s/.exec(text)?.[1] ?? null;
  }
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  return base;
}

/** What an `oris` process printed, and its exit code. */
export interface OrisOutput {
  /** The exit code. */
  code: number;
  /** Its stdout. */
  stdout: string;
  /** Its stderr. */
  stderr: string;
}

/**
 * Runs `oris <args>` as a process (`deno run -A cli/main.ts`) in the
 * repository.
 *
 * @param args The command line.
 * @param options Its environment (with `clearEnv`, only that), and what to write to its stdin.
 * @returns What it printed and its exit code.
 */
export async function runOris(
  args: string[],
  options: { env?: Record<string, string>; clearEnv?: boolean; stdin?: string } = {},
): Promise<OrisOutput> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli/main.ts", ...args],
    cwd: ROOT,
    env: options.env ?? {},
    clearEnv: options.clearEnv ?? false,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}
