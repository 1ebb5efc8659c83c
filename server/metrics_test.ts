import assert from "node:assert/strict";
import { createRuntime } from "../mod.ts";
import { StorageError } from "../kernel/mod.ts";
import { createMetrics } from "./metrics.ts";

Deno.test("createMetrics() reads the queue once per scrape; a failed read is NaN and logged", async () => {
  await using runtime = createRuntime();
  const warnings: [string, Record<string, unknown>][] = [];
  let reads = 0;
  let fail = false;
  const metrics = createMetrics(runtime, {
    queueStats: () => {
      reads++;
      return fail
        ? Promise.reject(new StorageError("the database is down", { retryable: true }))
        : Promise.resolve({ depth: 3, oldestCreatedAt: 1_000 });
    },
    clock: () => 4_500,
    logger: {
      debug() {},
      info() {},
      warn: (message, fields = {}) => warnings.push([message, fields]),
      error() {},
    },
  });
  try {
    const text = await metrics.registry.metrics();
    assert.match(text, /^oris_queued_runs 3$/m);
    assert.match(text, /^oris_queued_run_oldest_age_ms 3500$/m);
    assert.equal(reads, 1);
    fail = true;
    const down = await metrics.registry.metrics();
    assert.match(down, /^oris_queued_runs nan$/im);
    assert.match(down, /^oris_queued_run_oldest_age_ms nan$/im);
    assert.equal(reads, 2);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]![0], "queue statistics unavailable for /metrics");
    assert.ok(warnings[0]![1].error instanceof StorageError);
  } finally {
    metrics.close();
  }
});

Deno.test("createMetrics() without queueStats has no queue series", async () => {
  await using runtime = createRuntime();
  const metrics = createMetrics(runtime);
  try {
    assert.doesNotMatch(await metrics.registry.metrics(), /oris_queued_runs/);
  } finally {
    metrics.close();
  }
});
