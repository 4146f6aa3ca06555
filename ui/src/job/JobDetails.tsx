import type { JobDetail } from '../api/types';
import { formatDateTime, formatDuration, formatInt, formatUsd } from '../common/format';

function safeUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

function Link({ href, children }: { href: string | null | undefined; children: string }) {
  const safe = safeUrl(href);
  return safe ? (
    <a href={safe} target="_blank" rel="noreferrer noopener">
      {children}
    </a>
  ) : (
    <span>{children}</span>
  );
}

function Budget({ job }: { job: JobDetail }) {
  const { usage, budget } = job.context;
  const tokens = usage.inputTokens + usage.outputTokens;
  return (
    <span data-testid="job-usage">
      {formatInt(usage.inputTokens)} in · {formatInt(usage.outputTokens)} out{budget.tokens !== null ? ` (${formatInt(tokens)} of ${formatInt(budget.tokens)})` : ''} ·{' '}
      {formatUsd(usage.costUsd ?? 0)}
      {budget.usd !== null ? ` of ${formatUsd(budget.usd)}` : ''}
    </span>
  );
}

/** The job's record: issue, branch, error, usage and budget, plan, change, review, checks. */
export function JobDetails({ job }: { job: JobDetail }) {
  const c = job.context;
  return (
    <div className="details" data-testid="job-details">
      <dl className="facts">
        <dt>Job</dt>
        <dd className="mono small">{job.id}</dd>
        <dt>Repository</dt>
        <dd className="mono">{job.repositoryId}</dd>
        <dt>Issue</dt>
        <dd>
          #{job.issue.id} <Link href={job.issue.url}>{job.issue.title}</Link>
        </dd>
        <dt>Branch</dt>
        <dd className="mono">{job.branch ?? c.workspace?.branch ?? '—'}</dd>
        {c.workspace ? (
          <>
            <dt>Base</dt>
            <dd className="mono small">
              {c.workspace.baseBranch} @ {c.workspace.baseCommit.slice(0, 12)}
            </dd>
          </>
        ) : null}
        {c.commitSha ? (
          <>
            <dt>Commit</dt>
            <dd className="mono small">{c.commitSha.slice(0, 12)}</dd>
          </>
        ) : null}
        <dt>Created</dt>
        <dd>{formatDateTime(job.createdAt)}</dd>
        <dt>Updated</dt>
        <dd>
          {formatDateTime(job.updatedAt)} · version {job.version}
        </dd>
        <dt>Usage</dt>
        <dd>
          <Budget job={job} />
        </dd>
        <dt>Review</dt>
        <dd>
          {c.reviewApproved === null ? '—' : c.reviewApproved ? 'approved' : 'changes requested'} · {c.reviewRounds} round{c.reviewRounds === 1 ? '' : 's'}
        </dd>
        {c.prUrl ? (
          <>
            <dt>Pull request</dt>
            <dd className="small">
              <Link href={c.prUrl}>{c.prUrl}</Link>
            </dd>
          </>
        ) : null}
      </dl>
      {job.error ? (
        <div className="error-box" data-testid="job-error">
          <strong className="mono">{job.error.code}</strong> in {job.error.stage}: {job.error.message}
        </div>
      ) : null}
      {job.issue.body ? (
        <details>
          <summary>Issue body</summary>
          <pre className="prose-pre">{job.issue.body}</pre>
        </details>
      ) : null}
      {c.plan ? (
        <details open>
          <summary>Plan{c.planSummary ? `: ${c.planSummary}` : ''}</summary>
          <ol className="plan">
            {c.plan.map((step, i) => (
              <li key={i}>{step}</li>
            ))}
          </ol>
        </details>
      ) : null}
      {c.changedFiles?.length ? (
        <details>
          <summary>Changed files ({c.changedFiles.length})</summary>
          <ul className="mono small">
            {c.changedFiles.map((f) => (
              <li key={f}>{f}</li>
            ))}
          </ul>
          {c.diffStat ? <pre className="prose-pre">{c.diffStat}</pre> : null}
        </details>
      ) : null}
      {c.reviewComments.length ? (
        <details>
          <summary>Review comments ({c.reviewComments.length})</summary>
          <ul>
            {c.reviewComments.map((r, i) => (
              <li key={i} className="prose-pre">
                {r}
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      {c.checks ? (
        <details data-testid="job-checks">
          <summary>
            Checks: <span className="mono">{c.checks.command}</span> {c.checks.passed ? 'passed' : `failed (exit ${c.checks.exitCode ?? '—'})`} in {formatDuration(c.checks.durationMs)}
          </summary>
          <pre className="prose-pre">{c.checks.outputTail}</pre>
        </details>
      ) : null}
    </div>
  );
}
