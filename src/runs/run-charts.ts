/**
 * Pipeline statecharts of stored template versions: the chart of a tenant's template version, and
 * a run's chart with its current states highlighted and the transitions it took marked (the same
 * model as `statecharts/`, see src/statecharts/).
 */
import { toMermaid } from '../statecharts/mermaid';
import { pipelineStatechartEntry } from '../statecharts/pipeline-statecharts';
import { graphJsonOf, mermaidOf, scxmlOf } from '../statecharts/statechart.formats';
import { modelOf } from '../statecharts/statecharts.registry';
import type { PipelineChartSource } from '../statecharts/pipeline-chart-source';
import type { PipelineTemplate } from '../pipelines/template.schema';
import { BUILT_IN_OWNER, type MongoTemplateRepository, type TemplateVersion } from './mongo-template.repository';
import type { RunRecord } from './run.record';

/** Formats of a template version's chart (no SVG: pictures are exported for built-in ones only). */
export const TEMPLATE_CHART_FORMATS = ['mmd', 'scxml', 'json'] as const;
export type TemplateChartFormat = (typeof TEMPLATE_CHART_FORMATS)[number];

const cache = new Map<string, ReturnType<typeof pipelineStatechartEntry>>();

function entryOf(t: TemplateVersion) {
  const key = `${t.owner}:${t.name}@${t.version}`;
  let e = cache.get(key);
  if (!e) {
    e = pipelineStatechartEntry(t.template, t.version);
    cache.set(key, e);
    if (cache.size > 200) cache.delete(cache.keys().next().value!);
  }
  return e;
}

/** A template version's chart in `format`. */
export function templateChart(t: TemplateVersion, format: TemplateChartFormat): string {
  const e = entryOf(t);
  return format === 'scxml' ? scxmlOf(e) : format === 'json' ? graphJsonOf(e) : mermaidOf(e);
}

/** Leaf state keys of a snapshot value (`running.plan.succeeded`, …). */
export function leafStates(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix ? `${prefix}.${value}` : value];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leafStates(v, prefix ? `${prefix}.${k}` : k));
}

/**
 * The run's chart as Mermaid: current states highlighted (every region's), the transitions it
 * took (from its run events) marked `(taken)`.
 */
export function runChart(t: TemplateVersion, run: RunRecord): string {
  const e = entryOf(t);
  const taken = run.events
    .filter((ev) => !ev.parentStepId && ev.event !== 'CREATE')
    .map((ev) => (ev.kind === 'run' ? { from: ev.from, to: ev.to, event: ev.event } : { from: `running.${ev.step}.${ev.from}`, to: `running.${ev.step}.${ev.to}`, event: ev.event }));
  return toMermaid(modelOf(e), {
    header: `Run ${run.id} of ${t.name}@${t.version}: ${run.status} after ${run.events.length} run event(s).`,
    highlight: { current: leafStates(run.snapshot.value), taken },
  });
}

/**
 * {@link PipelineChartSource} for `GET /statecharts/pipeline:<template>@<version>` (a route without
 * a tenant): the built-in templates' stored versions only, so no tenant's template is shown to
 * anyone else. A tenant's own template versions have their chart at
 * `GET /pipeline-templates/{name}/statechart` (authenticated).
 */
export class BuiltInChartSource implements PipelineChartSource {
  constructor(private readonly templates: MongoTemplateRepository) {}

  async find(name: string, version: number): Promise<PipelineTemplate | null> {
    return (await this.templates.versions(BUILT_IN_OWNER, name)).find((v) => v.version === version)?.template ?? null;
  }
}
