/** A job state, an attempt status or a breaker state as a coloured badge. */
export function StateBadge({ state, testId, title }: { state: string; testId?: string; title?: string }) {
  return (
    <span className={`badge badge-${state.toLowerCase().replace(/_/g, '-')}`} data-testid={testId} data-state={state} title={title}>
      {state}
    </span>
  );
}
