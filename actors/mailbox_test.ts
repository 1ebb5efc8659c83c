import assert from "node:assert/strict";
import { Mailbox } from "./mailbox.ts";

Deno.test("Mailbox.send() delivers messages in FIFO order", async () => {
  const seen: string[] = [];
  const mailbox = new Mailbox<string, string>(async (message) => {
    await Promise.resolve();
    seen.push(message);
    return message.toUpperCase();
  });
  const results = await Promise.all(["a", "b", "c", "d"].map((m) => mailbox.send(m)));
  assert.deepEqual(seen, ["a", "b", "c", "d"]);
  assert.deepEqual(results, ["A", "B", "C", "D"]);
});

Deno.test("Mailbox.send() processes one message at a time", async () => {
  const log: string[] = [];
  const started = [0, 1, 2].map(() => Promise.withResolvers<void>());
  const gates = [0, 1, 2].map(() => Promise.withResolvers<void>());
  let active = 0;
  let most = 0;
  const mailbox = new Mailbox<number, number>(async (n) => {
    most = Math.max(most, ++active);
    log.push(`start ${n}`);
    started[n]!.resolve();
    await gates[n]!.promise;
    log.push(`end ${n}`);
    active--;
    return n;
  });
  const sent = [0, 1, 2].map((n) => mailbox.send(n));
  await started[0]!.promise;
  assert.deepEqual(log, ["start 0"]);
  assert.equal(mailbox.size, 3);
  gates[0]!.resolve();
  await started[1]!.promise;
  assert.deepEqual(log, ["start 0", "end 0", "start 1"]);
  gates[1]!.resolve();
  await started[2]!.promise;
  gates[2]!.resolve();
  assert.deepEqual(await Promise.all(sent), [0, 1, 2]);
  assert.deepEqual(log, ["start 0", "end 0", "start 1", "end 1", "start 2", "end 2"]);
  assert.equal(most, 1);
  assert.equal(mailbox.size, 0);
});

Deno.test("Mailbox.send() rejects only the sender of a failing message", async () => {
  const mailbox = new Mailbox<number, number>((n) => {
    if (n === 2) return Promise.reject(new Error("two is bad"));
    if (n === 3) throw new TypeError("three throws synchronously");
    return Promise.resolve(n * 10);
  });
  const results = await Promise.allSettled([1, 2, 3, 4].map((n) => mailbox.send(n)));
  assert.deepEqual(results[0], { status: "fulfilled", value: 10 });
  assert.equal(results[1]?.status, "rejected");
  assert.match(String((results[1] as PromiseRejectedResult).reason), /two is bad/);
  assert.equal(results[2]?.status, "rejected");
  assert.ok((results[2] as PromiseRejectedResult).reason instanceof TypeError);
  assert.deepEqual(results[3], { status: "fulfilled", value: 40 });
  // The mailbox keeps working after failures.
  assert.equal(await mailbox.send(5), 50);
});

Deno.test("Mailbox.send() queues a message sent by the processor behind the current one", async () => {
  const seen: string[] = [];
  let inner: Promise<string> | undefined;
  const gate = Promise.withResolvers<void>();
  const mailbox: Mailbox<string, string> = new Mailbox(async (message) => {
    seen.push(message);
    if (message === "outer") {
      await gate.promise;
      inner = mailbox.send("inner");
    }
    await Promise.resolve();
    seen.push(`${message} done`);
    return message;
  });
  const first = mailbox.send("outer");
  const second = mailbox.send("second");
  gate.resolve();
  assert.deepEqual(await Promise.all([first, second]), ["outer", "second"]);
  assert.equal(await inner, "inner");
  assert.deepEqual(seen, ["outer", "outer done", "second", "second done", "inner", "inner done"]);
});

Deno.test("Mailbox.idle() resolves at once when nothing is waiting", async () => {
  const mailbox = new Mailbox<number, number>((n) => Promise.resolve(n));
  assert.equal(mailbox.size, 0);
  await mailbox.idle();
});

Deno.test("Mailbox.idle() resolves after every queued message settles", async () => {
  const gate = Promise.withResolvers<void>();
  const done: number[] = [];
  const mailbox = new Mailbox<number, number>(async (n) => {
    await gate.promise;
    done.push(n);
    if (n === 2) throw new Error("boom");
    return n;
  });
  const sent = [1, 2, 3].map((n) => mailbox.send(n).catch(() => -1));
  let idle = false;
  const waiting = mailbox.idle().then(() => {
    idle = true;
  });
  await Promise.resolve();
  assert.equal(idle, false);
  gate.resolve();
  await waiting;
  assert.deepEqual(done, [1, 2, 3]);
  assert.equal(mailbox.size, 0);
  assert.deepEqual(await Promise.all(sent), [1, -1, 3]);
});
