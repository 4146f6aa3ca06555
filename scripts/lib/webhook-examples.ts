import { randomUUID } from 'node:crypto';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { Webhooks } from '@octokit/webhooks';
import { ScriptAbort } from './service-process';

/** GitHub's real webhook payloads (@octokit/webhooks-examples), replayed by the demo. */

export type Payload = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const definitions = require('@octokit/webhooks-examples') as WebhookDefinition[];

/** The example payloads of one event (e.g. `issues`). @throws ScriptAbort when the package has none. */
export function examples(name: string): Payload[] {
  const def = definitions.find((d) => d.name === name);
  if (!def) throw new ScriptAbort(`@octokit/webhooks-examples has no '${name}' examples`);
  return def.examples as unknown as Payload[];
}

/** A real `opened` payload turned into another issue of the same repository. */
export function variant(template: Payload, n: number, title: string, directives: string[]): Payload {
  const p = structuredClone(template);
  const base = String(p.issue.html_url).replace(/\/\d+$/, '');
  p.issue.number = n;
  p.issue.id = Number(p.issue.id) + n;
  p.issue.title = title;
  p.issue.html_url = `${base}/${n}`;
  p.issue.url = String(p.issue.url).replace(/\/\d+$/, `/${n}`);
  p.issue.body = `${title}.\n\n${directives.map((d) => `mock: ${d}`).join('\n')}\n`;
  return p;
}

/**
 * A delivery as GitHub sends it: the body and its headers, `X-Hub-Signature-256` signed with
 * `secret` by @octokit/webhooks (HMAC-SHA256 of the raw body).
 */
export async function signedDelivery(event: string, payload: Payload, secret: string): Promise<{ headers: Record<string, string>; raw: string }> {
  const raw = JSON.stringify(payload);
  const signature = await new Webhooks({ secret }).sign(raw);
  return { raw, headers: { 'X-GitHub-Event': event, 'X-GitHub-Delivery': randomUUID(), 'X-Hub-Signature-256': signature, 'User-Agent': 'GitHub-Hookshot/demo' } };
}
