/**
 * The Store conformance suite: one set of tests that every storage adapter's
 * test file runs against a fresh store, so that memory, Deno KV and
 * PostgreSQL keep exactly the same contract. Its tests live by theme in
 * `_store_log_conformance.ts`, `_store_listing_conformance.ts` and
 * `_store_input_effect_conformance.ts`, `_store_ownership_conformance.ts`,
 * `_store_timer_conformance.ts` and `_store_attempt_conformance.ts`.
 *
 * @module
 */

import type { Store } from "../../kernel/mod.ts";
import { registerAttemptTests } from "./_store_attempt_conformance.ts";
import { registerInputAndEffectTests } from "./_store_input_effect_conformance.ts";
import { registerListingTests } from "./_store_listing_conformance.ts";
import { registerLogTests } from "./_store_log_conformance.ts";
import { registerOwnershipTests } from "./_store_ownership_conformance.ts";
import { registerTimerTests } from "./_store_timer_conformance.ts";

/** Options a conformance test asks of a fresh store. */
export interface ConformanceStoreOptions {
  /** Persist a running run's snapshot every this many versions. */
  snapshotEvery: number;
}

/** Makes a fresh, empty store; the suite closes it. */
export type StoreFactory = (options: ConformanceStoreOptions) => Promise<Store>;

/**
 * Registers the conformance tests for one adapter.
 *
 * @param name The adapter's name, prefixed to every test name.
 * @param factory Makes a fresh, empty store.
 */
export function runStoreConformance(name: string, factory: StoreFactory): void {
  function test(title: string, body: (store: Store) => Promise<void>, snapshotEvery = 1): void {
    Deno.test(`${name}: ${title}`, async () => {
      await using store = await factory({ snapshotEvery });
      await body(store);
    });
  }

  registerLogTests(test);
  registerListingTests(test);
  registerInputAndEffectTests(test);
  registerOwnershipTests(test);
  registerTimerTests(test);
  registerAttemptTests(test);
}
