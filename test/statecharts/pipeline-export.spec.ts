import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { instance } from '@viz-js/viz';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { toDirectedGraph } from 'xstate/graph';
import { JobsService } from '../../src/jobs/jobs.service';
import { BUILT_IN_TEMPLATES } from '../../src/pipelines/built-in-templates';
import { validateTemplate, type PipelineTemplate } from '../../src/pipelines/template.schema';
import { toMermaid, mermaidIds } from '../../src/statecharts/mermaid';
import { PIPELINE_CHART_SOURCE, resolveStatechart, type PipelineChartSource } from '../../src/statecharts/pipeline-chart-source';
import { parsePipelineChartName, pipelineChartName, pipelineStatechartEntry } from '../../src/statecharts/pipeline-statecharts';
import { dotOf, graphJsonOf, mermaidOf, scxmlOf, textFilesOf } from '../../src/statecharts/statechart.formats';
import { statechartModel } from '../../src/statecharts/statechart.model';
import { StatechartsController } from '../../src/statecharts/statecharts.controller';
import { TenantAuthGuard } from '../../src/tenants/tenant-auth.guard';
import { modelOf, STATECHART_NAMES, STATECHARTS, statechartFileBase } from '../../src/statecharts/statecharts.registry';

const ROOT = join(__dirname, '..', '..');
const committed = (file: string) => readFileSync(join(ROOT, 'statecharts', file), 'utf8');
const TEMPLATES = BUILT_IN_TEMPLATES.map((raw) => validateTemplate(raw, { tools: ['shell', 'function', 'claude', 'codex', 'gemini', 'aider'], capabilities: [], functions: [] }));
const CHARTS = TEMPLATES.map((t) => ({ name: `pipeline:${t.name}@1`, template: t, steps: t.steps.map((s) => s.id) }));
const STEP_STATES = ['waiting', 'ready', 'running', 'awaitingSpawn', 'succeeded', 'failed', 'skipped'];

/**
 * Parses Mermaid texts with the real mermaid parser (mermaid.parse: grammar and the diagram's own
 * checks, e.g. "Group nodes can only have label"), in a child Node process: mermaid is ESM and
 * wants a DOM only for DOMPurify, which is stubbed there (parsing sanitizes no HTML).
 * @returns per text: null when it parses, else the error message.
 */
function mermaidParse(texts: string[]): (string | null)[] {
  const script = `
    import DOMPurify from 'dompurify';
    DOMPurify.addHook = () => {};
    DOMPurify.sanitize = (s) => s;
    const { default: mermaid } = await import('mermaid');
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const out = [];
    for (const text of JSON.parse(input)) {
      try { await mermaid.parse(text); out.push(null); } catch (e) { out.push(String(e && e.message || e)); }
    }
    process.stdout.write(JSON.stringify(out));`;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, input: JSON.stringify(texts), encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(stdout) as (string | null)[];
}

/** The built-in pipeline templates' statecharts: nested and parallel states in every format. */
describe('pipeline statecharts', () => {
  it('every built-in template is registered as pipeline:<template>@1, after job, with file base pipeline-<template>@1', () => {
    expect(STATECHART_NAMES).toEqual(['job', 'pipeline:plan-dev-test-verify@1', 'pipeline:fan-out-fan-in@1', 'pipeline:dev-test-regression@1']);
    expect(statechartFileBase('pipeline:dev-test-regression@1')).toBe('pipeline-dev-test-regression@1');
    expect(statechartFileBase('job')).toBe('job');
    for (const { name, template } of CHARTS) {
      expect(STATECHARTS[name].machine.version).toBe(`${template.name}@1`);
      expect(STATECHARTS[name].machine.id).toBe('pipeline');
    }
    expect(parsePipelineChartName('pipeline:fan-out-fan-in@12')).toEqual({ template: 'fan-out-fan-in', version: 12 });
    for (const bad of ['pipeline:x@0', 'pipeline:x@01', 'pipeline:X@1', 'pipeline:x', 'job', 'pipeline:x@1@2', 'pipeline:x@99999999999999999999']) expect(parsePipelineChartName(bad)).toBeNull();
    expect(pipelineChartName('a', 3)).toBe('pipeline:a@3');
  });

  it('the committed files in statecharts/ are what the machines generate (npm run statecharts:check does the same)', async () => {
    const viz = await instance();
    for (const { name } of CHARTS) {
      const base = statechartFileBase(name);
      const files = textFilesOf(name);
      expect(Object.keys(files).sort()).toEqual([`${base}.dot`, `${base}.json`, `${base}.mmd`, `${base}.scxml`]);
      for (const [file, content] of Object.entries(files)) expect({ file, content }).toEqual({ file, content: committed(file) });
      const svg = viz.renderString(dotOf(name), { format: 'svg', engine: 'dot' });
      expect(svg.endsWith('\n') ? svg : `${svg}\n`).toBe(committed(`${base}.svg`));
    }
  });

  it('the model: keys are unique dot paths, parents exist, one region per step with the step states, the spawn loop', () => {
    for (const { name, steps } of CHARTS) {
      const model = modelOf(name);
      const keys = model.states.map((s) => s.key);
      expect(new Set(keys).size).toBe(keys.length);
      for (const s of model.states) {
        expect(s.key).toBe(s.parent ? `${s.parent}.${s.name}` : s.name);
        if (s.parent) expect(keys).toContain(s.parent);
      }
      expect(model.states.filter((s) => s.parent === null).map((s) => `${s.key}:${s.kind}`)).toEqual([
        'pending:atomic', 'running:parallel', 'quarantined:atomic', 'succeeded:final', 'failed:atomic', 'canceled:final',
      ]);
      expect(model.states.filter((s) => s.parent === 'running').map((s) => s.name)).toEqual(steps);
      for (const step of steps) {
        const region = model.states.find((s) => s.key === `running.${step}`)!;
        expect(region).toEqual(expect.objectContaining({ kind: 'compound', initial: `running.${step}.waiting` }));
        expect(model.states.filter((s) => s.parent === region.key).map((s) => s.name)).toEqual(STEP_STATES);
      }
      for (const t of model.transitions) {
        expect(keys).toContain(t.source);
        expect(keys).toContain(t.target);
        if (t.eventless) expect({ eventType: t.eventType, label: t.label }).toEqual({ eventType: '', label: '' });
      }
      // onDone of the parallel state, and a region's transition out of the parallel state.
      expect(model.transitions.filter((t) => t.source === 'running' && t.label === 'done').map((t) => [t.target, t.condition])).toEqual([
        ['failed', 'anyStepFailed'],
        ['succeeded', '!anyStepFailed'],
      ]);
      expect(model.transitions).toContainEqual(expect.objectContaining({ source: `running.${steps[0]}.running`, eventType: 'STEP_FAILED', target: 'quarantined', guard: `quarantines(${steps[0]})` }));
    }
    const loop = modelOf('pipeline:dev-test-regression@1').transitions.filter((t) => t.source.startsWith('running.test.') && (t.target === 'running.test.awaitingSpawn' || t.source === 'running.test.awaitingSpawn'));
    expect(loop.map((t) => `${t.source} -> ${t.target} ${t.eventType || '(always)'} [${t.guard}]`)).toEqual([
      'running.test.running -> running.test.awaitingSpawn STEP_SPAWNED [spawnAllowed(test)]',
      'running.test.awaitingSpawn -> running.test.running (always) [spawnSucceeded(test)]',
      'running.test.awaitingSpawn -> running.test.failed (always) [spawnFailed(test)]',
    ]);
  });

  it('the job model is unchanged by nesting support: top-level atomic and final states only, no eventless transitions', () => {
    const model = modelOf('job');
    expect(model.states.every((s) => s.parent === null && s.key === s.name && (s.kind === 'atomic' || s.kind === 'final'))).toBe(true);
    expect(model.transitions.some((t) => t.eventless)).toBe(false);
  });

  describe('SCXML', () => {
    const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (n) => ['state', 'final', 'transition', 'parallel', 'invoke'].includes(n) });
    type Transition = { event?: string; cond?: string; target?: string };
    type El = { id: string; initial?: string; state?: El[]; final?: El[]; parallel?: El[]; transition?: Transition[] };

    it.each(CHARTS.map((c) => [c.name, c] as const))('%s is well-formed and has a <parallel> with one <state> per step', (name, { steps }) => {
      const xml = scxmlOf(name);
      expect(XMLValidator.validate(xml)).toBe(true);
      const root = (parser.parse(xml) as { scxml: El & { xmlns: string; version: string } }).scxml;
      expect(root.xmlns).toBe('http://www.w3.org/2005/07/scxml');
      expect(root.initial).toBe('pending');
      expect(root.parallel!.map((p) => p.id)).toEqual(['running']);
      const running = root.parallel![0];
      expect(running.state!.map((s) => s.id)).toEqual(steps.map((s) => `running.${s}`));
      const ids: string[] = [];
      const transitions: Transition[] = [];
      const walk = (el: El) => {
        for (const child of [...(el.state ?? []), ...(el.final ?? []), ...(el.parallel ?? [])]) {
          ids.push(child.id);
          transitions.push(...(child.transition ?? []));
          walk(child);
        }
      };
      walk(root);
      expect(new Set(ids).size).toBe(ids.length);
      for (const t of transitions) if (t.target) expect(ids).toContain(t.target);
      for (const region of running.state!) {
        expect(region.initial).toBe(`${region.id}.waiting`);
        expect([...(region.state ?? []), ...(region.final ?? [])].map((s) => s.id.slice(region.id.length + 1)).sort()).toEqual([...STEP_STATES].sort());
        const waiting = region.state!.find((s) => s.id === `${region.id}.waiting`)!;
        // Eventless: no event attribute, the guard as cond.
        expect(waiting.transition).toContainEqual({ cond: `needsMet('${region.id.slice('running.'.length)}')`, target: `${region.id}.ready` });
        expect(waiting.transition!.every((t) => t.event === undefined)).toBe(true);
      }
      expect(running.transition).toContainEqual({ event: 'xstate.done.state.pipeline.running', cond: 'anyStepFailed', target: 'failed' });
    });
  });

  describe('Mermaid', () => {
    it('the real mermaid parser accepts every chart (job too)', () => {
      const names = STATECHART_NAMES;
      const errors = mermaidParse(names.map((n) => mermaidOf(n)));
      expect(Object.fromEntries(names.map((n, i) => [n, errors[i]]))).toEqual(Object.fromEntries(names.map((n) => [n, null])));
      // The check does catch a broken diagram: a description on a composite state.
      const broken = mermaidOf('pipeline:dev-test-regression@1').replace('    state "quarantined"', '    running : a description\n    state "quarantined"');
      expect(mermaidParse([broken])[0]).toMatch(/Group nodes can only have label/);
    });

    it('regions are composite states named by step id, separated by --, with safe ids; the spawn loop and the guards are drawn', () => {
      const mmd = mermaidOf('pipeline:fan-out-fan-in@1');
      const lines = mmd.split('\n').map((l) => l.trim());
      expect(lines).toContain('state "running" as running {');
      for (const step of ['prepare', 'build-a', 'build-b', 'build-c', 'merge', 'cleanup']) expect(lines).toContain(`state "${step}" as running_${step.replace(/-/g, '_')} {`);
      expect(lines.filter((l) => l === '--')).toHaveLength(5);
      expect(lines).toContain('running_build_a_waiting --> running_build_a_ready : [needsMet(build-a)]');
      expect(lines).toContain('[*] --> running_build_a_waiting');
      expect(lines).toContain('running --> failed : done [anyStepFailed]');
      const ids = [...mmd.matchAll(/ as ([^\s{]+)/g)].map((m) => m[1]);
      for (const id of ids) expect(id).toMatch(/^[A-Za-z][A-Za-z0-9_]*$/);
      const regression = mermaidOf('pipeline:dev-test-regression@1').split('\n').map((l) => l.trim());
      expect(regression).toContain('running_test_running --> running_test_awaitingSpawn : STEP_SPAWNED [spawnAllowed(test)]');
      expect(regression).toContain('running_test_awaitingSpawn --> running_test_running : [spawnSucceeded(test)]');
      expect(regression).toContain('running_test_running --> quarantined : STEP_FAILED [quarantines(test)]');
    });

    it('mermaidIds makes clashing keys distinct; a highlight may name several current states', () => {
      const model = statechartModel(STATECHARTS['pipeline:dev-test-regression@1'].machine);
      const clash = { ...model, states: [...model.states, { ...model.states[0], key: 'running-dev', name: 'running-dev' }] };
      const ids = mermaidIds(clash);
      expect(new Set(ids.values()).size).toBe(clash.states.length);
      const text = toMermaid(modelOf('pipeline:dev-test-regression@1'), {
        highlight: { current: ['running', 'running.dev.succeeded', 'running.test.running'], taken: [{ from: 'running.test.ready', to: 'running.test.running', event: '' }] },
      });
      expect(text).toContain('    class running,running_dev_succeeded,running_test_running current');
      expect(text).toContain('    class running_test_ready visited');
      expect(text).toContain('running_test_ready --> running_test_running : [hasCapacity(test)] (taken)');
    });
  });

  describe('directed graph JSON', () => {
    type Edge = { id: string; source: string; target: string; event: string; guard: string | null; eventless?: true };
    type Node = { id: string; type: string; parent?: string; children: Node[]; edges: Edge[] };

    it.each(CHARTS.map((c) => [c.name, c] as const))('%s has every step region (with its parent) and the eventless edges toDirectedGraph leaves out', (name, { steps }) => {
      const json = JSON.parse(graphJsonOf(name)) as { version: string; graph: Node };
      const running = json.graph.children.find((c) => c.id === 'pipeline.running')!;
      expect(running.type).toBe('parallel');
      expect(running.parent).toBeUndefined();
      expect(running.children.map((c) => [c.id, c.type, c.parent])).toEqual(steps.map((s) => [`pipeline.running.${s}`, 'compound', 'pipeline.running']));
      const all: Node[] = [];
      const walk = (n: Node) => {
        all.push(n);
        n.children.forEach(walk);
      };
      walk(json.graph);
      // Every toDirectedGraph edge is there, in order, before the eventless ones.
      const graphEdges: string[] = [];
      const walkGraph = (n: ReturnType<typeof toDirectedGraph>) => {
        graphEdges.push(...n.edges.map((e) => e.id));
        n.children.forEach(walkGraph);
      };
      walkGraph(toDirectedGraph(STATECHARTS[name].machine));
      expect(all.flatMap((n) => n.edges.filter((e) => !e.eventless).map((e) => e.id))).toEqual(graphEdges);
      const waiting = all.find((n) => n.id === `pipeline.running.${steps[0]}.waiting`)!;
      expect(waiting.parent).toBe(`pipeline.running.${steps[0]}`);
      expect(waiting.edges).toContainEqual(expect.objectContaining({ target: `pipeline.running.${steps[0]}.ready`, event: '', guard: `needsMet('${steps[0]}')`, eventless: true }));
      expect(running.edges.filter((e) => e.event === 'done').map((e) => e.target)).toEqual(['pipeline.failed', 'pipeline.succeeded']);
    });
  });

  it('DOT: a cluster per composite state, regions labelled by step id; the SVG names every step', () => {
    for (const { name, steps } of CHARTS) {
      const dot = dotOf(name);
      expect(dot).toContain('compound=true;');
      expect(dot).toContain('subgraph "cluster_running" {');
      for (const step of steps) expect(dot).toContain(`subgraph "cluster_running.${step}" {\n      label="${step}\\n`);
      expect(dot).toContain('"pending" -> "running.__anchor" [label="START\\l", lhead="cluster_running"];');
      const svg = committed(`${statechartFileBase(name)}.svg`);
      // Graphviz writes `-` as `&#45;`.
      for (const step of steps) expect(svg).toContain(`>${step.replace(/-/g, '&#45;')}</text>`);
    }
    expect(dotOf('pipeline:dev-test-regression@1')).toContain('"running.test.awaitingSpawn" -> "running.test.running" [label="[spawnSucceeded(test)]\\l"];');
  });

  describe('served at GET /statecharts/:machine (controller only, no store)', () => {
    const custom: PipelineTemplate = validateTemplate(
      { name: 'custom', steps: [{ id: 'lint', tool: 'shell', with: { run: 'true' } }, { id: 'ship-it', tool: 'shell', needs: ['lint'], with: { run: 'true' } }] },
      { tools: [], capabilities: [], functions: [] },
    );
    const source: PipelineChartSource = { find: async (name, version) => (name === 'custom' && version === 3 ? custom : null) };
    let app: INestApplication;
    let bare: INestApplication;
    beforeAll(async () => {
      const start = async (withSource: boolean) => {
        const providers = [{ provide: JobsService, useValue: {} }, ...(withSource ? [{ provide: PIPELINE_CHART_SOURCE, useValue: source }] : [])];
        // The job endpoint's guard is not under test here (no tenants store).
        const moduleRef = await Test.createTestingModule({ controllers: [StatechartsController], providers }).overrideGuard(TenantAuthGuard).useValue({ canActivate: () => true }).compile();
        const a = moduleRef.createNestApplication({ logger: false });
        await a.init();
        return a;
      };
      app = await start(true);
      bare = await start(false);
    });
    afterAll(async () => {
      await app?.close();
      await bare?.close();
    });

    it('serves the built-in charts in every format, equal to the committed files', async () => {
      for (const { name } of CHARTS) {
        const base = statechartFileBase(name);
        const mmd = await request(app.getHttpServer()).get(`/statecharts/${name}`).expect(200);
        expect(mmd.headers['content-type']).toMatch(/^text\/plain/);
        expect(mmd.text).toBe(committed(`${base}.mmd`));
        const scxml = await request(app.getHttpServer()).get(`/statecharts/${encodeURIComponent(name)}?format=scxml`).expect(200);
        expect(scxml.headers['content-type']).toMatch(/^application\/xml/);
        expect(scxml.text).toBe(committed(`${base}.scxml`));
        const json = await request(app.getHttpServer()).get(`/statecharts/${name}?format=json`).expect(200);
        expect(json.body).toEqual(JSON.parse(committed(`${base}.json`)));
        const svg = await request(app.getHttpServer()).get(`/statecharts/${name}?format=svg`).buffer(true).parse((res, cb) => {
          let data = '';
          res.on('data', (c: Buffer) => (data += c.toString('utf8')));
          res.on('end', () => cb(null, data));
        }).expect(200);
        expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
        expect(svg.body).toBe(committed(`${base}.svg`));
      }
    });

    it('serves a stored template version through PIPELINE_CHART_SOURCE (not its SVG); 404 without the source or for an unknown version', async () => {
      const mmd = await request(app.getHttpServer()).get('/statecharts/pipeline:custom@3').expect(200);
      expect(mmd.text).toBe(mermaidOf(pipelineStatechartEntry(custom, 3)));
      expect(mmd.text).toContain('%% Generated from compilePipeline(custom, 3) (src/pipelines/pipeline.compiler.ts) version custom@3.');
      expect(mmd.text).toContain('state "ship-it" as running_ship_it {');
      const scxml = await request(app.getHttpServer()).get('/statecharts/pipeline:custom@3?format=scxml').expect(200);
      expect(XMLValidator.validate(scxml.text)).toBe(true);
      expect((await request(app.getHttpServer()).get('/statecharts/pipeline:custom@3?format=svg').expect(404)).body.code).toBe('STATECHART_NOT_FOUND');
      for (const path of ['/statecharts/pipeline:custom@4', '/statecharts/pipeline:custom@x', '/statecharts/pipeline:dev-test-regression@2']) {
        expect((await request(app.getHttpServer()).get(path).expect(404)).body.code).toBe('STATECHART_NOT_FOUND');
      }
      expect((await request(bare.getHttpServer()).get('/statecharts/pipeline:custom@3').expect(404)).body.code).toBe('STATECHART_NOT_FOUND');
      await request(bare.getHttpServer()).get('/statecharts/pipeline:dev-test-regression@1').expect(200);
      const bad = await request(app.getHttpServer()).get('/statecharts/pipeline:custom@3?format=png').expect(400);
      expect(bad.body.code).toBe('BAD_FORMAT');
    });

    it('resolveStatechart: registered names first, then the source', async () => {
      expect(await resolveStatechart('job', source)).toBe(STATECHARTS.job);
      expect(await resolveStatechart('pipeline:dev-test-regression@1', null)).toBe(STATECHARTS['pipeline:dev-test-regression@1']);
      expect((await resolveStatechart('pipeline:custom@3', source))?.machine.version).toBe('custom@3');
      expect(await resolveStatechart('toString', source)).toBeNull();
    });
  });
});
