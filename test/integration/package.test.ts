// The deployable artefact: `npm run package` (esbuild bundles + osls) works offline, and cfn-lint
// accepts the packaged stack template.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { validate, IGNORED_CHECKS } from "../../cloudformation/cli.ts";
import { FUNCTION_NAMES } from "../../cloudformation/options.ts";

const run = promisify(execFile);
const SLS_DIR = join(PROJECT_ROOT, ".serverless");
type Cfn = {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string[] }>;
};
let template: Cfn;

beforeAll(async () => {
  // No AWS credentials, profile or endpoint: packaging must not need an account.
  const env = { PATH: process.env.PATH ?? "", HOME: join(PROJECT_ROOT, ".build", "home") };
  await run("bash", [join(PROJECT_ROOT, "scripts", "package.sh")], {
    cwd: PROJECT_ROOT,
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
  template = JSON.parse(
    readFileSync(join(SLS_DIR, "cloudformation-template-update-stack.json"), "utf8"),
  ) as Cfn;
}, 400_000); // build + sls package: over 3 minutes on a shared, loaded machine

describe("sls package", () => {
  it("packages every function with its bundle, catalog and etcd3 beside it", () => {
    for (const fn of FUNCTION_NAMES) {
      const listing = execFileSync("unzip", ["-l", join(SLS_DIR, `${fn}.zip`)], { encoding: "utf8" });
      expect(listing).toContain(`.build/functions/${fn}/index.mjs`);
      expect(listing).toContain(`.build/functions/${fn}/node_modules/etcd3/proto/rpc.proto`);
      expect(listing).toContain(`.build/functions/${fn}/etcd-member.service`);
      expect(listing).not.toMatch(/\s(functions|cloudformation|test)\/\S+\.ts\n/); // sources stay out
      expect(listing).not.toMatch(/\.d\.ts\n/); // so do type declarations
    }
  });

  it("loads each bundle in plain Node, which then answers a bad event with a clear error", async () => {
    for (const fn of FUNCTION_NAMES) {
      const dir = join(PROJECT_ROOT, ".build", "functions", fn);
      const script =
        "const m = await import('./index.mjs'); require('etcd3');" +
        "try { await m.handler({ bogus: true }, { awsRequestId: 't' }); console.log('NO ERROR'); }" +
        "catch (e) { console.log(e.name + ': ' + e.message); }";
      const { stdout } = await run(
        "node",
        [
          "--input-type=module",
          "-e",
          `import { createRequire } from 'module'; const require = createRequire(import.meta.url + '/x'); ${script}`,
        ],
        {
          cwd: dir,
          env: { PATH: process.env.PATH ?? "", DEVCLUSTER_LOG: "silent" },
        },
      );
      expect(stdout, fn).toMatch(/^(InvalidInputError|ConfigError): /);
    }
  }, 60_000);

  it("wires each function to its own role, the VPC and the cluster's settings", () => {
    const fns = Object.entries(template.Resources).filter(([, r]) => r.Type === "AWS::Lambda::Function");
    expect(fns.map(([id]) => id).sort()).toEqual(
      FUNCTION_NAMES.map((f) => `${f[0]!.toUpperCase()}${f.slice(1)}LambdaFunction`).sort(),
    );
    for (const [id, r] of fns) {
      const p = r.Properties!;
      // A Sub of the role's Arn, not a GetAtt: osls adds a DependsOn beside a GetAtt role, which
      // cfn-lint flags as redundant (W3005).
      expect(p.Role).toEqual({ "Fn::Sub": `\${${id.replace("LambdaFunction", "FunctionRole")}.Arn}` });
      expect(r.DependsOn ?? []).not.toContain(id.replace("LambdaFunction", "FunctionRole"));
      expect(p.Runtime).toBe("nodejs22.x");
      expect((p.VpcConfig as { SubnetIds: unknown[] }).SubnetIds).toHaveLength(3);
      const vars = (p.Environment as { Variables: Record<string, unknown> }).Variables;
      for (const k of [
        "CLUSTER_NAME",
        "CLUSTER_DOMAIN",
        "PRIVATE_ZONE_ID",
        "SNAPSHOT_BUCKET",
        "GROUP_MAIN",
        "GROUP_WORKER",
        "GROUP_DATA",
      ]) {
        expect(vars[k], `${id} ${k}`).toBeDefined();
      }
    }
    // The template's rules now target the functions.
    const rules = Object.values(template.Resources).filter((r) => r.Type === "AWS::Events::Rule");
    expect(rules.every((r) => ((r.Properties!.Targets as unknown[]) ?? []).length > 0)).toBe(true);
    expect(
      Object.values(template.Resources).filter((r) => r.Type === "AWS::Lambda::Permission").length,
    ).toBeGreaterThanOrEqual(3);
  });

  it("runs one restore, one units push and one snapshot at a time, five status reads, two restarts; lifecycle and reconcile unlimited", () => {
    const reserved = Object.fromEntries(
      FUNCTION_NAMES.map((f) => [
        f,
        template.Resources[`${f[0]!.toUpperCase()}${f.slice(1)}LambdaFunction`]!.Properties!
          .ReservedConcurrentExecutions,
      ]),
    );
    expect(reserved).toEqual({
      lifecycle: undefined,
      reconcile: undefined,
      snapshot: 1,
      restore: 1,
      units: 1,
      status: 5,
      restart: 2,
    });
  });

  it("the deployment bucket is private, versioned and encrypted", () => {
    expect(template.Resources.ServerlessDeploymentBucket!.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: "Enabled" },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
      },
    });
  });

  it("passes cfn-lint with no finding at all", async () => {
    const report = await validate(
      readFileSync(join(SLS_DIR, "cloudformation-template-update-stack.json"), "utf8"),
    );
    expect(report.errors).toEqual([]);
    expect(report.warnings).toEqual([]);
    expect(report.informational).toEqual([]);
    expect(IGNORED_CHECKS).toEqual({});
  }, 120_000);
});
