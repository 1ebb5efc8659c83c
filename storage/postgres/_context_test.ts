import assert from "node:assert/strict";
import { OrisError } from "../../kernel/mod.ts";
import { privatePostgresTest, startPrivatePostgres } from "../../tests/_private_postgres.ts";
import { PostgresStore } from "./mod.ts";
import type postgres from "postgres";
import { openClient, pinArrayTypes } from "./_client.ts";
import { postgresTest, postgresTestUrl } from "../../tests/_postgres.ts";
import { PostgresContext, type PostgresContextOptions } from "./_context.ts";
import { auditCommitter } from "./audit.ts";
import { appendCommitter } from "./runs.ts";
import { createCommitter } from "./_creations.ts";
import { releaseCommitter } from "./_releases.ts";

async function failure(call: Promise<unknown>): Promise<OrisError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof OrisError, String(error));
    return error;
  }
  throw new Error("expected a failure");
}

privatePostgresTest(
  "PostgresStore fails fast with unavailable while the database is down and recovers by itself",
  async () => {
    await using pg = await startPrivatePostgres();
    await using store = await PostgresStore.connect({ url: pg.url, schema: "oris", max: 2 });
    await store.ping();
    await pg.stop();
    const failures: OrisError[] = [];
    for (let i = 0; i < 20; i++) failures.push(await failure(store.ping()));
    for (const error of failures) assert.equal(error.code, "unavailable", error.message);
    // The first meets the refused connection; the next are refused without waiting for one.
    assert.doesNotMatch(failures[0]!.message, /the database is unreachable/);
    const fast = failures.filter((error) =>
      /the database is unreachable \(for \d+ ms\)/.test(error.message)
    );
    assert.ok(fast.length > 0, failures.map((error) => error.message).join("\n"));
    assert.match((await failure(store.listRuns())).message, /^Cannot list runs: /);

    await pg.start();
    // Operations are let through again once one finds the database back.
    for (;;) {
      try {
        await store.ping();
        break;
      } catch (error) {
        assert.equal((error as OrisError).code, "unavailable");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    await store.ping();
    assert.deepEqual((await store.listRuns()).items, []);
  },
);

/** A context's options, as a store makes them, for schema `oris`. */
const OPTIONS: PostgresContextOptions = {
  schema: "oris",
  snapshotEvery: 64,
  creations: createCommitter,
  appends: appendCommitter,
  audits: auditCommitter,
  releases: releaseCommitter,
};

/**
 * A context over `first` whose renewals make pools of `max` connections,
 * kept in `pools` after `first`.
 */
function renewableContext(
  first: postgres.Sql,
  max: number,
  options: Partial<PostgresContextOptions> = {},
): { context: PostgresContext; pools: postgres.Sql[] } {
  const pools = [first];
  const context = new PostgresContext(first, {
    ...OPTIONS,
    ...options,
    reopen: () => {
      const fresh = openClient(postgresTestUrl(), { max });
      pools.push(fresh);
      return fresh;
    },
  });
  return { context, pools };
}

/** A context over a pool that never connects: the tests give the work themselves. */
function offlineContext(): PostgresContext {
  return new PostgresContext(
    openClient("postgres://postgres@127.0.0.1:1/none", { max: 1 }),
    OPTIONS,
  );
}

/** Work that fails with the given driver codes, one per call, then answers `"rows"`. */
function failingWith(...codes: string[]): { calls: () => number; body: () => Promise<string> } {
  let calls = 0;
  return {
    calls: () => calls,
    body: () => {
      const code = codes[calls++];
      if (code === undefined) return Promise.resolve("rows");
      return Promise.reject(Object.assign(new Error(`driver ${code}`), { code }));
    },
  };
}

Deno.test("PostgresContext.read sends a read once more when its connection broke, and only then", async () => {
  const context = offlineContext();
  try {
    // A backend terminated by a restart (57P01), a socket closed or reset: a second try, which answers.
    for (const code of ["57P01", "CONNECTION_CLOSED", "ECONNRESET"]) {
      const work = failingWith(code);
      assert.equal(await context.read("list runs", work.body), "rows");
      assert.equal(work.calls(), 2, code);
    }
    // Broken twice: the second failure is the answer, retryable.
    const twice = failingWith("57P01", "57P01");
    const error = await failure(context.read("list runs", twice.body));
    assert.equal(twice.calls(), 2);
    assert.equal(error.code, "unavailable");
    assert.match(error.message, /^Cannot list runs: driver 57P01/);
    // A write may have committed before its connection broke: never sent twice.
    const write = failingWith("57P01");
    await failure(context.io('append to run "t"', write.body));
    assert.equal(write.calls(), 1);
    // Not a broken connection (a missing table): one try.
    const missing = failingWith("42P01");
    await failure(context.read("list runs", missing.body));
    assert.equal(missing.calls(), 1);
  } finally {
    await context.close();
  }
  // No connection at all (refused, the database starting): one try, then fail fast (module doc).
  for (const code of ["ECONNREFUSED", "57P03"]) {
    const unreachable = offlineContext();
    try {
      const work = failingWith(code);
      await failure(unreachable.read("list runs", work.body));
      assert.equal(work.calls(), 1, code);
    } finally {
      await unreachable.close();
    }
  }
});

postgresTest(
  "PostgresContext renews its pool after a connect timeout: statements and listeners move to the fresh pool, the old one ends",
  async () => {
    const url = postgresTestUrl();
    const first = openClient(url, { max: 1 });
    await first`SELECT 1`; // Knows the array types now, as a store's pool does.
    pinArrayTypes(first);
    const { context, pools } = renewableContext(first, 1);
    const channel = `renew_${crypto.randomUUID().replaceAll("-", "")}`;
    const heard: string[] = [];
    let hear = Promise.withResolvers<void>();
    const stop = await context.listen(channel, (payload) => {
      heard.push(payload);
      hear.resolve();
    });
    const notifier = openClient(url, { max: 1 });
    try {
      // A connection that cannot connect (as the driver leaves one after a restart).
      const timedOut = failingWith("CONNECT_TIMEOUT");
      await failure(context.io("ping PostgreSQL", timedOut.body));
      assert.equal(pools.length, 2, "a fresh pool");
      // The store finds the database answering on the fresh pool (one probe lets it through).
      for (;;) {
        try {
          const rows = await context.io(
            "ping PostgreSQL",
            () => context.query<{ one: number }>("SELECT 1 AS one", []),
          );
          assert.equal(rows[0]?.one, 1);
          break;
        } catch (error) {
          assert.equal((error as OrisError).code, "unavailable", String(error));
          await new Promise((resolve) => setTimeout(resolve, 50)); // A poll of its state.
        }
      }
      // Arrays as parameters: the fresh pool knows their types without fetching them.
      const [length] = await context.query<{ n: number }>(
        "SELECT array_length($1::text[], 1) AS n",
        [["a", "b"]],
      );
      assert.equal(length?.n, 2);
      // The listener was moved: a signal reaches it from the fresh pool's connection.
      for (;;) {
        await notifier`SELECT pg_notify(${channel}, 'after')`;
        const waited = await Promise.race([
          hear.promise.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 200)),
        ]);
        if (waited && heard.includes("after")) break;
        hear = Promise.withResolvers<void>();
      }
      // The old pool ended: it takes no statement.
      await assert.rejects(() => first`SELECT 1`);
    } finally {
      await stop();
      await notifier.end();
      await context.close();
    }
  },
);

postgresTest(
  "PostgresContext sends again a statement the driver failed with an earlier connection's error (porsager/postgres#1223)",
  async () => {
    const url = postgresTestUrl();
    const pool = openClient(url, { max: 1 });
    const context = new PostgresContext(pool, OPTIONS);
    const admin = openClient(url, { max: 1 });
    /** Terminates the pool's one backend while a statement runs on it. */
    const terminateMidStatement = async () => {
      const tag = `replay_${crypto.randomUUID().replaceAll("-", "")}`;
      const sleeping = context.query(`SELECT pg_sleep(60) AS ${tag}`, []);
      sleeping.catch(() => {}); // Awaited below, once terminated.
      for (;;) {
        const [row] = await admin<{ terminated: boolean }[]>`
          SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
          WHERE query LIKE ${`%AS ${tag}%`} AND pid <> pg_backend_pid()`;
        if (row?.terminated) break;
        await new Promise((resolve) => setTimeout(resolve, 10)); // A poll of its state.
      }
      await assert.rejects(sleeping, (error: { code?: string }) => {
        assert.equal(error.code, "CONNECTION_CLOSED");
        return true;
      });
    };
    try {
      // The driver keeps the server's 57P01 and replays it onto the next statement of that
      // connection, which it never sent: the context sends it again.
      await terminateMidStatement();
      const [row] = await context.query<{ n: number }>("SELECT $1::int AS n", [7]);
      assert.equal(row?.n, 7);
      // So too the BEGIN of a transaction.
      await terminateMidStatement();
      const one = await context.transaction(async (query) => {
        const [found] = await query<{ one: number }>("SELECT 1 AS one", []);
        return found?.one;
      });
      assert.equal(one, 1);
      // A statement's own error is its answer: not sent twice.
      await assert.rejects(context.query("SELECT 1/$1::int AS n", [0]), /division by zero/);
    } finally {
      await admin.end();
      await context.close();
    }
  },
);

postgresTest(
  "PostgresContext fails a statement PostgreSQL leaves unanswered as on a broken connection, renews its pool, and sends a read once more",
  async () => {
    // The limit leaves a fresh connection time to open (it counts against a statement's wait).
    const { context, pools } = renewableContext(openClient(postgresTestUrl(), { max: 4 }), 4, {
      stallMs: 2_000,
    });
    try {
      // Unanswered within the limit (as on a connection the driver left unable to send): it
      // fails (its answer, rows, would come later) instead of waiting for it.
      await assert.rejects(context.query("SELECT pg_sleep(10)", []), (error: { code?: string }) => {
        assert.equal(error.code, "CONNECTION_STALLED");
        return true;
      });
      assert.equal(pools.length, 2, "a fresh pool");
      // Through a store method: unavailable, as after any broken connection.
      const write = await failure(
        context.io('append to run "t"', () => context.query("SELECT pg_sleep(10)", [])),
      );
      assert.equal(write.code, "unavailable");
      assert.match(write.message, /did not answer within 2000 ms/);
      // A read is sent once more, and answers.
      let tries = 0;
      const rows = await context.read("list runs", () =>
        context.query<{ one: number }>(
          tries++ === 0 ? "SELECT 1 AS one FROM pg_sleep(10)" : "SELECT 1 AS one",
          [],
        ));
      assert.deepEqual([tries, rows[0]?.one], [2, 1]);
      // An answer in time is the answer.
      const [slow] = await context.query<{ one: number }>(
        "SELECT 1 AS one FROM pg_sleep(0.05)",
        [],
      );
      assert.equal(slow?.one, 1);
    } finally {
      await context.close();
      for (const pool of pools) await pool.end({ timeout: 0 });
    }
  },
);

postgresTest(
  "PostgresContext runs a transaction that lost a race (PostgreSQL rolled it back) again, at most three times",
  async () => {
    const context = new PostgresContext(openClient(postgresTestUrl(), { max: 2 }), OPTIONS);
    const deadlock = "DO $$ BEGIN RAISE EXCEPTION 'lost' USING ERRCODE = '40P01'; END $$";
    try {
      let attempts = 0;
      const one = await context.transaction(async (query) => {
        if (++attempts === 1) await query(deadlock, []);
        const [row] = await query<{ one: number }>("SELECT 1 AS one", []);
        return row?.one;
      });
      assert.deepEqual([one, attempts], [1, 2]);
      // Lost every time: the third loss is the answer.
      let tries = 0;
      await assert.rejects(
        context.transaction(async (query) => {
          tries++;
          return await query(deadlock, []);
        }),
        (error: { code?: string }) => error.code === "40P01",
      );
      assert.equal(tries, 3);
      // Another error is not a race: one try.
      let once = 0;
      await assert.rejects(context.transaction(async (query) => {
        once++;
        return await query("SELECT 1/0", []);
      }));
      assert.equal(once, 1);
    } finally {
      await context.close();
    }
  },
);
