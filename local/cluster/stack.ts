// Creates the cluster's resources on moto from the real template: the stack itself, where moto's
// CloudFormation supports the resource types, and through the API what it skips (lifecycle hooks).
import { DevclusterError } from "../../functions/domain/errors.ts";
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackResourcesCommand,
  DescribeStacksCommand,
} from "@aws-sdk/client-cloudformation";
import { AutoScalingClient, PutLifecycleHookCommand } from "@aws-sdk/client-auto-scaling";
import { DescribeImagesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { setTimeout as sleep } from "node:timers/promises";
import type { Template } from "../../cloudformation/cfn.ts";

export interface StackResult {
  outputs: Record<string, string>;
  /** Logical id → physical id. */
  resources: Record<string, string>;
  hooksCreated: number;
  skippedTypes: string[];
}

/** Resource types moto's CloudFormation does not create (it warns and skips them). */
export function unsupportedTypes(t: Template, supported: (type: string) => boolean): string[] {
  return [...new Set(Object.values(t.Resources ?? {}).map((r) => r.Type))].filter((x) => !supported(x)).sort();
}

const MOTO_CFN_SUPPORTED = new Set([
  "AWS::AutoScaling::AutoScalingGroup",
  "AWS::EC2::EIP",
  "AWS::EC2::InternetGateway",
  "AWS::EC2::LaunchTemplate",
  "AWS::EC2::NatGateway",
  "AWS::EC2::Route",
  "AWS::EC2::RouteTable",
  "AWS::EC2::SecurityGroup",
  "AWS::EC2::SecurityGroupIngress",
  "AWS::EC2::Subnet",
  "AWS::EC2::SubnetRouteTableAssociation",
  "AWS::EC2::VPC",
  "AWS::EC2::VPCEndpoint",
  "AWS::EC2::VPCGatewayAttachment",
  "AWS::Events::Rule",
  "AWS::IAM::InstanceProfile",
  "AWS::IAM::ManagedPolicy",
  "AWS::IAM::Policy",
  "AWS::IAM::Role",
  "AWS::Lambda::Permission",
  "AWS::Route53::HostedZone",
  "AWS::Route53::RecordSet",
  "AWS::S3::Bucket",
  "AWS::SSM::Parameter",
]);

export async function createStackOnMoto(opts: {
  stackName: string;
  template: Template;
  parameters: Record<string, string>;
  amiParameter: string;
}): Promise<StackResult> {
  const cfn = new CloudFormationClient({});
  const ec2 = new EC2Client({});
  // An operator's account has the Flatcar AMI parameter; moto's images stand in for it.
  const image = (await ec2.send(new DescribeImagesCommand({ Owners: ["amazon"] }))).Images?.[0]?.ImageId;
  if (!image) throw new DevclusterError("moto offers no AMI to stand in for Flatcar");
  await new SSMClient({}).send(
    new PutParameterCommand({ Name: opts.amiParameter, Value: image, Type: "String", Overwrite: true }),
  );
  await cfn.send(
    new CreateStackCommand({
      StackName: opts.stackName,
      TemplateBody: JSON.stringify(opts.template),
      Parameters: Object.entries(opts.parameters).map(([ParameterKey, ParameterValue]) => ({ ParameterKey, ParameterValue })),
      Capabilities: ["CAPABILITY_NAMED_IAM", "CAPABILITY_IAM"],
    }),
  );
  for (let i = 0; ; i++) {
    const s = (await cfn.send(new DescribeStacksCommand({ StackName: opts.stackName }))).Stacks?.[0];
    if (s?.StackStatus === "CREATE_COMPLETE") break;
    if (!s || /FAILED|ROLLBACK/.test(s.StackStatus ?? "") || i > 600) {
      throw new DevclusterError(`stack ${opts.stackName} did not create on moto: ${s?.StackStatus} ${s?.StackStatusReason ?? ""}`);
    }
    await sleep(100);
  }
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName: opts.stackName }))).Stacks![0]!;
  const outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
  const res = await cfn.send(new DescribeStackResourcesCommand({ StackName: opts.stackName }));
  const resources = Object.fromEntries(
    (res.StackResources ?? []).map((r) => [r.LogicalResourceId!, r.PhysicalResourceId ?? ""]),
  );

  // moto's CloudFormation skips AWS::AutoScaling::LifecycleHook: create each through the API instead.
  const autoscaling = new AutoScalingClient({});
  let hooksCreated = 0;
  for (const r of Object.values(opts.template.Resources ?? {})) {
    if (r.Type !== "AWS::AutoScaling::LifecycleHook") continue;
    const p = r.Properties as Record<string, unknown>;
    const groupRef = (p.AutoScalingGroupName as { Ref?: string }).Ref;
    const groupName = groupRef ? resources[groupRef] : undefined;
    if (!groupName) throw new DevclusterError(`lifecycle hook refers to an unknown group ${JSON.stringify(p.AutoScalingGroupName)}`);
    await autoscaling.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: groupName,
        LifecycleHookName: p.LifecycleHookName as string,
        LifecycleTransition: p.LifecycleTransition as string,
        HeartbeatTimeout: p.HeartbeatTimeout as number,
        DefaultResult: p.DefaultResult as string,
      }),
    );
    hooksCreated++;
  }
  const skippedTypes = unsupportedTypes(opts.template, (t) => MOTO_CFN_SUPPORTED.has(t)).filter(
    (t) => t !== "AWS::AutoScaling::LifecycleHook",
  );
  return { outputs, resources, hooksCreated, skippedTypes };
}
