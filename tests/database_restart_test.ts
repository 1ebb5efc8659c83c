/**
 * A database restart under load: jobs are submitted at a steady rate (about
 * 50 a second) while a private PostgreSQL cluster (`_private_postgres.ts`,
 * never the shared server) is stopped and started again, then restarted
 * (`pg_ctl restart`). Requests made while it is down are 503 `unavailable`
 * with `Retry-After` and write nothing; the server reconnects by itself (the
 * same store and process serve again once the database is back); retrying
 * the refused requests succeeds; and the audit entries of the refused
 * requests, kept while the database was down, are written afterwards. Every
 * phase waits on state (answers seen, `pg_ctl -w`), never on a sleep.
 */

import assert from "node:assert/strict";
import { createRuntime, type LogFields, type Logger } from "../mod.ts";
import { registerExamples } from "../examples/mod.ts";
import { PostgresStore } from "../storage/postgres/mod.ts";
import { createServer } from "../server/mod.ts";
import { deferred } from "./_helpers.ts";
import { postgresClient } from "./_postgres.ts";
import { privatePostgresTest, startPrivatePostgres } from "./_private_postgres.ts";

/** Milliseconds between two submissions: about 50 a second. */
const INTERVAL_MS = 20;
/** How many answers of each phase to wait for. */
const PER_PHASE = 8;

type Phase = "before" | "down" | "after" | "transition";

interface Submitted {
  n: number;
  threadId: string;
  requestId: string;
  /** The database's state for the whole request: `transition` if it changed meanwhile. */
  phase: Phase;
  status: number;
  body: { error?: { code: string }; data?: { status: string } };
  retryAfter: string | null;
}

/** The answers seen so far, and waits (on answers, never on time) for a condition on them. */
class Answers {
  readonly results: Submitted[] = [];
  #waiting: { holds: () => boolean; reached: () => void }[] = [];

  add(result: Submitted): void {
    this.results.push(result);
    for (const waiter of [...this.#waiting]) this.#settle(waiter);
  }

  until(holds: () => boolean): Promise<void> {
    const gate = deferred();
    const waiter = { holds, reached: gate.resolve };
    this.#waiting.push(waiter);
    this.#settle(waiter);
    return gate.promise;
  }

  #settle(waiter: { holds: () => boolean; reached: () => void }): void {
    if (!waiter.holds()) return;
    this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
    waiter.reached();
  }
}

privatePostgresTest(
  "a PostgreSQL restart under load: 503 unavailable with Retry-After, nothing written, reconnects, retries succeed, audit kept",
  async () => {
    await using pg = await startPrivatePostgres();
    await using store = await PostgresStore.connect({ url: pg.url, schema: "oris", max: 4 });
    const logged: { message: string; fields: LogFields }[] = [];
    const at = (message: string, fields: LogFields = {}) => void logged.push({ message, fields });
    const logger: Logger = { debug: at, info: at, warn: at, error: at };
    await using runtime = createRuntime({ store, logger });
    registerExamples(runtime);
    const server = await createServer({
      runtime,
      logger,
      auditQueue: { retryInitialMs: 10, retryMaxMs: 100 },
    });
    const metric = async (sample: string) => {
      const text = await (await server.app.request("/metrics")).text();
      const line = text.split("\n").find((item) => item.startsWith(`${sample} `));
      return line === undefined ? 0 : Number(line.slice(sample.length + 1));
    };
    try {
      const submit = async (threadId: string, requestId: string) => {
        const response = await server.app.request("/v1/jobs/run", {
          method: "POST",
          headers: { "x-request-id": requestId },
          body: JSON.stringify({ thread_id: threadId, input: "hi" }),
        });
        return {
          status: response.status,
          body: await response.json(),
          retryAfter: response.headers.get("retry-after"),
        };
      };

      // The load: one submission every INTERVAL_MS, each labelled with the
      // database's state from when it was sent until it was answered: a
      // request that saw the phase change (even back to the same name, as
      // "after" does between the two restarts) met a transition.
      let phase: Phase = "before";
      let changes = 0;
      const enter = (next: Phase) => {
        phase = next;
        changes++;
      };
      const answers = new Answers();
      const results = answers.results;
      const until = (holds: () => boolean) => answers.until(holds);
      const inFlight = new Set<Promise<void>>();
      const count = (wanted: Phase) => results.filter((result) => result.phase === wanted).length;
      let stopped = false;
      let sent = 0;
      const load = (async () => {
        for (let n = 0; !stopped; n++) {
          const sentIn = phase;
          const sentAt = changes;
          sent = n + 1;
          const threadId = `load-${n}`;
          const requestId = `req-load-${n}`;
          const request = submit(threadId, requestId).then((answer) => {
            answers.add({
              n,
              threadId,
              requestId,
              phase: sentAt === changes ? sentIn : "transition",
              ...answer,
            });
          });
          inFlight.add(request);
          request.finally(() => inFlight.delete(request));
          await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
        }
      })();

      try {
        await until(() => count("before") >= PER_PHASE);
        enter("transition");
        await pg.stop();
        enter("down");
        await until(() => count("down") >= PER_PHASE);
        // Their audit entries wait in the queue (each response waited until its entry was queued).
        assert.ok(await metric("oris_audit_queue_depth") >= PER_PHASE);
        // Back up, twice: after a start, and after a quick `pg_ctl restart` under the same load.
        for (const bringBack of [() => pg.start(), () => pg.restart()]) {
          enter("transition");
          await bringBack();
          // The store finds out by itself that the database is back (it probes it): wait for
          // that, seen by a request sent since (an earlier one may answer 200 late: its run
          // was done before the stop, its audit entry was queued).
          const back = sent;
          await until(() => results.some((result) => result.n >= back && result.status === 200));
          enter("after");
          const wanted = count("after") + PER_PHASE;
          await until(() => count("after") >= wanted);
        }
      } finally {
        stopped = true;
        await load;
        await Promise.all(inFlight);
      }

      const byPhase = (wanted: Phase) => results.filter((result) => result.phase === wanted);
      assert.ok(count("before") >= PER_PHASE && count("after") >= 2 * PER_PHASE);
      // Before and after the outage every job completes: the server reconnected by itself.
      for (const result of [...byPhase("before"), ...byPhase("after")]) {
        assert.equal(result.status, 200, JSON.stringify(result));
        assert.equal(result.body.data?.status, "completed");
      }
      // While the database is down: 503 unavailable with Retry-After.
      const refused = byPhase("down");
      assert.ok(refused.length >= PER_PHASE);
      for (const result of refused) {
        assert.equal(result.status, 503, JSON.stringify(result));
        assert.equal(result.body.error?.code, "unavailable");
        assert.equal(result.retryAfter, "1");
      }
      // Requests that met a stop or a start on their way are answered one way or the other.
      for (const result of byPhase("transition")) {
        assert.ok(
          (result.status === 200 && result.body.data?.status === "completed") ||
            (result.status === 503 && result.body.error?.code === "unavailable" &&
              result.retryAfter === "1"),
          JSON.stringify(result),
        );
      }

      // The refused requests wrote nothing.
      const sql = postgresClient({ url: pg.url });
      try {
        const ids = refused.map((result) => result.threadId);
        const [runs] = await sql`
        SELECT count(*)::int AS n FROM oris.runtime_runs WHERE thread_id = ANY(${ids})`;
        assert.equal(runs!.n, 0);
        const [events] = await sql`
        SELECT count(*)::int AS n FROM oris.runtime_events WHERE thread_id = ANY(${ids})`;
        assert.equal(events!.n, 0);
      } finally {
        await sql.end();
      }

      // Retrying them succeeds. A retry may still meet a pool connection that the restart left
      // waiting (a connection opened while the old server shut down waits for the connect
      // timeout): its answer is then a 503 unavailable again, and the client retries once the
      // server is ready, as Retry-After says. The guard bounds a hang, it is not a timing.
      const guard = Date.now() + 120_000;
      for (const result of refused) {
        for (let attempt = 1;; attempt++) {
          const retried = await submit(result.threadId, `${result.requestId}-retry-${attempt}`);
          if (retried.status === 503 && Date.now() < guard) {
            assert.equal(retried.body.error?.code, "unavailable", JSON.stringify(retried.body));
            while ((await server.app.request("/readyz")).status !== 200) {
              assert.ok(Date.now() < guard, "the server never became ready again");
              await new Promise((resolve) => setTimeout(resolve, 50)); // A poll of its state.
            }
            continue;
          }
          assert.equal(retried.status, 200, JSON.stringify(retried.body));
          assert.equal(retried.body.data.status, "completed");
          break;
        }
      }

      // Their audit entries were kept while the database was down and written since.
      while (await metric("oris_audit_queue_depth") > 0) {
        // The queue retries on its own backoff; wait for its state to change.
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const result of refused) {
        const { items } = await store.listAudit({ requestId: result.requestId });
        assert.equal(items.length, 1, `the audit entry of ${result.requestId}`);
        assert.equal(items[0]!.action, "job.run");
        assert.equal(items[0]!.result, "error");
        assert.equal(items[0]!.details.status_code, 503);
      }
      for (const reason of ["queue_full", "rejected", "closed"]) {
        assert.equal(await metric(`oris_audit_dropped_total{reason="${reason}"}`), 0, reason);
      }
      assert.ok(logged.some((line) => line.message === "audit queued: the store is unavailable"));
      assert.ok(logged.some((line) => line.message === "audit queue written"));
      assert.ok(!logged.some((line) => line.message === "audit dropped"));
    } finally {
      await server.close();
    }
  },
);
