/** Tests run from TypeScript sources; `npm test` builds dist/ first for tests that spawn the binaries. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/engine", "<rootDir>/provider", "<rootDir>/pulumi", "<rootDir>/test", "<rootDir>/scripts"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 60000,
};
