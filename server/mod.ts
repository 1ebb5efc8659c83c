/**
 * The Oris v1 control-plane API (Hono). `createServer({ runtime })` serves
 * the runtime's graphs; `deno task start` (`server/main.ts`) runs it with
 * configuration from the environment.
 *
 * @example Serve your own graphs
 * ```ts ignore
 * import { createRuntime } from "@oris/runtime";
 * import { KvStore } from "@oris/runtime/storage/kv";
 * import { createServer } from "@oris/runtime/server";
 *
 * const runtime = createRuntime({ store: await KvStore.open({ path: "oris.kv" }) });
 * // ... compile your graphs with { runtime } ...
 * const server = await createServer({ runtime, defaultGraph: "my-graph" });
 * Deno.serve({ port: 8080 }, server.app.fetch);
 * ```
 *
 * @module
 */

export {
  createServer,
  type HttpApp,
  type OrisServer,
  type RouteSummary,
  type ServerOptions,
} from "./app.ts";
export { type ServerMetrics } from "./metrics.ts";
export { type AuthConfig, authorize, type Principal } from "./auth.ts";
export { type ApiErrorCode, ERROR_STATUS } from "./error_codes.ts";
export { loadGraphModules } from "./graphs.ts";
