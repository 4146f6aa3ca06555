/**
 * Child process for the two-process concurrency test: `node -r ts-node/register/transpile-only ensure-worker.ts <root> <remote> <jobId>...`
 * prepares each job's workspace concurrently and prints the heads as one JSON line.
 */
import { WorkspaceManager } from '../../../src/workspaces';

async function main(): Promise<void> {
  const [root, remoteUrl, ...jobIds] = process.argv.slice(2);
  const m = new WorkspaceManager({ root, lockTimeoutMs: 30_000 });
  const all = await Promise.all(jobIds.map((jobId, i) => m.ensure({ jobId, issueNumber: 100 + i }, { remoteUrl })));
  process.stdout.write(`${JSON.stringify(all.map((w) => w.head))}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? `${(e as { code?: string }).code}: ${e.message}` : String(e)}\n`);
  process.exit(1);
});
