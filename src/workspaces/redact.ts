/**
 * Redaction of credentials from any text that leaves the module (log lines, error messages, git's
 * stderr). Git can echo a remote URL, with its userinfo, in an error (DESIGN.md §6: "a token in a
 * push URL leaks through git's error messages"); we never put a token in a URL, but a host's proxy
 * URL or a misconfigured remote could, so URLs are scrubbed as well as every known secret value.
 */

const MARK = '[redacted]';

/** `scheme://user[:password]@host` → `scheme://[redacted]@host`, for every URL in the text. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]+@/gi, `$1${MARK}@`);
}

/**
 * The text with every secret (and its base64 forms as they appear in a Basic `Authorization`
 * header) replaced, and URL userinfo removed. Secrets shorter than 4 characters are ignored (they
 * would redact ordinary words; tokens are long).
 */
export function redact(text: string, secrets: Iterable<string> = []): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    const forms = [secret, Buffer.from(`x-access-token:${secret}`).toString('base64'), Buffer.from(secret).toString('base64')];
    for (const form of forms) out = out.split(form).join(MARK);
  }
  return redactUrlCredentials(out);
}

/** The last `maxChars` characters of `text`, trimmed, prefixed with `…` when cut. */
export function tail(text: string, maxChars = 2000): string {
  const t = text.trim();
  return t.length <= maxChars ? t : `…${t.slice(t.length - maxChars)}`;
}
