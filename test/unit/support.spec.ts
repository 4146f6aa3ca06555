import { parseMockScript } from '../../src/agents/mock.agent';
import { validateConfig } from '../../src/config/config';
import { decodeKeys, encodeKeys } from '../../src/jobs/snapshot-codec';
import { upgradeSnapshot, UnknownMachineVersionError } from '../../src/lifecycle/snapshot-migrations';
import { redisOptionsFromUrl } from '../../src/queues/redis-connection';
import { createJobSnapshot, JOB_MACHINE_VERSION } from '../../src/lifecycle/job.runtime';
import { input } from '../support/machine-drivers';

describe('snapshot key codec', () => {
  it('escapes dots, leading $ and % in keys, and round-trips', () => {
    const value = { 'a.b': { $set: 1, 'x%2Ey': [{ '0.job.PLANNING': true }] }, plain: 'a.b $c', when: new Date(0) };
    const enc = encodeKeys(value) as Record<string, unknown>;
    const keys = JSON.stringify(enc);
    expect(keys).not.toMatch(/"[^"]*\.[^"]*":/);
    expect(keys).not.toMatch(/"\$/);
    expect(decodeKeys(enc)).toEqual(value);
  });
});

describe('MockAgent script', () => {
  it('parses mock: directives from an issue body', () => {
    expect(parseMockScript('Text\nmock: delay=coding:500\nmock: fail=reviewing\nmock: transient=planning:2\nmock: reject=1\nmock: delay=10\nmock: usage=coding:3001:0.25\nmock: usage=planning:10')).toEqual({
      delayMs: 10,
      stageDelayMs: { coding: 500 },
      fail: ['reviewing'],
      transient: { planning: 2 },
      rejections: 1,
      usage: { coding: { inputTokens: 1501, outputTokens: 1500, costUsd: 0.25 }, planning: { inputTokens: 5, outputTokens: 5 } },
    });
  });
});

describe('config', () => {
  it('applies defaults and rejects invalid values naming the variable', () => {
    const c = validateConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.STAGE_ATTEMPTS).toBe(3);
    expect(c.AUTO_COMPLETE).toBe(true);
    expect(() => validateConfig({ STAGE_ATTEMPTS: '0' })).toThrow(/STAGE_ATTEMPTS/);
    expect(() => validateConfig({ REDIS_URL: 'not a url' })).toThrow(/REDIS_URL/);
  });
  it('parses Redis URLs', () => {
    expect(redisOptionsFromUrl('redis://u:p%40ss@h:6380/2')).toEqual({ host: 'h', port: 6380, username: 'u', password: 'p@ss', db: 2 });
  });
});

describe('snapshot migrations', () => {
  const snap = createJobSnapshot(input()).snapshot;
  it('passes the current version through and chains migrations', () => {
    expect(upgradeSnapshot(JOB_MACHINE_VERSION, snap)).toBe(snap);
    const migrated = upgradeSnapshot('0', snap, '1', [{ from: '0', to: '1', description: 'test', migrate: (s) => ({ ...s, migrated: true }) }]);
    expect(migrated).toEqual(expect.objectContaining({ migrated: true }));
  });
  it('refuses an unknown version with UNKNOWN_MACHINE_VERSION', () => {
    expect(() => upgradeSnapshot('99', snap)).toThrow(UnknownMachineVersionError);
    try {
      upgradeSnapshot('99', snap);
    } catch (e) {
      expect((e as UnknownMachineVersionError).code).toBe('UNKNOWN_MACHINE_VERSION');
    }
  });
});

describe('startup checks', () => {
  it('refuses to start when a state invokes an actor but has no stage queue/processor', () => {
    const { assertEveryInvokingStateHasAStage } = require('../../src/queues/queues.module');
    const { setup, fromPromise } = require('xstate');
    expect(() => assertEveryInvokingStateHasAStage()).not.toThrow();
    const extra = setup({ actors: { scan: fromPromise(async () => 1) } }).createMachine({
      id: 'x',
      initial: 'SECURITY_SCAN',
      states: { SECURITY_SCAN: { invoke: { id: 'scan', src: 'scan' } } },
    });
    expect(() => assertEveryInvokingStateHasAStage(extra)).toThrow(/SECURITY_SCAN invokes scan but has no stage/);
  });
});
