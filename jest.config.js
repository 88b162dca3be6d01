/** Tests run from TypeScript sources; `npm test` builds dist/ first for tests that spawn the binaries. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/engine", "<rootDir>/provider", "<rootDir>/pulumi", "<rootDir>/test", "<rootDir>/scripts"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 60000,
  // Kills and names any process a test left running, and fails the run for it.
  globalTeardown: "<rootDir>/test/support/leftover-processes.ts",
  // A stray timer or socket must not hold CI until its deadline once every test has reported;
  // the teardown above has already dealt with processes.
  forceExit: true,
};
