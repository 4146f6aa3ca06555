/**
 * Jest 29 + ts-jest (CommonJS): Nest 11 loads; Nest 12 is ESM-only and would not (jestjs/jest#15716).
 * TypeScript is transpiled file by file (tsconfig.jest.json: isolatedModules) — type-checking is
 * `tsc --noEmit`, which `npm test` runs first, once for the whole tree — which keeps a cold run minutes shorter.
 */
const { esmOnlyPackages, transformIgnorePattern } = require('./test/support/jest-esm');

module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }],
    // ESM-only dependencies (execa, @octokit/rest, …) become CommonJS for Jest's runtime; see test/support/jest-esm.js.
    '^.+\\.m?js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'es2022', esModuleInterop: true, isolatedModules: true } }],
  },
  transformIgnorePatterns: [transformIgnorePattern(esmOnlyPackages(__dirname))],
  resolver: '<rootDir>/test/support/jest-esm.js',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testTimeout: 60_000,
  setupFiles: ['<rootDir>/test/support/env.ts'],
};
