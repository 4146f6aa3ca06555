import { errorText } from './errorText';

export function ErrorBox({ error, what, testId }: { error: unknown; what?: string; testId?: string }) {
  if (!error) return null;
  return (
    <div className="error-box" role="alert" data-testid={testId}>
      {what ? <strong>{what}: </strong> : null}
      {errorText(error)}
    </div>
  );
}
