// Deploy prerequisites: each unmet one is named with its fix; the account is an in-memory one
// (test/integration/deploy.test.ts runs the same checks through `sls deploy` against moto).
import { describe, expect, it } from "vitest";
import {
  effectiveParameters,
  unmetPrerequisites,
  unmetMessage,
  type DeployAccount,
} from "../../../cloudformation/prerequisites.ts";
import { buildTemplate } from "../../../cloudformation/template.ts";

const IMAGE = "ami-0abcdef1234567890";
const PARAMETER = "/devcluster/images/flatcar-stable-amd64";

function account(
  opts: { parameters?: Record<string, string>; images?: string[]; zones?: string[] } = {},
): DeployAccount {
  return {
    parameterValue: async (name) => (opts.parameters ?? { [PARAMETER]: IMAGE })[name],
    imageExists: async (id) => (opts.images ?? [IMAGE]).includes(id),
    availabilityZones: async () => opts.zones ?? ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
  };
}

const declared = buildTemplate({}).Parameters ?? {};
const withDomain = effectiveParameters(declared, [
  { ParameterKey: "ClusterDomain", ParameterValue: "dev.example.internal" },
]);

describe("effectiveParameters", () => {
  it("takes a given value over the template's default, and the default otherwise", () => {
    const p = effectiveParameters(declared, [{ ParameterKey: "ClusterName", ParameterValue: "team" }]);
    expect(p.ClusterName).toBe("team");
    expect(p.FlatcarAmi).toBe(PARAMETER);
    expect(p.MainSize).toBe("3");
  });
});

describe("unmetPrerequisites", () => {
  it("when everything is in place, it finds nothing", async () => {
    expect(
      await unmetPrerequisites({ region: "eu-west-1", parameters: withDomain, account: account() }),
    ).toEqual([]);
  });

  it("when the domain is empty, it says how to give one", async () => {
    const parameters = effectiveParameters(declared, [{ ParameterKey: "ClusterDomain", ParameterValue: "" }]);
    const issues = await unmetPrerequisites({ region: "eu-west-1", parameters, account: account() });
    expect(issues).toEqual([expect.stringMatching(/^no domain name: .*--param="domain=<name>"/)]);
  });

  it("when the domain is not a DNS name, it says so", async () => {
    const parameters = effectiveParameters(declared, [
      { ParameterKey: "ClusterDomain", ParameterValue: "Dev_Cluster" },
    ]);
    const issues = await unmetPrerequisites({ region: "eu-west-1", parameters, account: account() });
    expect(issues).toEqual([expect.stringMatching(/^domain "Dev_Cluster" is not a DNS name/)]);
  });

  it("when the image parameter is missing, it names it and the command that sets it", async () => {
    const issues = await unmetPrerequisites({
      region: "eu-west-2",
      parameters: withDomain,
      account: account({ parameters: {} }),
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(`the Flatcar image parameter ${PARAMETER} does not exist in eu-west-2`);
    expect(issues[0]).toContain(
      `aws ssm put-parameter --region eu-west-2 --name ${PARAMETER} --type String --data-type aws:ec2:image --overwrite`,
    );
  });

  it("when the image parameter holds no AMI id, or one the region lacks, it says which", async () => {
    const notAmi = await unmetPrerequisites({
      region: "eu-west-1",
      parameters: withDomain,
      account: account({ parameters: { [PARAMETER]: "latest" } }),
    });
    expect(notAmi).toEqual([expect.stringContaining(`holds "latest", not an AMI id`)]);
    const gone = await unmetPrerequisites({
      region: "eu-west-1",
      parameters: withDomain,
      account: account({ images: [] }),
    });
    expect(gone).toEqual([expect.stringContaining(`names ${IMAGE}, which does not exist in eu-west-1`)]);
  });

  it("when the region offers fewer than three zones, it names them and the way out", async () => {
    const issues = await unmetPrerequisites({
      region: "eu-west-1",
      parameters: withDomain,
      account: account({ zones: ["eu-west-1a", "eu-west-1b"] }),
    });
    expect(issues).toEqual([
      expect.stringMatching(
        /^region eu-west-1 offers this account 2 availability zone\(s\) \(eu-west-1a, eu-west-1b\); the cluster needs three .* --region$/,
      ),
    ]);
  });

  it("lists every unmet prerequisite in one message", async () => {
    const parameters = effectiveParameters(declared, [{ ParameterKey: "ClusterDomain", ParameterValue: "" }]);
    const issues = await unmetPrerequisites({
      region: "eu-west-1",
      parameters,
      account: account({ parameters: {}, zones: [] }),
    });
    expect(issues).toHaveLength(3);
    expect(unmetMessage("eu-west-1", issues).split("\n")).toEqual([
      "cannot deploy to eu-west-1, nothing was created:",
      ...issues.map((i) => `  - ${i}`),
    ]);
  });
});
