import { createActor } from 'xstate';
import { jobMachine } from '../../src/lifecycle/job.machine';
import { acceptedEvents, applyEvent, createJobSnapshot, IllegalEventError, runStage, stateOf } from '../../src/lifecycle/job.runtime';
import { seedEventName } from '../../src/lifecycle/job.types';
import { input, machineFor, ok, snapshotsOfEveryState, step } from '../support/machine-drivers';

describe('job statechart (pure)', () => {
  it('starts in QUEUED with empty results and the given limits', () => {
    const s = createJobSnapshot(input());
    expect(s.state).toBe('QUEUED');
    expect(s.context).toEqual(expect.objectContaining({ plan: null, code: null, prUrl: null, reviewRounds: 0, error: null }));
    expect(s.context.limits).toEqual({ maxReviewRounds: 3, autoComplete: true, budget: { usd: null, tokens: null } });
    expect(s.context.usage).toEqual({ inputTokens: 0, outputTokens: 0, costUsd: 0 });
    expect(s.context.workspace).toBeNull();
  });

  it('runs the happy path and names every transition with the seed events', async () => {
    const q = createJobSnapshot(input()).snapshot;
    const p = await step(q, 'planning', ok.planning);
    expect(p.state).toBe('CODING');
    expect(p.transitions).toEqual([
      { from: 'QUEUED', to: 'PLANNING', event: 'START_PLANNING' },
      { from: 'PLANNING', to: 'CODING', event: 'PLAN_SUCCEEDED' },
    ]);
    const c = await step(p.snapshot, 'coding', ok.coding);
    expect(c.transitions).toEqual([{ from: 'CODING', to: 'REVIEWING', event: 'CODE_SUCCEEDED' }]);
    const r = await step(c.snapshot, 'reviewing', ok.approve);
    expect(r.transitions).toEqual([{ from: 'REVIEWING', to: 'PR_OPEN', event: 'REVIEW_APPROVED', guard: 'isApproved' }]);
    const d = await step(r.snapshot, 'pr-open', ok.pr);
    expect(d.transitions).toEqual([{ from: 'PR_OPEN', to: 'COMPLETED', event: 'PR_OPENED', guard: 'isAutoComplete' }]);
    expect(d.context.prUrl).toBe('https://github.com/acme/widgets/pull/1');
    expect(d.snapshot.status).toBe('done');
  });

  it('leaving a stage parks the next stage actor: the persisted child is active with its input', async () => {
    const p = await step(createJobSnapshot(input()).snapshot, 'planning', ok.planning);
    expect(p.snapshot.children?.code?.snapshot).toEqual(expect.objectContaining({ status: 'active' }));
    expect((p.snapshot.children?.code?.snapshot?.input as { plan: unknown }).plan).toEqual(ok.planning.ok);
  });

  it('a rejected review goes back to CODING with the comments as feedback; the cap fails the job', async () => {
    const coding = (await step(createJobSnapshot(input({ maxReviewRounds: 2 })).snapshot, 'planning', ok.planning)).snapshot;
    const reviewing = (await step(coding, 'coding', ok.coding)).snapshot;
    const r1 = await step(reviewing, 'reviewing', ok.reject);
    expect(r1.transitions).toEqual([{ from: 'REVIEWING', to: 'CODING', event: 'REVIEW_REJECTED', guard: 'canReviseAgain' }]);
    expect(r1.context.feedback).toEqual(['add a test']);
    expect((r1.snapshot.children?.code?.snapshot?.input as { feedback: string[] }).feedback).toEqual(['add a test']);
    const reviewing2 = (await step(r1.snapshot, 'coding', ok.coding)).snapshot;
    const r2 = await step(reviewing2, 'reviewing', ok.reject);
    expect(r2.state).toBe('FAILED');
    expect(r2.context.error).toEqual(expect.objectContaining({ code: 'REVIEW_ROUNDS_EXCEEDED', stage: 'reviewing' }));
    expect(r2.context.failedStage).toBe('coding');
    // RETRY resumes at coding with a fresh round budget.
    const resumed = applyEvent(r2.snapshot, { type: 'RETRY' });
    expect(resumed.state).toBe('CODING');
    expect(resumed.context.reviewRounds).toBe(0);
    expect(resumed.context.error).toBeNull();
  });

  it('a retryable fault with attempts left stays in the stage (retry), the last attempt fails the job', async () => {
    const q = createJobSnapshot(input()).snapshot;
    const retry = await runStage(machineFor('planning', { fault: { retryable: true, attempt: 1, maxAttempts: 3 } }), q, 'planning');
    expect(retry.kind).toBe('retry');
    const last = await runStage(machineFor('planning', { fault: { code: 'FLAKY', retryable: true, attempt: 3, maxAttempts: 3 } }), q, 'planning');
    expect(last.kind).toBe('advanced');
    if (last.kind === 'advanced') {
      expect(last.state).toBe('FAILED');
      expect(last.context.error).toEqual({ code: 'FLAKY', message: 'boom', stage: 'planning' });
      expect(last.transitions.at(-1)).toEqual({ from: 'PLANNING', to: 'FAILED', event: 'PLAN_FAILED' });
    }
  });

  it('a permanent fault fails at once; START_<STAGE> and RETRY resume only the failed stage', async () => {
    const coding = (await step(createJobSnapshot(input()).snapshot, 'planning', ok.planning)).snapshot;
    const failed = await step(coding, 'coding', { fault: { code: 'NOPE', retryable: false } });
    expect(failed.state).toBe('FAILED');
    expect(acceptedEvents(failed.snapshot)).toEqual(['START_CODING', 'RETRY', 'MARK_CANCELLED']);
    expect(() => applyEvent(failed.snapshot, { type: 'START_PLANNING' })).toThrow(IllegalEventError);
    expect(applyEvent(failed.snapshot, { type: 'START_CODING' }).state).toBe('CODING');
  });

  it('cancel is accepted in every non-final state and nowhere else', async () => {
    const all = await snapshotsOfEveryState();
    for (const [state, snap] of Object.entries(all)) {
      const accepts = acceptedEvents(snap).includes('MARK_CANCELLED');
      expect([state, accepts]).toEqual([state, !['COMPLETED', 'CANCELLED'].includes(state)]);
    }
  });

  it('an illegal event throws IllegalEventError naming the state and the accepted events', () => {
    const q = createJobSnapshot(input()).snapshot;
    try {
      applyEvent(q, { type: 'MARK_COMPLETED' });
      throw new Error('expected IllegalEventError');
    } catch (e) {
      expect(e).toBeInstanceOf(IllegalEventError);
      expect(e).toEqual(expect.objectContaining({ code: 'ILLEGAL_EVENT', state: 'QUEUED', accepted: ['START_PLANNING', 'MARK_CANCELLED'] }));
    }
  });

  it('MARK_COMPLETED needs an open PR', async () => {
    const all = await snapshotsOfEveryState();
    expect(applyEvent(all.PR_OPEN, { type: 'MARK_COMPLETED' }).state).toBe('COMPLETED');
    const opening = applyEvent(all.REVIEWING, { type: 'MARK_CANCELLED' });
    expect(opening.state).toBe('CANCELLED');
  });

  it('every state snapshot restores to the same state; working states restart their invocation', async () => {
    const all = await snapshotsOfEveryState();
    for (const [state, snap] of Object.entries(all)) {
      const actor = createActor(jobMachine, { snapshot: JSON.parse(JSON.stringify(snap)) } as never);
      actor.start();
      expect(stateOf(actor.getSnapshot())).toBe(state);
      const id = { PLANNING: 'plan', CODING: 'code', REVIEWING: 'review' }[state as 'PLANNING' | 'CODING' | 'REVIEWING'];
      if (id) {
        const child = (actor.getSnapshot().children as Record<string, { getSnapshot(): { status: string } }>)[id];
        expect(child.getSnapshot().status).toBe('active');
      }
      actor.stop();
    }
  });

  it('maps invoke done/error events to seed event names', () => {
    expect(seedEventName({ type: 'xstate.done.actor.plan' })).toBe('PLAN_SUCCEEDED');
    expect(seedEventName({ type: 'xstate.error.actor.code' })).toBe('CODE_FAILED');
    expect(seedEventName({ type: 'xstate.done.actor.review', output: { result: { approved: false } } })).toBe('REVIEW_REJECTED');
    expect(seedEventName({ type: 'xstate.done.actor.review', output: { result: { approved: true } } })).toBe('REVIEW_APPROVED');
    expect(seedEventName({ type: 'xstate.error.actor.openPullRequest' })).toBe('PR_FAILED');
    expect(seedEventName({ type: 'MARK_CANCELLED' })).toBe('MARK_CANCELLED');
  });

  describe('usage and budget', () => {
    const used = (inputTokens: number, outputTokens: number, costUsd?: number) => ({ inputTokens, outputTokens, ...(costUsd !== undefined ? { costUsd } : {}) });
    const withUsage = (ok: unknown, usage: ReturnType<typeof used>) => ({ okWithUsage: { ok, usage } }) as never;

    it('usage of every committed stage accumulates in the context; a stage that reports none adds nothing', async () => {
      const q = createJobSnapshot(input({ budget: { usd: 10, tokens: null } })).snapshot;
      const p = await step(q, 'planning', withUsage(ok.planning.ok, used(100, 50, 0.5)));
      expect(p.context.usage).toEqual({ inputTokens: 100, outputTokens: 50, costUsd: 0.5 });
      const c = await step(p.snapshot, 'coding', withUsage(ok.coding.ok, used(1000, 200)));
      expect(c.context.usage).toEqual({ inputTokens: 1100, outputTokens: 250, costUsd: 0.5 });
      const r = await step(c.snapshot, 'reviewing', ok.approve);
      expect(r.context.usage).toEqual(c.context.usage);
      expect(r.state).toBe('PR_OPEN');
    });

    it('over the budget after a stage, the next stage does not start: FAILED with BUDGET_EXCEEDED, the result kept; RETRY with a raised budget resumes there', async () => {
      const q = createJobSnapshot(input({ budget: { usd: 1, tokens: 5000 } })).snapshot;
      const p = await step(q, 'planning', withUsage(ok.planning.ok, used(3000, 2001)));
      expect(p.state).toBe('FAILED');
      expect(p.transitions.at(-1)).toEqual({ from: 'PLANNING', to: 'FAILED', event: 'PLAN_SUCCEEDED', guard: 'isOverBudget(planning)' });
      expect(p.context.error).toEqual(expect.objectContaining({ code: 'BUDGET_EXCEEDED', stage: 'planning' }));
      expect(p.context.error!.message).toMatch(/5001 tokens .* over the budget .*coding did not start/);
      expect(p.context.plan).toEqual(ok.planning.ok);
      expect(p.context.failedStage).toBe('coding');
      // RETRY without a raise goes on to coding, and fails again after it: the job is still over.
      const again = applyEvent(p.snapshot, { type: 'RETRY' });
      expect(again.state).toBe('CODING');
      const c = await step(again.snapshot, 'coding', ok.coding);
      expect(c.state).toBe('FAILED');
      expect(c.context.error?.code).toBe('BUDGET_EXCEEDED');
      expect(c.context.failedStage).toBe('reviewing');
      // RETRY with a raised budget: the review and the PR run.
      const raised = applyEvent(c.snapshot, { type: 'RETRY', budgetTokens: 100_000, budgetUsd: null });
      expect(raised.context.limits.budget).toEqual({ usd: null, tokens: 100_000 });
      const r = await step(raised.snapshot, 'reviewing', ok.approve);
      expect(r.state).toBe('PR_OPEN');
    });

    it('dollars count too, a rejected review over the budget fails before CODING, and a permanent fault records the usage it spent', async () => {
      const q = createJobSnapshot(input({ budget: { usd: 1, tokens: null } })).snapshot;
      const p = await step(q, 'planning', withUsage(ok.planning.ok, used(1, 1, 0.4)));
      const c = await step(p.snapshot, 'coding', withUsage(ok.coding.ok, used(1, 1, 0.4)));
      expect(c.state).toBe('REVIEWING');
      const r = await step(c.snapshot, 'reviewing', withUsage(ok.reject.ok, used(1, 1, 0.3)));
      expect(r.state).toBe('FAILED');
      expect(r.context.failedStage).toBe('coding');
      expect(r.context.reviewRounds).toBe(1);
      expect(r.context.usage.costUsd).toBeCloseTo(1.1);
      const failed = await step(p.snapshot, 'coding', { fault: { code: 'TOOL_CRASHED', retryable: false, usage: used(10, 20, 0.05) } });
      expect(failed.state).toBe('FAILED');
      expect(failed.context.usage).toEqual({ inputTokens: 11, outputTokens: 21, costUsd: 0.45 });
    });

    it('no budget (null) never fails a job, whatever it spends', async () => {
      const q = createJobSnapshot(input()).snapshot;
      const p = await step(q, 'planning', withUsage(ok.planning.ok, used(10_000_000, 10_000_000, 1000)));
      expect(p.state).toBe('CODING');
    });
  });
});
