import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ApiError } from '../api/client';
import { api } from '../api/endpoints';
import type { JobDetail } from '../api/types';
import { errorText } from '../common/errorText';
import { shortId } from '../common/format';

type Field = 'repositoryId' | 'issueId' | 'title' | 'body' | 'url';

/** The server's field names (`errors[].field`) → the form's. */
const FIELD_OF: Record<string, Field> = {
  repositoryId: 'repositoryId',
  'issue.id': 'issueId',
  'issue.title': 'title',
  'issue.body': 'body',
  'issue.url': 'url',
};

const EMPTY: Record<Field, string> = { repositoryId: '', issueId: '', title: '', body: '', url: '' };

interface FieldProps {
  field: Field;
  label: string;
  values: Record<Field, string>;
  errors: Partial<Record<Field, string[]>>;
  onChange: (field: Field, value: string) => void;
  multiline?: boolean;
  placeholder?: string;
}

function FormField({ field, label, values, errors, onChange, multiline, placeholder }: FieldProps) {
  const id = `submit-${field}`;
  const messages = errors[field];
  const common = {
    id,
    name: field,
    value: values[field],
    placeholder,
    'aria-invalid': messages ? true : undefined,
    'aria-describedby': messages ? `${id}-error` : undefined,
    'data-testid': id,
  };
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {multiline ? (
        <textarea {...common} rows={4} onChange={(e) => onChange(field, e.target.value)} />
      ) : (
        <input {...common} type="text" spellCheck={false} onChange={(e) => onChange(field, e.target.value)} />
      )}
      {messages ? (
        <p id={`${id}-error`} className="field-error" data-testid={`submit-error-${field}`}>
          {messages.join('; ')}
        </p>
      ) : null}
    </div>
  );
}

/** `POST /jobs`; a 400's `errors` are shown under their fields. */
export function SubmitJobForm() {
  const [values, setValues] = useState(EMPTY);
  const [errors, setErrors] = useState<Partial<Record<Field, string[]>>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [result, setResult] = useState<JobDetail | null>(null);
  const [busy, setBusy] = useState(false);

  const onChange = (field: Field, value: string) => setValues((v) => ({ ...v, [field]: value }));

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    setResult(null);
    try {
      const job = await api.submitJob({
        repositoryId: values.repositoryId.trim(),
        issue: { id: values.issueId.trim(), title: values.title, body: values.body, url: values.url.trim() },
      });
      setResult(job);
      setValues(EMPTY);
    } catch (err) {
      const fieldErrors: Partial<Record<Field, string[]>> = {};
      const rest: string[] = [];
      if (err instanceof ApiError && err.status === 400 && err.body.errors?.length) {
        for (const { field, messages } of err.body.errors) {
          const f = FIELD_OF[field];
          if (f) fieldErrors[f] = [...(fieldErrors[f] ?? []), ...messages];
          else rest.push(`${field}: ${messages.join('; ')}`);
        }
      } else rest.push(errorText(err));
      setErrors(fieldErrors);
      setGeneral(rest.length ? rest.join(' · ') : null);
    } finally {
      setBusy(false);
    }
  }

  const props = { values, errors, onChange };
  return (
    <form className="panel submit-form" onSubmit={submit} noValidate aria-labelledby="submit-title" data-testid="submit-form">
      <h2 id="submit-title">Submit a job</h2>
      <FormField field="repositoryId" label="Repository" placeholder="owner/name" {...props} />
      <FormField field="issueId" label="Issue id" placeholder="42" {...props} />
      <FormField field="title" label="Title" {...props} />
      <FormField field="body" label="Body" multiline {...props} />
      <FormField field="url" label="Issue URL" placeholder="https://github.com/owner/name/issues/42" {...props} />
      {general ? (
        <p className="field-error" role="alert" data-testid="submit-error">
          {general}
        </p>
      ) : null}
      {result ? (
        <p className="ok" role="status" data-testid="submit-result" data-job-id={result.id}>
          Job <Link to={`/jobs/${encodeURIComponent(result.id)}`}>{shortId(result.id)}</Link> is {result.state}.
        </p>
      ) : null}
      <button type="submit" className="btn btn-primary" disabled={busy} data-testid="submit-button">
        {busy ? 'Submitting…' : 'Submit'}
      </button>
    </form>
  );
}
