// The template's own roles, for integration tests: a function's (or the nodes') statements resolved
// against a test's resources, so an operation runs with exactly what production grants it and a
// missing permission fails the test as it would on AWS.
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { Route53Client } from "@aws-sdk/client-route-53";
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { AwsClients } from "../../functions/adapters/aws/clients.ts";
import type { CfnValue } from "../../cloudformation/cfn.ts";
import { Ids, Params } from "../../cloudformation/ids.ts";
import type { FunctionName } from "../../cloudformation/options.ts";
import { buildTemplate } from "../../cloudformation/template.ts";
import type { AwsCredentials } from "../../local/moto.ts";

/** What the role's resources are in the test: its bucket, cluster name and, when used, groups and zone. */
export interface TestResources {
  bucket: string;
  cluster: string;
  groups?: { main?: string; worker?: string; data?: string };
  zoneId?: string;
  /** The file drop's sender address. */
  sender?: string;
  /** The user pool's id (the SSH-key service's grants name it). */
  userPoolId?: string;
}

/** moto's account and the local region. */
const ACCOUNT = "123456789012";

function resolver(r: TestResources): (v: CfnValue) => CfnValue {
  const names: Record<string, string> = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": ACCOUNT,
    // The dashboard's grant names its own stack; no test here uses it.
    "AWS::StackName": "stack-notused",
    [Params.clusterName]: r.cluster,
    [Ids.snapshotBucket]: r.bucket,
    [`${Ids.snapshotBucket}.Arn`]: `arn:aws:s3:::${r.bucket}`,
    [Ids.privateZone]: r.zoneId ?? "ZNOTUSED",
    [Params.fileDropSender]: r.sender ?? "filedrop@notused.test",
    [Ids.vpc]: "vpc-notused",
    [Ids.userPool]: r.userPoolId ?? "eu-west-1_notused",
    [Ids.group("main")]: r.groups?.main ?? "main-notused",
    [Ids.group("worker")]: r.groups?.worker ?? "worker-notused",
    [Ids.group("data")]: r.groups?.data ?? "data-notused",
  };
  const name = (n: string) => {
    if (!(n in names)) throw new Error(`the test resources do not say what ${n} is`);
    return names[n]!;
  };
  const resolve = (v: CfnValue): CfnValue => {
    if (typeof v !== "object" || v === null) return v;
    if (Array.isArray(v)) return v.map(resolve);
    if ("Ref" in v) return name(v.Ref as string);
    if ("Fn::Sub" in v)
      return (v["Fn::Sub"] as string)
        .replace(/\$\{(?!!)([A-Za-z0-9:.]+)\}/g, (_m, n: string) => name(n))
        .replaceAll("${!", "${");
    if ("Fn::GetAtt" in v) return name((v["Fn::GetAtt"] as string[]).join("."));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  };
  return resolve;
}

/** Every statement of a role in the template (a function's, or "node"), resolved for the test. */
export function templateRoleStatements(principal: FunctionName | "node", r: TestResources): unknown[] {
  const t = buildTemplate({ clusterName: r.cluster });
  const id = principal === "node" ? Ids.nodeRole : Ids.functionRole(principal);
  const policies = (t.Resources[id]!.Properties!.Policies ?? []) as {
    PolicyDocument: { Statement: CfnValue[] };
  }[];
  const resolve = resolver(r);
  return policies.flatMap((p) => p.PolicyDocument.Statement.map(resolve));
}

/** The AWS clients an operation uses, signed with these credentials. */
export function clientsAs(endpoint: string, credentials: AwsCredentials): AwsClients {
  const common = { endpoint, region: "eu-west-1", credentials, maxAttempts: 5 };
  return {
    autoscaling: new AutoScalingClient(common),
    ec2: new EC2Client(common),
    route53: new Route53Client(common),
    s3: new S3Client({ ...common, forcePathStyle: true }),
    ssm: new SSMClient(common),
    cloudwatch: new CloudWatchClient(common),
  };
}
