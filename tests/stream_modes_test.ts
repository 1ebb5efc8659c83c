/**
 * Stream modes produce the documented chunks, in order (actors/stream.ts):
 * `values` (the input state, then the state after every step), `updates`
 * (`{ [node]: update }` per task in task order, `{ __interrupt__ }` on an
 * interrupt), `messages` (`[chunk, { node, step, taskId }]`), `custom`
 * (what nodes `ctx.emit`), `debug` (task, task_result, checkpoint), several
 * modes as `[mode, chunk]`, and subgraph chunks prefixed by their namespace
 * only with `subgraphs: true`. A resume streams through
 * `stream(new Command({ resume }))`; an unknown mode is an
 * `InvalidArgumentError` and starts nothing. On memory, Deno KV and PostgreSQL.
 */

import assert from "node:assert/strict";
import {
  Command,
  defineState,
  END,
  interrupt,
  InvalidArgumentError,
  NotFoundError,
  START,
  StateGraph,
  type Store,
  type StreamMode,
  type StreamOptions,
} from "../mod.ts";
import { storeTest } from "./_stores.ts";

const State = defineState({
  n: { default: () => 0, reducer: (a: number, b: number) => a + b },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

interface Streamable {
  stream(input: unknown, options?: StreamOptions): AsyncIterable<unknown>;
}

/** Collects every chunk of a stream. */
async function collect(app: Streamable, input: unknown, options: StreamOptions) {
  const chunks: unknown[] = [];
  for await (const chunk of app.stream(input, options)) chunks.push(chunk);
  return chunks;
}

/** Replaces every debug chunk's `timestamp` (checked to be a number) with 0. */
function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === "timestamp") {
        assert.equal(typeof item, "number", "a debug timestamp is a number");
        out[key] = 0;
      } else {
        out[key] = normalize(item);
      }
    }
    return out;
  }
  return value;
}

/** A two-step graph: `a` emits custom data and two message chunks, then `b` emits custom data. */
function twoStepGraph(store: Store) {
  return new StateGraph(State)
    .addNode("a", (_state, ctx) => {
      ctx.emit({ progress: "a" });
      ctx.emitMessage("Hel");
      ctx.emitMessage("lo");
      return { n: 1, log: ["a"] };
    })
    .addNode("b", (_state, ctx) => {
      ctx.emit({ progress: "b" });
      return { n: 10, log: ["b"] };
    })
    .addEdge(START, "a")
    .addEdge("a", "b")
    .addEdge("b", END)
    .compile({ store, name: "two-step" });
}

// ---------------------------------------------------------------------------
// One mode at a time

storeTest(
  'stream() in "values" mode yields the input state, then the state after every step',
  async (store) => {
    const app = twoStepGraph(store);
    try {
      const chunks = await collect(app, { n: 5 }, { threadId: "values-1", streamMode: "values" });
      assert.deepEqual(chunks, [
        { n: 5, log: [] },
        { n: 6, log: ["a"] },
        { n: 16, log: ["a", "b"] },
      ]);
      assert.deepEqual(chunks.at(-1), (await app.getState("values-1")).values);
      // "values" is the default mode.
      assert.deepEqual(await collect(app, { n: 5 }, { threadId: "values-2" }), chunks);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  'stream() in "updates" mode yields { [node]: update } per task, in task order',
  async (store) => {
    const app = new StateGraph(State)
      .addNode("split", () => ({ log: ["split"] }))
      .addNode("x", () => ({ n: 1, log: ["x"] }))
      .addNode("y", () => ({ n: 2, log: ["y"] }))
      .addNode("z", () => null)
      .addNode("join", (state) => ({ log: [`join:${state.n}`] }))
      .addEdge(START, "split")
      .addEdge("split", "x")
      .addEdge("split", "y")
      .addEdge("split", "z")
      .addEdge("x", "join")
      .addEdge("y", "join")
      .addEdge("z", "join")
      .addEdge("join", END)
      .compile({ store, name: "fan-out" });
    try {
      const chunks = await collect(app, {}, { threadId: "updates-1", streamMode: "updates" });
      assert.deepEqual(chunks, [
        { split: { log: ["split"] } },
        { x: { n: 1, log: ["x"] } },
        { y: { n: 2, log: ["y"] } },
        { z: null },
        { join: { log: ["join:3"] } },
      ]);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  'stream() in "messages" mode yields [chunk, { node, step, taskId }] for every ctx.emitMessage',
  async (store) => {
    const app = twoStepGraph(store);
    try {
      const chunks = await collect(app, {}, { threadId: "messages-1", streamMode: "messages" });
      assert.deepEqual(chunks, [
        ["Hel", { node: "a", step: 1, taskId: "1:a" }],
        ["lo", { node: "a", step: 1, taskId: "1:a" }],
      ]);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  'stream() in "custom" mode yields what nodes pass to ctx.emit, in order',
  async (store) => {
    const app = twoStepGraph(store);
    try {
      const chunks = await collect(app, {}, { threadId: "custom-1", streamMode: "custom" });
      assert.deepEqual(chunks, [{ progress: "a" }, { progress: "b" }]);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  'stream() in "debug" mode yields task, task_result and checkpoint chunks for every step',
  async (store) => {
    const app = twoStepGraph(store);
    try {
      const chunks = await collect(app, { n: 5 }, { threadId: "debug-1", streamMode: "debug" });
      const history = await app.getStateHistory("debug-1");
      const cp = (step: number) => history.find((entry) => entry.step === step)!.checkpointId;
      assert.deepEqual(normalize(chunks), [
        {
          type: "task",
          step: 1,
          timestamp: 0,
          payload: { id: "1:a", name: "a", attempt: 1 },
        },
        {
          type: "task_result",
          step: 1,
          timestamp: 0,
          payload: {
            id: "1:a",
            name: "a",
            result: { n: 1, log: ["a"] },
            error: null,
            interrupts: [],
          },
        },
        {
          type: "checkpoint",
          step: 1,
          timestamp: 0,
          payload: {
            checkpointId: cp(1),
            parentCheckpointId: null,
            values: { n: 6, log: ["a"] },
            next: ["b"],
          },
        },
        {
          type: "task",
          step: 2,
          timestamp: 0,
          payload: { id: "2:b", name: "b", attempt: 1 },
        },
        {
          type: "task_result",
          step: 2,
          timestamp: 0,
          payload: {
            id: "2:b",
            name: "b",
            result: { n: 10, log: ["b"] },
            error: null,
            interrupts: [],
          },
        },
        {
          type: "checkpoint",
          step: 2,
          timestamp: 0,
          payload: {
            checkpointId: cp(2),
            parentCheckpointId: cp(1),
            values: { n: 16, log: ["a", "b"] },
            next: [],
          },
        },
      ]);
    } finally {
      await app.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Several modes, interrupts and resumes, subgraphs

storeTest(
  "stream() with several modes yields [mode, chunk] pairs in the order things happened",
  async (store) => {
    const app = twoStepGraph(store);
    try {
      const chunks = await collect(app, {}, {
        threadId: "multi-1",
        streamMode: ["updates", "custom", "messages", "values"],
      });
      assert.deepEqual(chunks, [
        ["values", { n: 0, log: [] }],
        ["custom", { progress: "a" }],
        ["messages", ["Hel", { node: "a", step: 1, taskId: "1:a" }]],
        ["messages", ["lo", { node: "a", step: 1, taskId: "1:a" }]],
        ["updates", { a: { n: 1, log: ["a"] } }],
        ["values", { n: 1, log: ["a"] }],
        ["custom", { progress: "b" }],
        ["updates", { b: { n: 10, log: ["b"] } }],
        ["values", { n: 11, log: ["a", "b"] }],
      ]);
      // A list of one mode is still the pair form.
      const single = await collect(app, {}, { threadId: "multi-2", streamMode: ["custom"] });
      assert.deepEqual(single, [["custom", { progress: "a" }], ["custom", { progress: "b" }]]);
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "stream() yields an __interrupt__ update on an interrupt, and streams the resume given as a Command",
  async (store) => {
    const app = new StateGraph(State)
      .addNode("intro", () => ({ log: ["intro"] }))
      .addNode("ask", async (_state, ctx) => {
        const name = await ctx.interrupt<string>({ question: "Your name?" });
        ctx.emit({ greeted: name });
        return { n: 1, log: [`hello ${name}`] };
      })
      .addNode("bye", () => ({ log: ["bye"] }))
      .addEdge(START, "intro")
      .addEdge("intro", "ask")
      .addEdge("ask", "bye")
      .addEdge("bye", END)
      .compile({ store, name: "ask" });
    try {
      const modes: StreamMode[] = ["values", "updates", "debug"];
      const first = normalize(await collect(app, {}, { threadId: "ask-1", streamMode: modes }));
      const state = await app.getState("ask-1");
      assert.equal(state.status, "interrupted");
      const id = state.interrupts[0]!.id;
      assert.deepEqual(state.interrupts, [{ id, node: "ask", value: { question: "Your name?" } }]);
      const history = await app.getStateHistory("ask-1");
      const cp1 = history.find((entry) => entry.step === 1)!.checkpointId;
      assert.deepEqual(first, [
        ["values", { n: 0, log: [] }],
        ["debug", {
          type: "task",
          step: 1,
          timestamp: 0,
          payload: { id: "1:intro", name: "intro", attempt: 1 },
        }],
        ["debug", {
          type: "task_result",
          step: 1,
          timestamp: 0,
          payload: {
            id: "1:intro",
            name: "intro",
            result: { log: ["intro"] },
            error: null,
            interrupts: [],
          },
        }],
        ["updates", { intro: { log: ["intro"] } }],
        ["values", { n: 0, log: ["intro"] }],
        ["debug", {
          type: "checkpoint",
          step: 1,
          timestamp: 0,
          payload: {
            checkpointId: cp1,
            parentCheckpointId: null,
            values: { n: 0, log: ["intro"] },
            next: ["ask"],
          },
        }],
        ["debug", {
          type: "task",
          step: 2,
          timestamp: 0,
          payload: { id: "2:ask", name: "ask", attempt: 1 },
        }],
        ["debug", {
          type: "task_result",
          step: 2,
          timestamp: 0,
          payload: {
            id: "2:ask",
            name: "ask",
            result: null,
            error: null,
            interrupts: [{ id, value: { question: "Your name?" } }],
          },
        }],
        ["updates", { __interrupt__: [{ id, node: "ask", value: { question: "Your name?" } }] }],
      ]);

      const resumed = await collect(app, new Command({ resume: "Ada" }), {
        threadId: "ask-1",
        streamMode: ["updates", "custom", "values"],
      });
      assert.deepEqual(resumed, [
        ["custom", { greeted: "Ada" }],
        ["updates", { ask: { n: 1, log: ["hello Ada"] } }],
        ["values", { n: 1, log: ["intro", "hello Ada"] }],
        ["updates", { bye: { log: ["bye"] } }],
        ["values", { n: 1, log: ["intro", "hello Ada", "bye"] }],
      ]);
      assert.equal((await app.getState("ask-1")).status, "completed");
    } finally {
      await app.close();
    }
  },
);

storeTest(
  'stream() in "values" mode yields the input state once: resuming an interrupt of the first step does not repeat it',
  async (store) => {
    const app = new StateGraph(State)
      .addNode("ask", async () => {
        const answer = await interrupt("ok?");
        return { log: [String(answer)] };
      })
      .addEdge(START, "ask")
      .addEdge("ask", END)
      .compile({ store, name: "ask-first" });
    try {
      assert.deepEqual(
        await collect(app, { n: 2 }, { threadId: "first-1", streamMode: "values" }),
        [{ n: 2, log: [] }],
      );
      assert.deepEqual(
        await collect(app, new Command({ resume: "yes" }), {
          threadId: "first-1",
          streamMode: "values",
        }),
        [{ n: 2, log: ["yes"] }],
      );
    } finally {
      await app.close();
    }
  },
);

storeTest(
  "stream() with subgraphs: true prefixes every chunk with its namespace; without it subgraph chunks are absent",
  async (store) => {
    const inner = new StateGraph(State)
      .addNode("deep", (_state, ctx) => {
        ctx.emit("from deep");
        return { n: 100, log: ["deep"] };
      })
      .addEdge(START, "deep")
      .addEdge("deep", END)
      .compile({ name: "inner" });
    const child = new StateGraph(State)
      .addNode("c1", (_state, ctx) => {
        ctx.emit("from c1");
        return { n: 10, log: ["c1"] };
      })
      .addNode("nested", inner)
      .addEdge(START, "c1")
      .addEdge("c1", "nested")
      .addEdge("nested", END)
      .compile({ name: "child" });
    const app = new StateGraph(State)
      .addNode("pre", (_state, ctx) => {
        ctx.emit("from pre");
        return { n: 1, log: ["pre"] };
      })
      .addNode("sub", child)
      .addEdge(START, "pre")
      .addEdge("pre", "sub")
      .addEdge("sub", END)
      .compile({ store, name: "parent" });
    try {
      const sub = ["sub:2:sub"];
      const deep = ["sub:2:sub", "nested:2:nested"];
      const withSubgraphs = await collect(app, {}, {
        threadId: "ns-1",
        streamMode: ["updates", "custom"],
        subgraphs: true,
      });
      assert.deepEqual(withSubgraphs, [
        [[], "custom", "from pre"],
        [[], "updates", { pre: { n: 1, log: ["pre"] } }],
        [sub, "custom", "from c1"],
        [sub, "updates", { c1: { n: 10, log: ["c1"] } }],
        [deep, "custom", "from deep"],
        [deep, "updates", { deep: { n: 100, log: ["deep"] } }],
        [sub, "updates", { nested: { n: 100, log: ["deep"] } }],
        [[], "updates", { sub: { n: 110, log: ["c1", "deep"] } }],
      ]);

      const singleMode = await collect(app, {}, {
        threadId: "ns-2",
        streamMode: "updates",
        subgraphs: true,
      });
      const sub2 = ["sub:2:sub"];
      const deep2 = ["sub:2:sub", "nested:2:nested"];
      assert.deepEqual(singleMode, [
        [[], { pre: { n: 1, log: ["pre"] } }],
        [sub2, { c1: { n: 10, log: ["c1"] } }],
        [deep2, { deep: { n: 100, log: ["deep"] } }],
        [sub2, { nested: { n: 100, log: ["deep"] } }],
        [[], { sub: { n: 110, log: ["c1", "deep"] } }],
      ]);

      const without = await collect(app, {}, {
        threadId: "ns-3",
        streamMode: ["updates", "custom"],
      });
      assert.deepEqual(without, [
        ["custom", "from pre"],
        ["updates", { pre: { n: 1, log: ["pre"] } }],
        ["updates", { sub: { n: 110, log: ["c1", "deep"] } }],
      ]);
      assert.deepEqual((await app.getState("ns-3")).values, {
        n: 111,
        log: ["pre", "c1", "deep"],
      });
    } finally {
      await app.close();
      await child.close();
      await inner.close();
    }
  },
);

// ---------------------------------------------------------------------------
// Invalid modes

storeTest(
  "stream() rejects an unknown mode with InvalidArgumentError and starts no run",
  async (store) => {
    const app = twoStepGraph(store);
    try {
      for (const streamMode of ["tokens", ["values", "everything"]]) {
        await assert.rejects(
          () => collect(app, {}, { threadId: "bad-mode", streamMode: streamMode as StreamMode }),
          (error: unknown) => {
            assert.ok(error instanceof InvalidArgumentError);
            assert.equal(error.code, "invalid_argument");
            assert.match(error.message, /Cannot stream in mode "(tokens|everything)"/);
            return true;
          },
        );
      }
      await assert.rejects(() => app.getState("bad-mode"), NotFoundError);
    } finally {
      await app.close();
    }
  },
);
