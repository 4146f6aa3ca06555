/**
 * Exports every registered statechart (src/statecharts/statecharts.registry.ts: `job` and the
 * built-in pipeline templates' `pipeline:<template>@1`) to `statecharts/`, as files named by the
 * chart's name with `:` made `-` (`job.mmd`, `pipeline-dev-test-regression@1.mmd`):
 *   <file>.mmd    Mermaid stateDiagram-v2 (descriptions, event labels, guards, composite states)
 *   <file>.scxml  W3C SCXML 1.0
 *   <file>.json   directed graph from xstate/graph `toDirectedGraph` (JSON-safe parts)
 *   <file>.dot    Graphviz DOT, the source of the picture
 *   <file>.svg    the picture, rendered from the DOT by Graphviz compiled to WebAssembly
 *                 (@viz-js/viz: no browser, no native binary; byte-for-byte deterministic for a
 *                 given package version, so it is checked like the other files)
 *   README.md     what the files are, each machine's Mermaid diagram embedded, links
 * and the "Statecharts" section of the repository's README.md, between its markers (only that
 * section is written; a README without the markers is left alone).
 *
 *   npm run statecharts                 writes the files
 *   npm run statecharts:check           regenerates into a temp dir; exits 1 naming every file
 *                                       that differs from (or is missing in) statecharts/
 *   tsx scripts/export-statecharts.ts --out DIR    writes into DIR instead
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { instance } from '@viz-js/viz';
import { join, resolve } from 'node:path';
import { dotOf, textFilesOf } from '../src/statecharts/statechart.formats';
import { readmeOf, readmeSectionOf, withReadmeSection } from '../src/statecharts/statechart.readme';
import { STATECHART_NAMES, statechartFileBase } from '../src/statecharts/statecharts.registry';

const ROOT = resolve(__dirname, '..');
const COMMITTED = join(ROOT, 'statecharts');

/** Renders DOT to SVG with Graphviz (WebAssembly build). */
async function renderSvg(dot: string): Promise<string> {
  const viz = await instance();
  const svg = viz.renderString(dot, { format: 'svg', engine: 'dot' });
  return svg.endsWith('\n') ? svg : `${svg}\n`;
}

/** Every generated file of every machine, by file name. */
async function generateAll(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of STATECHART_NAMES) {
    Object.assign(files, textFilesOf(name));
    files[`${statechartFileBase(name)}.svg`] = await renderSvg(dotOf(name));
  }
  files['README.md'] = readmeOf(STATECHART_NAMES);
  return files;
}

function write(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const outIndex = args.indexOf('--out');
  const files = await generateAll();

  const readmePath = join(ROOT, 'README.md');
  const readme = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : null;
  const updatedReadme = readme === null ? null : withReadmeSection(readme, readmeSectionOf(STATECHART_NAMES));

  if (!check) {
    const dir = outIndex >= 0 ? resolve(args[outIndex + 1]) : COMMITTED;
    write(dir, files);
    console.log(`statecharts: wrote ${Object.keys(files).sort().join(', ')} to ${dir}`);
    if (outIndex < 0 && updatedReadme !== null && updatedReadme !== readme) {
      writeFileSync(readmePath, updatedReadme);
      console.log('statecharts: updated the Statecharts section of README.md');
    }
    return 0;
  }

  const tmp = mkdtempSync(join(tmpdir(), 'statecharts-'));
  try {
    write(tmp, files);
    const stale: string[] = [];
    for (const file of Object.keys(files).sort()) {
      const committed = join(COMMITTED, file);
      if (!existsSync(committed)) stale.push(`${file} (missing)`);
      else if (readFileSync(committed, 'utf8') !== readFileSync(join(tmp, file), 'utf8')) stale.push(file);
    }
    if (updatedReadme === null) console.log('statecharts: README.md has no generated Statecharts section; not checked');
    else if (updatedReadme !== readme) stale.push('../README.md (Statecharts section)');
    if (stale.length) {
      console.error(`statecharts: ${stale.length} file(s) in statecharts/ differ from the machine definitions: ${stale.join(', ')}`);
      console.error('statecharts: run `npm run statecharts` and commit the result');
      return 1;
    }
    const section = updatedReadme === null ? '' : ' and the Statecharts section of README.md';
    console.log(`statecharts: up to date (${Object.keys(files).sort().join(', ')}${section})`);
    return 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
