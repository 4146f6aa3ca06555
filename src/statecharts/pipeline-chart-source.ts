/**
 * The hook through which `GET /statecharts/pipeline:<template>@<version>` serves pipeline template
 * versions that are not built in. Nothing provides it yet: the pipelines' template store can,
 * with `{ provide: PIPELINE_CHART_SOURCE, useExisting: <its service> }` in the module that
 * declares StatechartsController. Without a provider only the registered charts are served.
 */
import type { PipelineTemplate } from '../pipelines/template.schema';
import { parsePipelineChartName, pipelineStatechartEntry } from './pipeline-statecharts';
import type { StatechartEntry } from './statechart-entry';
import { STATECHARTS } from './statecharts.registry';

/** Injection token of the optional {@link PipelineChartSource}. */
export const PIPELINE_CHART_SOURCE = Symbol('PIPELINE_CHART_SOURCE');

/** Finds stored pipeline template versions for their charts. */
export interface PipelineChartSource {
  /**
   * The template `name` as stored at `version` (validated, defaults applied), or null when there
   * is no such version. Tenant-independent: a chart shows the template's shape only.
   */
  find(name: string, version: number): PipelineTemplate | null | Promise<PipelineTemplate | null>;
}

/**
 * The chart named `name`: a registered one (STATECHARTS: `job`, the built-in templates'
 * `pipeline:<template>@1`), else for `pipeline:<template>@<version>` the template version that
 * `source` finds, compiled ({@link pipelineStatechartEntry}); null when there is none.
 */
export async function resolveStatechart(name: string, source?: PipelineChartSource | null): Promise<StatechartEntry | null> {
  if (Object.hasOwn(STATECHARTS, name)) return STATECHARTS[name];
  const ref = parsePipelineChartName(name);
  if (!ref || !source) return null;
  const template = await source.find(ref.template, ref.version);
  return template ? pipelineStatechartEntry(template, ref.version) : null;
}
