/**
 * A durable job on Deno KV across processes: the first process runs the job
 * until it waits for an approval and exits; a second process (a new runtime
 * over the same KV file) resumes it with the answer, and the job's journaled
 * work is not done again.
 *
 * Run:
 * ```sh
 * deno run -A examples/durable_job.ts start /tmp/job.kv    # prints the pending question
 * deno run -A examples/durable_job.ts resume /tmp/job.kv yes
 * ```
 *
 * @module
 */

import { createRuntime, defineState, END, START, StateGraph } from "../mod.ts";
import { KvStore } from "../storage/kv/mod.ts";

const State = defineState({
  order: { default: () => "" },
  reserved: { default: () => "" },
  answer: { default: () => "" },
  log: { default: (): string[] => [], reducer: (a: string[], b: string[]) => [...a, ...b] },
});

/**
 * Runs one half of the example in this process.
 *
 * @param command `start` or `resume`.
 * @param path The Deno KV file.
 * @param answer The approval's answer (for `resume`).
 * @returns What the process prints.
 */
export async function durableJob(
  command: "start" | "resume",
  path: string,
  answer = "yes",
): Promise<string[]> {
  await using store = await KvStore.open({ path });
  await using runtime = createRuntime({ store });
  const lines: string[] = [];
  new StateGraph(State)
    .addNode("reserve", async (state, ctx) => ({
      // Journaled: a later process gets this result back instead of reserving again.
      reserved: await ctx.effect("reserve", () => {
        lines.push(`reserving stock for ${state.order} (pid ${Deno.pid})`);
        return `reservation of ${state.order}`;
      }),
    }))
    .addNode("approve", async (state, ctx) => ({
      answer: await ctx.interrupt<string>(`Ship ${state.reserved}?`),
    }))
    .addNode(
      "ship",
      (state) => ({ log: [`${state.answer === "yes" ? "shipped" : "held"} ${state.order}`] }),
    )
    .addEdge(START, "reserve")
    .addEdge("reserve", "approve")
    .addEdge("approve", "ship")
    .addEdge("ship", END)
    .compile({ name: "durable_job", runtime });
  const result = command === "start"
    ? await runtime.invoke("durable_job", { order: "order-7" }, { threadId: "job-7" })
    : await runtime.resume("job-7", answer);
  lines.push(`status: ${result.status}`);
  if (result.status === "interrupted") lines.push(`question: ${result.interrupts[0]!.value}`);
  else lines.push(`log: ${(result.state.log as string[]).join(", ")}`);
  return lines;
}

if (import.meta.main) {
  const [command, path, answer] = Deno.args;
  if ((command !== "start" && command !== "resume") || path === undefined) {
    console.error("Usage: deno run -A examples/durable_job.ts start|resume <kv file> [answer]");
    Deno.exit(2);
  }
  for (const line of await durableJob(command, path, answer)) console.log(line);
}
