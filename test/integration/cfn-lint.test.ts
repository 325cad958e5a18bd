// cfn-lint (from the project venv) finds no error in the generated template: standalone, and as
// merged into a Serverless package (stand-in functions carrying Serverless's logical ids).
import { describe, expect, it } from "vitest";
import { formatFindings, validate } from "../../cloudformation/cli.ts";
import { buildTemplate } from "../../cloudformation/template.ts";
import { Ids } from "../../cloudformation/ids.ts";
import { FUNCTION_NAMES } from "../../cloudformation/options.ts";
import type { Template } from "../../cloudformation/cfn.ts";

/** What `sls package` adds for each function, reduced to what the cluster resources refer to. */
function withServerlessFunctions(t: Template): Template {
  for (const fn of FUNCTION_NAMES) {
    t.Resources[Ids.lambdaFunction(fn)] = {
      Type: "AWS::Lambda::Function",
      Properties: {
        FunctionName: `devcluster-dev-${fn}`,
        // nodejs20.x is deprecated (cfn-lint W2531 since 2026-04-30): serverless.yml should use 22 or newer.
        Runtime: "nodejs22.x",
        Handler: `${fn}.handler`,
        Code: { ZipFile: "exports.handler = async () => {};" },
        Role: { "Fn::GetAtt": [Ids.functionRole(fn), "Arn"] },
        Environment: {
          Variables: {
            CLUSTER_NAME: { Ref: "ClusterName" },
            RETAIN_LAST: { Ref: "RetainLast" },
            RETAIN_DAYS: { Ref: "RetainDays" },
            AUTO_RESTORE: { Ref: "AutoRestore" },
            SERVICES: { Ref: "Services" },
          },
        },
        VpcConfig: {
          SubnetIds: [0, 1, 2].map((z) => ({ Ref: Ids.privateSubnet(z) })),
          SecurityGroupIds: [{ "Fn::GetAtt": [Ids.lambdaSecurityGroup, "GroupId"] }],
        },
      },
    };
  }
  return t;
}

describe("cfn-lint", () => {
  it("passes the standalone template with no error and no warning", async () => {
    const r = await validate(buildTemplate());
    expect(formatFindings(r)).toEqual([]);
    expect(r.ok).toBe(true);
  }, 120_000);

  it("passes the template with the functions in it (as sls package merges it)", async () => {
    const t = withServerlessFunctions(buildTemplate({ functionsInTemplate: FUNCTION_NAMES }));
    const r = await validate(t);
    expect(r.errors.map((m) => m.Message)).toEqual([]);
    expect(r.warnings.map((m) => m.Message)).toEqual([]);
  }, 120_000);

  it("passes the per-zone NAT variant and other regions", async () => {
    const r = await validate(buildTemplate({ natGateways: "per-zone", region: "us-east-1", mainSize: 5 }), {
      region: "us-east-1",
    });
    expect(r.errors.map((m) => m.Message)).toEqual([]);
  }, 120_000);

  it("can fail: a broken template is reported", async () => {
    const t = buildTemplate();
    (t.Resources[Ids.group("main")]!.Properties as Record<string, unknown>).LaunchTemplate = { Version: "1" };
    const r = await validate(t);
    expect(r.ok).toBe(false);
    expect(r.errors.length).toBeGreaterThan(0);
  }, 120_000);
});
