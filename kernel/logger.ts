/**
 * The `Logger` interface: how Oris reports what it cannot return to a caller
 * (a listener that threw, a commit that failed in the background, a run that
 * could not be recovered). The kernel only declares it; the runtime's default
 * writes JSON lines (see `createJsonLogger` in `actors/`), and applications
 * pass their own to `createRuntime({ logger })`.
 *
 * @module
 */

/** The severities of a log entry, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Every {@linkcode LogLevel}, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Structured facts of a log entry (JSON-safe values: ids, codes, counts, messages). */
export type LogFields = Record<string, unknown>;

/**
 * Where Oris writes what it has to say. Each method takes a message for
 * people and fields for machines (`thread_id`, `error`, ...).
 *
 * @example A logger that collects entries
 * ```ts
 * import type { Logger, LogFields, LogLevel } from "./logger.ts";
 * import assert from "node:assert/strict";
 *
 * const entries: { level: LogLevel; message: string; fields: LogFields }[] = [];
 * const at = (level: LogLevel) => (message: string, fields: LogFields = {}) =>
 *   void entries.push({ level, message, fields });
 * const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
 * logger.warn("run not recovered", { thread_id: "t-1" });
 * assert.equal(entries[0]?.fields.thread_id, "t-1");
 * ```
 */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string, fields?: LogFields): void;
  /** Something that happened as expected. */
  info(message: string, fields?: LogFields): void;
  /** Something that went wrong and was handled. */
  warn(message: string, fields?: LogFields): void;
  /** Something that went wrong and could not be handled. */
  error(message: string, fields?: LogFields): void;
}
