/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/test/**/*.test.ts', '**/domain/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/.data/', '/.tools/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/.data/', '<rootDir>/.tools/', '<rootDir>/dist/'],
  // .mjs too: tests import the plain-JS launch helpers (scripts/lib/net.mjs).
  transform: {
    '^.+\\.(ts|mjs|js)$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  // jose ships only ES modules: compiled like our own sources (node itself loads it natively).
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  // One real Temporal dev server and one real Postgres for the whole run (test/global-setup.mjs).
  globalSetup: '<rootDir>/test/global-setup.mjs',
  globalTeardown: '<rootDir>/test/global-teardown.mjs',
  // Loopback allowed for the simulators, as in development (platform/address-policy.ts).
  setupFiles: ['<rootDir>/test/support/address-policy.ts'],
  // Two cores: Temporal and Postgres need one between them.
  maxWorkers: 2,
  testTimeout: 60_000,
  watchman: false,
};
