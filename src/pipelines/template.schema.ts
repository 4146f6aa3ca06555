/**
 * Pipeline templates (seed 004): a DAG of steps, each run by a tool, with typed dependencies.
 * The schema (zod) and the checks a schema cannot express (cycles, unknown steps, tools and
 * artifacts). Pure: no I/O, no Nest.
 *
 * Format (JSON or YAML, see {@link parseTemplateText}):
 * ```yaml
 * name: plan-dev-test-verify        # [a-z0-9-], the template's name; versions are numbered by the store
 * maxParallel: 4                    # steps of one run running at once (default 4)
 * failFast: false                   # true: after a failure no new success-dependent step starts
 * steps:
 *   - id: plan                      # [a-z][a-z0-9_-]*, unique
 *     tool: shell                   # shell | function | http | agent | spawn | a CLI adapter | @capability
 *     with: { run: "echo plan" }    # the tool's arguments
 *     needs: [{ step: other, on: success }]   # or the shorthand "other" (= on: success)
 *     inputs: [report]              # artifacts by name, produced by a step this one depends on
 *     outputs: { report: { files: "out/*.txt" }, verdict: { json: true } }
 *     retries: { attempts: 3, backoffMs: 1000 }
 *     timeoutMs: 60000
 *     heartbeatMs: 5000
 * ```
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';

/** Tools a step may name besides the CLI adapters and `@capability` names (see {@link TemplateCheckOptions}). */
export const BUILT_IN_STEP_TOOLS = ['shell', 'function', 'http', 'agent', 'spawn'] as const;

/** How a step depends on another: see README "Dependency rules". */
export const NEED_CONDITIONS = ['success', 'failure', 'always'] as const;
export type NeedCondition = (typeof NEED_CONDITIONS)[number];

const STEP_ID = /^[a-z][a-z0-9_-]{0,62}$/;
const TEMPLATE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ARTIFACT_NAME = /^[a-z][a-z0-9_.-]{0,62}$/;

const needSchema = z.union([
  z.string().regex(STEP_ID, 'a step id'),
  z.object({ step: z.string().regex(STEP_ID, 'a step id'), on: z.enum(NEED_CONDITIONS).default('success') }).strict(),
]).transform((n) => (typeof n === 'string' ? { step: n, on: 'success' as const } : n));

const outputSchema = z.union([
  z.object({ files: z.string().min(1).max(500) }).strict(),
  z.object({ json: z.literal(true) }).strict(),
]);

const stepSchema = z
  .object({
    id: z.string().regex(STEP_ID, 'lowercase letters, digits, "_" and "-", starting with a letter'),
    tool: z.string().min(1).max(100),
    with: z.record(z.string(), z.unknown()).default({}),
    needs: z.array(needSchema).max(100).default([]),
    inputs: z.array(z.string().regex(ARTIFACT_NAME, 'an artifact name')).max(100).default([]),
    outputs: z.record(z.string().regex(ARTIFACT_NAME, 'an artifact name'), outputSchema).default({}),
    retries: z
      .object({ attempts: z.number().int().min(1).max(20).default(1), backoffMs: z.number().int().min(0).max(3_600_000).default(1000) })
      .strict()
      .default({ attempts: 1, backoffMs: 1000 }),
    timeoutMs: z.number().int().min(0).max(86_400_000).default(0),
    heartbeatMs: z.number().int().min(100).max(600_000).default(5000),
  })
  .strict();

export const templateSchema = z
  .object({
    name: z.string().regex(TEMPLATE_NAME, 'lowercase letters, digits and "-", starting with a letter'),
    description: z.string().max(2000).default(''),
    maxParallel: z.number().int().min(1).max(1000).default(4),
    failFast: z.boolean().default(false),
    maxSpawnDepth: z.number().int().min(0).max(50).default(5),
    maxStepsPerRun: z.number().int().min(1).max(10_000).default(100),
    /** Failed step attempts (all steps together) after which a run is quarantined; 0 = no budget. */
    maxFailedAttempts: z.number().int().min(0).max(10_000).default(0),
    /** Consecutive failed or quarantined runs after which the template is paused; 0 = never. */
    quarantineAfterConsecutiveFailures: z.number().int().min(0).max(1000).default(0),
    steps: z.array(stepSchema).min(1).max(500),
  })
  .strict();

/** A template as written (defaults applied). */
export type PipelineTemplate = z.output<typeof templateSchema>;
export type StepTemplate = PipelineTemplate['steps'][number];
export type StepNeed = StepTemplate['needs'][number];
export type StepOutput = StepTemplate['outputs'][string];

/** One problem with a template: where (a JSON path such as `steps[2].needs[0].step`) and what. */
export interface TemplateProblem {
  path: string;
  message: string;
}

/** The template is invalid; `problems` name each JSON path. `code` = INVALID_TEMPLATE. */
export class InvalidTemplateError extends Error {
  readonly code = 'INVALID_TEMPLATE';
  constructor(readonly problems: TemplateProblem[]) {
    super(`invalid pipeline template: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`);
    this.name = 'InvalidTemplateError';
  }
}

/** JSON path text of a zod issue path: `steps[2].needs[0].step`. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/**
 * Parses a template's text: JSON when it starts with `{`, YAML otherwise (YAML 1.2 via `yaml`).
 * @throws InvalidTemplateError (path `(root)`) when the text is neither.
 */
export function parseTemplateText(text: string): unknown {
  const trimmed = text.trimStart();
  try {
    return trimmed.startsWith('{') ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new InvalidTemplateError([{ path: '', message: `not valid ${trimmed.startsWith('{') ? 'JSON' : 'YAML'}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` }]);
  }
}

/** What a template may refer to besides its own steps. */
export interface TemplateCheckOptions {
  /** Tool adapter names available to steps (`shell`, `claude`, …); BUILT_IN_STEP_TOOLS are always known. */
  tools: readonly string[];
  /** Capabilities the router knows (`@coder` is written `tool: "@coder"`). */
  capabilities: readonly string[];
  /** Function names the `function` tool can call (`with.name`). */
  functions: readonly string[];
}

/**
 * Validates a template: the schema, then unique step ids, known `needs` steps, tools,
 * capabilities and functions, no cycle (named `a → b → a`), unique output names, and every input
 * produced by a step it depends on (directly or transitively).
 * @throws InvalidTemplateError naming each problem's JSON path.
 */
export function validateTemplate(raw: unknown, options: TemplateCheckOptions): PipelineTemplate {
  const parsed = templateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidTemplateError(parsed.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })));
  }
  const t = parsed.data;
  const problems: TemplateProblem[] = [];
  const index = new Map<string, number>();
  t.steps.forEach((s, i) => {
    if (index.has(s.id)) problems.push({ path: `steps[${i}].id`, message: `duplicate step id "${s.id}" (also steps[${index.get(s.id)}])` });
    else index.set(s.id, i);
  });
  const tools = new Set<string>([...BUILT_IN_STEP_TOOLS, ...options.tools]);
  t.steps.forEach((s, i) => {
    if (s.tool.startsWith('@')) {
      if (!options.capabilities.includes(s.tool.slice(1))) {
        problems.push({ path: `steps[${i}].tool`, message: `unknown capability "${s.tool}"; known: ${options.capabilities.map((c) => `@${c}`).join(', ') || 'none'}` });
      }
    } else if (!tools.has(s.tool)) {
      problems.push({ path: `steps[${i}].tool`, message: `unknown tool "${s.tool}"; known: ${[...tools].join(', ')}` });
    }
    if (s.tool === 'function') {
      const name = s.with.name;
      if (typeof name !== 'string' || !options.functions.includes(name)) {
        problems.push({ path: `steps[${i}].with.name`, message: `unknown function ${JSON.stringify(name)}; known: ${options.functions.join(', ')}` });
      }
    }
    if (s.tool === 'agent' && !['plan', 'code', 'review'].includes(String(s.with.call ?? 'plan'))) {
      problems.push({ path: `steps[${i}].with.call`, message: `an agent step calls plan, code or review, not ${JSON.stringify(s.with.call)}` });
    }
    if (s.tool === 'shell' && typeof s.with.run !== 'string') {
      problems.push({ path: `steps[${i}].with.run`, message: 'a shell step needs the command line to run (a string)' });
    }
    if (s.with.spawnOnFailure !== undefined && (typeof s.with.spawnOnFailure !== 'string' || !index.has(s.with.spawnOnFailure))) {
      problems.push({ path: `steps[${i}].with.spawnOnFailure`, message: `unknown step ${JSON.stringify(s.with.spawnOnFailure)} to spawn on failure` });
    }
    if (s.tool === 'spawn') {
      const target = s.with.step;
      if (typeof target !== 'string' || !index.has(target)) {
        problems.push({ path: `steps[${i}].with.step`, message: `a spawn step names the step it spawns; unknown step ${JSON.stringify(target)}` });
      }
    }
    s.needs.forEach((n, j) => {
      if (!index.has(n.step)) problems.push({ path: `steps[${i}].needs[${j}].step`, message: `unknown step "${n.step}"` });
      else if (n.step === s.id) problems.push({ path: `steps[${i}].needs[${j}].step`, message: `step "${s.id}" needs itself (${s.id} → ${s.id})` });
    });
  });
  if (problems.length) throw new InvalidTemplateError(problems);

  const cycle = findCycle(t.steps);
  if (cycle) {
    const at = index.get(cycle[0])!;
    throw new InvalidTemplateError([{ path: `steps[${at}].needs`, message: `dependency cycle: ${cycle.join(' → ')}` }]);
  }

  const producer = new Map<string, string>();
  t.steps.forEach((s, i) => {
    for (const name of Object.keys(s.outputs)) {
      if (producer.has(name)) problems.push({ path: `steps[${i}].outputs.${name}`, message: `artifact "${name}" is also produced by step "${producer.get(name)}"` });
      else producer.set(name, s.id);
    }
  });
  t.steps.forEach((s, i) => {
    const upstream = ancestors(t.steps, s.id);
    s.inputs.forEach((name, j) => {
      const from = producer.get(name);
      if (!from) problems.push({ path: `steps[${i}].inputs[${j}]`, message: `unknown artifact "${name}"; no step produces it` });
      else if (!upstream.has(from)) problems.push({ path: `steps[${i}].inputs[${j}]`, message: `artifact "${name}" is produced by "${from}", which step "${s.id}" does not depend on` });
    });
  });
  if (problems.length) throw new InvalidTemplateError(problems);
  return t;
}

/** A dependency cycle as step ids, first repeated at the end (`a → b → a`), or null. Iterative DFS. */
export function findCycle(steps: readonly Pick<StepTemplate, 'id' | 'needs'>[]): string[] | null {
  const needs = new Map(steps.map((s) => [s.id, s.needs.map((n) => n.step)]));
  const color = new Map<string, 0 | 1 | 2>();
  for (const start of steps.map((s) => s.id)) {
    if (color.get(start)) continue;
    const stack: { id: string; next: number }[] = [{ id: start, next: 0 }];
    color.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const deps = needs.get(top.id) ?? [];
      if (top.next >= deps.length) {
        color.set(top.id, 2);
        stack.pop();
        continue;
      }
      const dep = deps[top.next++];
      const c = color.get(dep) ?? 0;
      if (c === 1) {
        // `top` needs `dep`, which is on the stack: the cycle, written in "needs" order reversed
        // (a → b reads "a runs before b").
        const ids = stack.map((f) => f.id);
        const loop = ids.slice(ids.indexOf(dep));
        const order = [...loop].reverse();
        // Start at the step written first in the template, so the message is stable.
        const pos = (id: string) => steps.findIndex((s) => s.id === id);
        const first = order.reduce((best, id) => (pos(id) < pos(best) ? id : best));
        const at = order.indexOf(first);
        const rotated = [...order.slice(at), ...order.slice(0, at)];
        return [...rotated, rotated[0]];
      }
      if (c === 0 && needs.has(dep)) {
        color.set(dep, 1);
        stack.push({ id: dep, next: 0 });
      }
    }
  }
  return null;
}

/** Every step `id` depends on, directly or transitively. */
export function ancestors(steps: readonly Pick<StepTemplate, 'id' | 'needs'>[], id: string): Set<string> {
  const needs = new Map(steps.map((s) => [s.id, s.needs.map((n) => n.step)]));
  const seen = new Set<string>();
  const todo = [...(needs.get(id) ?? [])];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    todo.push(...(needs.get(s) ?? []));
  }
  return seen;
}
