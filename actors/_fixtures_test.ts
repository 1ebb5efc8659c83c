/**
 * Helpers shared by the actors' tests (no tests of its own): a logger that
 * keeps what it is told, and a promise resolved from outside.
 *
 * @module
 */

import type { LogFields, Logger } from "../kernel/mod.ts";

/** A logger that keeps its entries, for assertions. */
export function recordingLogger(): Logger & {
  entries: { level: string; message: string; fields: LogFields }[];
} {
  const entries: { level: string; message: string; fields: LogFields }[] = [];
  const at = (level: string) => (message: string, fields: LogFields = {}) =>
    void entries.push({ level, message, fields });
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A promise and the function that resolves it. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
