// What `sls deploy` checks in the target account before it creates anything: the stack's
// parameters as they will be deployed, a domain name, the Flatcar image parameter and its image,
// and three availability zones in the region.
import { GetParameterCommand, ParameterNotFound, SSMClient } from "@aws-sdk/client-ssm";
import { DescribeAvailabilityZonesCommand, DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { Params } from "./ids.ts";
import { isDnsName, CLUSTER_NAME_PATTERN } from "./options.ts";

/** The account facts the checks need; `slsAccount` answers them through the deploying framework. */
export interface DeployAccount {
  /** The parameter's value, or undefined when it does not exist. */
  parameterValue(name: string): Promise<string | undefined>;
  /** Whether the image exists (and is visible to the account) in the region. */
  imageExists(imageId: string): Promise<boolean>;
  /** Names of the region's available availability zones (not Local or Wavelength zones). */
  availabilityZones(): Promise<string[]>;
}

export interface StackParameter {
  ParameterKey: string;
  ParameterValue?: string;
}

type ParameterDecls = Record<string, { Default?: unknown }>;

/** Each parameter's value as CloudFormation will see it: the given value, else the template's default. */
export function effectiveParameters(
  declared: ParameterDecls,
  given: readonly StackParameter[] = [],
): Record<string, string | undefined> {
  const values: Record<string, string | undefined> = {};
  for (const [k, d] of Object.entries(declared))
    values[k] = d.Default === undefined ? undefined : String(d.Default);
  for (const p of given) values[p.ParameterKey] = p.ParameterValue;
  return values;
}

/** The command that sets the image parameter, as the error shows it. */
export function putImageParameterCommand(name: string, region: string): string {
  return (
    `aws ssm put-parameter --region ${region} --name ${name} --type String --data-type aws:ec2:image ` +
    `--overwrite --value <ami-id of the current Flatcar Container Linux stable image for ${region}>`
  );
}

/**
 * Every unmet prerequisite, each saying what is missing and how to fix it; empty when the deploy may
 * go ahead. Reads only: nothing is created or changed.
 */
export async function unmetPrerequisites(opts: {
  region: string;
  parameters: Record<string, string | undefined>;
  account: DeployAccount;
}): Promise<string[]> {
  const { region, parameters, account } = opts;
  const issues: string[] = [];

  const domain = parameters[Params.clusterDomain]?.trim() ?? "";
  if (!domain) {
    issues.push(
      `no domain name: the cluster's private DNS zone needs one; deploy with --param="domain=<name>" (e.g. dev.example.internal)`,
    );
  } else if (!isDnsName(domain)) {
    issues.push(`domain "${domain}" is not a DNS name (labels of a-z, 0-9 and inner '-', dot-separated)`);
  }
  const cluster = parameters[Params.clusterName] ?? "";
  if (!new RegExp(CLUSTER_NAME_PATTERN).test(cluster)) {
    issues.push(
      `cluster name "${cluster}" must be lower-case letters, digits and '-', starting with a letter, 1-31 characters`,
    );
  }

  const [zones, image] = await Promise.all([
    account.availabilityZones(),
    imagePrerequisite(parameters[Params.flatcarAmi], region, account),
  ]);
  if (zones.length < 3) {
    issues.push(
      `region ${region} offers this account ${zones.length} availability zone(s) (${zones.join(", ") || "none"}); ` +
        `the cluster needs three (etcd keeps quorum through the loss of one zone): deploy to another region with --region`,
    );
  }
  if (image) issues.push(image);
  return issues;
}

async function imagePrerequisite(
  name: string | undefined,
  region: string,
  account: DeployAccount,
): Promise<string | undefined> {
  if (!name) return `the stack has no ${Params.flatcarAmi} parameter naming the Flatcar image parameter`;
  const value = await account.parameterValue(name);
  if (value === undefined) {
    return (
      `the Flatcar image parameter ${name} does not exist in ${region}; put the current Flatcar stable AMI id in it: ` +
      putImageParameterCommand(name, region)
    );
  }
  if (!/^ami-[0-9a-f]{8,17}$/.test(value)) {
    return `the Flatcar image parameter ${name} holds "${value}", not an AMI id; set it with: ${putImageParameterCommand(name, region)}`;
  }
  if (!(await account.imageExists(value))) {
    return `the Flatcar image parameter ${name} names ${value}, which does not exist in ${region}; set it with: ${putImageParameterCommand(name, region)}`;
  }
  return undefined;
}

/** The message a refused deploy shows: one line per unmet prerequisite. */
export function unmetMessage(region: string, issues: readonly string[]): string {
  return [`cannot deploy to ${region}, nothing was created:`, ...issues.map((i) => `  - ${i}`)].join("\n");
}

/**
 * The account through the AWS SDK. The plugin passes the deploying framework's client settings
 * (osls `provider.getAwsSdkV3Config()`: its profile, credentials, region and endpoint), so the
 * checks read the account the deploy writes to.
 */
export function sdkAccount(config: Record<string, unknown> = {}): DeployAccount {
  const ssm = new SSMClient(config);
  const ec2 = new EC2Client(config);
  return {
    async parameterValue(name) {
      try {
        return (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
      } catch (e) {
        if (e instanceof ParameterNotFound) return undefined;
        throw e;
      }
    },
    async imageExists(imageId) {
      try {
        return ((await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images ?? []).length > 0;
      } catch (e) {
        // EC2 models no error types: its codes are the error's name.
        if (/^InvalidAMIID\./.test((e as Error).name)) return false;
        throw e;
      }
    },
    async availabilityZones() {
      const r = await ec2.send(
        new DescribeAvailabilityZonesCommand({
          Filters: [
            { Name: "state", Values: ["available"] },
            { Name: "zone-type", Values: ["availability-zone"] },
          ],
        }),
      );
      return (r.AvailabilityZones ?? []).map((z) => z.ZoneName ?? "").filter(Boolean);
    },
  };
}
