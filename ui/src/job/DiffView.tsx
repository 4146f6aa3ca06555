import { useMemo, useState } from 'react';
import { parse } from 'diff2html/lib-esm/diff-parser';
import type { DiffFile, DiffLine } from 'diff2html/lib-esm/types';

/** Lines shown before "show all" (a large diff stays responsive). */
const INITIAL_LINES = 4000;

function fileName(f: DiffFile): string {
  if (f.isRename || (f.oldName !== f.newName && f.oldName !== '/dev/null' && f.newName !== '/dev/null')) return `${f.oldName} → ${f.newName}`;
  return f.newName === '/dev/null' ? f.oldName : f.newName;
}

function tag(f: DiffFile): string | null {
  if (f.isNew || f.oldName === '/dev/null') return 'added';
  if (f.isDeleted || f.newName === '/dev/null') return 'deleted';
  if (f.isRename) return 'renamed';
  if (f.isCopy) return 'copied';
  if (f.isBinary) return 'binary';
  return null;
}

const KIND = { insert: 'add', delete: 'del', context: 'ctx' } as const;

function Line({ line }: { line: DiffLine }) {
  const kind = KIND[line.type];
  return (
    <tr className={`diff-${kind}`}>
      <td className="diff-num">{line.oldNumber ?? ''}</td>
      <td className="diff-num">{line.newNumber ?? ''}</td>
      <td className="diff-code">{line.content}</td>
    </tr>
  );
}

/**
 * A unified diff (git format) as files and hunks with line numbers and added / removed
 * colours. Parsed by diff2html's parser (renames, new / deleted files, binary files, combined
 * diffs); rendered here as React elements, so the content is never treated as HTML.
 */
export function DiffView({ text }: { text: string }) {
  const files = useMemo(() => parse(text, { diffMaxLineLength: 5000 }), [text]);
  const [all, setAll] = useState(false);
  if (files.length === 0) return <pre className="artifact-text">{text || '(empty diff)'}</pre>;
  let budget = all ? Number.POSITIVE_INFINITY : INITIAL_LINES;
  const total = files.reduce((n, f) => n + f.blocks.reduce((m, b) => m + b.lines.length, 0), 0);
  return (
    <div className="diff" data-testid="diff-view">
      <p className="small muted">
        {files.length} file{files.length === 1 ? '' : 's'}, <span className="diff-plus">+{files.reduce((n, f) => n + f.addedLines, 0)}</span>{' '}
        <span className="diff-minus">−{files.reduce((n, f) => n + f.deletedLines, 0)}</span>
      </p>
      {files.map((f, i) => {
        const t = tag(f);
        return (
          <section key={`${fileName(f)}-${i}`} className="diff-file" data-testid="diff-file">
            <header className="diff-file-head">
              <span className="mono">{fileName(f)}</span>
              {t ? <span className="badge">{t}</span> : null}
              <span className="diff-plus small">+{f.addedLines}</span>
              <span className="diff-minus small">−{f.deletedLines}</span>
            </header>
            <table className="diff-table">
              <tbody>
                {f.blocks.map((b, j) => {
                  if (budget <= 0) return null;
                  const lines = b.lines.slice(0, budget);
                  budget -= lines.length;
                  return [
                    <tr key={`h${j}`} className="diff-hunk">
                      <td colSpan={3}>{b.header}</td>
                    </tr>,
                    ...lines.map((l, k) => <Line key={`${j}-${k}`} line={l} />),
                  ];
                })}
              </tbody>
            </table>
          </section>
        );
      })}
      {!all && total > INITIAL_LINES ? (
        <button type="button" className="btn" onClick={() => setAll(true)}>
          Show all {total} lines
        </button>
      ) : null}
    </div>
  );
}
