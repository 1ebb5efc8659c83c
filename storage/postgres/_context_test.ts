import assert from "node:assert/strict";
import { OrisError } from "../../kernel/mod.ts";
import { privatePostgresTest, startPrivatePostgres } from "../../tests/_private_postgres.ts";
import { PostgresStore } from "./mod.ts";

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
