/**
 * Test helper: run a test body against each store kind (memory, Deno KV,
 * PostgreSQL) with a fresh store, closed (and its schema dropped) afterwards.
 * PostgreSQL variants follow `tests/_postgres.ts`: skipped when unreachable,
 * failing when `ORIS_REQUIRE_POSTGRES=1`.
 *
 * @module
 */

import type { Store } from "../mod.ts";
import { KvStore } from "../storage/kv/mod.ts";
import { MemoryStore } from "../storage/memory/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import {
  assertPostgres,
  dropSchema,
  freshSchemaName,
  postgresTestUrl,
  SKIP_POSTGRES,
} from "./_postgres.ts";

/** The store kinds tests run on. */
export type StoreKind = "memory" | "kv" | "postgres";

/** Every store kind. */
export const STORE_KINDS: readonly StoreKind[] = ["memory", "kv", "postgres"];

/** Where a durable store lives, so that a second process (or a reopen) finds the same data. */
export type StoreLocation =
  | { kind: "memory" }
  | { kind: "kv"; path: string }
  | { kind: "postgres"; url: string; schema: string };

/**
 * Opens a store at a location (a new `MemoryStore` for `memory`).
 *
 * @param location Where.
 * @returns The store.
 */
export function openStoreAt(location: StoreLocation): Promise<Store> {
  switch (location.kind) {
    case "memory":
      return Promise.resolve(new MemoryStore());
    case "kv":
      return KvStore.open({ path: location.path });
    case "postgres":
      return PostgresStore.connect({ url: location.url, schema: location.schema });
  }
}

/**
 * Makes a fresh location for a durable store; `cleanup` removes it.
 *
 * @param kind The store kind.
 * @returns The location and its cleanup.
 */
export async function freshLocation(
  kind: StoreKind,
): Promise<{ location: StoreLocation; cleanup(): Promise<void> }> {
  if (kind === "memory") return { location: { kind }, cleanup: () => Promise.resolve() };
  if (kind === "kv") {
    const dir = await Deno.makeTempDir({ prefix: "oris-test-" });
    return {
      location: { kind, path: `${dir}/oris.kv` },
      cleanup: () => Deno.remove(dir, { recursive: true }),
    };
  }
  assertPostgres();
  const schema = freshSchemaName();
  return {
    location: { kind, url: postgresTestUrl(), schema },
    cleanup: () => dropSchema(schema),
  };
}

/**
 * Whether tests on a store kind are skipped (`Deno.test` `ignore`): those on
 * PostgreSQL when it is unreachable and not required.
 *
 * @param kind The store kind.
 * @returns `true` to skip.
 */
export function skipStoreKind(kind: StoreKind): boolean {
  return kind === "postgres" && SKIP_POSTGRES;
}

/**
 * Registers one test per store kind, each given a fresh store that is closed
 * (and removed) afterwards.
 *
 * @param name The test's name; ` (<kind>)` is appended.
 * @param fn The test body.
 * @param kinds The kinds to run on (default: all).
 */
export function storeTest(
  name: string,
  fn: (store: Store, kind: StoreKind) => Promise<void>,
  kinds: readonly StoreKind[] = STORE_KINDS,
): void {
  for (const kind of kinds) {
    Deno.test({
      name: `${name} (${kind})`,
      ignore: skipStoreKind(kind),
      async fn() {
        const { location, cleanup } = await freshLocation(kind);
        try {
          await using store = await openStoreAt(location);
          await fn(store, kind);
        } finally {
          await cleanup();
        }
      },
    });
  }
}
