import assert from "node:assert/strict";
import { type LogFields, type Logger, MemoryStore } from "../mod.ts";
import { type AuditRecord, StorageError } from "../kernel/mod.ts";
import { type AuditDropReason, AuditQueue } from "./audit_queue.ts";

/** A memory store whose audit writes fail as a lost database would, while `down`. */
class FlakyAuditStore extends MemoryStore {
  down = false;
  /** Every write attempt: its audit id and `performance.now()`. */
  readonly tries: { auditId: string; at: number }[] = [];
  /** Resolves on the next failed attempt. */
  #failed: (() => void) | null = null;

  override appendAudit(record: AuditRecord): Promise<void> {
    this.tries.push({ auditId: record.auditId, at: performance.now() });
    if (this.down) {
      this.#failed?.();
      this.#failed = null;
      return Promise.reject(
        new StorageError("Cannot append an audit entry: connection refused", { retryable: true }),
      );
    }
    return super.appendAudit(record);
  }

  /** Resolves when a write attempt fails next. */
  nextFailure(): Promise<void> {
    return new Promise((resolve) => this.#failed = resolve);
  }

  async stored(): Promise<string[]> {
    return (await this.listAudit({ limit: 200 })).items.map((item) => item.auditId).reverse();
  }
}

function entry(n: number): AuditRecord {
  return {
    auditId: `au_${String(n).padStart(3, "0")}`,
    actorType: "anonymous",
    actorId: null,
    actorRole: null,
    action: "job.run",
    resourceType: "job",
    resourceId: null,
    result: "success",
    requestId: `r-${n}`,
    details: {},
    createdAt: 1_000 + n,
  };
}

function collectingLogger(): { logger: Logger; lines: { message: string; fields: LogFields }[] } {
  const lines: { message: string; fields: LogFields }[] = [];
  const at = (message: string, fields: LogFields = {}) => void lines.push({ message, fields });
  return { logger: { debug: at, info: at, warn: at, error: at }, lines };
}

/** Resolves once `condition()` holds, checking after each turn of the event loop's timers. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 1));
}

Deno.test("AuditQueue writes at once while the store answers", async () => {
  await using store = new FlakyAuditStore();
  const queue = new AuditQueue({ store, logger: collectingLogger().logger });
  await queue.write(entry(1));
  assert.deepEqual(await store.stored(), ["au_001"]);
  assert.equal(queue.depth, 0);
  await queue.close();
});

Deno.test("AuditQueue.record() answers once the entry is written; settled() waits for the entries in flight, close() for all", async () => {
  await using store = new FlakyAuditStore();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const held = {
    appendAudit: async (record: AuditRecord) => {
      await gate;
      await store.appendAudit(record);
    },
  };
  const queue = new AuditQueue({ store: held, logger: collectingLogger().logger });
  let written = false;
  const first = queue.record(entry(1)).then(() => written = true);
  queue.record(entry(2));
  let settled = false;
  const waiting = queue.settled().then(() => settled = true);
  // Handed over after settled() was called: not waited for by it.
  queue.record(entry(3));
  await Promise.resolve();
  assert.deepEqual([written, settled], [false, false]);
  assert.deepEqual(await store.stored(), []);
  release();
  await first;
  assert.ok((await store.stored()).includes("au_001"), "written when record() answers");
  await waiting;
  assert.deepEqual((await store.stored()).slice(0, 2), ["au_001", "au_002"]);
  // close() waits for every entry handed over.
  queue.record(entry(4));
  await queue.close();
  assert.deepEqual(await store.stored(), ["au_001", "au_002", "au_003", "au_004"]);
});

Deno.test("AuditQueue keeps entries while the store is unavailable and writes them in order once it is back", async () => {
  await using store = new FlakyAuditStore();
  const { logger, lines } = collectingLogger();
  const dropped: AuditDropReason[] = [];
  const queue = new AuditQueue({
    store,
    logger,
    retryInitialMs: 1,
    retryMaxMs: 4,
    onDropped: (reason) => dropped.push(reason),
  });
  store.down = true;
  for (let n = 1; n <= 5; n++) await queue.write(entry(n));
  assert.equal(queue.depth, 5);
  assert.deepEqual(await store.stored(), []);
  // Entries behind waiting ones are not tried before them.
  assert.deepEqual(store.tries.map((entry) => entry.auditId), ["au_001"]);
  assert.equal(lines.filter((line) => line.message.startsWith("audit queued")).length, 1);
  // Retries fail while it is down; entries stay queued.
  await store.nextFailure();
  await store.nextFailure();
  assert.equal(queue.depth, 5);
  store.down = false;
  await until(() => queue.depth === 0);
  assert.deepEqual(await store.stored(), ["au_001", "au_002", "au_003", "au_004", "au_005"]);
  assert.deepEqual(dropped, []);
  assert.ok(
    lines.some((line) => line.message === "audit queue written" && line.fields.count === 5),
  );
  await queue.close();
});

Deno.test("AuditQueue retries with doubling waits, not in a busy loop", async () => {
  await using store = new FlakyAuditStore();
  const queue = new AuditQueue({
    store,
    logger: collectingLogger().logger,
    retryInitialMs: 20,
    retryMaxMs: 80,
  });
  store.down = true;
  await queue.write(entry(1));
  for (let i = 0; i < 5; i++) await store.nextFailure();
  const gaps = store.tries.slice(1).map((entry, i) => entry.at - store.tries[i]!.at);
  // Timers never fire early (1 ms of rounding aside): the waits are at least 20, 40, 80, 80, 80 ms.
  [20, 40, 80, 80, 80].forEach((least, i) => {
    assert.ok(gaps[i]! >= least - 1, `retry ${i + 1} came after ${gaps[i]} ms, expected ${least}`);
  });
  await queue.close();
});

Deno.test("AuditQueue drops and counts what it cannot keep: queue full, refused for good", async () => {
  await using store = new FlakyAuditStore();
  const { logger, lines } = collectingLogger();
  const dropped: AuditDropReason[] = [];
  const queue = new AuditQueue({
    store,
    logger,
    maxEntries: 2,
    retryInitialMs: 1,
    onDropped: (reason) => dropped.push(reason),
  });
  store.down = true;
  for (let n = 1; n <= 4; n++) await queue.write(entry(n));
  assert.equal(queue.depth, 2);
  assert.deepEqual(dropped, ["queue_full", "queue_full"]);
  const drops = lines.filter((line) => line.message === "audit dropped");
  assert.deepEqual(drops.map((line) => line.fields.request_id), ["r-3", "r-4"]);
  assert.deepEqual(drops.map((line) => line.fields.reason), ["queue_full", "queue_full"]);
  store.down = false;
  await until(() => queue.depth === 0);
  assert.deepEqual(await store.stored(), ["au_001", "au_002"]);
  // An entry the store refuses for good (not `unavailable`) is not retried.
  await queue.write({ ...entry(5), details: { bad: 1n } as never });
  assert.deepEqual(dropped, ["queue_full", "queue_full", "rejected"]);
  assert.equal(queue.depth, 0);
  await queue.close();
});

Deno.test("AuditQueue.close() writes what the store takes and drops the rest", async () => {
  await using store = new FlakyAuditStore();
  const dropped: AuditDropReason[] = [];
  const { logger, lines } = collectingLogger();
  const queue = new AuditQueue({
    store,
    logger,
    retryInitialMs: 60_000,
    onDropped: (reason) => dropped.push(reason),
  });
  store.down = true;
  await queue.write(entry(1));
  await queue.write(entry(2));
  store.down = false;
  // The next retry is a minute away: close() writes them now, and leaves no timer behind.
  await queue.close();
  assert.deepEqual(await store.stored(), ["au_001", "au_002"]);
  assert.equal(dropped.length, 0);

  const later = new AuditQueue({
    store,
    logger,
    retryInitialMs: 60_000,
    onDropped: (reason) => dropped.push(reason),
  });
  store.down = true;
  await later.write(entry(3));
  await later.write(entry(4));
  await later.close();
  assert.equal(later.depth, 0);
  assert.deepEqual(dropped, ["closed", "closed"]);
  assert.deepEqual(
    lines.filter((line) => line.fields.reason === "closed").map((line) => line.fields.audit_id),
    ["au_003", "au_004"],
  );
  // After close an entry the store refuses is dropped at once, not queued.
  await later.write(entry(5));
  assert.deepEqual(dropped, ["closed", "closed", "closed"]);
  assert.equal(later.depth, 0);
});

Deno.test("AuditQueue refuses bounds that are not whole numbers", () => {
  const store = new FlakyAuditStore();
  const logger = collectingLogger().logger;
  assert.throws(() => new AuditQueue({ store, logger, maxEntries: -1 }), /maxEntries must be/);
  assert.throws(() => new AuditQueue({ store, logger, retryInitialMs: 0 }), /retryInitialMs/);
  assert.throws(() => new AuditQueue({ store, logger, retryMaxMs: 1.5 }), /retryMaxMs/);
});
