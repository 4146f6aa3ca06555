import { transitionLabel, type StatechartModel } from './statechart.model';

function attr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** XML comment text: `--` is not allowed inside a comment, nor a trailing `-`. */
function comment(s: string): string {
  return s.replace(/-{2,}/g, (m) => m.split('').join(' ')).replace(/-$/, '- ');
}

/**
 * Renders `model` as W3C SCXML 1.0 (`http://www.w3.org/2005/07/scxml`): one `<state>` per
 * working state (with its `<invoke>`s), `<final>` for final states, and one `<transition>` per
 * branch in document order, with `event`, `cond` (the guard as a call expression; omitted on a
 * fallback branch, which SCXML's document order makes the "else") and `target` (omitted for a
 * targetless transition). Events keep the machine's raw names (e.g. `xstate.done.actor.plan`);
 * a comment gives the name people use (PLAN_SUCCEEDED). Deterministic.
 */
export function toScxml(model: StatechartModel, options: { header?: string } = {}): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  if (options.header) out.push(`<!-- ${comment(options.header)} -->`);
  const version = model.version ? ` xmlns:xstate="https://stately.ai/xstate" xstate:version="${attr(model.version)}"` : '';
  out.push(`<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" name="${attr(model.id)}" initial="${attr(model.initial)}"${version}>`);
  for (const s of model.states) {
    const tag = s.final ? 'final' : 'state';
    const transitions = model.transitions.filter((t) => t.source === s.key);
    const inner: string[] = [];
    if (s.description) inner.push(`    <!-- ${comment(s.description)} -->`);
    for (const id of s.invokes) inner.push(`    <invoke id="${attr(id)}" src="${attr(id)}"/>`);
    for (const t of transitions) {
      const cond = t.guardExpression ? ` cond="${attr(t.guardExpression)}"` : '';
      const target = t.targetless ? '' : ` target="${attr(t.target)}"`;
      const note = t.label !== t.eventType || (t.condition && !t.guard) ? ` <!-- ${comment(transitionLabel(t))} -->` : '';
      inner.push(`    <transition event="${attr(t.eventType)}"${cond}${target}/>${note}`);
    }
    if (inner.length === 0) out.push(`  <${tag} id="${attr(s.key)}"/>`);
    else out.push(`  <${tag} id="${attr(s.key)}">`, ...inner, `  </${tag}>`);
  }
  out.push('</scxml>');
  return `${out.join('\n')}\n`;
}
