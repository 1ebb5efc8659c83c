/**
 * What the CLI prints: aligned tables and short summaries for people (bold
 * headers unless `NO_COLOR` is set or the output is not a terminal), or the
 * server's `data` as JSON with `--json`.
 *
 * @module
 */

/** Where a command writes, and how. */
export interface Output {
  /** Writes a line to stdout. */
  out(line: string): void;
  /** Writes a line to stderr. */
  err(line: string): void;
  /** Rewrites the live status line (a terminal only; otherwise nothing). */
  status(line: string): void;
  /** Whether colors may be used. */
  color: boolean;
}

/** Styles text when colors are on. */
export function style(
  output: Output,
  text: string,
  code: "bold" | "dim" | "red" | "green",
): string {
  if (!output.color) return text;
  const codes = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39] }[code];
  return `\x1b[${codes[0]}m${text}\x1b[${codes[1]}m`;
}

/** A value as a table cell. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/**
 * Prints rows as an aligned table with a header.
 *
 * @param output Where.
 * @param columns The header and the field of each column.
 * @param rows The rows.
 */
export function table(
  output: Output,
  columns: readonly (readonly [header: string, field: (row: never) => unknown])[],
  rows: readonly unknown[],
): void {
  const cells = rows.map((row) => columns.map(([, field]) => cell(field(row as never))));
  const widths = columns.map(([header], i) =>
    Math.max(header.length, ...cells.map((line) => line[i]!.length))
  );
  const line = (values: string[]) =>
    values.map((value, i) => i === values.length - 1 ? value : value.padEnd(widths[i]!)).join("  ")
      .trimEnd();
  output.out(style(output, line(columns.map(([header]) => header.toUpperCase())), "bold"));
  for (const values of cells) output.out(line(values));
}

/**
 * Prints `key: value` lines, keys aligned.
 *
 * @param output Where.
 * @param fields The lines.
 */
export function summary(output: Output, fields: readonly (readonly [string, unknown])[]): void {
  const width = Math.max(...fields.map(([key]) => key.length)) + 1;
  for (const [key, value] of fields) {
    output.out(`${style(output, `${key}:`.padEnd(width), "bold")} ${cell(value)}`);
  }
}

/** Prints the server's data as JSON (`--json`). */
export function json(output: Output, data: unknown): void {
  output.out(JSON.stringify(data, null, 2));
}
