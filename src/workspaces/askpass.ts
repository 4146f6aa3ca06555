/**
 * The GIT_ASKPASS helper through which, and only through which, a git token reaches git.
 *
 * gitcredentials(7) (https://git-scm.com/docs/gitcredentials): without a credential helper, git
 * asks the program named by GIT_ASKPASS, passing a prompt (`Username for '…': `, then
 * `Password for '…': `) as its only argument and reading the answer from its stdout. We run every
 * git command with `-c credential.helper=` (an empty helper resets the list, so no helper of the
 * host's or repository's config can store or supply a credential) and GIT_TERMINAL_PROMPT=0
 * (git(1): never prompt on a terminal). The script answers the user name `x-access-token` (GitHub
 * App installation tokens authenticate with it) and the password from the environment variable
 * {@link TOKEN_ENV}, which only network commands (fetch, ls-remote, push) receive. So the token
 * is in no URL, argv, config file or script on disk.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Environment variable holding the token for the askpass script (network git commands only). */
export const TOKEN_ENV = 'AICD_GIT_TOKEN';

/** User name answered for https remotes (GitHub's convention for app installation tokens). */
export const TOKEN_USERNAME = 'x-access-token';

/** The script's text: POSIX sh, no secret. */
export const ASKPASS_SCRIPT = `#!/bin/sh
# aicd-orchestrator GIT_ASKPASS helper (gitcredentials(7)): git passes the prompt as $1.
case "$1" in
  Username*) printf '%s\\n' '${TOKEN_USERNAME}' ;;
  Password*) if [ -n "\${${TOKEN_ENV}:-}" ]; then printf '%s\\n' "\$${TOKEN_ENV}"; else exit 1; fi ;;
  *) exit 1 ;;
esac
`;

/**
 * Writes the askpass script to `<root>/.aicd/askpass.sh` (directory mode 0700, script 0700) unless
 * an identical one is there, and returns its absolute path. The write goes to a temporary file
 * renamed into place, so concurrent processes never run a half-written script.
 */
export async function ensureAskpassScript(root: string): Promise<string> {
  const dir = path.join(path.resolve(root), '.aicd');
  const file = path.join(dir, 'askpass.sh');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    if (text === ASKPASS_SCRIPT && (st.mode & 0o777) === 0o700) return file;
  } catch {
    // absent: write it
  }
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, ASKPASS_SCRIPT, { mode: 0o700 });
  await fs.chmod(tmp, 0o700);
  await fs.rename(tmp, file);
  return file;
}
