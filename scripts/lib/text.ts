/** Plain-text layout for the scripts' terminal output. */

/** Plain-text table: columns padded to their widest cell, the last one left ragged. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** Joins `parts` with `sep`, wrapping to lines of at most `width` characters, each led by `indent`. */
export function wrap(parts: string[], sep: string, width: number, indent: string): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const p of parts) {
    const next = cur ? cur + sep + p : p;
    if (cur && indent.length + next.length > width) {
      lines.push(indent + cur + sep.trimEnd());
      cur = p;
    } else cur = next;
  }
  if (cur) lines.push(indent + cur);
  return lines;
}
