// Two projects: pure unit tests need nothing; integration tests share one local registry
// started by globalSetup and each file starts its own private dockerd.
const tsJest = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] };

// The transform cache stays in the checkout (ignored by git), not in /tmp where it would outlive the run.
const cacheDirectory = '<rootDir>/.test-run/jest-cache';

module.exports = {
  // Integration tests wait on real engines; their own waits carry tighter deadlines.
  testTimeout: 180000,
  cacheDirectory,
  projects: [
    {
      displayName: 'unit',
      cacheDirectory,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      transform: tsJest,
      testEnvironment: 'node',
    },
    {
      displayName: 'integration',
      cacheDirectory,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform: tsJest,
      testEnvironment: 'node',
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
  ],
};
