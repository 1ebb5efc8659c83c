/**
 * A graph deployed in a new shape while runs are in flight: each run records
 * its graph's structural fingerprint; a run taken up again under a graph of
 * another shape is logged and its detail says so; a run that needs a node
 * the graph no longer has fails with code `graph_changed` (and runs nothing
 * else). On memory, Deno KV and PostgreSQL.
 */

import assert from "node:assert/strict";
import {
  createRuntime,
  defineState,
  END,
  interrupt,
  type Runtime,
  START,
  StateGraph,
  type Store,
} from "../mod.ts";
import { graphFingerprint } from "../kernel/mod.ts";
import { createServer } from "../server/mod.ts";
import { collectingLogger, readLog } from "./_helpers.ts";
import { storeTest } from "./_stores.ts";

const State = defineState({
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/** `plan` -> `ask` (waits for a person) -> `done`; `extra` after `done` when asked. */
function register(runtime: Runtime, shape: "v1" | "v2-extra" | "v2-without-ask"): string {
  const graph = new StateGraph(State).addNode("plan", () => ({ log: ["plan"] }));
  if (shape !== "v2-without-ask") {
    graph.addNode("ask", async () => ({ log: [`ask:${await interrupt<string>("ok?")}`] }));
  }
  graph.addNode("done", () => ({ log: ["done"] }));
  if (shape === "v2-extra") graph.addNode("extra", () => ({ log: ["extra"] }));
  graph.addEdge(START, "plan");
  if (shape === "v2-without-ask") graph.addEdge("plan", "done");
  else graph.addEdge("plan", "ask").addEdge("ask", "done");
  if (shape === "v2-extra") graph.addEdge("done", "extra").addEdge("extra", END);
  else graph.addEdge("done", END);
  return graphFingerprint(graph.compile({ name: "flow", runtime }).definition.spec);
}

async function interruptedUnderV1(store: Store, threadId: string): Promise<string> {
  await using runtime = createRuntime({ store });
  const fingerprint = register(runtime, "v1");
  const result = await runtime.invoke("flow", {}, { threadId });
  assert.equal(result.status, "interrupted");
  const run = await runtime.get(threadId);
  assert.equal(run!.graphFingerprint, fingerprint);
  const [created] = await readLog(store, threadId);
  assert.equal(created!.event.type, "run.created");
  assert.equal((created!.event as { graphFingerprint?: string }).graphFingerprint, fingerprint);
  return fingerprint;
}

storeTest(
  "graph change: a run needing a node the new graph lacks fails with graph_changed",
  async (store) => {
    const v1 = await interruptedUnderV1(store, "gc-missing");
    const { logger, entries } = collectingLogger();
    await using runtime = createRuntime({ store, logger });
    const v2 = register(runtime, "v2-without-ask");
    assert.notEqual(v2, v1);
    const result = await runtime.resume("gc-missing", "yes");
    assert.equal(result.status, "failed");
    assert.equal(result.error?.code, "graph_changed");
    assert.equal(result.error?.node, "ask");
    assert.match(result.error!.message, /Cannot run node "ask": the graph no longer has it/);
    // Nothing else ran: the state is the one the run had when it stopped.
    assert.deepEqual(result.state, { log: ["plan"] });
    const warning = entries.find((entry) => entry.message.includes("graph changed"));
    assert.deepEqual(warning?.fields, {
      thread_id: "gc-missing",
      graph: "flow",
      recorded_fingerprint: v1,
      fingerprint: v2,
    });
  },
);

storeTest(
  "graph change: a run whose nodes still exist continues under the new shape; the log and detail say so",
  async (store) => {
    const v1 = await interruptedUnderV1(store, "gc-extra");
    const { logger, entries } = collectingLogger();
    await using runtime = createRuntime({ store, logger });
    const v2 = register(runtime, "v2-extra");
    const result = await runtime.resume("gc-extra", "yes");
    assert.equal(result.status, "completed");
    assert.deepEqual(result.state, { log: ["plan", "ask:yes", "done", "extra"] });
    assert.equal(
      entries.filter((entry) =>
        entry.message === "The run's graph changed since the run was created"
      )
        .length,
      1,
    );
    const server = await createServer({ runtime });
    try {
      const response = await server.app.request("/v1/jobs/gc-extra/detail");
      const detail = (await response.json()).data;
      assert.equal(detail.graph_fingerprint, v1);
      assert.equal(detail.graph_changed, true);
      assert.notEqual(v1, v2);
    } finally {
      await server.close();
    }
  },
);

storeTest("graph change: a run under the same shape is not reported", async (store) => {
  const v1 = await interruptedUnderV1(store, "gc-same");
  const { logger, entries } = collectingLogger();
  await using runtime = createRuntime({ store, logger });
  assert.equal(register(runtime, "v1"), v1);
  const result = await runtime.resume("gc-same", "yes");
  assert.equal(result.status, "completed");
  assert.equal(entries.filter((entry) => entry.message.includes("graph changed")).length, 0);
  const server = await createServer({ runtime });
  try {
    const detail = (await (await server.app.request("/v1/jobs/gc-same/detail")).json()).data;
    assert.equal(detail.graph_fingerprint, v1);
    assert.equal(detail.graph_changed, false);
  } finally {
    await server.close();
  }
});
