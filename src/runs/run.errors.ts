/** Domain errors of pipeline runs and templates; the HTTP layer maps them (see DomainExceptionFilter). */

/** No such run, template or artifact for this tenant (another tenant's is "not found" too). → 404. */
export class PipelineNotFoundError extends Error {
  constructor(
    readonly code: 'RUN_NOT_FOUND' | 'TEMPLATE_NOT_FOUND' | 'STEP_NOT_FOUND' | 'ARTIFACT_NOT_FOUND',
    message: string,
  ) {
    super(message);
    this.name = 'PipelineNotFoundError';
  }
}

/** The template is paused after consecutive failed runs. `code` = TEMPLATE_QUARANTINED. → 409. */
export class TemplateQuarantinedError extends Error {
  readonly code = 'TEMPLATE_QUARANTINED';
  constructor(
    readonly template: string,
    readonly reason: string,
  ) {
    super(`template ${template} is quarantined (${reason}); release it with POST /pipeline-templates/${template}/release`);
    this.name = 'TemplateQuarantinedError';
  }
}

/** The run kept changing under us (compare-and-set lost repeatedly). `code` = CONCURRENT_UPDATE. → 409. */
export class RunBusyError extends Error {
  readonly code = 'CONCURRENT_UPDATE';
  constructor(readonly runId: string) {
    super(`run ${runId} kept changing; try again`);
    this.name = 'RunBusyError';
  }
}
