/**
 * The example graphs in one place: `hello` (a mock model that says "hello
 * world"), `approval` (a human approval before a journaled action) and
 * `agent` (a tool-using agent, scripted unless a provider is configured),
 * and {@linkcode registerExamples}, which registers them in a runtime. The
 * server's composition root (`server/main.ts`), the tests and the benches
 * use it.
 *
 * @example Register the examples and run one
 * ```ts
 * import { registerExamples } from "./mod.ts";
 * import { createRuntime } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using runtime = createRuntime();
 * registerExamples(runtime);
 * assert.deepEqual(runtime.graphNames().sort(), ["agent", "approval", "hello"]);
 * const result = await runtime.invoke("hello", { messages: [] }, { threadId: "t-1" });
 * assert.equal(result.status, "completed");
 * ```
 *
 * @module
 */

import type { Json, Runtime } from "../mod.ts";
import type { ChatModel } from "../agents/mod.ts";
import { agentGraph } from "./agent.ts";
import { approvalGraph } from "./approval.ts";
import { helloGraph } from "./hello.ts";

export {
  type AgentExampleOptions,
  agentGraph,
  agentModelFromEnv,
  getWeather,
  scriptedWeather,
} from "./agent.ts";
export {
  approvalAgentGraph,
  type ApprovalAgentOptions,
  scriptedTransfer,
} from "./agent_approval.ts";
export {
  approvalGraph,
  type ApprovalOptions,
  ApprovalState,
  type ApprovalStateSpec,
} from "./approval.ts";
export { helloGraph } from "./hello.ts";

/** Options of {@linkcode registerExamples}. */
export interface RegisterExamplesOptions {
  /**
   * The `agent` graph's model (see `agentModelFromEnv`).
   * @default {the scripted weather model}
   */
  agentModel?: ChatModel;
}

/**
 * Registers the example graphs (`hello`, `approval`, `agent`) in a runtime.
 *
 * @param runtime The runtime.
 * @param actionLog A file the approval graph appends each performed action to
 *   (one JSON line per action).
 * @param options The agent's model.
 *
 * @example Register both graphs
 * ```ts
 * import { registerExamples } from "./mod.ts";
 * import { createRuntime } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using runtime = createRuntime();
 * registerExamples(runtime);
 * assert.ok(runtime.graphNames().includes("approval"));
 * ```
 */
export function registerExamples(
  runtime: Runtime,
  actionLog?: string,
  options: RegisterExamplesOptions = {},
): void {
  helloGraph({ runtime });
  agentGraph({
    runtime,
    ...(options.agentModel === undefined ? {} : { model: options.agentModel }),
  });
  approvalGraph({
    runtime,
    perform: async (action) => {
      if (actionLog !== undefined) {
        await Deno.writeTextFile(actionLog, `${JSON.stringify(action)}\n`, { append: true });
      }
      return { performed: action } as Json;
    },
  });
}
