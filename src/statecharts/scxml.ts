import { childrenOf, transitionLabel, type StatechartModel, type StatechartState } from './statechart.model';

function attr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** XML comment text: `--` is not allowed inside a comment, nor a trailing `-`. */
function comment(s: string): string {
  return s.replace(/-{2,}/g, (m) => m.split('').join(' ')).replace(/-$/, '- ');
}

/**
 * Renders `model` as W3C SCXML 1.0 (`http://www.w3.org/2005/07/scxml`): one `<state>` per
 * working state (with its `<invoke>`s), `<final>` for final states, `<parallel>` for a parallel
 * state, child states nested in their parent (a compound state names its `initial` child), and
 * one `<transition>` per branch in document order, with `event` (omitted for an eventless
 * transition, which SCXML takes as soon as its `cond` holds), `cond` (the guard as a call
 * expression; omitted on a fallback branch, which SCXML's document order makes the "else") and
 * `target` (omitted for a targetless transition). State ids are the model's keys (dot paths such
 * as `running.test.waiting`, unique in the document). Events keep the machine's raw names (e.g.
 * `xstate.done.actor.plan`, `xstate.done.state.pipeline.running` for an `onDone`); a comment gives
 * the name people use (PLAN_SUCCEEDED, done). Deterministic.
 */
export function toScxml(model: StatechartModel, options: { header?: string } = {}): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  if (options.header) out.push(`<!-- ${comment(options.header)} -->`);
  const version = model.version ? ` xmlns:xstate="https://stately.ai/xstate" xstate:version="${attr(model.version)}"` : '';
  out.push(`<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" name="${attr(model.id)}" initial="${attr(model.initial)}"${version}>`);
  const element = (s: StatechartState, indent: string): string[] => {
    const tag = s.kind === 'final' ? 'final' : s.kind === 'parallel' ? 'parallel' : 'state';
    const inner: string[] = [];
    const pad = `${indent}  `;
    if (s.description) inner.push(`${pad}<!-- ${comment(s.description)} -->`);
    for (const id of s.invokes) inner.push(`${pad}<invoke id="${attr(id)}" src="${attr(id)}"/>`);
    for (const t of model.transitions.filter((x) => x.source === s.key)) {
      const event = t.eventless ? '' : ` event="${attr(t.eventType)}"`;
      const cond = t.guardExpression ? ` cond="${attr(t.guardExpression)}"` : '';
      const target = t.targetless ? '' : ` target="${attr(t.target)}"`;
      const note = t.label !== t.eventType || (t.condition && !t.guard) ? ` <!-- ${comment(transitionLabel(t))} -->` : '';
      inner.push(`${pad}<transition${event}${cond}${target}/>${note}`);
    }
    for (const child of childrenOf(model, s.key)) inner.push(...element(child, pad));
    const initial = s.initial ? ` initial="${attr(s.initial)}"` : '';
    if (inner.length === 0) return [`${indent}<${tag} id="${attr(s.key)}"${initial}/>`];
    return [`${indent}<${tag} id="${attr(s.key)}"${initial}>`, ...inner, `${indent}</${tag}>`];
  };
  for (const s of childrenOf(model, null)) out.push(...element(s, '  '));
  out.push('</scxml>');
  return `${out.join('\n')}\n`;
}
