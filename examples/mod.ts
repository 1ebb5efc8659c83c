/**
 * The example graphs in one place: `hello` (a mock model that says "hello
 * world") and `approval` (a human approval before a journaled action), and
 * {@linkcode registerExamples}, which registers both in a runtime. The server's
 * composition root (`server/main.ts`), the tests and the benches use it.
 *
 * @example Register the examples and run one
 * ```ts
 * import { registerExamples } from "./mod.ts";
 * import { createRuntime } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * await using runtime = createRuntime();
 * registerExamples(runtime);
 * assert.deepEqual(runtime.graphNames().sort(), ["approval", "hello"]);
 * const result = await runtime.invoke("hello", { messages: [] }, { threadId: "t-1" });
 * assert.equal(result.status, "completed");
 * ```
 *
 * @module
 */

import type { Json, Runtime } from "../mod.ts";
import { approvalGraph } from "./approval.ts";
import { helloGraph } from "./hello.ts";

export {
  approvalGraph,
  type ApprovalOptions,
  ApprovalState,
  type ApprovalStateSpec,
} from "./approval.ts";
export { helloGraph } from "./hello.ts";

/**
 * Registers the example graphs (`hello`, `approval`) in a runtime.
 *
 * @param runtime The runtime.
 * @param actionLog A file the approval graph appends each performed action to
 *   (one JSON line per action).
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
export function registerExamples(runtime: Runtime, actionLog?: string): void {
  helloGraph({ runtime });
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
