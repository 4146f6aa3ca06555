/**
 * Secret redaction for everything that leaves a process as text: tool output kept as job logs,
 * error messages stored on jobs, log lines. Two nets: the exact values of the secrets this
 * process holds (tokens, keys, the webhook secret, the GitHub App key), and the shapes of common
 * credentials (GitHub tokens `ghp_…`/`github_pat_…`/`ghs_…`, OpenAI/Anthropic keys `sk-…`,
 * `Bearer …`, AWS access key ids `AKIA…`, credentials in URLs `https://user:pass@`).
 * Sources of the token shapes: GitHub "About authentication to GitHub" (token prefixes),
 * OpenAI and Anthropic API key formats as issued.
 */
export const REDACTED = '[redacted]';

const PATTERNS: { re: RegExp; replace: string }[] = [
  { re: /\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}\b/g, replace: REDACTED },
  { re: /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g, replace: REDACTED },
  { re: /\bsk-(?:ant-)?[A-Za-z0-9_-]{20,}\b/g, replace: REDACTED },
  { re: /\bAKIA[0-9A-Z]{16}\b/g, replace: REDACTED },
  { re: /\b(Bearer|token)\s+[A-Za-z0-9._~+/-]{16,}=*/gi, replace: `$1 ${REDACTED}` },
  { re: /(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, replace: `$1${REDACTED}@` },
];

/** Replaces secrets in text. Values shorter than 6 characters are ignored (they would redact ordinary words). */
export class Redactor {
  private readonly values: string[];

  constructor(values: Iterable<string | undefined | null>) {
    this.values = [...new Set([...values].filter((v): v is string => typeof v === 'string' && v.length >= 6))].sort((a, b) => b.length - a.length);
  }

  /** A redactor that also knows `more` values. */
  with(more: Iterable<string | undefined | null>): Redactor {
    return new Redactor([...this.values, ...more]);
  }

  /** The secret values it knows (for a subprocess supervisor's own redaction). */
  get secrets(): readonly string[] {
    return this.values;
  }

  redact(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(REDACTED);
    for (const p of PATTERNS) out = out.replace(p.re, p.replace);
    return out;
  }
}
