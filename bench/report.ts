// Benchmark output: one table type printed to the terminal and written as Markdown.
import { renderTable } from '../agent/cli/format';

export interface Table {
  title: string;
  header: string[];
  rows: string[][];
  /** Printed under the table: how to read it. */
  note?: string;
}

/** The table as GitHub Markdown. */
export function markdownTable(table: Table): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [
    `### ${table.title}`,
    '',
    line(table.header),
    line(table.header.map(() => '---')),
    ...table.rows.map(line),
    ...(table.note ? ['', table.note] : []),
    '',
  ].join('\n');
}

/** The table for a terminal. */
export function printTable(table: Table): void {
  console.log(`\n== ${table.title}\n${renderTable(table.header, table.rows)}`);
}

/** `1.234x`, the form every ratio in the results takes. */
export function times(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : 'n/a';
}

/** The median of some numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
