import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import Mustache from 'mustache';

/** The prompt templates, one file each in the prompts directory. */
export const PROMPT_NAMES = ['plan', 'code', 'review'] as const;
export type PromptName = (typeof PROMPT_NAMES)[number];

/**
 * Default prompts directory: `prompts/` of the repository — the working directory's, else the one
 * three levels above this file (dist/agents/cli or src/agents/cli).
 */
export const DEFAULT_PROMPTS_DIR = [path.join(process.cwd(), 'prompts'), path.resolve(__dirname, '..', '..', '..', 'prompts')].find((d) => existsSync(path.join(d, 'plan.md'))) ?? path.join(process.cwd(), 'prompts');

/**
 * The prompts the CLI agent sends, rendered from Mustache templates (`prompts/plan.md`,
 * `code.md`, `review.md`; Mustache spec: https://mustache.github.io/mustache.5.html). Rendering
 * does no HTML escaping: prompts are plain text. Templates are read once, at construction.
 * @throws Error naming the file when a template is missing.
 */
export class PromptTemplates {
  private readonly templates: Record<PromptName, string>;

  constructor(readonly dir: string = DEFAULT_PROMPTS_DIR) {
    const out = {} as Record<PromptName, string>;
    for (const name of PROMPT_NAMES) {
      const file = path.join(dir, `${name}.md`);
      try {
        out[name] = readFileSync(file, 'utf8');
      } catch (e) {
        throw new Error(`prompt template ${file} cannot be read (PROMPTS_DIR): ${(e as Error).message}`);
      }
    }
    this.templates = out;
  }

  render(name: PromptName, view: Record<string, unknown>): string {
    return Mustache.render(this.templates[name], view, {}, { escape: (text: string) => text });
  }
}
