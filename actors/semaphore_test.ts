import assert from "node:assert/strict";
import { Semaphore } from "./semaphore.ts";

/** A task whose start is observable and whose end the test decides. */
function gatedTask(log: string[], name: string) {
  const started = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  return {
    started: started.promise,
    release: () => gate.resolve(),
    fn: async () => {
      log.push(`start ${name}`);
      started.resolve();
      await gate.promise;
      log.push(`end ${name}`);
      return name;
    },
  };
}

Deno.test("Semaphore() rejects a limit below 1 with a RangeError", () => {
  for (const limit of [0, -1, 0.5, Number.NaN]) {
    assert.throws(() => new Semaphore(limit), RangeError);
  }
  assert.throws(() => new Semaphore(0), /Cannot limit concurrency to 0: it must be at least 1/);
});

Deno.test("Semaphore.run() never lets more than the limit run at once", async () => {
  const log: string[] = [];
  const semaphore = new Semaphore(2);
  const tasks = ["a", "b", "c", "d", "e"].map((name) => gatedTask(log, name));
  const results = tasks.map((task) => semaphore.run(task.fn));
  await Promise.all([tasks[0]!.started, tasks[1]!.started]);
  assert.deepEqual(log, ["start a", "start b"]);
  assert.equal(semaphore.waiting, 3);

  tasks[1]!.release();
  await tasks[2]!.started;
  assert.deepEqual(log, ["start a", "start b", "end b", "start c"]);
  assert.equal(semaphore.waiting, 2);

  tasks[0]!.release();
  await tasks[3]!.started;
  tasks[2]!.release();
  await tasks[4]!.started;
  assert.equal(semaphore.waiting, 0);
  tasks[3]!.release();
  tasks[4]!.release();
  assert.deepEqual(await Promise.all(results), ["a", "b", "c", "d", "e"]);

  let running = 0;
  let most = 0;
  for (const entry of log) {
    running += entry.startsWith("start") ? 1 : -1;
    most = Math.max(most, running);
  }
  assert.equal(most, 2);
});

Deno.test("Semaphore.run() admits waiters in FIFO order", async () => {
  const log: string[] = [];
  const semaphore = new Semaphore(1);
  const tasks = ["a", "b", "c", "d"].map((name) => gatedTask(log, name));
  const results = tasks.map((task) => semaphore.run(task.fn));
  for (const task of tasks) {
    await task.started;
    task.release();
  }
  await Promise.all(results);
  assert.deepEqual(log, [
    "start a",
    "end a",
    "start b",
    "end b",
    "start c",
    "end c",
    "start d",
    "end d",
  ]);
});

Deno.test("Semaphore.run() frees the place of a task that fails", async () => {
  const semaphore = new Semaphore(1);
  const gate = Promise.withResolvers<void>();
  const failing = semaphore.run(async () => {
    await gate.promise;
    throw new Error("boom");
  });
  const next = semaphore.run(() => Promise.resolve("next"));
  assert.equal(semaphore.waiting, 1);
  gate.resolve();
  await assert.rejects(failing, /boom/);
  assert.equal(await next, "next");
  assert.equal(semaphore.waiting, 0);
  // The place is free again.
  assert.equal(await semaphore.run(() => Promise.resolve(1)), 1);
});

Deno.test("Semaphore.run() frees the place of work that throws before it returns a promise, and the place of a holder before its caller goes on", async () => {
  const semaphore = new Semaphore(1);
  await assert.rejects(
    semaphore.run((): Promise<void> => {
      throw new Error("at once");
    }),
    /at once/,
  );
  assert.equal(await semaphore.run(() => Promise.resolve(1)), 1, "the place is free again");
  // The holder's caller finds the place free when its await returns.
  await semaphore.run(() => Promise.resolve());
  let ranAt = "";
  const next = semaphore.run(() => {
    ranAt = "without waiting";
    return Promise.resolve();
  });
  assert.equal(semaphore.waiting, 0);
  assert.equal(ranAt, "without waiting");
  await next;
});

Deno.test("Semaphore.run() with an Infinity limit runs everything at once", async () => {
  const log: string[] = [];
  const semaphore = new Semaphore(Infinity);
  const tasks = Array.from({ length: 100 }, (_, i) => gatedTask(log, String(i)));
  const results = tasks.map((task) => semaphore.run(task.fn));
  await Promise.all(tasks.map((task) => task.started));
  assert.equal(log.length, 100);
  assert.ok(log.every((entry) => entry.startsWith("start")));
  assert.equal(semaphore.waiting, 0);
  for (const task of tasks) task.release();
  assert.equal((await Promise.all(results)).length, 100);
});
