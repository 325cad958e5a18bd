// Bench: `npm run package` (esbuild bundles + the etcd3 set + osls `sls package`), offline, with the
// packaged template's size against CloudFormation's limits. Run: npx tsx bench/package.ts [runs]
import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "../local/paths.ts";
import { FUNCTION_NAMES } from "../cloudformation/options.ts";

const run = promisify(execFile);
const runs = Number(process.argv[2] ?? 3);
const env = { PATH: process.env.PATH ?? "", HOME: join(PROJECT_ROOT, ".build", "home") };

async function timed(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  await run(cmd, args, { cwd: PROJECT_ROOT, env, maxBuffer: 64 * 1024 * 1024 });
  return (performance.now() - t0) / 1000;
}

const build: number[] = [];
const pkg: number[] = [];
for (let i = 0; i < runs; i++) {
  build.push(await timed("npx", ["tsx", "scripts/build.ts"]));
  pkg.push(await timed("npx", ["sls", "package"]));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tpl = readFileSync(
  join(PROJECT_ROOT, ".serverless", "cloudformation-template-update-stack.json"),
  "utf8",
);
const compact = JSON.stringify(JSON.parse(tpl));
const t = JSON.parse(tpl) as { Resources: object; Parameters?: object; Outputs?: object };
const zips = FUNCTION_NAMES.map((f) => statSync(join(PROJECT_ROOT, ".serverless", `${f}.zip`)).size);

console.log(`npm run package, ${runs} runs (offline: no AWS credentials, profile or network)`);
console.log(`| figure | value |`);
console.log(`| --- | --- |`);
console.log(`| build (esbuild bundles + etcd3 set), median | ${median(build).toFixed(1)} s |`);
console.log(`| sls package (osls), median | ${median(pkg).toFixed(1)} s |`);
console.log(`| total, median | ${(median(build) + median(pkg)).toFixed(1)} s |`);
console.log(
  `| packaged template (compact) | ${compact.length} B (${((compact.length / 1_048_576) * 100).toFixed(1)} % of 1 MB via S3) |`,
);
console.log(
  `| resources / parameters / outputs | ${Object.keys(t.Resources).length}/500, ${Object.keys(t.Parameters ?? {}).length}/200, ${Object.keys(t.Outputs ?? {}).length}/200 |`,
);
console.log(
  `| function zips | ${zips.map((z) => (z / 1_048_576).toFixed(2)).join(", ")} MB (limit 50 MB zipped) |`,
);
