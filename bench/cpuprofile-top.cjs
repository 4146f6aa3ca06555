'use strict';
/**
 * Summarises V8 .cpuprofile files (node --cpu-prof; e.g. the service of the pipeline phase with
 * BENCH_PIPELINE_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'):
 *   node bench/cpuprofile-top.cjs <file.cpuprofile | directory> [top=15] [function]
 * With a function name (e.g. writeBuffer), also the stacks (our and packages' frames) its self time comes from.
 * Prints self time by function and by module (our dist/ files as their src/ path, node_modules
 * packages, node internals, GC/idle/program), and inclusive time of our files (a sample counts once
 * for every one of our files on its stack). Percentages are of the non-idle time.
 */
const fs = require('node:fs');
const path = require('node:path');

const arg = process.argv[2];
const top = Number(process.argv[3] || 15);
const callersOf = process.argv[4];
const callers = new Map();
if (!arg) throw new Error('usage: node bench/cpuprofile-top.cjs <file.cpuprofile | directory> [top]');
const files = fs.statSync(arg).isDirectory()
  ? fs.readdirSync(arg).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(arg, f))
  : [arg];

/** Where a frame's code is: `src/…` for ours, the package for node_modules, `node:…` for Node's own. */
function moduleOf(url) {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = u.indexOf('/dist/');
  if (dist >= 0) return `src/${u.slice(dist + 6).replace(/\.js$/, '.ts')}`;
  if (u.startsWith('node:')) return u.split('/')[0] === 'node:internal' ? `node:internal/${u.split('/')[1]}` : u;
  return u;
}

const self = new Map();
const byModule = new Map();
const inclusiveOurs = new Map();
let total = 0;
let idle = 0;
const add = (m, k, v) => m.set(k, (m.get(k) || 0) + v);

for (const file of files) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id);
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] || 0) / 1000; // µs → ms
    const n = nodes.get(p.samples[i]);
    const fr = n.callFrame;
    if (fr.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    total += dt;
    const mod = moduleOf(fr.url) || fr.functionName; // (garbage collector), (program)
    add(self, `${fr.functionName || '(anonymous)'} ${mod}${fr.url ? `:${fr.lineNumber + 1}` : ''}`, dt);
    add(byModule, mod, dt);
    if (callersOf && fr.functionName === callersOf) {
      const stack = [];
      for (let id = parent.get(n.id); id !== undefined && stack.length < 6; id = parent.get(id)) {
        const c = nodes.get(id).callFrame;
        if (c.url && !c.url.startsWith('node:')) stack.push(`${c.functionName || '(anonymous)'} ${moduleOf(c.url)}:${c.lineNumber + 1}`);
      }
      add(callers, stack.join(' ← '), dt);
    }
    const seen = new Set();
    for (let id = n.id; id !== undefined; id = parent.get(id)) {
      const m = moduleOf(nodes.get(id).callFrame.url);
      if (m.startsWith('src/') && !seen.has(m)) {
        seen.add(m);
        add(inclusiveOurs, m, dt);
      }
    }
  }
}

const show = (title, m, n = top) => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${v.toFixed(0).padStart(8)} ms ${((v / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
};
console.log(`${files.length} profile(s): ${total.toFixed(0)} ms busy, ${idle.toFixed(0)} ms idle`);
show('self time by function', self);
show('self time by module', byModule);
const ours = [...byModule.entries()].filter(([k]) => k.startsWith('src/')).reduce((a, [, v]) => a + v, 0);
console.log(`\nour code (src/) self: ${ours.toFixed(0)} ms (${((ours / total) * 100).toFixed(1)} %)`);
show('inclusive time of our files (src/)', inclusiveOurs);
if (callersOf) show(`where ${callersOf}'s self time comes from (nearest non-node frames first)`, callers, 10);
