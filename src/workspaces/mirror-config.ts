/**
 * The mirror's git config, owned entirely by this module. The agent can write it (a worktree's
 * `git config` writes the shared config of its repository, git-worktree(1) "CONFIGURATION FILE"),
 * and settings such as `url.<base>.insteadOf`, `remote.origin.pushurl`, `http.proxy`,
 * `http.extraHeader` or `core.sshCommand` would send a network command — and with it the token
 * that askpass hands out — elsewhere. So before every network command the config file is compared
 * with the canonical text below and rewritten when it differs (git-config(1), "CONFIGURATION FILE"
 * syntax; values are double-quoted with `\` and `"` escaped).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Fetch refspec of every mirror: remote branches under refs/remotes/origin/, local job branches untouched. */
export const MIRROR_FETCH_REFSPEC = '+refs/heads/*:refs/remotes/origin/*';

const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The complete config of the mirror of `url`. */
export function mirrorConfigText(url: string): string {
  return [
    '[core]',
    '\trepositoryformatversion = 0',
    '\tfilemode = true',
    '\tbare = true',
    '[remote "origin"]',
    `\turl = ${quote(url)}`,
    `\tfetch = ${MIRROR_FETCH_REFSPEC}`,
    '',
  ].join('\n');
}

/** True when the mirror's config file is exactly the canonical one. */
export async function mirrorConfigIsCanonical(gitDir: string, url: string): Promise<boolean> {
  return (await fs.readFile(path.join(gitDir, 'config'), 'utf8').catch(() => null)) === mirrorConfigText(url);
}

/**
 * Writes the canonical config (to a temporary file renamed over `config`) unless it is already in
 * place. @returns true when the file was (re)written.
 */
export async function writeMirrorConfig(gitDir: string, url: string): Promise<boolean> {
  if (await mirrorConfigIsCanonical(gitDir, url)) return false;
  const file = path.join(gitDir, 'config');
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, mirrorConfigText(url));
  await fs.rename(tmp, file);
  return true;
}
