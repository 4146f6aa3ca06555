import { ApiError } from '../api/client';
import type { RunActor } from '../api/types';
import { errorText } from '../common/errorText';

/** Who moved a run, for people: "api key:3f9a1c02", "worker vm:1553", "sweeper vm:1553". */
export function actorText(actor: RunActor | undefined): string {
  if (!actor) return 'unknown';
  return actor.kind === 'api' ? `api ${actor.id}` : `${actor.kind} ${actor.id}`;
}

/** Fields of the start-run form that a 400's `errors[].field` can name. */
export type StartField = 'template' | 'inputs';

export interface StartRunProblem {
  /** Under a field. */
  fields: Partial<Record<StartField, string>>;
  /** Above the button. */
  general: string | null;
}

/**
 * Why `POST /runs` was refused, in words: a 400's `errors` under their fields, 404 (no such
 * template) and 409 TEMPLATE_QUARANTINED as sentences; anything else through errorText.
 */
export function startRunProblem(error: unknown, template: string): StartRunProblem {
  if (error instanceof ApiError) {
    const b = error.body;
    if (error.status === 409 && b.code === 'TEMPLATE_QUARANTINED') {
      const why = /is quarantined \((.*)\); release it/.exec(error.message)?.[1];
      return {
        fields: {},
        general: `Cannot start ${template}: the template is quarantined${why ? ` (${why})` : ''}. Release it with POST /pipeline-templates/${template}/release to start runs again.`,
      };
    }
    if (error.status === 404) return { fields: { template: `There is no template ${template} for this tenant (${error.message}).` }, general: null };
    if (error.status === 400 && b.errors?.length) {
      const fields: StartRunProblem['fields'] = {};
      const rest: string[] = [];
      for (const e of b.errors) {
        const f = e.field === 'template' || e.field === 'version' ? 'template' : e.field === 'inputs' || e.field.startsWith('inputs.') ? 'inputs' : null;
        if (f) fields[f] = [fields[f], e.messages.join('; ')].filter(Boolean).join('; ');
        else rest.push(`${e.field}: ${e.messages.join('; ')}`);
      }
      return { fields, general: rest.length ? rest.join(' · ') : null };
    }
  }
  return { fields: {}, general: `Cannot start ${template}: ${errorText(error)}` };
}

/** The inputs textarea as an object: empty is `{}`. @returns the object, or why it is not one. */
export function parseInputs(text: string): { ok: true; value: Record<string, unknown> } | { ok: false; message: string } {
  if (!text.trim()) return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `Inputs must be JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: 'Inputs must be a JSON object, e.g. {"test": "go test ./..."}' };
  return { ok: true, value: value as Record<string, unknown> };
}
