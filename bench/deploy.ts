// Bench: `sls deploy` against moto (build + package, then deploy from the package) and a no-change
// redeploy, against the baseline of the same run: CreateStack of the standalone cluster template
// (the cluster without functions, no framework) on a fresh moto. Run: npx tsx bench/deploy.ts [runs]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
} from "@aws-sdk/client-cloudformation";
import { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { buildInto, mustSucceed, packageService, sls } from "../scripts/serverless.ts";
import { buildTemplate } from "../cloudformation/template.ts";
import { DEFAULT_OPTIONS } from "../cloudformation/options.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";

// moto completes a stack operation before it answers: osls polls it every 250 ms, not AWS's 5 s.
process.env.SLS_AWS_MONITORING_FREQUENCY = "250";
const runs = Number(process.argv[2] ?? 3);
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-deploy-"));
const block = reserveLoopbackBlock();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A fresh moto with the Flatcar image parameter set, as an operator's account has it. */
async function freshMoto(run: number) {
  const moto = await startMoto({ host: block.address(1), dir: join(dir, `moto-${run}`) });
  Object.assign(process.env, moto.env);
  const image = (await new EC2Client({}).send(new DescribeImagesCommand({ Owners: ["amazon"] }))).Images![0]!
    .ImageId!;
  await new SSMClient({}).send(
    new PutParameterCommand({
      Name: DEFAULT_OPTIONS.flatcarAmiParameter,
      Value: image,
      Type: "String",
      Overwrite: true,
    }),
  );
  return moto;
}

try {
  const service = join(dir, "service");
  const artifact = join(dir, "artifact");
  const buildMs = await buildInto(service);
  const packageMs = await packageService({
    dir: service,
    artifact,
    params: { domain: "dev.example.internal" },
  });

  const baseline: number[] = [];
  const deploy: number[] = [];
  const redeploy: number[] = [];
  for (let i = 0; i < runs; i++) {
    let moto = await freshMoto(i);
    const cfn = new CloudFormationClient({});
    const t0 = performance.now();
    await cfn.send(
      new CreateStackCommand({
        StackName: "baseline",
        TemplateBody: JSON.stringify(buildTemplate({ clusterDomain: "dev.example.internal" })),
        Capabilities: ["CAPABILITY_IAM"],
      }),
    );
    const status = (await cfn.send(new DescribeStacksCommand({ StackName: "baseline" }))).Stacks![0]!
      .StackStatus;
    if (status !== "CREATE_COMPLETE") throw new Error(`baseline stack: ${status}`);
    baseline.push(performance.now() - t0);
    await moto.stop();

    moto = await freshMoto(i);
    deploy.push(mustSucceed("sls deploy", await sls(service, ["deploy", "--package", artifact])).ms);
    const again = mustSucceed(
      "sls deploy (no change)",
      await sls(service, ["deploy", "--package", artifact]),
    );
    if (!again.stdout.includes("No changes to deploy") && !again.stderr.includes("No changes to deploy")) {
      throw new Error(`the second deploy was not a no-change deploy:\n${again.stdout}${again.stderr}`);
    }
    redeploy.push(again.ms);
    await moto.stop();
  }

  console.log(`sls deploy against moto 5.2.5, ${runs} runs, each on a fresh moto`);
  console.log(`| figure | median | runs |`);
  console.log(`| --- | --- | --- |`);
  console.log(`| build (esbuild + etcd3 set), once | ${s(buildMs)} | 1 |`);
  console.log(`| sls package, once | ${s(packageMs)} | 1 |`);
  console.log(
    `| baseline: CreateStack of the standalone template (no functions, no framework) | ${s(median(baseline))} | ${baseline.map(s).join(", ")} |`,
  );
  console.log(
    `| sls deploy --package (deployment bucket, uploads, stack with functions) | ${s(median(deploy))} (${(median(deploy) / median(baseline)).toFixed(1)}x baseline) | ${deploy.map(s).join(", ")} |`,
  );
  console.log(
    `| sls deploy, no change | ${s(median(redeploy))} (${(median(redeploy) / median(baseline)).toFixed(1)}x baseline) | ${redeploy.map(s).join(", ")} |`,
  );
  console.log(`| package + deploy | ${s(buildMs + packageMs + median(deploy))} | |`);
} finally {
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
