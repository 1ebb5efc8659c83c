/**
 * The postgres.js clients of the PostgreSQL adapter, configured in one place:
 * no notices printed, a 10 s connect timeout, reconnection within 1 s after a
 * failure, and array types fetched once per pool rather than on every new
 * connection (see {@linkcode pinArrayTypes}).
 *
 * @module
 */

import postgres from "postgres";
import { InvalidArgumentError } from "../../kernel/mod.ts";

/**
 * Opens a postgres.js client (it connects on first use).
 *
 * @param url A PostgreSQL connection URL.
 * @param options The most connections, and the `application_name` to report.
 * @returns The client.
 * @throws {InvalidArgumentError} when the URL is not a valid URL (its text,
 * which may hold a password, is kept only as the cause).
 *
 * @example
 * ```ts
 * import { openClient } from "./_client.ts";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => openClient("not a url", { max: 1 }), /not a valid PostgreSQL URL/);
 * ```
 */
export function openClient(
  url: string,
  options: { max: number; applicationName?: string },
): postgres.Sql {
  try {
    return postgres(url, {
      max: options.max,
      onnotice: ignoreNotice,
      connect_timeout: 10,
      // Reconnect after 0.1 s, doubling up to 1 s (postgres.js's default climbs to 20 s, which
      // would hold the first operation after an outage that long).
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
      ...(options.applicationName === undefined
        ? {}
        : { connection: { application_name: options.applicationName } }),
    });
  } catch (error) {
    throw new InvalidArgumentError("Cannot connect: url is not a valid PostgreSQL URL", {
      field: "url",
      cause: error,
    });
  }
}

/** What {@linkcode pinArrayTypes} reads and sets of postgres.js's parsed options. */
interface TypeOptions {
  fetch_types: boolean;
  shared?: { typeArrayMap?: Record<string, number> };
  parsers: Record<string, unknown>;
  serializers: Record<string, unknown>;
}

/**
 * Stops a pool from fetching the array types on each new connection, once it
 * knows them. postgres.js fetches them as the first statement of every
 * connection and drops that promise: if the connection breaks meanwhile (a
 * database restarting), the rejection is unhandled and ends the process
 * (porsager/postgres#1192, #1223). The types live in the pool's shared
 * options, so one fetch (done by the first connection, at connect) serves
 * every later connection; reconnections after an outage then fetch nothing.
 *
 * @param sql A pool that has run a statement.
 * @returns Whether the types are known (and fetching is off).
 *
 * @example
 * ```ts ignore
 * import { openClient, pinArrayTypes } from "./_client.ts";
 *
 * const sql = openClient("postgres://postgres@127.0.0.1:5432/test", { max: 2 });
 * await sql`SELECT 1`;
 * console.log(pinArrayTypes(sql)); // true
 * await sql.end();
 * ```
 */
export function pinArrayTypes(sql: postgres.Sql): boolean {
  const options = sql.options as unknown as TypeOptions;
  const known = Object.keys(options.shared?.typeArrayMap ?? {}).length > 0;
  if (known) options.fetch_types = false;
  return known;
}

/**
 * Gives a fresh pool the array types another pool of the same database
 * knows, so that it fetches none (see {@linkcode pinArrayTypes}).
 *
 * @param from A pool that knows them (or not: then nothing changes).
 * @param to The fresh pool.
 * @returns Whether the fresh pool knows them now.
 *
 * @example
 * ```ts
 * import { openClient, shareArrayTypes } from "./_client.ts";
 * import assert from "node:assert/strict";
 *
 * const url = "postgres://postgres@127.0.0.1:1/none";
 * assert.equal(shareArrayTypes(openClient(url, { max: 1 }), openClient(url, { max: 1 })), false);
 * ```
 */
export function shareArrayTypes(from: postgres.Sql, to: postgres.Sql): boolean {
  const source = from.options as unknown as TypeOptions;
  const known = source.shared?.typeArrayMap ?? {};
  if (Object.keys(known).length === 0) return false;
  const target = to.options as unknown as TypeOptions;
  // What a fetch of the types would add: the map, and a parser and serializer per array type.
  for (const [oid, typarray] of Object.entries(known)) {
    target.shared!.typeArrayMap![oid] = typarray;
    target.parsers[typarray] = source.parsers[typarray];
    target.serializers[typarray] = source.serializers[typarray];
  }
  target.fetch_types = false;
  return true;
}

/** Notices ("relation exists, skipping" ...) are not errors and are not printed. */
function ignoreNotice(): void {}
