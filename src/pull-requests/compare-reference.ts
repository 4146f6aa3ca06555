/**
 * The compare reference the git gateway records instead of a pull request URL. Pure.
 *
 * - A GitHub remote (`https://<host>/<owner>/<repo>[.git]`, `git@<host>:<owner>/<repo>[.git]`,
 *   `ssh://git@<host>/<owner>/<repo>[.git]`, host in `githubHosts`) gives GitHub's compare page
 *   `https://<host>/<owner>/<repo>/compare/<base>...<branch>` (GitHub's "Comparing commits"
 *   help page, and hub-compare(1): `https://github.com/OWNER/REPO/compare/v1.0...v1.1`); a
 *   branch name may contain `/`, each of its path segments is percent-encoded.
 * - Any other remote gives `<remote URL>#<base>...<branch>`.
 *
 * The remote URL must carry no credentials: it is checked with the workspaces module's
 * `assertRemoteUrl` (which refuses `https://user:token@…`), so a reference never shows a token.
 */
import { assertRemoteUrl } from '../workspaces';

/** Hosts whose remotes get a real compare URL by default. */
export const DEFAULT_GITHUB_HOSTS: readonly string[] = ['github.com'];

const SEGMENT = /^[A-Za-z0-9_.-]+$/;

/** `{ host, owner, repo }` when `remoteUrl` is a repository on one of `hosts`, else null. */
export function githubRepositoryOf(remoteUrl: string, hosts: readonly string[] = DEFAULT_GITHUB_HOSTS): { host: string; owner: string; repo: string } | null {
  let host: string;
  let path: string;
  const scp = /^git@([^:/]+):(.+)$/.exec(remoteUrl);
  if (scp) {
    [, host, path] = scp;
  } else {
    let url: URL;
    try {
      url = new URL(remoteUrl);
    } catch {
      return null;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'ssh:') return null;
    if (url.protocol === 'https:' && url.port) return null;
    host = url.hostname;
    path = url.pathname;
  }
  if (!hosts.some((h) => h.toLowerCase() === host.toLowerCase())) return null;
  const parts = path.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\.git$/, '').split('/');
  if (parts.length !== 2 || !parts.every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) return null;
  return { host: host.toLowerCase(), owner: parts[0], repo: parts[1] };
}

const encodeRef = (ref: string) => ref.split('/').map(encodeURIComponent).join('/');

/**
 * The compare reference of `branch` against `baseBranch` on `remoteUrl` (see the module comment).
 * @throws WorkspaceError `REMOTE_URL_HAS_CREDENTIALS` / `INVALID_REMOTE_URL` for a URL git may not use.
 */
export function compareReference(remoteUrl: string, baseBranch: string, branch: string, githubHosts: readonly string[] = DEFAULT_GITHUB_HOSTS): string {
  assertRemoteUrl(remoteUrl);
  const gh = githubRepositoryOf(remoteUrl, githubHosts);
  if (gh) return `https://${gh.host}/${gh.owner}/${gh.repo}/compare/${encodeRef(baseBranch)}...${encodeRef(branch)}`;
  return `${remoteUrl}#${baseBranch}...${branch}`;
}
