/**
 * Refuses staged changes that reach outside the worktree. Git itself never stages a path beyond a
 * symbolic link (it stages the link), so the ways out are: a committed symlink whose target
 * resolves outside (an absolute target such as /etc/passwd, `../..`, or a chain through another
 * link), a path whose real location escapes, anything in a `.git` directory (another repository's
 * config and hooks), and a nested repository (gitlink, mode 160000) whose content would not be
 * committed. Modes are git's (git-diff(1), "RAW OUTPUT FORMAT": 120000 symlink, 160000 gitlink).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { WorkspaceError } from './workspace.errors';

/** One staged change from `git diff --cached --raw -z`. */
export interface RawChange {
  /** A, M, D, R, T, C (first letter of git's status; R/C drop the similarity score). */
  status: string;
  oldMode: string;
  newMode: string;
  path: string;
  previousPath?: string;
}

/** Counts of one file from `--numstat` (0/0 and `binary` for binary files). */
export interface LineCounts {
  additions: number;
  deletions: number;
  binary: boolean;
}

const RAW_META = /^:\d{6} \d{6} [0-9a-f]+ [0-9a-f]+ [A-Z]\d*$/;
const NUMSTAT = /^(\d+|-)\t(\d+|-)\t/;

/**
 * Parses `git diff --raw --numstat -z` (git-diff(1), "RAW OUTPUT FORMAT" and `--numstat`): raw
 * records `:old new oldsha newsha status\0path\0[newpath\0]`, then numstat records
 * `added\tdeleted\tpath\0` or, for a rename, `added\tdeleted\t\0old\0new\0`.
 */
export function parseRawNumstat(out: string): { changes: RawChange[]; counts: Map<string, LineCounts> } {
  const t = out.split('\0');
  const changes: RawChange[] = [];
  const counts = new Map<string, LineCounts>();
  let i = 0;
  while (i < t.length) {
    const token = t[i++];
    if (!token) continue;
    if (RAW_META.test(token)) {
      const [oldMode, newMode, , , statusField] = token.slice(1).split(' ');
      const status = statusField.charAt(0);
      if (status === 'R' || status === 'C') {
        const previousPath = t[i++];
        changes.push({ status, oldMode, newMode, previousPath, path: t[i++] });
      } else {
        changes.push({ status, oldMode, newMode, path: t[i++] });
      }
    } else if (NUMSTAT.test(token)) {
      const [a, d, ...rest] = token.split('\t');
      let file = rest.join('\t');
      if (file === '') {
        i++; // the old path of a rename
        file = t[i++];
      }
      const binary = a === '-' || d === '-';
      counts.set(file, { additions: binary ? 0 : Number(a), deletions: binary ? 0 : Number(d), binary });
    }
  }
  return { changes, counts };
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root + path.sep);
}

function hasGitComponent(relative: string): boolean {
  return relative.split(/[\\/]/).some((part) => part.toLowerCase() === '.git');
}

function outside(p: string, why: string): WorkspaceError {
  return new WorkspaceError('PATH_OUTSIDE_WORKSPACE', `refused ${JSON.stringify(p)}: ${why}`, { path: p });
}

/**
 * Checks every added, modified or renamed path of `changes` against the worktree at `root`.
 * @throws WorkspaceError `PATH_OUTSIDE_WORKSPACE` (names the path) or `EMBEDDED_REPOSITORY`.
 */
export async function assertChangesInside(root: string, changes: readonly RawChange[]): Promise<void> {
  const realRoot = await fs.realpath(root);
  for (const c of changes) {
    for (const p of [c.path, c.previousPath]) {
      if (p !== undefined && hasGitComponent(p)) throw outside(p, 'changes inside a .git directory are not committed');
    }
    if (c.status === 'D') continue;
    if (c.newMode === '160000') {
      throw new WorkspaceError('EMBEDDED_REPOSITORY', `refused ${JSON.stringify(c.path)}: a nested git repository (its files would not be committed)`, { path: c.path });
    }
    const full = path.resolve(realRoot, c.path);
    if (!isInside(realRoot, full) || full === realRoot) throw outside(c.path, 'not below the worktree');
    const parent = await fs.realpath(path.dirname(full)).catch(() => null);
    if (parent === null || !isInside(realRoot, parent)) throw outside(c.path, 'its directory resolves outside the worktree');
    if (c.newMode !== '120000') {
      const real = await fs.realpath(full).catch(() => null);
      if (real !== null && !isInside(realRoot, real)) throw outside(c.path, 'resolves outside the worktree');
      continue;
    }
    const target = await fs.readlink(full);
    const lexical = path.resolve(parent, target);
    if (!isInside(realRoot, lexical) || hasGitComponent(path.relative(realRoot, lexical))) {
      throw outside(c.path, `symbolic link to ${JSON.stringify(target)}, outside the worktree or into .git`);
    }
    const real = await fs.realpath(full).catch(() => null);
    if (real !== null && (!isInside(realRoot, real) || hasGitComponent(path.relative(realRoot, real)))) {
      throw outside(c.path, `symbolic link resolving to ${JSON.stringify(real)}, outside the worktree or into .git`);
    }
  }
}
