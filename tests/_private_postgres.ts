/**
 * A private PostgreSQL cluster for one test: `initdb` into a temporary
 * directory, a free port, its unix socket in that directory, trust auth,
 * `fsync=off`. A test may stop, start and restart it at will (database
 * outages, several processes on one database) without touching the shared
 * server on 127.0.0.1:5432 that other tests use.
 *
 * The binaries come from `ORIS_TEST_PG_BIN`, else the newest
 * `/usr/lib/postgresql/<version>/bin` (Debian's layout). PostgreSQL refuses
 * to run as root: when the tests run as root, every command runs as the
 * `postgres` user (`runuser -u postgres --`), in a directory that user owns.
 *
 * Every step waits on the cluster's state (`pg_ctl -w` waits until it
 * accepts connections or has shut down), never on a sleep. Tests that need
 * it are skipped when the binaries are missing, unless
 * `ORIS_REQUIRE_POSTGRES=1`, which makes them fail with the reason.
 *
 * @module
 */

import { POSTGRES_REQUIRED } from "./_postgres.ts";

/** A running private cluster. */
export interface PrivatePostgres {
  /** Its URL: `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** Its TCP port (on 127.0.0.1). */
  readonly port: number;
  /** The temporary directory: the data directory, the socket and the log. */
  readonly dir: string;
  /** Stops it (`pg_ctl stop -m fast`: open sessions are ended); resolves once it is down. */
  stop(): Promise<void>;
  /** Starts it again; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Restarts it (`pg_ctl restart -m fast`); resolves once it accepts connections again. */
  restart(): Promise<void>;
  /** Whether it is running (`pg_ctl status`). */
  running(): Promise<boolean>;
  /** The server's log so far. */
  log(): Promise<string>;
  /** Stops it (immediately) and removes its directory. */
  destroy(): Promise<void>;
  /** {@linkcode PrivatePostgres.destroy}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The clusters running in this process, stopped and removed when it exits
 * even if a test died before destroying its own (an uncaught error).
 */
const LIVE = new Map<string, () => void>();
globalThis.addEventListener("unload", () => {
  for (const stop of LIVE.values()) {
    try {
      stop();
    } catch {
      // The process is ending: nothing else can be done about a cluster that will not stop.
    }
  }
});

/** Why a private cluster cannot be made here, or `null` when it can. */
export const PRIVATE_POSTGRES_UNAVAILABLE: string | null = await findProblem();

/**
 * Registers a test that needs a private cluster: skipped when the
 * PostgreSQL binaries are missing, failing with the reason when
 * `ORIS_REQUIRE_POSTGRES=1`.
 *
 * @param name The test's name.
 * @param fn The test.
 */
export function privatePostgresTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: PRIVATE_POSTGRES_UNAVAILABLE !== null && !POSTGRES_REQUIRED,
    async fn() {
      if (PRIVATE_POSTGRES_UNAVAILABLE !== null) {
        throw new Error(
          `Cannot make a private PostgreSQL cluster: ${PRIVATE_POSTGRES_UNAVAILABLE}`,
        );
      }
      await fn();
    },
  });
}

/**
 * Creates and starts a private cluster (`initdb` takes a second or two).
 *
 * @returns The running cluster; `destroy()` it (or `await using`).
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  if (PRIVATE_POSTGRES_UNAVAILABLE !== null) {
    throw new Error(`Cannot make a private PostgreSQL cluster: ${PRIVATE_POSTGRES_UNAVAILABLE}`);
  }
  const bin = (await binDir())!;
  const owner = Deno.uid() === 0 ? await postgresUser() : null;
  const dir = await Deno.makeTempDir({ prefix: "oris-pg-" });
  const data = `${dir}/data`;
  const logFile = `${dir}/postgres.log`;
  const run = async (command: string, args: string[]): Promise<void> => {
    await pgCommand(owner, `${bin}/${command}`, args);
  };
  let started = false;
  try {
    if (owner !== null) await Deno.chown(dir, owner.uid, owner.gid);
    await run("initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "--no-sync",
      "--encoding=UTF8",
      "--locale=C",
    ]);
    // A port that was free a moment ago; another process may take it first, so try a few.
    for (let attempt = 1;; attempt++) {
      const port = freePort();
      await Deno.writeTextFile(
        `${data}/postgresql.auto.conf`,
        [
          `port = ${port}`,
          `listen_addresses = '127.0.0.1'`,
          `unix_socket_directories = '${dir}'`,
          `fsync = off`,
          `synchronous_commit = off`,
          `full_page_writes = off`,
          `max_connections = 50`,
          "",
        ].join("\n"),
      );
      if (owner !== null) await Deno.chown(`${data}/postgresql.auto.conf`, owner.uid, owner.gid);
      try {
        await run("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "60", "start"]);
        started = true;
      } catch (error) {
        if (attempt >= 3) throw error;
        continue;
      }
      LIVE.set(dir, () => {
        const [command, args] = commandOf(owner, `${bin}/pg_ctl`, [
          "-D",
          data,
          "-m",
          "immediate",
          "stop",
        ]);
        new Deno.Command(command, { args, stdin: "null", stdout: "null", stderr: "null" })
          .outputSync();
        Deno.removeSync(dir, { recursive: true });
      });
      const cluster: PrivatePostgres = {
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        port,
        dir,
        stop: () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "60", "stop"]),
        start: () => run("pg_ctl", ["-D", data, "-l", logFile, "-w", "-t", "60", "start"]),
        restart: () =>
          run("pg_ctl", ["-D", data, "-l", logFile, "-m", "fast", "-w", "-t", "60", "restart"]),
        running: () => pgCommand(owner, `${bin}/pg_ctl`, ["-D", data, "status"], [0, 3]),
        log: () => Deno.readTextFile(logFile).catch(() => ""),
        async destroy() {
          if (await cluster.running()) {
            await run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "-t", "60", "stop"]);
          }
          await Deno.remove(dir, { recursive: true });
          LIVE.delete(dir);
        },
        [Symbol.asyncDispose]: () => cluster.destroy(),
      };
      return cluster;
    }
  } catch (error) {
    if (started) {
      await run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
    }
    const log = await Deno.readTextFile(logFile).catch(() => "");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`Cannot start a private PostgreSQL cluster: ${message(error)}\n${log}`, {
      cause: error,
    });
  }
}

/**
 * Runs a PostgreSQL binary, as `owner` when given.
 *
 * @returns Whether it exited 0, when `codes` allows other exit codes; else throws unless it did.
 */
async function pgCommand(
  owner: { uid: number; gid: number } | null,
  path: string,
  args: string[],
  codes: number[] = [0],
): Promise<boolean> {
  const [command, commandArgs] = commandOf(owner, path, args);
  const output = await new Deno.Command(command, {
    args: commandArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).output();
  if (!codes.includes(output.code)) {
    const decoder = new TextDecoder();
    throw new Error(
      `${path.split("/").pop()} ${args.join(" ")} exited ${output.code}: ` +
        `${decoder.decode(output.stderr)}${decoder.decode(output.stdout)}`.trim(),
    );
  }
  return output.code === 0;
}

/** The command line that runs a PostgreSQL binary, as `owner` when given. */
function commandOf(
  owner: { uid: number; gid: number } | null,
  path: string,
  args: string[],
): [string, string[]] {
  return owner === null ? [path, args] : ["runuser", ["-u", "postgres", "--", path, ...args]];
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function binDir(): Promise<string | null> {
  const configured = readEnv("ORIS_TEST_PG_BIN");
  if (configured) return configured;
  const versions: number[] = [];
  try {
    for await (const entry of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name));
    }
  } catch {
    return null;
  }
  for (const version of versions.sort((a, b) => b - a)) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (await exists(`${dir}/initdb`)) return dir;
  }
  return null;
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const ids = await Promise.all(["-u", "-g"].map(async (flag) => {
    const output = await new Deno.Command("id", { args: [flag, "postgres"], stdin: "null" })
      .output();
    if (output.code !== 0) throw new Error("there is no postgres user to run PostgreSQL as root");
    return Number(new TextDecoder().decode(output.stdout).trim());
  }));
  return { uid: ids[0]!, gid: ids[1]! };
}

async function findProblem(): Promise<string | null> {
  try {
    const bin = await binDir();
    if (bin === null) {
      return "no PostgreSQL binaries (set ORIS_TEST_PG_BIN to the directory of initdb and pg_ctl)";
    }
    for (const name of ["initdb", "pg_ctl"]) {
      if (!await exists(`${bin}/${name}`)) return `${bin}/${name} does not exist`;
    }
    if (Deno.uid() === 0) await postgresUser();
    return null;
  } catch (error) {
    return message(error);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
