import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api } from '../api/endpoints';
import type { PipelineRun, TemplateVersion } from '../api/types';
import { shortId } from '../common/format';
import { parseInputs, startRunProblem, type StartRunProblem } from './runText';

const NO_PROBLEM: StartRunProblem = { fields: {}, general: null };

/**
 * "Start a run": a template (`GET /pipeline-templates`, latest versions) and the run's inputs as
 * a JSON object → `POST /runs`. A 400 shows under its field; 404 and 409 TEMPLATE_QUARANTINED in
 * words.
 */
export function StartRunForm({ templates, initial }: { templates: TemplateVersion[] | undefined; initial?: string }) {
  const [picked, setTemplate] = useState('');
  const [inputs, setInputs] = useState('{}');
  const [problem, setProblem] = useState<StartRunProblem>(NO_PROBLEM);
  const [result, setResult] = useState<PipelineRun | null>(null);
  const [busy, setBusy] = useState(false);

  // Until one is picked: the list's template filter, else the first template.
  const template = picked || (templates?.find((t) => t.name === initial) ?? templates?.[0])?.name || '';
  const chosen = templates?.find((t) => t.name === template);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setResult(null);
    const parsed = parseInputs(inputs);
    if (!parsed.ok) {
      setProblem({ fields: { inputs: parsed.message }, general: null });
      return;
    }
    setProblem(NO_PROBLEM);
    setBusy(true);
    try {
      setResult(await api.startRun({ template, inputs: parsed.value }));
    } catch (err) {
      setProblem(startRunProblem(err, template || '(no template)'));
    } finally {
      setBusy(false);
    }
  }

  const { fields, general } = problem;
  return (
    <form className="panel submit-form" onSubmit={submit} noValidate aria-labelledby="start-run-title" data-testid="start-run-form">
      <h2 id="start-run-title">Start a run</h2>
      <div className="field">
        <label htmlFor="start-run-template">Template</label>
        <select
          id="start-run-template"
          value={template}
          onChange={(e) => setTemplate(e.target.value)}
          aria-invalid={fields.template ? true : undefined}
          aria-describedby={fields.template ? 'start-run-template-error' : undefined}
          data-testid="start-run-template"
        >
          {templates === undefined ? <option value="">loading…</option> : null}
          {templates?.length === 0 ? <option value="">no templates</option> : null}
          {templates?.map((t) => (
            <option key={t.name} value={t.name}>
              {t.name} @{t.version} ({t.owner}){t.quarantined ? ' — quarantined' : ''}
            </option>
          ))}
        </select>
        {chosen ? (
          <p className="small muted" data-testid="start-run-steps">
            {chosen.template.steps.length} step{chosen.template.steps.length === 1 ? '' : 's'}: {chosen.template.steps.map((s) => s.id).join(', ')}
            {chosen.quarantined ? (
              <span className="text-bad" title={chosen.quarantined}>
                {' '}
                · quarantined
              </span>
            ) : null}
          </p>
        ) : null}
        {fields.template ? (
          <p id="start-run-template-error" className="field-error" data-testid="start-run-error-template">
            {fields.template}
          </p>
        ) : null}
      </div>
      <div className="field">
        <label htmlFor="start-run-inputs">Inputs (a JSON object; each scalar reaches the steps as AICD_INPUT_&lt;NAME&gt;)</label>
        <textarea
          id="start-run-inputs"
          className="mono"
          rows={5}
          spellCheck={false}
          value={inputs}
          onChange={(e) => setInputs(e.target.value)}
          placeholder='{"test": "go test ./..."}'
          aria-invalid={fields.inputs ? true : undefined}
          aria-describedby={fields.inputs ? 'start-run-inputs-error' : undefined}
          data-testid="start-run-inputs"
        />
        {fields.inputs ? (
          <p id="start-run-inputs-error" className="field-error" data-testid="start-run-error-inputs">
            {fields.inputs}
          </p>
        ) : null}
      </div>
      {general ? (
        <p className="field-error" role="alert" data-testid="start-run-error">
          {general}
        </p>
      ) : null}
      {result ? (
        <p className="ok" role="status" data-testid="start-run-result" data-run-id={result.id}>
          Run{' '}
          <Link to={`/runs/${encodeURIComponent(result.id)}`} data-testid="start-run-link">
            {shortId(result.id)}
          </Link>{' '}
          of {result.template.name}@{result.template.version} is {result.status}.
        </p>
      ) : null}
      <button type="submit" className="btn btn-primary" disabled={busy || !template} data-testid="start-run-button">
        {busy ? 'Starting…' : 'Start'}
      </button>
    </form>
  );
}
