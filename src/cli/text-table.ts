/**
 * Plain-text tables for CLI output: columns as wide as their widest cell,
 * numbers right-aligned, no trailing spaces.
 */

/** One column: its header, alignment and how to read a row's cell. */
export interface Column<Row> {
  header: string;
  align?: "left" | "right";
  cell(row: Row): string | number;
}

/** Renders `rows` under `columns`, two spaces between columns; returns the lines (header first). */
export function formatTable<Row>(columns: ReadonlyArray<Column<Row>>, rows: readonly Row[]): string[] {
  const cells = rows.map((r) => columns.map((c) => String(c.cell(r))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.align === "right" ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)];
}

/** A duration for humans: `42s`, `3m07s`, `5h02m`, `2d03h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`;
}
