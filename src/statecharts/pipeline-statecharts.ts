/**
 * The statecharts of compiled pipeline templates (src/pipelines/pipeline.compiler.ts): the
 * built-in templates' charts exported to `statecharts/`, and {@link pipelineStatechartEntry} for
 * any template version (the controller serves stored versions through `PIPELINE_CHART_SOURCE`,
 * see pipeline-chart-source.ts). Imports only the pipelines' pure parts (compiler, schema,
 * built-in templates), never their services.
 */
import { BUILT_IN_TEMPLATES } from '../pipelines/built-in-templates';
import { compilePipeline } from '../pipelines/pipeline.compiler';
import { validateTemplate, type PipelineTemplate } from '../pipelines/template.schema';
import type { StatechartEntry } from './statechart-entry';
import { DEFAULT_LABELLER } from './statechart.model';

/** Prefix of every pipeline chart name: `pipeline:<template>@<version>`. */
export const PIPELINE_CHART_PREFIX = 'pipeline:';

/** The version every built-in template is stored as (src/pipelines/built-in-templates.ts). */
export const BUILT_IN_TEMPLATE_VERSION = 1;

/** The chart name of template `template` at `version`: `pipeline:dev-test-regression@1`. */
export function pipelineChartName(template: string, version: number): string {
  return `${PIPELINE_CHART_PREFIX}${template}@${version}`;
}

const CHART_NAME = /^pipeline:([a-z][a-z0-9-]{0,62})@([1-9][0-9]{0,8})$/;

/** The template name and version a chart name names, or null when it is not `pipeline:<template>@<version>` (version 1…999999999). */
export function parsePipelineChartName(name: string): { template: string; version: number } | null {
  const m = CHART_NAME.exec(name);
  return m ? { template: m[1], version: Number(m[2]) } : null;
}

/**
 * The chart of `template` stored as `version`: the machine `compilePipeline(template, version)`
 * (id `pipeline`, version `<name>@<version>`), named `pipeline:<name>@<version>`. Its events keep
 * their names (START, STEP_FAILED, …); eventless transitions show their guard alone
 * (`[needsMet(test)]`) and the `running` state's `onDone` reads `done`.
 */
export function pipelineStatechartEntry(template: PipelineTemplate, version: number): StatechartEntry {
  return {
    name: pipelineChartName(template.name, version),
    source: `compilePipeline(${template.name}, ${version}) (src/pipelines/pipeline.compiler.ts)`,
    machine: compilePipeline(template, version),
    labeller: DEFAULT_LABELLER,
    // CANCEL reaches `canceled` from every working state: drawn off the main path.
    sinks: ['canceled'],
  };
}

/**
 * The built-in templates' charts (`pipeline:<name>@1`), in BUILT_IN_TEMPLATES order. Each
 * template is validated with the tools its own steps name: the chart depends on the steps and
 * their needs, not on which tools this build has.
 * @throws InvalidTemplateError when a built-in template is invalid (a programming error).
 */
export function builtInPipelineEntries(): StatechartEntry[] {
  return BUILT_IN_TEMPLATES.map((raw) => {
    const steps = Array.isArray(raw.steps) ? (raw.steps as { tool?: unknown }[]) : [];
    const tools = steps.map((s) => s.tool).filter((t): t is string => typeof t === 'string' && !t.startsWith('@'));
    const template = validateTemplate(raw, { tools, capabilities: [], functions: [] });
    const entry = pipelineStatechartEntry(template, BUILT_IN_TEMPLATE_VERSION);
    return { ...entry, source: `BUILT_IN_TEMPLATES ${template.name} (src/pipelines/built-in-templates.ts) compiled by ${entry.source}` };
  });
}
