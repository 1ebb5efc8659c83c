/**
 * Which key layout a Deno KV store was written with, and whether opening it
 * with this Oris would upgrade it, read without changing anything (`oris
 * migrate --kv-path <path> --status`).
 *
 * @module
 */

import { NotFoundError, StorageError } from "../../kernel/mod.ts";
import { LAYOUT_VERSION, recordedLayout } from "./_layout.ts";
import { messageOf } from "./_open.ts";

/** What {@linkcode layoutStatus} found. */
export interface LayoutStatus {
  /** The database path. */
  path: string;
  /**
   * The key layout it was written with: 0 when it holds no Oris data yet, 1
   * when it was written before layouts were recorded.
   */
  version: number;
  /** The layout this Oris reads and writes. */
  latest: number;
  /**
   * Whether opening it (`KvStore.open`, the server, `oris migrate`) would
   * upgrade it. A store of a newer layout than `latest` is not pending: this
   * Oris refuses it.
   */
  pending: boolean;
}

/**
 * Reads the key layout of the Deno KV database at `path`. Unlike
 * `KvStore.open`, it neither creates the file nor upgrades it.
 *
 * @param options The database path.
 * @returns Its layout and this Oris's.
 * @throws {NotFoundError} when there is no file at `path`.
 * @throws {StorageError} when it cannot be opened or read.
 *
 * @example A store written by this Oris is up to date
 * ```ts
 * import { KvStore, layoutStatus } from "./mod.ts";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".kv" });
 * await Deno.remove(path);
 * await (await KvStore.open({ path })).close();
 * const status = await layoutStatus({ path });
 * assert.equal(status.version, status.latest);
 * assert.equal(status.pending, false);
 * await Deno.remove(path);
 * ```
 */
export async function layoutStatus(options: { path: string }): Promise<LayoutStatus> {
  const { path } = options;
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new NotFoundError("store", path, { cause: error });
    }
    throw new StorageError(
      `Cannot read the store at ${JSON.stringify(path)}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  let kv: Deno.Kv;
  try {
    kv = await Deno.openKv(path);
  } catch (error) {
    throw new StorageError(
      `Cannot open the store at ${JSON.stringify(path)}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  try {
    const version = await recordedLayout(kv);
    return { path, version, latest: LAYOUT_VERSION, pending: version < LAYOUT_VERSION };
  } catch (error) {
    throw new StorageError(
      `Cannot read the store at ${JSON.stringify(path)}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  } finally {
    kv.close();
  }
}
