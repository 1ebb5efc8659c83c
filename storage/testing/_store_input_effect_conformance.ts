/**
 * The Store conformance tests of what a store accepts and of the effect
 * journal: JSON values that round-trip and values that are refused,
 * malformed arguments, `recordEffect()`/`getEffect()`/`listEffects()`, and
 * reads of runs that do not exist.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type EffectRecord,
  fold,
  foldAll,
  InvalidArgumentError,
  type Json,
  type JsonObject,
  type RunCreatedEvent,
  type RunEvent,
  type ThreadId,
} from "../../kernel/mod.ts";
import {
  appendAll,
  type ConformanceTest,
  createdEvent,
  current,
  started,
  startRun,
  stepEvent,
  tick,
} from "./_store_fixtures.ts";

/**
 * Adds the tests of inputs and of the effect journal, in order.
 *
 * @param test Registers one test against a fresh store.
 */
export function registerInputAndEffectTests(test: ConformanceTest): void {
  test("unicode, deep and empty JSON round-trip", async (store) => {
    let deep: Json = "bottom";
    for (let i = 0; i < 300; i++) deep = i % 2 === 0 ? { [`level${i}`]: deep } : [deep];
    const state: JsonObject = {
      "emoji 🚀": "héllo wörld ✓ 你好 مرحبا 🎉",
      nul: "a\u0000b",
      surrogate: "\ud83d",
      "dotted.key:with/slash": ["", '\n\t"\\'],
      empty: {},
      emptyList: [],
      emptyString: "",
      numbers: [0, -0.5, 1e300, -1e-300, Number.MAX_SAFE_INTEGER],
      flags: [true, false, null],
      deep,
    };
    let run = await startRun(store, "json-1", {});
    run = await appendAll(store, run, [stepEvent(run, state)]);
    run = await appendAll(store, run, [stepEvent(run, {})]);
    run = await appendAll(store, run, [stepEvent(run, state)]);
    assert.deepEqual(await current(store, "json-1"), run);
    assert.deepEqual(foldAll(null, await store.readEvents(run.threadId, 1)), run);
    const { run: created } = await store.createRun(
      createdEvent("json-2", { "ключ": "значение" }, state),
    );
    assert.deepEqual((await current(store, "json-2"))!.state, state);
    assert.equal(created.version, 1);
  });

  test("values that are not JSON are refused before anything is written", async (store) => {
    const run = await startRun(store, "notjson-1", { ok: true });
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const bad: [string, unknown][] = [
      ["a function", () => 1],
      ["undefined in an array", [1, undefined]],
      ["a BigInt", 10n],
      ["a cycle", cycle],
      ["NaN", NaN],
      ["Infinity", Infinity],
      ["a Date", new Date(0)],
      ["a Map", new Map()],
      ["a symbol", Symbol("s")],
    ];
    for (const [what, value] of bad) {
      const event = {
        ...stepEvent(run, {}),
        tasks: [{ taskId: "x", node: "a", update: value }],
      } as RunEvent;
      await assert.rejects(
        () => store.append(run.threadId, run.version, [event], fold(run, event)),
        (error) => error instanceof InvalidArgumentError && error.code === "invalid_argument",
        `${what} must be refused`,
      );
      await assert.rejects(
        () =>
          store.createRun(
            {
              ...createdEvent(`notjson-${what.replaceAll(" ", "-")}`),
              input: value,
            } as RunCreatedEvent,
          ),
        InvalidArgumentError,
      );
      await assert.rejects(
        () =>
          store.recordEffect({
            threadId: run.threadId,
            step: 1,
            node: "a",
            index: 0,
            name: what,
            result: { ok: true, value: value as Json },
            recordedAt: tick(),
          }),
        InvalidArgumentError,
      );
    }
    assert.deepEqual(await current(store, "notjson-1"), run);
    assert.equal((await store.readEvents(run.threadId, 1)).length, run.version);
    assert.deepEqual((await store.listRuns({ limit: 100 })).items.map((item) => item.threadId), [
      "notjson-1",
    ]);
    assert.equal(
      await store.getEffect({ threadId: run.threadId, step: 1, node: "a", index: 0 }),
      null,
    );
  });

  test("append() refuses malformed arguments", async (store) => {
    const run = await startRun(store, "args-1");
    const event = started();
    const next = fold(run, event);
    await assert.rejects(
      () => store.append("bad id" as ThreadId, 2, [event], next),
      InvalidArgumentError,
    );
    await assert.rejects(
      () => store.append(run.threadId, run.version, [], run),
      InvalidArgumentError,
    );
    await assert.rejects(
      () => store.append(run.threadId, run.version, [event], { ...next, version: 99 }),
      InvalidArgumentError,
    );
    await assert.rejects(() => store.append(run.threadId, -1, [event], next), InvalidArgumentError);
    await assert.rejects(() => store.listRuns({ limit: 0 }), InvalidArgumentError);
    await assert.rejects(() => store.listRuns({ limit: 100_000 }), InvalidArgumentError);
    await assert.rejects(() => store.listRuns({ cursor: "not a cursor" }), InvalidArgumentError);
    await assert.rejects(
      () => store.listCheckpoints(run.threadId, { cursor: "W10" }),
      InvalidArgumentError,
    );
    assert.deepEqual(await current(store, "args-1"), run);
  });

  test("the effect journal records once and reads by (thread, step, node, index)", async (store) => {
    const threadId = "fx-1" as ThreadId;
    const record = (step: number, node: string, index: number, value: Json): EffectRecord => ({
      threadId,
      step,
      node,
      index,
      name: "llm",
      result: { ok: true, value },
      recordedAt: tick(),
    });
    const first = record(1, "agent", 0, { text: "hello" });
    assert.deepEqual(await store.recordEffect(first), first);
    assert.deepEqual(await store.recordEffect(record(1, "agent", 0, { text: "other" })), first);
    const racing = await Promise.all(
      Array.from({ length: 6 }, (_, i) => store.recordEffect(record(1, "tool", 0, i))),
    );
    assert.equal(new Set(racing.map((item) => JSON.stringify(item))).size, 1);
    const failed: EffectRecord = {
      ...record(1, "agent", 1, null),
      result: {
        ok: false,
        error: { name: "TimeoutError", message: "slow", code: "timeout", details: { ms: 5 } },
      },
    };
    await store.recordEffect(failed);
    await store.recordEffect(record(2, "agent", 0, "step two"));
    assert.deepEqual(await store.getEffect({ threadId, step: 1, node: "agent", index: 1 }), failed);
    assert.equal(await store.getEffect({ threadId, step: 3, node: "agent", index: 0 }), null);
    const stepOne = await store.listEffects(threadId, 1);
    assert.deepEqual(stepOne.map((item) => [item.node, item.index]), [["agent", 0], ["agent", 1], [
      "tool",
      0,
    ]]);
    assert.equal((await store.listEffects(threadId)).length, 4);
    assert.deepEqual(await store.listEffects("fx-none" as ThreadId), []);
  });

  test("the effect journal keeps when an effect started, and records without it", async (store) => {
    const threadId = "fx-timed" as ThreadId;
    const startedAt = tick();
    const timed: EffectRecord = {
      threadId,
      step: 1,
      node: "tool",
      index: 0,
      name: "search",
      result: { ok: true, value: "found" },
      startedAt,
      recordedAt: startedAt + 250,
    };
    const untimed: EffectRecord = { ...timed, index: 1, recordedAt: tick() };
    delete untimed.startedAt;
    assert.deepEqual(await store.recordEffect(timed), timed);
    assert.deepEqual(await store.recordEffect(untimed), untimed);
    const key = { threadId, step: 1, node: "tool" };
    assert.equal((await store.getEffect({ ...key, index: 0 }))?.startedAt, startedAt);
    const listed = await store.listEffects(threadId);
    assert.deepEqual(listed, [timed, untimed]);
    assert.equal("startedAt" in listed[1]!, false);
    await assert.rejects(
      () => store.recordEffect({ ...timed, index: 2, startedAt: Number.NaN }),
      InvalidArgumentError,
    );
  });

  test("reads of unknown runs are empty and ping() answers", async (store) => {
    const ghost = "nobody" as ThreadId;
    assert.equal(await store.load(ghost), null);
    assert.deepEqual(await store.readEvents(ghost, 1), []);
    assert.deepEqual(await store.listCheckpoints(ghost), { items: [], nextCursor: null });
    assert.deepEqual(await store.listRuns(), { items: [], nextCursor: null });
    await store.ping();
  });
}
