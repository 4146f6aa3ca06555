/** Repository URLs and branch names (pure), branch names checked by the real `git check-ref-format`. */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { assertRemoteUrl, branchName, DEFAULT_CLONE_URL_TEMPLATE, isWorkspaceError, resolveCloneUrl } from '../../src/workspaces';

const code = (f: () => unknown): string | null => {
  try {
    f();
    return null;
  } catch (e) {
    return isWorkspaceError(e) ? e.code : `not a WorkspaceError: ${String(e)}`;
  }
};

describe('resolveCloneUrl', () => {
  const defaults = { defaultTemplate: DEFAULT_CLONE_URL_TEMPLATE };

  it('fills the default template, or the tenant template when set', () => {
    expect(resolveCloneUrl('octo/demo', defaults)).toBe('https://github.com/octo/demo.git');
    expect(resolveCloneUrl('octo/demo', { ...defaults, tenantTemplate: 'https://ghe.example.com/{repository}.git' })).toBe('https://ghe.example.com/octo/demo.git');
    expect(resolveCloneUrl('octo/demo', { ...defaults, tenantTemplate: 'git@ghe.example.com:{repository}.git' })).toBe('git@ghe.example.com:octo/demo.git');
    expect(resolveCloneUrl('octo/demo', { ...defaults, tenantTemplate: 'ssh://git@ghe.example.com:2222/{repository}' })).toBe('ssh://git@ghe.example.com:2222/octo/demo');
    expect(resolveCloneUrl('octo/demo', { defaultTemplate: 'file:///srv/git/{repository}.git' })).toBe('file:///srv/git/octo/demo.git');
    expect(resolveCloneUrl('octo/demo', { defaultTemplate: '/srv/git/{repository}.git', tenantTemplate: null })).toBe('/srv/git/octo/demo.git');
    expect(resolveCloneUrl('octo/demo', { defaultTemplate: '/srv/git/fixed.git' })).toBe('/srv/git/fixed.git');
  });

  it('refuses credentials in the URL with REMOTE_URL_HAS_CREDENTIALS, without echoing them', () => {
    for (const t of ['https://user:tok3n@github.com/{repository}.git', 'https://tok3n@github.com/{repository}.git', 'ssh://git:tok3n@host/{repository}']) {
      let message = '';
      expect(
        code(() => {
          try {
            resolveCloneUrl('octo/demo', { defaultTemplate: t });
          } catch (e) {
            message = (e as Error).message;
            throw e;
          }
        }),
      ).toBe('REMOTE_URL_HAS_CREDENTIALS');
      expect(message).not.toContain('tok3n');
    }
  });

  it('refuses other schemes, relative paths and option-like hosts with INVALID_REMOTE_URL', () => {
    for (const url of [
      'http://github.com/octo/demo.git',
      'git://github.com/octo/demo.git',
      'ext::sh -c touch% /tmp/pwned',
      'fd::3',
      'relative/path.git',
      './repo.git',
      '-oProxyCommand=x:path',
      'ssh://-oProxyCommand=x/path',
      'file://remote-host/srv/repo.git',
      '/srv/../etc/repo.git',
      'https://github.com/octo/demo.git\n',
      '',
    ]) {
      expect([url, code(() => assertRemoteUrl(url))]).toEqual([url, 'INVALID_REMOTE_URL']);
    }
  });

  it('refuses repository ids that are not owner/name', () => {
    for (const id of ['octo', 'octo/demo/extra', '../demo', 'octo/..', 'octo/de mo', '/octo/demo', '']) {
      expect([id, code(() => resolveCloneUrl(id, defaults))]).toEqual([id, 'INVALID_ARGUMENT']);
    }
  });
});

describe('branchName', () => {
  it('is aicd/<issue>-<first 8 characters of the job id>', () => {
    expect(branchName(42, '3f1c9a7e-1234-4bcd-9def-0123456789ab')).toBe('aicd/42-3f1c9a7e');
    expect(branchName(1, 'a.b.c.d.e.f')).toBe('aicd/1-a-b-c-d-');
    expect(code(() => branchName(0, 'abc'))).toBe('INVALID_ARGUMENT');
    expect(code(() => branchName(1.5, 'abc'))).toBe('INVALID_ARGUMENT');
    expect(code(() => branchName(3, '../etc'))).toBe('INVALID_ARGUMENT');
    expect(code(() => branchName(3, 'a/b'))).toBe('INVALID_ARGUMENT');
  });

  it('always yields a ref name git accepts (git check-ref-format --branch)', () => {
    const jobId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$/);
    const samples = fc.sample(fc.tuple(fc.integer({ min: 1, max: 2 ** 31 }), jobId), { numRuns: 25, seed: 42 });
    samples.push([7, '.lock.lock'.replace(/^\./, 'x')], [9, 'a..b....'], [10, 'x@{1}zzz'.replace(/[@{}]/g, '_')]);
    for (const [issue, id] of samples) {
      const name = branchName(issue, id);
      expect(execFileSync('git', ['check-ref-format', '--branch', name], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } }).trim()).toBe(name);
    }
  });
});
