/**
 * Lock files a killed git leaves behind. Git guards every file it rewrites with `<file>.lock`
 * (created exclusively, renamed over the file on success; gitrepository-layout(5),
 * https://git-scm.com/docs/gitrepository-layout); a git process killed by our timeout or abort
 * leaves it, and every later command touching that file fails with "Unable to create '….lock':
 * File exists" — a mirror whose `packed-refs.lock` survived a killed fetch would be broken for
 * every job of the repository. So after a kill we remove the lock files that command could have
 * created, and only those created since it started:
 * - a mirror command (`--git-dir=<mirror>`, run under the mirror lock): top-level locks of the
 *   mirror (`packed-refs.lock`, `shallow.lock`, `config.lock`, …) and locks under `refs/remotes/`;
 * - a worktree command: top-level locks of the worktree's administrative directory
 *   (`index.lock`, `HEAD.lock`, `ORIG_HEAD.lock`) and the lock of the branch it has checked out.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

async function topLevelLocks(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.lock')).map((n) => path.join(dir, n));
}

async function locksBelow(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? locksBelow(path.join(dir, e.name)) : Promise.resolve([] as string[]))));
  return [...entries.filter((e) => e.isFile() && e.name.endsWith('.lock')).map((e) => path.join(dir, e.name)), ...nested.flat()];
}

/** Candidate lock files of a command given its argv and working directory. */
async function candidates(args: readonly string[], cwd: string): Promise<string[]> {
  const gitDirArg = args.find((a) => a.startsWith('--git-dir='));
  if (gitDirArg) {
    const gitDir = path.resolve(cwd, gitDirArg.slice('--git-dir='.length));
    return [...(await topLevelLocks(gitDir)), ...(await locksBelow(path.join(gitDir, 'refs', 'remotes')))];
  }
  const dotGit = await fs.readFile(path.join(cwd, '.git'), 'utf8').catch(() => '');
  const admin = /^gitdir: (.+)$/m.exec(dotGit)?.[1]?.trim();
  if (!admin) return [];
  const found = await topLevelLocks(admin);
  const head = /^ref: (refs\/heads\/\S+)$/m.exec(await fs.readFile(path.join(admin, 'HEAD'), 'utf8').catch(() => ''))?.[1];
  const common = (await fs.readFile(path.join(admin, 'commondir'), 'utf8').catch(() => '')).trim();
  if (head && common) found.push(`${path.join(path.resolve(admin, common), head)}.lock`);
  return found;
}

/**
 * Removes the lock files of a killed `git <args>` (run in `cwd`) whose mtime is not older than
 * `sinceMs` (ms since the epoch, the command's start, minus a second of clock slack).
 * @returns the removed paths.
 */
export async function removeLocksLeftByKilledGit(args: readonly string[], cwd: string, sinceMs: number): Promise<string[]> {
  const removed: string[] = [];
  for (const file of await candidates(args, cwd)) {
    const st = await fs.lstat(file).catch(() => null);
    if (st?.isFile() && st.mtimeMs >= sinceMs - 1000) {
      await fs.rm(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}
