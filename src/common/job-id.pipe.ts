import { NotFoundException, ParseUUIDPipe } from '@nestjs/common';

/** A job id that cannot exist (not a UUID v4) is reported like an unknown one: 404 JOB_NOT_FOUND. */
export const jobIdPipe = new ParseUUIDPipe({
  version: '4',
  exceptionFactory: () => new NotFoundException({ error: 'Not Found', code: 'JOB_NOT_FOUND', message: 'job not found' }),
});
