import { instance } from '@viz-js/viz';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toDirectedGraph } from 'xstate/graph';
import { jobMachine } from '../../src/lifecycle/job.machine';
import { JOB_STATES } from '../../src/lifecycle/job.types';
import { dotOf, graphJsonOf, mermaidOf, scxmlOf, textFilesOf } from '../../src/statecharts/statechart.formats';
import { readmeOf, readmeSectionOf, withReadmeSection } from '../../src/statecharts/statechart.readme';
import { modelOf, STATECHART_NAMES } from '../../src/statecharts/statecharts.registry';
import { startTestApp, waitForState, issueBody, type TestApp } from '../support/test-app';
import { legalTransitions } from './paths';

const committed = (file: string) => readFileSync(join(__dirname, '..', '..', 'statecharts', file), 'utf8');

/** The exported diagrams: generated from the machine, committed, and served over HTTP. */
describe('statechart export', () => {
  const legal = legalTransitions();

  it('the committed files in statecharts/ are what the machine generates (npm run statecharts:check does the same)', async () => {
    for (const [file, content] of Object.entries(textFilesOf('job'))) expect({ file, content }).toEqual({ file, content: committed(file) });
    const viz = await instance();
    const svg = viz.renderString(dotOf('job'), { format: 'svg', engine: 'dot' });
    expect(svg.endsWith('\n') ? svg : `${svg}\n`).toBe(committed('job.svg'));
    expect(readmeOf(STATECHART_NAMES)).toBe(committed('README.md'));
  });

  it('statecharts/README.md embeds job.mmd in a mermaid block and links every file', () => {
    const readme = committed('README.md');
    expect(readme).toContain(`\`\`\`mermaid\n${committed('job.mmd')}\`\`\``);
    for (const file of ['job.mmd', 'job.scxml', 'job.json', 'job.dot', 'job.svg']) expect(readme).toContain(`](${file})`);
  });

  it("the repository README's Statecharts section is the generated one, with job.mmd in a mermaid block", () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(withReadmeSection(readme, readmeSectionOf(STATECHART_NAMES))).toBe(readme);
    expect(readme).toContain(`\`\`\`mermaid\n${committed('job.mmd')}\`\`\``);
    expect(withReadmeSection('no markers here', 'x')).toBeNull();
  });

  it('generation is deterministic', () => {
    expect(textFilesOf('job')).toEqual(textFilesOf('job'));
  });

  describe('SCXML', () => {
    const xml = scxmlOf('job');
    const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['state', 'final', 'transition', 'invoke'].includes(name) });
    type Transition = { event: string; cond?: string; target?: string };
    type StateEl = { id: string; transition?: Transition[]; invoke?: { id: string }[] };
    const doc = parser.parse(xml) as { scxml: { xmlns: string; version: string; initial: string; name: string; state: StateEl[]; final: StateEl[] } };

    it('is well-formed XML (fast-xml-parser validator), and the validator does catch a broken document', () => {
      expect(XMLValidator.validate(xml)).toBe(true);
      expect(XMLValidator.validate(xml.replace('</scxml>', ''))).not.toBe(true);
      expect(XMLValidator.validate(xml.replace('<final id="COMPLETED">', '<final id="COMPLETED" id="X">'))).not.toBe(true);
    });

    it('is W3C SCXML 1.0: root <scxml> in the SCXML namespace, version 1.0, an initial state that exists', () => {
      const root = doc.scxml;
      expect(root.xmlns).toBe('http://www.w3.org/2005/07/scxml');
      expect(root.version).toBe('1.0');
      expect(root.name).toBe('job');
      const ids = [...root.state, ...root.final].map((s) => s.id);
      expect(new Set(ids)).toEqual(new Set(JOB_STATES));
      expect(ids).toContain(root.initial);
      expect(root.initial).toBe('QUEUED');
    });

    it('has one <final> per final state, no transitions out of them, and one <invoke> per stage state', () => {
      expect(doc.scxml.final.map((s) => s.id).sort()).toEqual(['CANCELLED', 'COMPLETED']);
      for (const f of doc.scxml.final) expect(f.transition).toBeUndefined();
      const invokes = Object.fromEntries(doc.scxml.state.map((s) => [s.id, (s.invoke ?? []).map((i) => i.id)]));
      expect(invokes).toEqual({ QUEUED: [], PLANNING: ['plan'], CODING: ['code'], REVIEWING: ['review'], PR_OPEN: ['openPullRequest'], FAILED: [] });
    });

    it('lists every legal transition in document (guard) order with event, cond and target; targets exist', () => {
      const ids = new Set(JOB_STATES as readonly string[]);
      const fromXml = doc.scxml.state.flatMap((s) =>
        (s.transition ?? []).map((t) => {
          if (t.target) expect(ids.has(t.target)).toBe(true);
          return { source: s.id, event: t.event, target: t.target ?? s.id, targetless: !t.target, guarded: t.cond !== undefined };
        }),
      );
      expect(fromXml).toEqual(
        legal.map((t) => ({ source: t.source, event: t.eventType, target: t.target, targetless: t.targetless, guarded: t.guard !== null })),
      );
      const retry = doc.scxml.state.find((s) => s.id === 'FAILED')!.transition!.filter((t) => t.event === 'RETRY');
      expect(retry.map((t) => t.cond)).toEqual(["failedIn('planning')", "failedIn('coding')", "failedIn('reviewing')", "failedIn('pr-open')"]);
    });
  });

  describe('Mermaid', () => {
    const mmd = mermaidOf('job');
    const lines = mmd.split('\n').map((l) => l.trim());

    it('is a stateDiagram-v2 with the initial and final pseudo-states and every state description', () => {
      expect(lines[0]).toBe('stateDiagram-v2');
      expect(lines).toContain('[*] --> QUEUED');
      expect(lines).toContain('COMPLETED --> [*]');
      expect(lines).toContain('CANCELLED --> [*]');
      for (const s of modelOf('job').states) expect(lines.some((l) => l.startsWith(`${s.key} : `))).toBe(true);
      expect(lines).toContain('QUEUED : Accepted and persisted, waiting for a planning');
    });

    it('has one arrow per legal transition, labelled with the seed event name and the guard in brackets', () => {
      const arrows = lines.filter((l) => /^[A-Z_]+ --> [A-Z_]+ : /.test(l));
      expect(arrows).toHaveLength(legal.length);
      expect(arrows).toEqual(
        expect.arrayContaining([
          'QUEUED --> PLANNING : START_PLANNING',
          'PLANNING --> CODING : PLAN_SUCCEEDED [!isOverBudget(planning)]',
          'PLANNING --> FAILED : PLAN_SUCCEEDED [isOverBudget(planning)]',
          'REVIEWING --> FAILED : REVIEW_APPROVED / REVIEW_REJECTED [isOverBudget(reviewing)]',
          'PLANNING --> PLANNING : PLAN_FAILED [isRetryableFault(planning)]',
          'PLANNING --> FAILED : PLAN_FAILED [!isRetryableFault(planning)]',
          'REVIEWING --> PR_OPEN : REVIEW_APPROVED [isApproved]',
          'REVIEWING --> CODING : REVIEW_REJECTED [canReviseAgain]',
          'REVIEWING --> FAILED : REVIEW_REJECTED [rounds exceeded]',
          'PR_OPEN --> COMPLETED : PR_OPENED [isAutoComplete]',
          'PR_OPEN --> PR_OPEN : PR_OPENED [!isAutoComplete]',
          'PR_OPEN --> COMPLETED : MARK_COMPLETED [hasPullRequest]',
          'FAILED --> PLANNING : RETRY [failedIn(planning)]',
          'FAILED --> CODING : START_CODING [failedIn(coding)]',
        ]),
      );
      // No raw xstate event names and nothing Mermaid reads as syntax in free text.
      const texts = lines.filter((l) => l.includes(' : ') && !l.startsWith('%%')).map((l) => l.slice(l.indexOf(' : ') + 3));
      expect(texts.length).toBeGreaterThan(legal.length);
      for (const text of texts) expect(text).not.toMatch(/xstate\.|[;#`{}<>]/);
    });
  });

  describe('directed graph JSON', () => {
    it('carries the edges of toDirectedGraph (xstate/graph) in order, JSON-safe', () => {
      const json = JSON.parse(graphJsonOf('job')) as { version: string; graph: { id: string; children: { id: string; edges: { id: string; source: string; target: string; label: { text: string }; event: string }[] }[] } };
      expect(json.version).toBe(jobMachine.version);
      const graph = toDirectedGraph(jobMachine);
      expect(json.graph.children.map((c) => c.id)).toEqual(graph.children.map((c) => c.id));
      const edges = (g: { children: { edges: { id: string; source: unknown; target: unknown; label: { text: string } }[] }[] }) =>
        g.children.flatMap((c) => c.edges.map((e) => ({ id: e.id, label: e.label.text })));
      expect(edges(json.graph)).toEqual(edges(graph as never));
      expect(json.graph.children.flatMap((c) => c.edges.map((e) => `${e.source}>${e.target}`))).toEqual(
        graph.children.flatMap((c) => c.edges.map((e) => `${e.source.id}>${e.target.id}`)),
      );
      expect(json.graph.children.find((c) => c.id === 'job.REVIEWING')!.edges.map((e) => e.event)).toEqual([
        'MARK_CANCELLED',
        'MARK_FAILED',
        'REVIEW_APPROVED / REVIEW_REJECTED',
        'REVIEW_APPROVED',
        'REVIEW_REJECTED',
        'REVIEW_REJECTED',
        'REVIEW_FAILED',
        'REVIEW_FAILED',
      ]);
    });
  });

  describe('over HTTP', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp('statecharts');
    });
    afterAll(async () => {
      await t?.close();
    });

    it('GET /statecharts/job serves mmd (default), scxml, json and svg with their content types', async () => {
      const mmd = await t.http.get('/statecharts/job').expect(200);
      expect(mmd.headers['content-type']).toMatch(/^text\/plain/);
      expect(mmd.text).toBe(committed('job.mmd'));
      const scxml = await t.http.get('/statecharts/job?format=scxml').expect(200);
      expect(scxml.headers['content-type']).toMatch(/^application\/xml/);
      expect(scxml.text).toBe(committed('job.scxml'));
      const json = await t.http.get('/statecharts/job?format=json').expect(200);
      expect(json.headers['content-type']).toMatch(/^application\/json/);
      expect(json.body).toEqual(JSON.parse(committed('job.json')));
      const svg = await t.http.get('/statecharts/job?format=svg').buffer(true).parse((res, cb) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString('utf8')));
        res.on('end', () => cb(null, data));
      }).expect(200);
      expect(svg.headers['content-type']).toMatch(/^image\/svg\+xml/);
      expect(svg.body).toBe(committed('job.svg'));
    });

    it('404 for an unknown machine, 400 for an unknown format', async () => {
      const nf = await t.http.get('/statecharts/nope').expect(404);
      expect(nf.body.code).toBe('STATECHART_NOT_FOUND');
      await t.http.get('/statecharts/toString').expect(404);
      const bad = await t.http.get('/statecharts/job?format=png').expect(400);
      expect(bad.body).toEqual(expect.objectContaining({ code: 'BAD_FORMAT', errors: [expect.objectContaining({ field: 'format' })] }));
    });

    it("GET /jobs/:id/statechart highlights the job's current state and the transitions it took; other tenants get 404", async () => {
      const tenant = { 'x-tenant-id': 'charts' };
      const created = await t.http.post('/jobs').set(tenant).send(issueBody(1)).expect(201);
      const id = created.body.id as string;
      await waitForState(t, id, ['COMPLETED']);
      const res = await t.http.get(`/jobs/${id}/statechart`).set(tenant).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      const lines = res.text.split('\n').map((l) => l.trim());
      expect(lines[0]).toBe('stateDiagram-v2');
      expect(lines).toContain('class COMPLETED current');
      expect(lines).toContain('class QUEUED,PLANNING,CODING,REVIEWING,PR_OPEN visited');
      expect(lines.some((l) => l.startsWith('classDef current '))).toBe(true);
      expect(lines.filter((l) => l.endsWith('(taken)'))).toEqual([
        'QUEUED --> PLANNING : START_PLANNING (taken)',
        'PLANNING --> CODING : PLAN_SUCCEEDED [!isOverBudget(planning)] (taken)',
        'CODING --> REVIEWING : CODE_SUCCEEDED [!isOverBudget(coding)] (taken)',
        'REVIEWING --> PR_OPEN : REVIEW_APPROVED [isApproved] (taken)',
        'PR_OPEN --> COMPLETED : PR_OPENED [isAutoComplete] (taken)',
      ]);
      // Everything else is the plain diagram.
      const plain = mermaidOf('job').split('\n').filter((l) => /-->/.test(l)).map((l) => l.trim());
      expect(lines.filter((l) => /-->/.test(l)).map((l) => l.replace(/ \(taken( ×\d+)?\)$/, ''))).toEqual(plain);

      await t.http.get(`/jobs/${id}/statechart`).set({ 'x-tenant-id': 'someone-else' }).expect(404);
      await t.http.get('/jobs/not-a-uuid/statechart').set(tenant).expect(404);
      await t.http.get(`/jobs/${id}/statechart`).expect(400);
    });

    it('a review loop is counted: REVIEW_REJECTED (taken ×2)', async () => {
      const tenant = { 'x-tenant-id': 'charts' };
      const created = await t.http.post('/jobs').set(tenant).send(issueBody(2, 'mock: reject=2')).expect(201);
      const id = created.body.id as string;
      await waitForState(t, id, ['COMPLETED']);
      const res = await t.http.get(`/jobs/${id}/statechart`).set(tenant).expect(200);
      expect(res.text).toContain('REVIEWING --> CODING : REVIEW_REJECTED [canReviseAgain] (taken ×2)');
      expect(res.text).toContain('CODING --> REVIEWING : CODE_SUCCEEDED [!isOverBudget(coding)] (taken ×3)');
    });
  });
});
