/**
 * Repository URLs: from a repository id (`owner/name`) and a URL template to the URL git clones,
 * and the check every remote URL passes before git sees it.
 *
 * Accepted forms (git-clone(1), "GIT URLS": https://git-scm.com/docs/git-clone#_git_urls):
 * `https://host/path`, `ssh://[user@]host[:port]/path`, scp-like `[user@]host:path`,
 * `file:///abs/path` and a plain absolute path (local repositories). Refused: `http://`, `git://`,
 * `ext::`/other transports, relative paths, and any URL carrying credentials — a token reaches git
 * only through GIT_ASKPASS (see `askpass.ts`), never a URL, which git may echo in its errors.
 */
import { WorkspaceError } from './workspace.errors';
import { redactUrlCredentials } from './redact';

/** The default template: GitHub over https. `{repository}` is replaced by `owner/name`. */
export const DEFAULT_CLONE_URL_TEMPLATE = 'https://github.com/{repository}.git';

/** Placeholder replaced by the repository id in a template. */
export const REPOSITORY_PLACEHOLDER = '{repository}';

export interface CloneUrlTemplates {
  /** The tenant's own template (e.g. its GitHub Enterprise host); wins when set. */
  tenantTemplate?: string | null;
  /** The deployment's template, {@link DEFAULT_CLONE_URL_TEMPLATE} unless configured. */
  defaultTemplate: string;
}

const REPOSITORY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9_.-]+$/;

/**
 * The clone URL of `repositoryId` (`owner/name`): the tenant's template, else the default one,
 * with every `{repository}` replaced. A template without the placeholder is used as is (one fixed
 * repository, e.g. a local path in a test deployment).
 *
 * @throws WorkspaceError `INVALID_ARGUMENT` for a repository id that is not `owner/name`
 *   (letters, digits, `_`, `.`, `-`; no `..`); `INVALID_REMOTE_URL` / `REMOTE_URL_HAS_CREDENTIALS`
 *   from {@link assertRemoteUrl}.
 */
export function resolveCloneUrl(repositoryId: string, templates: CloneUrlTemplates): string {
  if (!REPOSITORY_ID.test(repositoryId) || repositoryId.split('/').some((part) => part === '.' || part === '..')) {
    throw new WorkspaceError('INVALID_ARGUMENT', `repository id must be "owner/name", got ${JSON.stringify(repositoryId.slice(0, 200))}`);
  }
  const template = templates.tenantTemplate?.trim() || templates.defaultTemplate;
  return assertRemoteUrl(template.split(REPOSITORY_PLACEHOLDER).join(repositoryId));
}

const SCP_LIKE = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*):(?!\/\/)(\S+)$/;

/**
 * Returns `url` unchanged when git may use it as a remote, else throws.
 *
 * @throws WorkspaceError `REMOTE_URL_HAS_CREDENTIALS` for userinfo in an https:// URL (a token as
 *   user name counts) or a password in an ssh:// URL (a user name alone, `git@`, is fine);
 *   `INVALID_REMOTE_URL` for any other scheme, a relative path, control characters or whitespace,
 *   a host starting with `-` (would be read as an ssh option). Messages show the URL with its
 *   userinfo redacted.
 */
export function assertRemoteUrl(url: string): string {
  const shown = JSON.stringify(redactUrlCredentials(url).slice(0, 300));
  const invalid = (why: string) => new WorkspaceError('INVALID_REMOTE_URL', `remote URL ${shown} refused: ${why}`);
  if (!url || /[\s\u0000-\u001f\u007f]/.test(url)) throw invalid('empty, or contains whitespace or control characters');
  if (url.startsWith('/')) {
    if (url.split('/').includes('..')) throw invalid('a local path must not contain ".."');
    return url;
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const scp = SCP_LIKE.exec(url);
    if (scp && !url.includes('::')) return url;
    throw invalid('use https://, ssh://, user@host:path, file:// or an absolute path');
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('not a valid URL');
  }
  const credentials = () =>
    new WorkspaceError('REMOTE_URL_HAS_CREDENTIALS', `remote URL ${shown} carries credentials; give the token through the token provider (askpass), never in the URL`);
  switch (scheme) {
    case 'https':
      if (parsed.username || parsed.password) throw credentials();
      if (!parsed.hostname) throw invalid('no host');
      return url;
    case 'ssh':
      if (parsed.password) throw credentials();
      if (!parsed.hostname || parsed.hostname.startsWith('-')) throw invalid('no host, or a host starting with "-"');
      return url;
    case 'file':
      if (parsed.username || parsed.password) throw credentials();
      if (parsed.hostname && parsed.hostname !== 'localhost') throw invalid('file:// URLs must be local');
      if (decodeURIComponent(parsed.pathname).split('/').includes('..')) throw invalid('a local path must not contain ".."');
      return url;
    default:
      throw invalid(`scheme "${scheme}" is not allowed (https, ssh, file only)`);
  }
}
