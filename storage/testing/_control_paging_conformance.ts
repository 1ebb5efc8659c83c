/**
 * The ControlStore conformance tests of paging and of the checks every store
 * makes alike: the interrupt and audit listings page by cursor without
 * skipping or repeating an item while items change between pages, API keys
 * are created once and listed by id, cursors of another listing and filters
 * no entry can match are refused the same way everywhere.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type ApiKeyRecord,
  type AuditRecord,
  type ControlStore,
  encodeCursor,
  foldAll,
  type InterruptId,
  type InterruptRow,
  InvalidArgumentError,
  type Page,
  type RunEvent,
  type RunSnapshot,
  type Store,
  type ThreadId,
} from "../../kernel/mod.ts";

/** Registers one test against a fresh store with control records. */
export type ControlConformanceTest = (
  title: string,
  body: (store: Store & ControlStore) => Promise<void>,
) => void;

let clock = 1_850_000_000_000;
const tick = () => ++clock;

async function appendAll(store: Store, run: RunSnapshot, events: RunEvent[]): Promise<RunSnapshot> {
  const next = foldAll(run, events)!;
  await store.append(run.threadId, run.version, events, next);
  return next;
}

/** A running run of `threadId` that raised one interrupt, `id`. */
async function interrupted(store: Store, threadId: string, id: string): Promise<RunSnapshot> {
  const { run } = await store.createRun({
    type: "run.created",
    v: 1,
    at: tick(),
    threadId: threadId as ThreadId,
    graph: "control",
    input: null,
    payloadHash: "h",
    state: {},
    next: [{ id: "1:a", node: "a" }],
  });
  return appendAll(store, run, [
    { type: "run.started", v: 1, at: tick(), attemptId: "at_1" as never },
    raised(id, { question: id }),
  ]);
}

function raised(id: string, value: { question: string; again?: boolean }): RunEvent {
  return {
    type: "interrupt.raised",
    v: 1,
    at: tick(),
    step: 1,
    interrupts: [{ id: id as InterruptId, step: 1, taskId: "1:a", node: "a", index: 0, value }],
    writes: [],
  };
}

function auditEntry(id: string, createdAt: number): AuditRecord {
  return {
    auditId: id,
    actorType: "anonymous",
    actorId: null,
    actorRole: null,
    action: "job.run",
    resourceType: "thread",
    resourceId: null,
    result: "success",
    requestId: `req-${id}`,
    details: {},
    createdAt,
  };
}

function apiKey(keyId: string, at: number): ApiKeyRecord {
  return {
    keyId,
    secretHash: "cd".repeat(32),
    role: "operator",
    status: "active",
    createdAt: at,
    updatedAt: at,
  };
}

/** Pages through a listing; `between` runs after each page, given its number and the items so far. */
async function pageAll<T>(
  list: (cursor: string | null) => Promise<Page<T>>,
  between: (page: number, items: readonly T[]) => Promise<void> = () => Promise.resolve(),
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: Page<T> = await list(cursor);
    items.push(...page.items);
    cursor = page.nextCursor;
    await between(pages++, items);
  } while (cursor !== null);
  return { items, pages };
}

/**
 * Adds the paging tests, in order.
 *
 * @param test Registers one test against a fresh store.
 */
export function registerControlPagingTests(test: ControlConformanceTest): void {
  test("listInterrupts() lists each interrupt exactly once while interrupts change between pages", async (store) => {
    const runs = new Map<string, RunSnapshot>();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const id = `in_pg${String(i).padStart(2, "0")}`;
      runs.set(id, await interrupted(store, `pg-${i}`, id));
      ids.push(id);
    }
    const createdAt = new Map<string, number>();
    for (const id of ids) createdAt.set(id, (await store.getInterrupt(id))!.createdAt);
    const resume = async (id: string) => {
      const run = runs.get(id)!;
      runs.set(
        id,
        await appendAll(store, run, [{
          type: "run.resumed",
          v: 1,
          at: tick(),
          values: { [id]: 1 },
        }]),
      );
    };
    const { items, pages } = await pageAll(
      (cursor) => store.listInterrupts({ limit: 3, cursor }),
      async (page) => {
        // Listed newest first: after page p, in_pg(11-3p-3) and older are still to come.
        const next = 11 - 3 * page - 3;
        if (next - 1 < 0) return;
        // One not listed yet is resumed, another is resumed and raised again
        // (same id); one listed already is cancelled with its run; a new one is raised.
        await resume(ids[next]!);
        const again = ids[next - 1]!;
        await resume(again);
        const run = runs.get(again)!;
        runs.set(
          again,
          await appendAll(store, run, [raised(again, { question: again, again: true })]),
        );
        const listed = ids[11 - page]!;
        const ending = runs.get(listed)!;
        runs.set(
          listed,
          await appendAll(store, ending, [{
            type: "run.cancelled",
            v: 1,
            at: tick(),
            reason: null,
          }]),
        );
        await interrupted(store, `pg-new-${page}`, `in_pgnew${page}`);
      },
    );
    assert.ok(pages >= 4);
    const listed = items.map((row) => row.interruptId);
    assert.equal(new Set(listed).size, listed.length, "no interrupt is listed twice");
    assert.deepEqual(
      listed.filter((id) => ids.includes(id)),
      [...ids].reverse(),
      "every interrupt raised before paging began is listed once, newest first",
    );
    // Raised again, an interrupt keeps its creation time (its place in the listing).
    const again = (await store.getInterrupt(ids[7]!))!;
    assert.deepEqual(again.value, { question: ids[7], again: true });
    assert.equal(again.status, "pending");
    assert.equal(again.createdAt, createdAt.get(ids[7]!));
    assert.equal((await store.getInterrupt(ids[8]!))?.status, "resumed");
    assert.equal((await store.getInterrupt(ids[11]!))?.status, "cancelled");
  });

  test("listInterrupts() by status and by run lists each match once while others change", async (store) => {
    const runs: RunSnapshot[] = [];
    for (let i = 0; i < 10; i++) {
      runs.push(await interrupted(store, `ps-${i}`, `in_ps${String(i).padStart(2, "0")}`));
    }
    const { items } = await pageAll(
      (cursor) => store.listInterrupts({ status: "pending", limit: 2, cursor }),
      async (_page, listed) => {
        // One not listed yet (the second after the last listed) leaves the filter.
        const index = Number(listed.at(-1)!.interruptId.slice("in_ps".length)) - 2;
        if (index < 0) return;
        const run = runs[index]!;
        runs[index] = await appendAll(store, run, [{
          type: "run.cancelled",
          v: 1,
          at: tick(),
          reason: null,
        }]);
      },
    );
    const listed = items.map((row) => row.interruptId);
    const pending: string[] = [];
    for (let i = 9; i >= 0; i--) {
      if (runs[i]!.status !== "cancelled") pending.push(`in_ps${String(i).padStart(2, "0")}`);
    }
    assert.deepEqual(listed, pending);
    assert.ok(pending.length < 10);
    const ofRun = await pageAll((cursor) =>
      store.listInterrupts({ threadId: "ps-3", limit: 1, cursor })
    );
    assert.deepEqual(ofRun.items.map((row: InterruptRow) => row.interruptId), ["in_ps03"]);
  });

  test("listAudit() lists each entry once while entries are appended between pages", async (store) => {
    const base = tick();
    clock += 100;
    // Entries of one time tie: the id orders them.
    const before: string[] = [];
    for (let i = 0; i < 11; i++) {
      const id = `au_pg${String(i).padStart(2, "0")}`;
      await store.appendAudit(auditEntry(id, base + Math.floor(i / 4)));
      before.push(id);
    }
    const { items } = await pageAll(
      (cursor) => store.listAudit({ limit: 3, cursor }),
      async (page) => {
        await store.appendAudit(auditEntry(`au_pgnew${page}`, base + 50 + page));
      },
    );
    const listed = items.map((item) => item.auditId);
    assert.deepEqual(listed, [...before].reverse());
    const filtered = await pageAll((cursor) =>
      store.listAudit({ fromMs: base + 1, toMs: base + 2, limit: 2, cursor })
    );
    assert.deepEqual(filtered.items.map((item) => item.auditId), [
      "au_pg10",
      "au_pg09",
      "au_pg08",
      "au_pg07",
      "au_pg06",
      "au_pg05",
      "au_pg04",
    ]);
  });

  test("createApiKey() creates a key once; listApiKeys() pages by key id", async (store) => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => store.createApiKey(apiKey("ops-race", tick()))),
    );
    assert.equal(results.filter((created) => created).length, 1);
    assert.equal(await store.countApiKeys(), 1);
    const first = await store.getApiKey("ops-race");
    assert.equal(await store.createApiKey({ ...apiKey("ops-race", tick()), role: "admin" }), false);
    assert.deepEqual(await store.getApiKey("ops-race"), first, "a refused create writes nothing");
    for (const id of ["k-3", "k-1", "k-10", "k-2", "a.b:c"]) {
      assert.equal(await store.createApiKey(apiKey(id, tick())), true);
    }
    assert.equal(await store.countApiKeys(), 6);
    const { items } = await pageAll(
      (cursor) => store.listApiKeys({ limit: 2, cursor }),
      async (page) => {
        // Revoking a key while paging neither hides nor repeats it.
        if (page === 0) {
          await store.putApiKey({ ...apiKey("k-2", 1), status: "disabled", updatedAt: tick() });
        }
      },
    );
    assert.deepEqual(items.map((key) => key.keyId), [
      "a.b:c",
      "k-1",
      "k-10",
      "k-2",
      "k-3",
      "ops-race",
    ]);
    assert.equal(items.find((key) => key.keyId === "k-2")?.status, "disabled");
    assert.deepEqual(items.find((key) => key.keyId === "ops-race"), first);
  });

  test("API key records are checked alike: id, hash, role, status and times", async (store) => {
    const good = apiKey("ok-1", tick());
    const bad: [string, ApiKeyRecord][] = [
      ["key_id", { ...good, keyId: "has space" }],
      ["key_id", { ...good, keyId: "" }],
      ["secretHash", { ...good, secretHash: "plain-secret" }],
      ["role", { ...good, role: "root" as never }],
      ["status", { ...good, status: "revoked" as never }],
      ["createdAt", { ...good, createdAt: Number.NaN }],
    ];
    for (const [field, record] of bad) {
      for (const write of [() => store.putApiKey(record), () => store.createApiKey(record)]) {
        await assert.rejects(write, (error) => {
          assert.ok(error instanceof InvalidArgumentError, String(error));
          assert.equal(error.field, field);
          return true;
        });
      }
    }
    assert.equal(await store.countApiKeys(), 0);
  });

  test("listings refuse malformed cursors and cursors of another listing", async (store) => {
    await interrupted(store, "cur-1", "in_cur1");
    await store.appendAudit(auditEntry("au_cur", tick()));
    await store.createApiKey(apiKey("cur-key", tick()));
    const listings: [string, string, (cursor: string) => Promise<unknown>][] = [
      [
        "interrupts",
        encodeCursor(["interrupts", 1, "in_cur1"]),
        (cursor) => store.listInterrupts({ cursor }),
      ],
      ["audit", encodeCursor(["audit", 1, "au_cur"]), (cursor) => store.listAudit({ cursor })],
      ["keys", encodeCursor(["keys", "cur-key"]), (cursor) => store.listApiKeys({ cursor })],
      ["runs", encodeCursor(["runs", 1, "cur-1"]), (cursor) => store.listRuns({ cursor })],
    ];
    for (const [name, own, list] of listings) {
      await list(own);
      const others = listings.filter(([other]) => other !== name).map(([, cursor]) => cursor);
      for (const cursor of [...others, "%%%", "", encodeCursor([name, "x", 1]), "W10"]) {
        await assert.rejects(() => list(cursor), (error) => {
          assert.ok(error instanceof InvalidArgumentError, `${name}: ${error}`);
          assert.equal(error.field, "cursor");
          return true;
        });
      }
    }
  });

  test("listAudit() refuses filters no entry can match, in the same words in every store", async (store) => {
    await store.appendAudit(auditEntry("au_nul", tick()));
    const refused: [string, Parameters<ControlStore["listAudit"]>[0]][] = [
      ["request_id", { requestId: "a\u0000b" }],
      ["action", { action: "job\u0000run" }],
      ["request_id", { requestId: "" }],
      ["from_ms", { fromMs: Number.NaN }],
      ["to_ms", { toMs: Infinity }],
    ];
    for (const [field, options] of refused) {
      await assert.rejects(() => store.listAudit(options), (error) => {
        assert.ok(error instanceof InvalidArgumentError, String(error));
        assert.equal(error.field, field);
        assert.match(error.message, new RegExp(`^${field} must be `));
        return true;
      });
    }
    assert.equal((await store.listAudit({ requestId: "req-au_nul" })).items.length, 1);
  });
}
