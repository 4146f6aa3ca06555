/**
 * The title and body of a job's pull request (GitHub-flavoured Markdown). Pure.
 *
 * Limits: a title of at most 256 characters (GitHub's limit for issue and pull request titles);
 * a body of at most 65 536 characters (GitHub answers 422 "body is too long (maximum is 65536
 * characters)", renovatebot/renovate#2032, googleapis/release-please#1034). Long parts are cut
 * here, never the last lines: the job marker and `Closes #<n>` (GitHub's closing keyword, "Linking
 * a pull request to an issue", docs.github.com) always survive.
 */
import type { PullRequestInput } from '../agents/agent.port';
import type { CheckResult, FileChange } from '../lifecycle/job.types';

export const MAX_TITLE_CHARS = 256;
export const MAX_BODY_CHARS = 65_536;
/** At most this many plan steps, changed files and review comments are listed. */
export const MAX_LISTED = 50;
/** The checks' output tail shown in the body, characters (the last ones). */
export const MAX_CHECKS_TAIL_CHARS = 4_000;

/** The hidden marker that lets a later run recognise the pull request of job `jobId`. */
export function jobMarker(jobId: string): string {
  return `<!-- aicd-job: ${jobId} -->`;
}

/** True when `body` carries the marker of `jobId`. */
export function hasJobMarker(body: string | null | undefined, jobId: string): boolean {
  return !!body && body.includes(jobMarker(jobId));
}

/** At most `max` characters (code points) of `text`, with `…` as the last one when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** The last `max` characters of `text`, with `…` first when cut. */
function tailOf(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `…${chars.slice(chars.length - (max - 1)).join('')}`;
}

/** `Fix #<n>: <issue title>`, whitespace collapsed, cut to {@link MAX_TITLE_CHARS}. */
export function pullRequestTitle(issueNumber: number, issueTitle: string): string {
  const title = issueTitle.replace(/\s+/g, ' ').trim() || 'untitled issue';
  return truncate(`Fix #${issueNumber}: ${title}`, MAX_TITLE_CHARS);
}

/** A fenced code block whose fence is longer than any backtick run inside `content`. */
export function fenced(content: string, info = ''): string {
  const longest = Math.max(0, ...(content.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${content.replace(/\n+$/, '')}\n${fence}`;
}

/** One line of Markdown text: newlines folded, so it cannot open a block or close a list. */
const inline = (text: string, max = 300) => truncate(text.replace(/\s+/g, ' ').trim(), max);

/** Inline code that survives backticks inside `text`. */
function code(text: string): string {
  const t = inline(text);
  const ticks = '`'.repeat(Math.max(0, ...(t.match(/`+/g) ?? []).map((run) => run.length)) + 1);
  const pad = t.startsWith('`') || t.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${t}${pad}${ticks}`;
}

/** Free Markdown text (an agent's summary) cut to `max` characters, with a fence left open by the cut closed. */
function block(text: string, max: number): string {
  const t = truncate(text.trim(), max);
  const fences = t.split('\n').filter((line) => /^\s{0,3}(```|~~~)/.test(line)).length;
  return fences % 2 === 1 ? `${t}\n\`\`\`` : t;
}

/** How much detail a body carries: the full one, and the compact one used when that is too long. */
interface Detail {
  summaryChars: number;
  listed: number;
  diffStat: boolean;
  tailChars: number;
}
const FULL: Detail = { summaryChars: 20_000, listed: MAX_LISTED, diffStat: true, tailChars: MAX_CHECKS_TAIL_CHARS };
const COMPACT: Detail = { summaryChars: 6_000, listed: 10, diffStat: false, tailChars: 1_000 };

function listed<T>(items: readonly T[], max: number, render: (item: T, i: number) => string): string[] {
  const lines = items.slice(0, max).map(render);
  if (items.length > max) lines.push(`- … and ${items.length - max} more`);
  return lines;
}

function fileLine(f: FileChange): string {
  const counts = f.additions !== undefined || f.deletions !== undefined ? `+${f.additions ?? 0}/−${f.deletions ?? 0}` : '';
  const info = [f.status, counts].filter(Boolean).join(', ');
  return `- ${code(f.path)}${info ? ` (${info})` : ''}`;
}

function checksSection(checks: CheckResult | undefined, d: Detail): string[] {
  if (!checks) return ['## Checks', '', 'No checks ran for this change.'];
  const seconds = (checks.durationMs / 1000).toFixed(1);
  const verdict = checks.passed ? '✅ passed' : '❌ failed';
  const exit = checks.exitCode === null ? 'killed (timeout)' : `exit code ${checks.exitCode}`;
  const out = ['## Checks', '', `${verdict}: ${code(checks.command)} (${exit}, ${seconds} s)`];
  const tail = checks.outputTail.trim();
  if (tail) out.push('', '<details><summary>Last lines of the output</summary>', '', fenced(tailOf(tail, d.tailChars)), '', '</details>');
  return out;
}

function sections(input: PullRequestInput, d: Detail): string {
  const { plan, code: change, review } = input;
  const out: string[][] = [];
  const steps = plan.steps.length ? ['', ...listed(plan.steps, d.listed, (s, i) => `${i + 1}. ${inline(s)}`)] : [];
  out.push(['## Plan', '', block(plan.summary, d.summaryChars) || '(no summary)', ...steps]);
  const changeLines = ['## Changes'];
  if (change.summary?.trim()) changeLines.push('', block(change.summary, d.summaryChars / 2));
  if (change.changes.length) changeLines.push('', ...listed(change.changes, d.listed, fileLine));
  if (d.diffStat && change.diffStat?.trim()) changeLines.push('', fenced(truncate(change.diffStat.trim(), 10_000)));
  if (change.commitSha) changeLines.push('', `Head commit: ${change.commitSha}`);
  out.push(changeLines);
  if (review?.comments.length) out.push(['## Review', '', ...listed(review.comments, d.listed, (c) => `- ${inline(c)}`)]);
  out.push(checksSection(review?.checks, d));
  return out.map((s) => s.join('\n')).join('\n\n');
}

/**
 * The pull request body: the plan (summary and steps), the change (summary, changed files with
 * status and +added/−deleted lines, diff stat, head commit), the review's comments, the checks
 * (command, verdict, exit code, duration in seconds, the output's last lines in a fenced block),
 * then the job marker and, as the very last line, `Closes #<issueNumber>`. When that is longer
 * than {@link MAX_BODY_CHARS}, a compact form is used (fewer lines, no diff stat); it always fits.
 */
export function pullRequestBody(jobId: string, issueNumber: number, input: PullRequestInput): string {
  const footer = `${jobMarker(jobId)}\n\nCloses #${issueNumber}`;
  const full = `${sections(input, FULL)}\n\n${footer}`;
  if (Array.from(full).length <= MAX_BODY_CHARS) return full;
  return `${sections(input, COMPACT)}\n\n_(shortened: the full description was longer than GitHub allows)_\n\n${footer}`;
}
