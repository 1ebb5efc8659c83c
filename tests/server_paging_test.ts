/**
 * Every list endpoint of the v1 API pages with an opaque cursor
 * (`next_cursor` in the response, `cursor` in the query), on memory, Deno KV
 * and PostgreSQL, and no item that exists when paging begins is skipped or
 * repeated while items change between pages: runs that are resumed or
 * cancelled, interrupts answered, audit entries and runs added. An invalid
 * cursor (or one of another listing) is a 400 `invalid_argument`; `offset`
 * stays on `GET /v1/jobs`, as the original contract has it.
 */

import assert from "node:assert/strict";
import {
  type ApiResponse,
  assertError,
  assertOk,
  type Body,
  type Harness,
  serverTest,
  strictClock,
} from "./_server.ts";

const ADMIN = { authorization: "Bearer paging-admin" };

/** Runs `approval` to its interrupt; returns the run response's data. */
async function approval(h: Harness, threadId: string): Promise<Body> {
  const data = assertOk(
    await h.request("POST", "/v1/jobs/run", {
      body: { thread_id: threadId, graph: "approval", input: { request: threadId } },
      headers: ADMIN,
    }),
  );
  assert.equal(data.status, "interrupted");
  return data;
}

/**
 * Pages through a list endpoint by `next_cursor`; `between` runs after each
 * page with the page number and the items so far.
 */
async function pageAll(
  h: Harness,
  path: string,
  field: string,
  between: (page: number, items: Body[]) => Promise<void> = () => Promise.resolve(),
): Promise<{ items: Body[]; pages: number }> {
  const items: Body[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const url: string = cursor === null ? path : `${path}${separator}cursor=${cursor}`;
    const data = assertOk(await h.request("GET", url, { headers: ADMIN }));
    assert.ok(Array.isArray(data[field]), url);
    assert.ok(data.next_cursor === null || typeof data.next_cursor === "string");
    items.push(...data[field]);
    cursor = data.next_cursor;
    await between(pages++, items);
  } while (cursor !== null);
  return { items, pages };
}

const options = { auth: { bearerToken: "paging-admin" }, now: strictClock() };

serverTest(
  "GET /v1/jobs pages by cursor, newest first; runs resumed, cancelled or created meanwhile are neither skipped nor repeated",
  async (h) => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      ids.push(`pj-${i}`);
      await approval(h, `pj-${i}`);
    }
    const { items, pages } = await pageAll(h, "/v1/jobs?limit=2", "jobs", async (page, seen) => {
      // Listed newest first: the oldest listed is the last; change two older ones
      // (one resumed to completion, one cancelled), one listed already, and add one.
      const oldest = Number(seen.at(-1).thread_id.slice("pj-".length));
      if (oldest - 1 >= 0) {
        const interrupt = (await approvalInterrupt(h, `pj-${oldest - 1}`))!;
        assertOk(
          await h.request("POST", `/v1/interrupts/${interrupt}/resume`, {
            body: { value: { approved: true } },
            headers: ADMIN,
          }),
        );
      }
      if (oldest - 2 >= 0) {
        assertOk(
          await h.request("POST", `/v1/jobs/pj-${oldest - 2}/cancel`, {
            body: {},
            headers: ADMIN,
          }),
        );
      }
      const listed = seen[0].thread_id;
      await h.request("POST", `/v1/jobs/${listed}/cancel`, { body: {}, headers: ADMIN });
      await approval(h, `pj-new-${page}`);
    });
    assert.ok(pages >= 4, `${pages} pages`);
    const listed = items.map((job) => job.thread_id);
    assert.equal(new Set(listed).size, listed.length, "no run is listed twice");
    assert.deepEqual(
      listed.filter((id) => ids.includes(id)),
      [...ids].reverse(),
      "every run there when paging began is listed once, newest first",
    );
    const statuses = new Set((await h.allRuns()).map((run) => run.status));
    assert.ok(statuses.has("completed") && statuses.has("cancelled"), [...statuses].join());

    // A status filter pages the same way.
    const interrupted = await pageAll(h, "/v1/jobs?status=interrupted&limit=1", "jobs");
    assert.ok(interrupted.items.every((job) => job.status === "interrupted"));
    assert.equal(interrupted.pages, Math.max(1, interrupted.items.length));
  },
  options,
);

serverTest(
  "GET /v1/jobs?graph pages the jobs of one graph, each with its tenant and priority",
  async (h) => {
    for (let i = 0; i < 5; i++) {
      await approval(h, `gr-a-${i}`);
      assertOk(
        await h.request("POST", "/v1/jobs/run", {
          body: {
            thread_id: `gr-h-${i}`,
            graph: "hello",
            input: "hi",
            ...(i % 2 === 0 ? { tenant_id: `acme-${i}`, priority: 10 + i } : {}),
          },
          headers: ADMIN,
        }),
      );
    }
    const hello = await pageAll(h, "/v1/jobs?graph=hello&limit=2", "jobs");
    assert.deepEqual(
      hello.items.map((job) => job.thread_id),
      ["gr-h-4", "gr-h-3", "gr-h-2", "gr-h-1", "gr-h-0"],
    );
    assert.equal(hello.pages, 3);
    assert.deepEqual(
      hello.items.map((job) => [job.tenant_id, job.priority]),
      [["acme-4", 14], [null, 0], ["acme-2", 12], [null, 0], ["acme-0", 10]],
    );
    const both = await pageAll(h, "/v1/jobs?graph=approval&status=interrupted&limit=3", "jobs");
    assert.equal(both.items.length, 5);
    assert.ok(both.items.every((job) => job.graph === "approval"));
    assert.deepEqual(
      assertOk(
        await h.request("GET", "/v1/jobs?graph=hello&status=interrupted", { headers: ADMIN }),
      )
        .jobs,
      [],
    );
    const bad = assertError(
      await h.request("GET", "/v1/jobs?graph=a%20b", { headers: ADMIN }),
      400,
      "invalid_argument",
    );
    assert.equal(bad.details.field, "graph");
  },
  options,
);

/** The pending interrupt of an `approval` run, or `null`. */
async function approvalInterrupt(h: Harness, threadId: string): Promise<string | null> {
  const data = assertOk(
    await h.request("GET", `/v1/interrupts?run_id=${threadId}&status=pending`, {
      headers: ADMIN,
    }),
  );
  return data.interrupts[0]?.interrupt_id ?? null;
}

serverTest(
  "GET /v1/interrupts pages past its limit by cursor; interrupts answered meanwhile keep their place",
  async (h) => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await approval(h, `pi-${i}`)).pending_interrupts[0].interrupt_id);
    }
    const { items } = await pageAll(h, "/v1/interrupts?limit=2", "interrupts", async (_p, seen) => {
      // Answer the next interrupt not listed yet, and reject one listed already.
      const next = ids[ids.length - 1 - seen.length];
      if (next !== undefined) {
        assertOk(
          await h.request("POST", `/v1/interrupts/${next}/resume`, {
            body: { value: { approved: false } },
            headers: ADMIN,
          }),
        );
      }
      const listed = seen[0];
      if (listed.status === "pending") {
        await h.request("POST", `/v1/interrupts/${listed.interrupt_id}/reject`, {
          body: {},
          headers: ADMIN,
        });
      }
    });
    assert.deepEqual(items.map((row) => row.interrupt_id), [...ids].reverse());
    const pending = await pageAll(h, "/v1/interrupts?status=pending&limit=1", "interrupts");
    assert.ok(pending.items.every((row) => row.status === "pending"));
    const resumed = await pageAll(h, "/v1/interrupts?status=resumed&limit=1", "interrupts");
    assert.ok(resumed.items.length >= 3, `${resumed.items.length} resumed`);
    assert.equal(resumed.pages, resumed.items.length);
  },
  options,
);

serverTest(
  "GET /v1/audit/logs pages past its limit by cursor while new actions are audited",
  async (h) => {
    for (let i = 0; i < 5; i++) {
      assertOk(
        await h.request("POST", "/v1/jobs/run", {
          body: { thread_id: `pa-${i}`, input: "hi" },
          headers: { ...ADMIN, "x-request-id": `pa-req-${i}` },
        }),
      );
    }
    // Each response waited for its entry's write: they are in the store.
    const before = (await h.store.listAudit({ limit: 1000 })).items.map((entry) => entry.auditId);
    assert.equal(before.length, 5);
    const { items, pages } = await pageAll(
      h,
      "/v1/audit/logs?limit=2",
      "logs",
      async (page) => {
        assertOk(
          await h.request("POST", "/v1/jobs/run", {
            body: { thread_id: `pa-new-${page}`, input: "hi" },
            headers: ADMIN,
          }),
        );
      },
    );
    assert.equal(pages, 3);
    assert.deepEqual(items.map((entry) => entry.audit_id), before);
    // Filters page too (the three runs made while paging are the newest).
    const runs = await pageAll(h, "/v1/audit/logs?action=job.run&limit=1", "logs");
    assert.equal(runs.items.length, 8);
    assert.deepEqual(runs.items.slice(3).map((entry) => entry.request_id), [
      "pa-req-4",
      "pa-req-3",
      "pa-req-2",
      "pa-req-1",
      "pa-req-0",
    ]);
  },
  options,
);

serverTest(
  "GET /v1/jobs/:thread_id/history, its timeline and GET /v1/keys page by cursor",
  async (h) => {
    await approval(h, "ph-1");
    const interrupt = (await approvalInterrupt(h, "ph-1"))!;
    assertOk(
      await h.request("POST", `/v1/interrupts/${interrupt}/resume`, {
        body: { value: { approved: true } },
        headers: ADMIN,
      }),
    );
    const all = assertOk(await h.request("GET", "/v1/jobs/ph-1/history", { headers: ADMIN }));
    assert.ok(all.history.length >= 2);
    assert.equal(all.next_cursor, null);
    const paged = await pageAll(h, "/v1/jobs/ph-1/history?limit=1", "history");
    assert.deepEqual(paged.items, all.history);

    // The timeline: whole without a limit, or paged by seq (ascending).
    const log = assertOk(await h.request("GET", "/v1/jobs/ph-1/timeline", { headers: ADMIN }));
    assert.equal(log.next_cursor, null);
    assert.deepEqual(
      log.timeline.map((entry: Body) => entry.seq),
      log.timeline.map((_: Body, i: number) => i + 1),
    );
    const timeline = await pageAll(h, "/v1/jobs/ph-1/timeline?limit=3", "timeline");
    assert.deepEqual(timeline.items, log.timeline);
    assert.equal(timeline.pages, Math.ceil(log.timeline.length / 3));
    assertError(
      await h.request("GET", "/v1/jobs/nobody/timeline?limit=3", { headers: ADMIN }),
      404,
      "not_found",
    );

    for (const id of ["pk-c", "pk-a", "pk-b"]) {
      assertOk(
        await h.request("POST", "/v1/keys", { body: { key_id: id }, headers: ADMIN }),
      );
    }
    const keys = await pageAll(h, "/v1/keys?limit=2", "keys");
    assert.deepEqual(keys.items.map((key) => key.key_id), ["pk-a", "pk-b", "pk-c"]);
    assert.equal(keys.pages, 2);
  },
  options,
);

serverTest(
  "a cursor that is not a next_cursor of the same list is a 400 invalid_argument",
  async (h) => {
    for (let i = 0; i < 3; i++) await approval(h, `pc-${i}`);
    const get = (path: string): Promise<ApiResponse> => h.request("GET", path, { headers: ADMIN });
    const jobs = assertOk(await get("/v1/jobs?limit=1")).next_cursor;
    const interrupts = assertOk(await get("/v1/interrupts?limit=1")).next_cursor;
    const logs = assertOk(await get("/v1/audit/logs?limit=1")).next_cursor;
    assert.ok(jobs && interrupts && logs);
    const lists = [
      ["/v1/jobs", jobs],
      ["/v1/interrupts", interrupts],
      ["/v1/audit/logs", logs],
      ["/v1/jobs/pc-0/history", null],
      ["/v1/jobs/pc-0/timeline", null],
      ["/v1/keys", null],
    ] as const;
    for (const [path, own] of lists) {
      if (own !== null) assertOk(await get(`${path}?cursor=${own}`));
      const foreign = lists.map(([, cursor]) => cursor).filter((c) => c !== null && c !== own);
      for (const cursor of [...foreign, "not-a-cursor", "%25%25", "W10", "x".repeat(3000)]) {
        const error = assertError(await get(`${path}?cursor=${cursor}`), 400, "invalid_argument");
        assert.equal(error.details.field, "cursor", `${path} ${cursor}`);
        assert.match(error.message, /cursor/);
      }
    }
  },
  options,
);

serverTest(
  "GET /v1/jobs keeps offset (positional, from the start) and refuses it with a cursor",
  async (h) => {
    for (let i = 0; i < 5; i++) await approval(h, `po-${i}`);
    const page = assertOk(await h.request("GET", "/v1/jobs?offset=1&limit=2", { headers: ADMIN }));
    assert.deepEqual(page.jobs.map((job: Body) => job.thread_id), ["po-3", "po-2"]);
    assert.equal(page.offset, 1);
    assert.equal(page.next_offset, 3);
    const next = assertOk(
      await h.request("GET", `/v1/jobs?cursor=${page.next_cursor}&limit=5`, { headers: ADMIN }),
    );
    assert.deepEqual(next.jobs.map((job: Body) => job.thread_id), ["po-1", "po-0"]);
    assert.equal(next.next_offset, null);
    assert.equal(next.next_cursor, null);
    const past = assertOk(await h.request("GET", "/v1/jobs?offset=5", { headers: ADMIN }));
    assert.deepEqual([past.jobs, past.next_offset, past.next_cursor], [[], null, null]);
    const both = assertError(
      await h.request("GET", `/v1/jobs?offset=1&cursor=${page.next_cursor}`, { headers: ADMIN }),
      400,
      "invalid_argument",
    );
    assert.match(both.message, /cursor or offset, not both/);
  },
  options,
);
