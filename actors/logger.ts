/**
 * The runtime's default {@linkcode Logger}: one JSON object per line
 * (`{"time":...,"level":"warn","msg":...,...fields}`), on stderr unless told
 * otherwise, dropping entries below a level.
 *
 * @module
 */

import { LOG_LEVELS, type LogFields, type Logger, type LogLevel } from "../kernel/mod.ts";

/** Options of {@linkcode createJsonLogger}. */
export interface JsonLoggerOptions {
  /**
   * Entries below this level are dropped.
   * @default {"info"}
   */
  level?: LogLevel;
  /**
   * Writes one line (without its newline).
   * @default {a synchronous write to stderr}
   */
  write?: (line: string) => void;
  /** The clock, in ms (default: `Date.now`). */
  now?: () => number;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(`${line}\n`));
}

/** Makes a field JSON-safe: errors become their message (and code), cycles and bigints text. */
function plain(value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return typeof code === "string" ? `${code}: ${value.message}` : value.message;
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/**
 * Creates a logger that writes JSON lines.
 *
 * @param options The level, where lines go and the clock.
 * @returns The logger.
 *
 * @example Collect lines
 * ```ts
 * import { createJsonLogger } from "./logger.ts";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const logger = createJsonLogger({ level: "warn", write: (line) => lines.push(line), now: () => 0 });
 * logger.info("dropped");
 * logger.warn("run not recovered", { thread_id: "t-1", error: new Error("no graph") });
 * assert.deepEqual(lines.map((line) => JSON.parse(line)), [{
 *   time: "1970-01-01T00:00:00.000Z", level: "warn", msg: "run not recovered",
 *   thread_id: "t-1", error: "no graph",
 * }]);
 * ```
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? writeStderr;
  const now = options.now ?? Date.now;
  const at = (level: LogLevel) => (message: string, fields: LogFields = {}): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    const entry: Record<string, unknown> = {
      time: new Date(now()).toISOString(),
      level,
      msg: message,
    };
    for (const [key, value] of Object.entries(fields)) entry[key] = plain(value);
    let line: string;
    try {
      line = JSON.stringify(entry);
    } catch {
      line = JSON.stringify({ time: entry.time, level, msg: message, fields: String(fields) });
    }
    write(line);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
