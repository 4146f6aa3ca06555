/**
 * Apparent size of a worktree: the sum of `lstat().size` of its files and symbolic links (like
 * `du --apparent-size -b`, without directory entries), not following symbolic links. The mirror
 * is elsewhere (`<root>/mirrors`) and is not counted; the worktree's `.git` is a small file.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { WorkspaceError } from './workspace.errors';

/**
 * Bytes under `dir`; stops early and returns a partial (already larger) sum once it exceeds
 * `stopAbove`. A missing directory counts 0.
 */
export async function apparentSize(dir: string, stopAbove = Number.POSITIVE_INFINITY): Promise<number> {
  let total = 0;
  const pending = [dir];
  while (pending.length) {
    const current = pending.pop() as string;
    const entries = await fs.readdir(current, { withFileTypes: true }).catch(() => []);
    const sizes = await Promise.all(
      entries.filter((e) => !e.isDirectory()).map((e) => fs.lstat(path.join(current, e.name)).then((s) => s.size, () => 0)),
    );
    for (const s of sizes) total += s;
    if (total > stopAbove) return total;
    for (const e of entries) if (e.isDirectory()) pending.push(path.join(current, e.name));
  }
  return total;
}

/**
 * @throws WorkspaceError `WORKSPACE_TOO_LARGE` (permanent; details `sizeBytes` — at least, the
 *   walk stops past the limit — and `maxBytes`) when the worktree at `dir` is larger than `maxBytes`.
 */
export async function assertSizeWithin(dir: string, maxBytes: number): Promise<void> {
  if (!Number.isFinite(maxBytes) || maxBytes < 0) throw new WorkspaceError('INVALID_ARGUMENT', `maxBytes must be a non-negative number, got ${maxBytes}`);
  const size = await apparentSize(dir, maxBytes);
  if (size > maxBytes) {
    throw new WorkspaceError('WORKSPACE_TOO_LARGE', `workspace is larger than its limit: at least ${size} bytes > ${maxBytes} bytes`, { sizeBytes: size, maxBytes });
  }
}
