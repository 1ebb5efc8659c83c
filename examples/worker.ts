/**
 * A remote worker: a server that executes nothing itself (as
 * `ORIS_EXECUTION=workers`) and a worker (`createWorker`) that executes its
 * runs over HTTP, in one process for the demo. The run waits for an
 * approval; the resume goes to the server, which hands the run back to a
 * worker; the journaled reservation is made once.
 *
 * Run the demo:
 * ```sh
 * deno run -A examples/worker.ts
 * ```
 *
 * Or run the graph in real worker processes against a server that serves it:
 * ```sh
 * ORIS_EXECUTION=workers deno run -A cli/main.ts server --graphs examples/worker.ts
 * deno run -A cli/main.ts worker --graphs examples/worker.ts
 * ```
 *
 * @module
 */

import {
  createRuntime,
  createWorker,
  defineState,
  END,
  MemoryStore,
  START,
  StateGraph,
} from "../mod.ts";
import { createServer } from "../server/mod.ts";

const State = defineState({
  order: { default: () => "" },
  approved: { default: (): boolean | null => null },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

let reservations = 0;

/** Reserves stock (a journaled effect), asks for approval, then ships. */
export const fulfil = new StateGraph(State)
  .addNode("reserve", async (state, ctx) => {
    const id = await ctx.effect("reserve", () => {
      reservations++;
      return `res-${state.order}`;
    });
    return { log: [`reserved ${id} (pid ${Deno.pid})`] };
  })
  .addNode("approve", async (_state, ctx) => ({
    approved: await ctx.interrupt<boolean>({ question: "Ship this order?" }),
  }))
  .addNode("ship", (state) => ({ log: [state.approved ? "shipped" : "held"] }))
  .addEdge(START, "reserve")
  .addEdge("reserve", "approve")
  .addEdge("approve", "ship")
  .addEdge("ship", END)
  .compile();

/** The demo: a server in workers mode and one worker, over HTTP on a free port. */
async function demo(): Promise<void> {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  await using runtime = createRuntime({
    store: new MemoryStore(),
    execution: "none",
    graphs: { fulfil },
    logger: quiet,
  });
  const server = await createServer({ runtime, logger: quiet });
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, server.app.fetch);
  const worker = createWorker({
    server: `http://127.0.0.1:${http.addr.port}`,
    graphs: { fulfil },
    workerId: "demo-worker",
    pollIntervalMs: 50,
    logger: quiet,
  });
  try {
    const queued = await runtime.start("fulfil", { order: "order-7" }, { threadId: "order-7" });
    console.log(`started: ${queued.status}`);
    const waiting = await runtime.wait("order-7");
    console.log(`worker ran it to: ${waiting.status}`);
    const done = await runtime.resume("order-7", true);
    console.log(`resumed through the server: ${done.status}`);
    console.log(`log: ${(done.state.log as string[]).join("; ")}`);
    console.log(`reservations made: ${reservations}`);
  } finally {
    await worker.stop();
    await http.shutdown();
    await server.close();
  }
}

if (import.meta.main) await demo();
