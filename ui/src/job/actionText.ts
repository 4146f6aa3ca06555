import { ApiError } from '../api/client';
import { errorText } from '../common/errorText';

function list(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * A refused action in words. A 409 ILLEGAL_EVENT
 * (`{ code, state, event, acceptedEvents, message }`) becomes e.g. "Cannot send MARK_CANCELLED:
 * the job is COMPLETED, which accepts no events." `subject` names what refused it (a job, a run).
 */
export function actionErrorText(error: unknown, event: string, subject = 'job'): string {
  if (error instanceof ApiError && error.status === 409) {
    const b = error.body;
    if (b.code === 'ILLEGAL_EVENT') {
      const accepted = b.acceptedEvents ?? [];
      const state = b.state ? `the ${subject} is ${b.state}` : `the ${subject} is in a state`;
      const accepts = accepted.length === 0 ? 'which accepts no events' : `which accepts only ${list(accepted)}`;
      return `Cannot send ${b.event ?? event}: ${state}, ${accepts}.`;
    }
    return `Cannot send ${event}: ${error.message}${b.code ? ` (${b.code})` : ''}. The ${subject} changed meanwhile; it has been reloaded.`;
  }
  if (error instanceof ApiError && error.status === 400) {
    const fields = error.body.errors?.map((f) => `${f.field}: ${f.messages.join('; ')}`).join(' · ');
    return `Cannot send ${event}: ${fields || error.message}`;
  }
  return `Could not send ${event}: ${errorText(error)}`;
}
