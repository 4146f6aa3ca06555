/**
 * The built-in templates, from seed 004's examples: `plan-dev-test-verify` (linear),
 * `fan-out-fan-in` (parallel) and `dev-test-regression` (the test step spawns a dev step when it
 * fails). Their steps are shell commands a run overrides through its inputs: every scalar run input
 * `x` reaches a step as `AICD_INPUT_X`, so `eval "${AICD_INPUT_TEST:-true}"` runs the run's `test`
 * input, or `true` when it has none. Stored as version 1 of each name on startup.
 */

/** A shell step's command: the run input `name` if given, else `fallback`; its output also goes to `log`. */
function command(name: string, fallback: string, log?: string): string {
  const run = `eval "\${AICD_INPUT_${name.toUpperCase()}:-${fallback}}"`;
  return log ? `${run} > ${log} 2>&1; s=$?; cat ${log}; exit $s` : run;
}

export const BUILT_IN_TEMPLATES: readonly Record<string, unknown>[] = [
  {
    name: 'plan-dev-test-verify',
    description: 'Seed 004 linear pipeline: plan, then dev with the plan, then test, then verify with the test log.',
    maxParallel: 1,
    steps: [
      { id: 'plan', tool: 'shell', with: { run: command('plan', "echo 'plan: make the tests pass'", 'plan.txt') }, outputs: { plan: { files: 'plan.txt' } } },
      { id: 'dev', tool: 'shell', needs: ['plan'], inputs: ['plan'], with: { run: command('dev', 'cat "$AICD_INPUT_PATH_PLAN"') } },
      { id: 'test', tool: 'shell', needs: ['dev'], with: { run: command('test', 'true', 'test.log') }, outputs: { 'test-log': { files: 'test.log' } } },
      { id: 'verify', tool: 'shell', needs: ['test'], inputs: ['test-log'], with: { run: command('verify', 'test -f "$AICD_INPUT_PATH_TEST_LOG"') } },
    ],
  },
  {
    name: 'fan-out-fan-in',
    description: 'Seed 004 parallel jobs: prepare, three independent builds at most two at a time, then merge their outputs.',
    maxParallel: 2,
    steps: [
      { id: 'prepare', tool: 'shell', with: { run: command('prepare', 'echo prepared') } },
      ...['a', 'b', 'c'].map((x) => ({
        id: `build-${x}`,
        tool: 'shell',
        needs: ['prepare'],
        with: { run: `${command('build', 'true')} && echo ${x} > part-${x}.txt` },
        outputs: { [`part-${x}`]: { files: `part-${x}.txt` } },
      })),
      { id: 'merge', tool: 'shell', needs: ['build-a', 'build-b', 'build-c'], inputs: ['part-a', 'part-b', 'part-c'], with: { run: 'cat "$AICD_INPUT_PATH_PART_A" "$AICD_INPUT_PATH_PART_B" "$AICD_INPUT_PATH_PART_C"' } },
      { id: 'cleanup', tool: 'shell', needs: [{ step: 'merge', on: 'always' }], with: { run: command('cleanup', 'echo cleanup') } },
    ],
  },
  {
    name: 'dev-test-regression',
    description: 'Seed 004 regression loop: dev, then test; a failing test spawns a dev step with the failing output and runs again once it is done.',
    maxParallel: 1,
    maxSpawnDepth: 5,
    steps: [
      { id: 'dev', tool: 'shell', with: { run: command('dev', 'true') } },
      { id: 'test', tool: 'shell', needs: ['dev'], with: { run: command('test', 'true', 'test.log'), spawnOnFailure: 'dev' }, outputs: { 'test-log': { files: 'test.log' } } },
      { id: 'report', tool: 'shell', needs: [{ step: 'test', on: 'always' }], with: { run: 'echo "regression rounds: ${AICD_SPAWN_ROUNDS:-0}"' } },
    ],
  },
];
