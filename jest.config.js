/** Three tiers; `npm test` runs them all. Integration and e2e talk to the local PostgreSQL and Redis. */
const base = {
  moduleFileExtensions: ['js', 'json', 'ts'],
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    '^.+/node_modules/.+\\.m?js$': '<rootDir>/test/utils/esm-transformer.js',
  },
  // ESM-only packages are compiled to CommonJS (see esm-transformer.js); the rest pass as is.
  transformIgnorePatterns: [],
  moduleNameMapper: {
    '^src/(.*)$': '<rootDir>/src/$1',
    '^test/(.*)$': '<rootDir>/test/$1',
    '^(clients|examples)/(.*)$': '<rootDir>/$1/$2',
  },
};

module.exports = {
  globalSetup: '<rootDir>/test/utils/global-setup.ts',
  // A safety net for a hung test, not a speed check: booting an app (database clone, Redis,
  // Nest) takes well under a second on a quiet machine but several on a loaded 2-core one,
  // and a slower machine must not fail a correct test. Speed is measured in bench/.
  testTimeout: 60_000,
  maxWorkers: 2,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.spec.ts'] },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.spec.ts'],
    },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.spec.ts'],
    },
    {
      ...base,
      displayName: 'contract',
      testMatch: ['<rootDir>/test/contract/**/*.spec.ts'],
    },
  ],
};
