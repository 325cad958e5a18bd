// Synthesis time and template size against CloudFormation's limits.
// Usage: npx tsx bench/synth.ts [runs=50]
import { performance } from "node:perf_hooks";
import { buildTemplate } from "../cloudformation/template.ts";
import { FUNCTION_NAMES, type SynthOptions } from "../cloudformation/options.ts";

const LIMITS = { directBody: 51_200, s3Body: 1_048_576, resources: 500, parameters: 200, outputs: 200 };
const runs = Number(process.argv[2] ?? 50);

function measure(label: string, options: Partial<SynthOptions>) {
  buildTemplate(options); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    JSON.stringify(buildTemplate(options));
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const t = buildTemplate(options);
  const pretty = Buffer.byteLength(JSON.stringify(t, null, 2));
  const compact = Buffer.byteLength(JSON.stringify(t));
  const pct = (n: number, limit: number) => `${((100 * n) / limit).toFixed(1)}%`;
  console.log(`\n${label}`);
  console.log(
    `  synth median ${times[Math.floor(runs / 2)]!.toFixed(2)} ms (min ${times[0]!.toFixed(2)}, max ${times[runs - 1]!.toFixed(2)}, n=${runs})`,
  );
  console.log(
    `  size compact ${compact} B (${pct(compact, LIMITS.directBody)} of 51,200 B direct, ${pct(compact, LIMITS.s3Body)} of 1 MB via S3); pretty ${pretty} B`,
  );
  const r = Object.keys(t.Resources).length;
  const p = Object.keys(t.Parameters).length;
  const o = Object.keys(t.Outputs).length;
  console.log(
    `  resources ${r}/${LIMITS.resources}, parameters ${p}/${LIMITS.parameters}, outputs ${o}/${LIMITS.outputs}`,
  );
}

measure("standalone (no functions)", {});
measure("with all five functions' rules and permissions (before Serverless adds its own)", {
  functionsInTemplate: FUNCTION_NAMES,
});
measure("per-zone NAT, main size 9", { natGateways: "per-zone", mainSize: 9 });
