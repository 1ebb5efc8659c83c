/**
 * Opening a Deno KV database for a store: the driver's failures as
 * `StorageError`s, and the key layout brought up to date before first use.
 *
 * @module
 */

import { DEFAULT_SNAPSHOT_EVERY, OrisError, StorageError } from "../../kernel/mod.ts";
import { isBusy } from "./_commit.ts";
import { upgradeLayout } from "./_layout.ts";

/**
 * The snapshot policy's cap a store is opened with.
 *
 * @param value The option (the default when absent).
 * @returns It.
 * @throws {RangeError} when it is not a whole number from 1.
 */
export function snapshotEveryOf(value: number | undefined): number {
  const snapshotEvery = value ?? DEFAULT_SNAPSHOT_EVERY;
  if (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 1) {
    throw new RangeError(
      `Cannot open the store: snapshotEvery must be a whole number from 1, got ${snapshotEvery}`,
    );
  }
  return snapshotEvery;
}

/**
 * Opens the database at `path` and upgrades its key layout.
 *
 * @param path The database path (Deno's default location when absent).
 * @returns The open database.
 * @throws {StorageError} when the database cannot be opened or upgraded.
 */
export async function openDatabase(path: string | undefined): Promise<Deno.Kv> {
  let kv: Deno.Kv;
  try {
    kv = await Deno.openKv(path);
  } catch (error) {
    throw new StorageError(
      `Cannot open the store at ${JSON.stringify(path ?? "the default location")}: ${
        messageOf(error)
      }`,
      { cause: error },
    );
  }
  try {
    await upgradeLayout(kv);
  } catch (error) {
    kv.close();
    if (error instanceof OrisError) throw error;
    throw new StorageError(`Cannot upgrade the store's key layout: ${messageOf(error)}`, {
      cause: error,
      retryable: isBusy(error),
    });
  }
  return kv;
}

/**
 * The message of a thrown value.
 *
 * @param error What was thrown.
 * @returns Its message.
 */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
