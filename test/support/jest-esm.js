/**
 * ESM-only dependencies under Jest's CommonJS runtime.
 *
 * The app runs as CommonJS (Nest 11, see README) and loads ESM-only packages such as execa 10 and
 * @octokit/rest 22 with `require(esm)`, which Node ≥ 20.19 does natively. Jest's own module
 * runtime does not, so for tests those packages are transformed to CommonJS (ts-jest, JS files
 * only, transpile-only). Which packages: every installed package (nested ones too) whose
 * package.json says `"type": "module"` and whose `exports` offer no `require` entry — computed
 * from node_modules, so a dependency bump that turns a package ESM-only needs no config change.
 *
 * `resolver` retries a failed resolution with the `import` export condition: a few ESM-only
 * packages (unicorn-magic, used by execa) export their entry only under `import`.
 */
const fs = require('node:fs');
const path = require('node:path');

/** True when the package's `exports` mention a `require` condition anywhere. */
function hasRequireExport(exportsField) {
  if (!exportsField || typeof exportsField !== 'object') return false;
  return Object.entries(exportsField).some(([k, v]) => k === 'require' || hasRequireExport(v));
}

/** Names of the ESM-only packages installed under `root`/node_modules (nested ones included). */
function esmOnlyPackages(root) {
  const found = new Set();
  const visit = (dir, scope) => {
    if (!fs.existsSync(dir)) return;
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith('.')) continue;
      const full = path.join(dir, name);
      if (!scope && name.startsWith('@')) {
        visit(full, name);
        continue;
      }
      try {
        const pkg = JSON.parse(fs.readFileSync(path.join(full, 'package.json'), 'utf8'));
        if (pkg.type === 'module' && !hasRequireExport(pkg.exports)) found.add(scope ? `${scope}/${name}` : name);
      } catch {
        // not a package directory
      }
      visit(path.join(full, 'node_modules'));
    }
  };
  visit(path.join(root, 'node_modules'));
  return [...found].sort();
}

/** A `transformIgnorePatterns` entry that ignores node_modules except the given packages. */
function transformIgnorePattern(packages) {
  if (!packages.length) return '/node_modules/';
  const names = packages.map((n) => n.replace(/[.+]/g, '\\$&')).join('|');
  return `/node_modules/(?!(?:.*/node_modules/)?(?:${names})/)`;
}

/** Jest resolver: the default one, retried with the `import` condition when it fails. */
function resolver(request, options) {
  try {
    return options.defaultResolver(request, options);
  } catch (e) {
    const conditions = options.conditions ?? ['require', 'default', 'node'];
    if (conditions.includes('import')) throw e;
    return options.defaultResolver(request, { ...options, conditions: [...conditions, 'import'] });
  }
}

module.exports = resolver;
module.exports.esmOnlyPackages = esmOnlyPackages;
module.exports.transformIgnorePattern = transformIgnorePattern;
