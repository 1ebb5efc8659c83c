/**
 * The internals of the runtimes `createRuntime` made (`RuntimeInternals`):
 * what the server, streams and subgraphs use beside the public interface.
 *
 * @module
 */

import { InvalidArgumentError } from "../kernel/mod.ts";
import type { Runtime, RuntimeInternals } from "./runtime_api.ts";

const INTERNALS = new WeakMap<Runtime, RuntimeInternals>();

/**
 * Keeps a runtime's internals (called by `createRuntime`).
 *
 * @internal
 * @param runtime The runtime.
 * @param internals Its internals.
 */
export function keepInternals(runtime: Runtime, internals: RuntimeInternals): void {
  INTERNALS.set(runtime, internals);
}

/**
 * The internals of a runtime made by `createRuntime`.
 *
 * @internal Used by the server, streams and subgraphs.
 * @param runtime The runtime.
 * @returns Its internals.
 * @throws {InvalidArgumentError} for a runtime `createRuntime` did not make.
 */
export function internalsOf(runtime: Runtime): RuntimeInternals {
  const internals = INTERNALS.get(runtime);
  if (internals === undefined) {
    throw new InvalidArgumentError("Cannot use this runtime: it was not made by createRuntime()");
  }
  return internals;
}
