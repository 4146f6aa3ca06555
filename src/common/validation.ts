import { ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

/** Deepest nesting of objects/arrays accepted in a request body or query (our DTOs need 2). */
export const MAX_INPUT_DEPTH = 32;

/** Whether `value` nests objects/arrays deeper than `max` levels. Iterative: no recursion on untrusted input. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * ValidationPipe that first refuses input nested deeper than MAX_INPUT_DEPTH with a 400:
 * class-transformer converts a body recursively, so a deeply nested unknown field (a few
 * thousand `[`) overflowed the stack and answered 500 (found by test/fuzz).
 */
class DepthLimitedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if ((metadata.type === 'body' || metadata.type === 'query') && nestedDeeperThan(value, MAX_INPUT_DEPTH)) {
      const message = `${metadata.type} is nested deeper than ${MAX_INPUT_DEPTH} levels`;
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', code: 'INPUT_TOO_DEEP', message, errors: [{ field: metadata.type, messages: [message] }] });
    }
    return super.transform(value, metadata);
  }
}

/** Flattens class-validator errors to `{ field: 'issue.title', messages: [...] }`. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): { field: string; messages: string[] }[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flattenValidationErrors(e.children ?? [], field)];
  });
}

/** The app's ValidationPipe: whitelist, reject unknown fields, 400 naming each field at fault. */
export function createValidationPipe(): ValidationPipe {
  return new DepthLimitedValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const flat = flattenValidationErrors(errors);
      return new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: flat.map((f) => `${f.field}: ${f.messages.join('; ')}`).join(' | '),
        errors: flat,
      });
    },
  });
}
