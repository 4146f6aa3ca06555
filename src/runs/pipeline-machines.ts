import { compilePipeline, type PipelineMachine } from '../pipelines/pipeline.compiler';
import type { PipelineTemplate } from '../pipelines/template.schema';

/**
 * Compiled machines by template version (`<owner>:<name>@<version>`), compiled once per process:
 * a template version is immutable, so its machine is too.
 */
export class PipelineMachines {
  private readonly cache = new Map<string, PipelineMachine>();

  get(owner: string, template: PipelineTemplate, version: number): PipelineMachine {
    const key = `${owner}:${template.name}@${version}`;
    let m = this.cache.get(key);
    if (!m) {
      m = compilePipeline(template, version);
      this.cache.set(key, m);
      if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value!);
    }
    return m;
  }
}
