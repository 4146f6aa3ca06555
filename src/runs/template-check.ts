import { Inject, Injectable } from '@nestjs/common';
import { TOOL_ADAPTERS } from '../agents/agents.module';
import type { TemplateCheckOptions } from '../pipelines/template.schema';
import type { ToolAdapter } from '../tools/tool.port';
import { PIPELINE_FUNCTION_NAMES } from './step-functions';
import { ToolRouter } from './tool-router';

/** What templates may name on this deployment: the tool adapters, the router's capabilities, the functions. */
@Injectable()
export class TemplateCheck {
  constructor(
    @Inject(TOOL_ADAPTERS) private readonly adapters: Map<string, ToolAdapter>,
    private readonly router: ToolRouter,
  ) {}

  options(): TemplateCheckOptions {
    return { tools: [...this.adapters.keys()], capabilities: this.router.capabilities(), functions: PIPELINE_FUNCTION_NAMES };
  }
}
