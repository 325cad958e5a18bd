// Mutation testing of the pure planners, where the cluster's safety rules are decided: each mutant
// must be caught by the unit tests alone (`npm run mutation`; report in reports/mutation/).
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.unit.config.ts" },
  plugins: ["@stryker-mutator/vitest-runner"],
  mutate: [
    "functions/domain/membershipPlan.ts",
    "functions/domain/reconcilePlan.ts",
    "functions/domain/dnsPlan.ts",
    "functions/domain/restorePlan.ts",
    "functions/domain/snapshots.ts",
    "functions/domain/snapshotDigest.ts",
    "functions/domain/units/placement.ts",
  ],
  // The sandbox needs the sources, the unit tests and their fixtures, nothing else.
  ignorePatterns: [
    ".venv",
    ".build",
    ".serverless",
    ".devcluster*",
    "coverage",
    "reports",
    "bench",
    "test/integration",
    "test/containers",
    "layers",
  ],
  coverageAnalysis: "perTest",
  // The machine is shared and has two cores.
  concurrency: 2,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  thresholds: { high: 95, low: 90, break: null },
};
