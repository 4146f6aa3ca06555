/**
 * Classifying a coding-agent CLI's error (an HTTP status, an error message) into transient or
 * permanent, with a stable code. Pure. Used only on text a CLI reported as an error — never on
 * ordinary output, where "429" or "quota" may appear innocently.
 */
import { OutcomeCode } from '../outcomes';
import type { ToolOutcome } from '../tool.port';

/** Kind and code of a recognised error. */
export interface ErrorClass {
  kind: 'transient' | 'permanent';
  code: string;
}

/**
 * HTTP status → class: 401/403 permanent `AUTH_FAILED`; 429 `RATE_LIMITED`; 503/529
 * `OVERLOADED`; other 5xx `SERVER_ERROR`; 408 `NETWORK` (all transient). Others: null.
 * (Anthropic documents 529 as `overloaded_error`: https://docs.anthropic.com/en/api/errors.)
 */
export function classifyHttpStatus(status: number | undefined | null): ErrorClass | null {
  if (typeof status !== 'number') return null;
  if (status === 401 || status === 403) return { kind: 'permanent', code: OutcomeCode.AUTH_FAILED };
  if (status === 429) return { kind: 'transient', code: OutcomeCode.RATE_LIMITED };
  if (status === 503 || status === 529) return { kind: 'transient', code: OutcomeCode.OVERLOADED };
  if (status >= 500 && status <= 599) return { kind: 'transient', code: OutcomeCode.SERVER_ERROR };
  if (status === 408) return { kind: 'transient', code: OutcomeCode.NETWORK };
  return null;
}

const RULES: { pattern: RegExp; cls: ErrorClass }[] = [
  {
    pattern: /context[_ ]?(window|length)|prompt is too long|maximum context|too many tokens in (the )?prompt/i,
    cls: { kind: 'permanent', code: OutcomeCode.CONTEXT_WINDOW_EXCEEDED },
  },
  { pattern: /max(imum)?[_ ]turns|turn limit/i, cls: { kind: 'permanent', code: OutcomeCode.TURN_LIMIT } },
  { pattern: /budget[_ ]?(exceeded|limit)|exceeded[\w ]{0,20}budget|max[_ ]budget/i, cls: { kind: 'permanent', code: OutcomeCode.TOOL_BUDGET_EXCEEDED } },
  {
    pattern:
      /authentication[_ ]?error|invalid[_ ]?(x-)?api[_ ]?key|incorrect api key|api key not valid|unauthori[sz]ed|\b401\b|\b403\b|forbidden|permission_denied|please run \/login|not logged in|invalid bearer token|oauth/i,
    cls: { kind: 'permanent', code: OutcomeCode.AUTH_FAILED },
  },
  {
    pattern: /rate[_ -]?limit|too many requests|\b429\b|resource[_ ]exhausted|quota|usage limit/i,
    cls: { kind: 'transient', code: OutcomeCode.RATE_LIMITED },
  },
  {
    pattern: /overloaded|\b529\b|\b503\b|service[_ ]unavailable|temporarily unavailable/i,
    cls: { kind: 'transient', code: OutcomeCode.OVERLOADED },
  },
  {
    pattern: /ECONNRESET|ETIMEDOUT|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket hang up|fetch failed|network error|connection error|stream disconnected|stream error|timed out|APIConnectionError/i,
    cls: { kind: 'transient', code: OutcomeCode.NETWORK },
  },
  {
    pattern: /internal[_ ]server[_ ]error|bad gateway|gateway time-?out|api[_ ]error[^0-9]{0,12}5\d\d\b|status[^0-9]{0,12}5\d\d\b|\b5\d\d\b[^a-z0-9]{0,3}(internal|bad gateway|server error)/i,
    cls: { kind: 'transient', code: OutcomeCode.SERVER_ERROR },
  },
];

/**
 * Error text → class, first match wins: context window, turn limit, budget, auth (permanent);
 * rate limit / 429 / quota, overloaded / 529 / 503, network (ECONNRESET, ETIMEDOUT, fetch failed,
 * stream disconnected, …), 5xx server error (transient). Unrecognised: null.
 */
export function classifyErrorText(text: string | undefined | null): ErrorClass | null {
  if (!text) return null;
  for (const rule of RULES) if (rule.pattern.test(text)) return rule.cls;
  return null;
}

/**
 * "retry in 30 seconds", "Try again in 2.5s", "retry after 10 minutes" → ms; null when the text
 * names no delay. Only these simple forms are understood.
 */
export function retryAfterFromText(text: string | undefined | null): number | null {
  if (!text) return null;
  const m = /(?:retry|try again)(?: after| in)\s+([\d.]+)\s*(ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?)\b/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return null;
  const unit = m[2].toLowerCase();
  const factor = unit.startsWith('ms') || unit.startsWith('milli') ? 1 : unit.startsWith('h') ? 3_600_000 : unit.startsWith('m') ? 60_000 : 1000;
  return Math.round(n * factor);
}

/** An outcome from a class and a message (with `retryAfterMs` when a transient message names a delay). */
export function outcomeOf(cls: ErrorClass, message: string): ToolOutcome {
  if (cls.kind === 'permanent') return { kind: 'permanent', code: cls.code, message };
  const retryAfterMs = retryAfterFromText(message);
  return { kind: 'transient', code: cls.code, message, ...(retryAfterMs !== null ? { retryAfterMs } : {}) };
}
