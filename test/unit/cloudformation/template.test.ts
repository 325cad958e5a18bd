// The template's shape: every part the cluster needs is there, with the settings that matter.
import { describe, expect, it } from "vitest";
import { buildTemplate } from "../../../cloudformation/template.ts";
import { HOOKS, Ids, Params } from "../../../cloudformation/ids.ts";
import {
  SSH_KEY_SERVICE_POOL_ACTIONS,
  SSM_AGENT_ACTIONS,
  UNSCOPABLE_ACTIONS,
} from "../../../cloudformation/parts/iam.ts";
import { USER_DATA_LIMIT, type IgnitionConfig } from "../../../cloudformation/parts/ignition.ts";
import { BOOT_KEY_SCRIPT } from "../../../functions/domain/nodeTls.ts";
import { ETCD_MEMBER_UNIT } from "../../../functions/domain/firstBoot.ts";
import { CLUSTER_TAG, ROLE_TAG, ROLES, type Role } from "../../../functions/domain/model.ts";
import { actionsOf, ofType, props, resolveSub, roleStatements } from "./helpers.ts";
import type { CfnValue } from "../../../cloudformation/cfn.ts";
import { IMAGE_NAMES } from "../../../functions/domain/images.ts";

const t = buildTemplate();
const withFunctions = buildTemplate({
  functionsInTemplate: ["lifecycle", "reconcile", "snapshot", "restore", "units"],
});
const json = JSON.stringify(t);

function ignitionOf(role: Role): IgnitionConfig {
  const lt = props(t, Ids.launchTemplate(role)).LaunchTemplateData as Record<string, CfnValue>;
  const text = ((lt.UserData as Record<string, CfnValue>)["Fn::Base64"] as Record<string, string>)[
    "Fn::Sub"
  ]!;
  return JSON.parse(
    resolveSub(text, {
      ClusterName: "dev",
      ClusterDomain: "dev.internal",
      "AWS::Region": "eu-west-1",
      "AWS::StackName": "devcluster-dev",
      PrivateZone: "Z0PRIVATE",
      UserPool: "eu-west-1_POOL",
      AuthUserPoolClient: "client0",
      SnapshotBucket: "devcluster-dev-snapshots",
      FileDropSender: "filedrop@dev.internal",
      EtcdTls: "true",
    }),
  ) as IgnitionConfig;
}
const fileText = (cfg: IgnitionConfig, path: string) => {
  const f = cfg.storage.files.find((x) => x.path === path);
  if (!f) throw new Error(`no file ${path}`);
  return decodeURIComponent(f.contents.source.replace(/^data:,/, ""));
};

describe("network", () => {
  it("spreads public and private subnets over three zones", () => {
    const subnets = ofType(t, "AWS::EC2::Subnet");
    expect(subnets).toHaveLength(6);
    const zones = subnets.map(([, r]) => JSON.stringify(r.Properties!.AvailabilityZone));
    expect(new Set(zones).size).toBe(3);
    expect(subnets.filter(([, r]) => r.Properties!.MapPublicIpOnLaunch === true)).toHaveLength(3);
  });
  it("has an internet gateway, a NAT for the private subnets and the endpoints that cut NAT traffic", () => {
    expect(ofType(t, "AWS::EC2::InternetGateway")).toHaveLength(1);
    expect(ofType(t, "AWS::EC2::NatGateway")).toHaveLength(1);
    expect(ofType(buildTemplate({ natGateways: "per-zone" }), "AWS::EC2::NatGateway")).toHaveLength(3);
    const endpoints = ofType(t, "AWS::EC2::VPCEndpoint").map(([, r]) => [
      JSON.stringify(r.Properties!.ServiceName),
      r.Properties!.VpcEndpointType,
    ]);
    expect(endpoints).toEqual(
      expect.arrayContaining([
        [expect.stringContaining(".s3"), "Gateway"],
        [expect.stringContaining('.ssm"'), "Interface"],
        [expect.stringContaining(".ssmmessages"), "Interface"],
        [expect.stringContaining(".ec2messages"), "Interface"],
      ]),
    );
  });
});

describe("groups", () => {
  it.each(ROLES)("%s: a group with a launch template, role and cluster tags propagated at launch", (role) => {
    const g = props(t, Ids.group(role));
    expect(g.LaunchTemplate).toEqual({
      LaunchTemplateId: { Ref: Ids.launchTemplate(role) },
      Version: { "Fn::GetAtt": [Ids.launchTemplate(role), "LatestVersionNumber"] },
    });
    expect(g.Tags).toEqual(
      expect.arrayContaining([
        { Key: ROLE_TAG, Value: role, PropagateAtLaunch: true },
        { Key: CLUSTER_TAG, Value: { Ref: "ClusterName" }, PropagateAtLaunch: true },
      ]),
    );
    expect((g.VPCZoneIdentifier as CfnValue[]).length).toBe(3);
  });
  it("only workers face the internet: main and data nodes in the private subnets", () => {
    const subnets = (role: Role) => JSON.stringify(props(t, Ids.group(role)).VPCZoneIdentifier);
    expect(subnets("worker")).toContain("PublicSubnet");
    for (const role of ["main", "data"] as const) {
      expect(subnets(role)).toContain("PrivateSubnet");
      expect(subnets(role)).not.toContain("PublicSubnet");
    }
  });
  it.each(ROLES)(
    "%s: IMDSv2 with a hop limit of 1 (a bridged container cannot take the node's credentials)",
    (role) => {
      const data = props(t, Ids.launchTemplate(role)).LaunchTemplateData as Record<string, CfnValue>;
      expect(data.MetadataOptions).toEqual({
        HttpTokens: "required",
        HttpPutResponseHopLimit: 1,
        HttpEndpoint: "enabled",
      });
    },
  );
  it.each(ROLES)("%s: launch and terminate hooks with heartbeat and default results", (role) => {
    const hooks = props(t, Ids.group(role)).LifecycleHookSpecificationList as Record<string, CfnValue>[];
    expect(hooks).toEqual([
      expect.objectContaining({
        LifecycleHookName: HOOKS.launch,
        LifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING",
        DefaultResult: "ABANDON",
      }),
      expect.objectContaining({
        LifecycleHookName: HOOKS.terminate,
        LifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING",
        DefaultResult: "CONTINUE",
      }),
    ]);
    for (const h of hooks) expect(h.HeartbeatTimeout).toBeGreaterThanOrEqual(300);
  });
  it("sizes: main pinned to MainSize (odd 3-9), worker min/max/desired, data by hand", () => {
    expect(t.Parameters.MainSize!.AllowedValues).toEqual([3, 5, 7, 9]);
    expect(props(t, Ids.group("main"))).toMatchObject({
      MinSize: { Ref: "MainSize" },
      DesiredCapacity: { Ref: "MainSize" },
    });
    expect(props(t, Ids.group("worker"))).toMatchObject({
      MinSize: { Ref: "WorkerMinSize" },
      MaxSize: { Ref: "WorkerMaxSize" },
      DesiredCapacity: { Ref: "WorkerDesiredSize" },
    });
    expect(props(t, Ids.group("data"))).toMatchObject({
      MinSize: { Ref: "DataSize" },
      MaxSize: { Ref: "DataSize" },
    });
    expect(t.Resources[Ids.group("main")]!.UpdatePolicy).toMatchObject({
      AutoScalingRollingUpdate: { MaxBatchSize: 1 },
    });
  });
  it.each(ROLES)(
    "%s: Flatcar AMI from SSM at deploy time, instance profile, IMDSv2, encrypted root",
    (role) => {
      const lt = props(t, Ids.launchTemplate(role)).LaunchTemplateData as Record<string, CfnValue>;
      expect(lt.ImageId).toEqual({ Ref: "FlatcarAmi" });
      expect(t.Parameters.FlatcarAmi!.Type).toBe("AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>");
      expect(lt.IamInstanceProfile).toEqual({ Arn: { "Fn::GetAtt": [Ids.nodeInstanceProfile, "Arn"] } });
      expect(lt.MetadataOptions).toMatchObject({ HttpTokens: "required" });
      expect(JSON.stringify(lt.BlockDeviceMappings)).toContain('"Encrypted":true');
    },
  );
});

describe("Ignition first boot", () => {
  it.each(ROLES)("%s: Ignition v3 JSON enabling the SSM agent, Docker and the etcd install", (role) => {
    const cfg = ignitionOf(role);
    expect(cfg.ignition.version).toMatch(/^3\./);
    const enabled = cfg.systemd.units.filter((u) => u.enabled).map((u) => u.name);
    expect(enabled).toEqual(
      expect.arrayContaining(["amazon-ssm-agent.service", "docker.service", "etcd-install.service"]),
    );
    expect(fileText(cfg, "/etc/devcluster/cluster.env")).toBe(
      `CLUSTER_NAME=dev\nSTACK_NAME=devcluster-dev\nCLUSTER_DOMAIN=dev.internal\nNODE_ROLE=${role}\nAWS_REGION=eu-west-1\nPRIVATE_ZONE_ID=Z0PRIVATE\nUSER_POOL_ID=eu-west-1_POOL\nUSER_POOL_CLIENT_ID=client0\nSNAPSHOT_BUCKET=devcluster-dev-snapshots\nFILEDROP_SENDER=filedrop@dev.internal\nETCD_TLS=true\n`,
    );
    const install = fileText(cfg, "/opt/bin/install-etcd");
    expect(install).toMatch(/sha256sum -c/);
    expect(install).toMatch(/install -m 0755 .*etcd" .*etcdctl"/);
  });
  it.each(ROLES)("%s: writes /etc/devcluster/node.env (what presence@ reads) from IMDSv2 at boot", (role) => {
    const cfg = ignitionOf(role);
    expect(cfg.systemd.units.find((u) => u.name === "devcluster-node-env.service")?.enabled).toBe(true);
    const script = fileText(cfg, "/opt/bin/devcluster-node-env");
    expect(script).toMatch(/-X PUT .*api\/token/); // a session token: the launch template requires IMDSv2
    for (const k of ["INSTANCE_ID", "PRIVATE_IP", "PUBLIC_IP", "ZONE"]) expect(script).toContain(`${k}=`);
    expect(script).toContain('mv -f "$TMP" /etc/devcluster/node.env');
  });
  it.each(ROLES)("%s: makes the node's etcd key and its CSR at boot, after node.env", (role) => {
    const cfg = ignitionOf(role);
    const unit = cfg.systemd.units.find((u) => u.name === "devcluster-node-key.service");
    expect(unit?.enabled).toBe(true);
    expect(unit?.contents).toContain("EnvironmentFile=/etc/devcluster/node.env");
    expect(unit?.contents).toMatch(/After=devcluster-node-env\.service/);
    expect(fileText(cfg, "/opt/bin/devcluster-node-key")).toBe(BOOT_KEY_SCRIPT);
  });
  it("main: the etcd member unit reading /etc/etcd/etcd.env and running /opt/bin/etcd", () => {
    const unit = ignitionOf("main").systemd.units.find((u) => u.name === "etcd-member.service")!;
    expect(unit.contents).toBe(ETCD_MEMBER_UNIT);
    expect(unit.contents).toContain("EnvironmentFile=/etc/etcd/etcd.env");
    expect(unit.contents).toContain("ExecStart=/opt/bin/etcd");
    expect(ignitionOf("main").systemd.units.map((u) => u.name)).not.toContain("etcd-amb.service");
  });
  it.each(["worker", "data"] as const)(
    "%s: no etcd member; etcd-amb comes from the unit catalog, not first boot",
    (role) => {
      const names = ignitionOf(role).systemd.units.map((u) => u.name);
      expect(names).not.toContain("etcd-member.service");
      expect(names).not.toContain("etcd-amb.service");
    },
  );
  it.each(ROLES)("%s: user data stays under CloudFormation's 16 KB", (role) => {
    expect(JSON.stringify(ignitionOf(role)).length).toBeLessThan(USER_DATA_LIMIT);
  });
});

describe("security groups", () => {
  const ingress: Record<string, CfnValue>[] = ofType(t, "AWS::EC2::SecurityGroupIngress").map(([id, r]) => ({
    id,
    ...(r.Properties as Record<string, CfnValue>),
  }));
  const sgOf = (id: string) => ({ "Fn::GetAtt": [id, "GroupId"] });
  it("etcd client port only from cluster nodes and the functions; peer port only between main nodes", () => {
    const etcd = ingress.filter((r) => (r.FromPort as number) <= 2380 && (r.ToPort as number) >= 2379);
    expect(etcd.map((r) => [r.FromPort, r.GroupId, r.SourceSecurityGroupId])).toEqual(
      expect.arrayContaining([
        [2379, sgOf("MainNodeSecurityGroup"), sgOf("ClusterNodeSecurityGroup")],
        [2379, sgOf("MainNodeSecurityGroup"), sgOf("LambdaSecurityGroup")],
        [2380, sgOf("MainNodeSecurityGroup"), sgOf("MainNodeSecurityGroup")],
      ]),
    );
    expect(etcd).toHaveLength(3);
    expect(etcd.every((r) => r.CidrIp === undefined)).toBe(true);
  });
  it("front door 80/443 from the world on workers only; nothing else from the world; no SSH", () => {
    const world = ingress.filter((r) => r.CidrIp === "0.0.0.0/0" || r.CidrIpv6 === "::/0");
    expect(world.map((r) => [r.GroupId, r.FromPort])).toEqual([
      [sgOf("WorkerNodeSecurityGroup"), 80],
      [sgOf("WorkerNodeSecurityGroup"), 443],
    ]);
    // Gerrit's SSH and the SFTP streams on the front door: only from the addresses the stack is given.
    const fromParameter = ingress.filter((r) => typeof r.CidrIp === "object");
    expect(fromParameter.map((r) => [r.GroupId, r.FromPort, r.ToPort, r.CidrIp])).toEqual([
      [sgOf("WorkerNodeSecurityGroup"), 29418, 29418, { Ref: "GitSshCidr" }],
      [sgOf("WorkerNodeSecurityGroup"), 2022, 2022, { Ref: "SftpCidr" }],
      [sgOf("WorkerNodeSecurityGroup"), 9989, 9989, { Ref: "BuildbotWorkerCidr" }],
    ]);
    const all = [
      ...ingress,
      ...ofType(t, "AWS::EC2::SecurityGroup").flatMap(
        ([, r]) => (r.Properties!.SecurityGroupIngress ?? []) as Record<string, CfnValue>[],
      ),
    ];
    for (const r of all) {
      expect(r.IpProtocol).not.toBe("-1");
      expect((r.FromPort as number) <= 22 && (r.ToPort as number) >= 22).toBe(false);
    }
  });
  it("the functions' group egresses only to HTTPS and etcd", () => {
    expect(props(t, "LambdaSecurityGroup").SecurityGroupEgress).toEqual([
      expect.objectContaining({ FromPort: 443, ToPort: 443 }),
    ]);
    expect(props(t, "FunctionsEtcdEgress")).toMatchObject({
      FromPort: 2379,
      DestinationSecurityGroupId: sgOf("MainNodeSecurityGroup"),
    });
    // etcd's HTTP listener (health), on main nodes, reached by the functions alone.
    expect(props(t, "FunctionsEtcdHttpEgress")).toMatchObject({
      FromPort: 2382,
      ToPort: 2382,
      DestinationSecurityGroupId: sgOf("MainNodeSecurityGroup"),
    });
    const to2382 = ofType(t, "AWS::EC2::SecurityGroupIngress")
      .map(([, r]) => r.Properties!)
      .filter((r) => (r.FromPort as number) <= 2382 && (r.ToPort as number) >= 2382);
    expect(to2382.map((r) => [r.GroupId, r.SourceSecurityGroupId])).toEqual([
      [sgOf("MainNodeSecurityGroup"), sgOf("LambdaSecurityGroup")],
    ]);
  });
  it("launch templates put each node in its role group and the cluster group", () => {
    for (const role of ROLES) {
      const lt = props(t, Ids.launchTemplate(role)).LaunchTemplateData as Record<string, CfnValue>;
      expect(lt.SecurityGroupIds).toEqual([
        sgOf(Ids.nodeSecurityGroup(role)),
        sgOf("ClusterNodeSecurityGroup"),
      ]);
    }
  });
});

describe("events", () => {
  it("routes both lifecycle actions of the three groups to lifecycle", () => {
    const rule = props(withFunctions, Ids.lifecycleRule);
    expect(rule.EventPattern).toEqual({
      source: ["aws.autoscaling"],
      "detail-type": ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"],
      detail: { AutoScalingGroupName: ROLES.map((r) => ({ Ref: Ids.group(r) })) },
    });
    expect(rule.Targets).toEqual([
      expect.objectContaining({
        Arn: { "Fn::GetAtt": ["LifecycleLambdaFunction", "Arn"] },
        DeadLetterConfig: { Arn: { "Fn::GetAtt": [Ids.lifecycleDeadLetters, "Arn"] } },
      }),
    ]);
  });
  it("lifecycle events EventBridge cannot deliver go to an encrypted queue only that rule may send to", () => {
    expect(props(withFunctions, Ids.lifecycleDeadLetters)).toMatchObject({ SqsManagedSseEnabled: true });
    expect(props(withFunctions, Ids.lifecycleDeadLettersPolicy).PolicyDocument).toMatchObject({
      Statement: [
        {
          Effect: "Allow",
          Principal: { Service: "events.amazonaws.com" },
          Action: "sqs:SendMessage",
          Condition: { ArnEquals: { "aws:SourceArn": { "Fn::GetAtt": [Ids.lifecycleRule, "Arn"] } } },
        },
      ],
    });
    // Without the function in the template there is no target, so no queue.
    expect(t.Resources[Ids.lifecycleDeadLetters]).toBeUndefined();
  });
  it("schedules reconcile every 5 minutes and snapshot every SnapshotIntervalMinutes", () => {
    expect(props(withFunctions, Ids.reconcileRule).ScheduleExpression).toBe("rate(5 minutes)");
    // A learner left by a launch is promoted within a minute, not at the next reconcile.
    expect(props(withFunctions, Ids.promoteRule).ScheduleExpression).toBe("rate(1 minute)");
    expect(props(withFunctions, Ids.promoteRule).Targets).toEqual([
      expect.objectContaining({
        Arn: { "Fn::GetAtt": ["ReconcileLambdaFunction", "Arn"] },
        Input: JSON.stringify({ mode: "promote" }),
      }),
    ]);
    expect(props(withFunctions, Ids.snapshotRule).ScheduleExpression).toEqual({
      "Fn::Sub": "rate(${SnapshotIntervalMinutes} minutes)",
    });
    expect(props(withFunctions, Ids.snapshotRule).Targets).toEqual([
      expect.objectContaining({ Arn: { "Fn::GetAtt": ["SnapshotLambdaFunction", "Arn"] } }),
    ]);
    // Service volumes: daily, through the units function's volume event.
    expect(props(withFunctions, Ids.volumeSnapshotRule).ScheduleExpression).toBe("rate(1 day)");
    expect(props(withFunctions, Ids.volumeSnapshotRule).Targets).toEqual([
      expect.objectContaining({
        Arn: { "Fn::GetAtt": ["UnitsLambdaFunction", "Arn"] },
        Input: JSON.stringify({ volume: { action: "snapshot" } }),
      }),
    ]);
  });
  it("gives EventBridge permission to invoke each targeted function, from its rule only", () => {
    const perms = ofType(withFunctions, "AWS::Lambda::Permission").map(([, r]) => r.Properties);
    expect(perms).toHaveLength(5);
    for (const p of perms)
      expect(p).toMatchObject({ Principal: "events.amazonaws.com", Action: "lambda:InvokeFunction" });
    expect(perms.map((p) => p!.SourceArn)).toEqual(
      [Ids.lifecycleRule, Ids.reconcileRule, Ids.promoteRule, Ids.snapshotRule, Ids.volumeSnapshotRule].map(
        (id) => ({
          "Fn::GetAtt": [id, "Arn"],
        }),
      ),
    );
  });
  it("standalone: rules without targets, no permissions, no reference to a missing function", () => {
    expect(props(t, Ids.lifecycleRule).Targets).toBeUndefined();
    expect(ofType(t, "AWS::Lambda::Permission")).toHaveLength(0);
    expect(json).not.toMatch(/LambdaFunction"/);
  });
  it("only functions the service declares get targets", () => {
    const some = buildTemplate({ functionsInTemplate: ["lifecycle"] });
    expect(props(some, Ids.lifecycleRule).Targets).toBeDefined();
    expect(props(some, Ids.snapshotRule).Targets).toBeUndefined();
  });
});

describe("snapshot bucket", () => {
  const b = props(t, Ids.snapshotBucket);
  it("is versioned, encrypted, private and kept when the stack goes", () => {
    expect(b.VersioningConfiguration).toEqual({ Status: "Enabled" });
    expect(b.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: "aws:kms",
            KMSMasterKeyID: {
              "Fn::Sub":
                "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:alias/devcluster/${ClusterName}",
            },
          },
          BucketKeyEnabled: true,
        },
      ],
    });
    expect(b.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(t.Resources[Ids.snapshotBucket]!.DeletionPolicy).toBe("Retain");
  });
  it("expires old versions and aborts incomplete uploads", () => {
    const rules = (b.LifecycleConfiguration as { Rules: Record<string, CfnValue>[] }).Rules;
    expect(rules.some((r) => r.NoncurrentVersionExpiration)).toBe(true);
    expect(rules.some((r) => r.AbortIncompleteMultipartUpload)).toBe(true);
  });
  it("refuses requests without TLS", () => {
    const policy = props(t, Ids.snapshotBucketPolicy).PolicyDocument as {
      Statement: Record<string, CfnValue>[];
    };
    expect(policy.Statement).toContainEqual(
      expect.objectContaining({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
    );
  });
  // moto 5.2.5 does not evaluate bucket policies (only the caller's own IAM policies), so the policy
  // document itself is what is tested here.
  it("denies every principal but the account and the roles that use snapshots: any change, and any read but a manifest", () => {
    const policy = props(t, Ids.snapshotBucketPolicy).PolicyDocument as {
      Statement: Record<string, CfnValue>[];
    };
    const denies = policy.Statement.filter((s) => String(s.Sid).startsWith("DenyOtherPrincipals"));
    expect(denies).toHaveLength(2);
    const covered = (a: string, on: (s: Record<string, CfnValue>) => boolean) =>
      denies.some(
        (s) =>
          on(s) && (s.Action as string[]).some((p) => new RegExp(`^${p.replaceAll("*", ".*")}$`).test(a)),
      );
    const objects = { "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/*` };
    const onObjects = (s: Record<string, CfnValue>) => JSON.stringify(s.Resource) === JSON.stringify(objects);
    for (const a of ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"])
      expect(covered(a, onObjects), a).toBe(true);
    // Reads are denied everywhere but under manifests/.
    const butManifests = (s: Record<string, CfnValue>) =>
      JSON.stringify(s.NotResource) ===
      JSON.stringify({ "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/etcd-snapshots/*/manifests/*` });
    for (const a of ["s3:GetObject", "s3:GetObjectVersion"]) expect(covered(a, butManifests), a).toBe(true);
    // Bucket settings stay with the account (an administrator can always change the policy).
    expect(covered("s3:PutBucketPolicy", () => true)).toBe(false);
    // Exactly the roles granted an S3 action on the bucket, and the account's root user.
    const usingS3 = [
      ...new Set(
        roleStatements(t)
          .filter((x) => (x.statement.Action as string[]).some((a) => a.startsWith("s3:")))
          .map((x) => x.role),
      ),
    ];
    expect(usingS3).toContain(Ids.nodeRole);
    for (const deny of denies) {
      expect(deny).toMatchObject({ Effect: "Deny", Principal: "*" });
      const allowed = (deny.Condition as { ArnNotEquals: { "aws:PrincipalArn": CfnValue[] } }).ArnNotEquals[
        "aws:PrincipalArn"
      ];
      expect(allowed).toEqual(
        expect.arrayContaining([
          { "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" },
          ...usingS3.map((r) => ({ "Fn::GetAtt": [r, "Arn"] })),
        ]),
      );
      expect(allowed).toHaveLength(usingS3.length + 1);
    }
  });
});

describe("cluster key", () => {
  const k = props(t, Ids.clusterKey);
  const policy = k.KeyPolicy as { Statement: Record<string, CfnValue>[] };
  const principals = (s: Record<string, CfnValue>) => (s.Principal as { AWS: CfnValue[] }).AWS;
  it("rotates, is kept with the snapshots it decrypts, and has an alias per cluster", () => {
    expect(k.EnableKeyRotation).toBe(true);
    expect(t.Resources[Ids.clusterKey]!.DeletionPolicy).toBe("Retain");
    expect(props(t, Ids.clusterKeyAlias)).toEqual({
      AliasName: { "Fn::Sub": "alias/devcluster/${ClusterName}" },
      TargetKeyId: { Ref: Ids.clusterKey },
    });
  });
  it("no principal is a wildcard; the account administers but never uses it", () => {
    for (const s of policy.Statement) {
      expect(s.Effect).toBe("Allow");
      expect(JSON.stringify(s.Principal)).not.toContain('"*"');
      expect(s.Action).not.toContain("kms:*");
    }
    const admin = policy.Statement.find((s) => s.Sid === "AccountAdministersTheKey")!;
    for (const a of ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"])
      expect(admin.Action, a).not.toContain(a);
    expect(admin.Action).toContain("kms:PutKeyPolicy");
  });
  it("every use goes through S3 or SSM, and only roles granted it in IAM are named for it", () => {
    for (const s of policy.Statement.filter((x) => x.Sid !== "AccountAdministersTheKey"))
      expect(JSON.stringify(s.Condition)).toMatch(
        /"kms:ViaService":\{"Fn::Sub":"(s3|ssm)\.\$\{AWS::Region\}\.amazonaws\.com"\}/,
      );
    const named = (action: string) =>
      new Set(
        policy.Statement.filter((s) => (s.Action as string[]).includes(action))
          .flatMap(principals)
          .map((p) => JSON.stringify(p)),
      );
    const grantedInIam = (action: string) =>
      new Set(
        roleStatements(t)
          .filter((x) => (x.statement.Action as string[]).includes(action))
          .map((x) => JSON.stringify({ "Fn::GetAtt": [x.role, "Arn"] })),
      );
    expect(named("kms:Decrypt")).toEqual(grantedInIam("kms:Decrypt"));
    const writers = named("kms:GenerateDataKey");
    writers.delete(JSON.stringify({ "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" }));
    expect(writers).toEqual(grantedInIam("kms:GenerateDataKey"));
  });
  it("IAM grants name the key by its alias, through one service", () => {
    const kms = roleStatements(t).filter((x) =>
      (x.statement.Action as string[]).some((a) => a.startsWith("kms:")),
    );
    expect(kms.length).toBeGreaterThan(0);
    for (const { statement } of kms) {
      expect(statement.Resource).toEqual({
        "Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*",
      });
      expect(statement.Condition).toMatchObject({
        "ForAnyValue:StringEquals": {
          "kms:ResourceAliases": { "Fn::Sub": "alias/devcluster/${ClusterName}" },
        },
      });
    }
  });
});

describe("image repositories", () => {
  const repos = ofType(t, "AWS::ECR::Repository");
  it("one per image, named <cluster>/<image>", () => {
    expect(
      repos.map(([, r]) => (r.Properties!.RepositoryName as { "Fn::Sub": string })["Fn::Sub"]).sort(),
    ).toEqual(IMAGE_NAMES.map((i) => `\${ClusterName}/${i}`).sort());
    expect(repos.map(([id]) => id)).toContain("PresenceDnsImageRepository");
  });
  it("immutable tags, scan on push, encrypted, bounded, kept when the stack goes", () => {
    for (const [id, r] of repos) {
      const p = r.Properties as Record<string, CfnValue>;
      expect(p.ImageTagMutability, id).toBe("IMMUTABLE");
      expect(p.ImageScanningConfiguration, id).toEqual({ ScanOnPush: true });
      expect(p.EncryptionConfiguration, id).toEqual({ EncryptionType: "KMS" });
      const policy = JSON.parse((p.LifecyclePolicy as { LifecyclePolicyText: string }).LifecyclePolicyText);
      expect(policy.rules[0].selection.countType, id).toBe("imageCountMoreThan");
      expect(r.DeletionPolicy, id).toBe("Retain");
      expect(p.RepositoryPolicyText, id).toBeUndefined(); // no cross-account or public access
    }
  });
  it("the registry output names the cluster's prefix", () => {
    expect(JSON.stringify(t.Outputs.ImageRegistry!.Value)).toContain(
      ".dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${ClusterName}",
    );
  });
});

describe("alarms", () => {
  it("snapshot: Devcluster/SnapshotSucceeded per cluster, sum < 1 over twice the interval, missing data breaches", () => {
    const a = props(t, Ids.snapshotAlarm);
    expect(a).toMatchObject({
      Namespace: "Devcluster",
      MetricName: "SnapshotSucceeded",
      Dimensions: [{ Name: "Cluster", Value: { Ref: "ClusterName" } }],
      Statistic: "Sum",
      Threshold: 1,
      ComparisonOperator: "LessThanThreshold",
      TreatMissingData: "breaching",
      EvaluationPeriods: { Ref: "SnapshotIntervalMinutes" },
    });
    // N periods of `Period` seconds cover 2 x N minutes.
    expect(a.Period).toBe(120);
  });
  it("restore needed: RestoreNeeded >= 1", () => {
    expect(props(t, Ids.restoreAlarm)).toMatchObject({
      MetricName: "RestoreNeeded",
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
    });
  });
});

describe("DNS", () => {
  it("a private zone named by ClusterDomain attached to the VPC", () => {
    expect(props(t, Ids.privateZone)).toMatchObject({
      Name: { Ref: "ClusterDomain" },
      VPCs: [{ VPCId: { Ref: "Vpc" } }],
    });
  });
  it("a public front door record only when PublicZoneId and FrontDoorDnsName are set", () => {
    expect(t.Resources[Ids.frontDoorRecord]!.Condition).toBe("HasFrontDoorRecord");
    expect(JSON.stringify(t.Conditions.HasFrontDoorRecord)).toContain("PublicZoneId");
    expect(JSON.stringify(t.Conditions.HasFrontDoorRecord)).toContain("FrontDoorDnsName");
  });
});

describe("IAM", () => {
  const statements = roleStatements(t);
  it("no action is a wildcard", () => {
    for (const { role, statement } of statements) {
      for (const a of statement.Action as string[]) {
        expect(a, role).not.toBe("*");
        expect(a, role).not.toMatch(/^[a-z0-9-]+:\*$/);
        expect(a, role).not.toContain("*");
      }
    }
  });
  it('Resource "*" only for actions AWS cannot scope', () => {
    for (const { role, statement } of statements) {
      if (statement.Resource !== "*") continue;
      for (const a of statement.Action as string[])
        expect(UNSCOPABLE_ACTIONS.has(a), `${role} ${a}`).toBe(true);
    }
  });
  it("PutMetricData is pinned to the Devcluster namespace", () => {
    const s = statements.filter((x) => (x.statement.Action as string[]).includes("cloudwatch:PutMetricData"));
    expect(s.length).toBeGreaterThan(0);
    for (const x of s)
      expect(x.statement.Condition).toEqual({ StringEquals: { "cloudwatch:namespace": "Devcluster" } });
  });
  it("node role: the SSM agent's calls (no GetParameter* on every parameter), its cluster's parameters, pulling its cluster's images and writing its private zone only", () => {
    const node = props(t, Ids.nodeRole);
    expect(node.ManagedPolicyArns).toBeUndefined();
    expect(actionsOf(t, Ids.nodeRole)).toEqual(
      new Set([
        ...SSM_AGENT_ACTIONS,
        "ssm:GetParameter",
        "ssm:GetParameters",
        "kms:Decrypt",
        "s3:GetObject",
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        // The dashboard service's (decision 53).
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackResources",
        "lambda:InvokeFunction",
        "logs:FilterLogEvents",
        // The postgres building block stores its clients' passwords (SecureStrings, standard tier).
        "ssm:PutParameter",
        "kms:Encrypt",
        // ...and writes its logical dumps to the snapshot bucket.
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "kms:GenerateDataKey",
        // ...and lists and reads them to restore one.
        "s3:ListBucket",
        // The file drop's (decision 61): its records' clean-up and the links' mail.
        "s3:DeleteObject",
        "ses:SendEmail",
        // The SSH-key service's (decision 64): the pool's users and groups, an admin's group changes.
        ...SSH_KEY_SERVICE_POOL_ACTIONS,
      ]),
    );
    expect(SSM_AGENT_ACTIONS.filter((a) => a.startsWith("ssm:GetParameter"))).toEqual([]);
    const mine = statements.filter((x) => x.role === Ids.nodeRole);
    const on = (action: string) =>
      mine.find((x) => (x.statement.Action as string[]).includes(action))!.statement;
    expect(JSON.stringify(on("ssm:GetParameter").Resource)).toContain(
      ":parameter/devcluster/${ClusterName}/*",
    );
    // ...except the etcd PKI: the CA's key would let a node certify anyone.
    const deny = mine.filter((x) => x.statement.Effect === "Deny").map((x) => x.statement);
    const signingKey = {
      "Fn::Sub":
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/devcluster/${ClusterName}/sshkeys/signing-key",
    };
    expect(deny).toEqual([
      {
        Effect: "Deny",
        Action: ["ssm:GetParameter", "ssm:GetParameters"],
        Resource: {
          "Fn::Sub":
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/devcluster/${ClusterName}/etcd/*",
        },
      },
      // The SSH-key service's signing key is made once and never replaced: hosts trust its public half.
      {
        Effect: "Deny",
        Action: ["ssm:PutParameter"],
        Resource: signingKey,
        Condition: { StringEquals: { "ssm:Overwrite": "true" } },
      },
    ]);
    // Parameters a node writes: database passwords below db/, and that one key.
    expect(
      mine
        .filter(
          (x) =>
            x.statement.Effect === "Allow" && (x.statement.Action as string[]).includes("ssm:PutParameter"),
        )
        .map((x) => x.statement.Resource),
    ).toEqual([
      {
        "Fn::Sub":
          "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/devcluster/${ClusterName}/db/*",
      },
      signingKey,
    ]);
    // The pool: only the SSH-key service's calls, on the cluster's own pool; never creating or
    // deleting users, setting passwords or changing the pool.
    const pool = mine.filter((x) =>
      (x.statement.Action as string[]).some((a) => a.startsWith("cognito-idp:")),
    );
    expect(pool.map((x) => x.statement)).toEqual([
      {
        Effect: "Allow",
        Action: [...SSH_KEY_SERVICE_POOL_ACTIONS],
        Resource: {
          "Fn::Sub": `arn:\${AWS::Partition}:cognito-idp:\${AWS::Region}:\${AWS::AccountId}:userpool/\${${Ids.userPool}}`,
        },
      },
    ]);
    expect(on("ecr:GetAuthorizationToken").Resource).toBe("*");
    // Passwords are written below db/ only, encrypted under the cluster key through SSM only.
    expect(on("ssm:PutParameter").Resource).toEqual({
      "Fn::Sub":
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/devcluster/${ClusterName}/db/*",
    });
    expect(JSON.stringify(on("kms:Encrypt").Condition)).toContain("/devcluster/${ClusterName}/db/*");
    // The MariaDB building block's passwords (root's and each client's, read by the PHP app) fall
    // under that grant, and nothing of the cluster's other parameters does.
    const dbGrant = new RegExp(
      `^${(on("ssm:PutParameter").Resource as { "Fn::Sub": string })["Fn::Sub"]
        .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        .replace(/\\\*/g, ".*")}$`,
    );
    const arn = (name: string) =>
      `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${ClusterName}/${name}`;
    for (const name of ["db/mariadb/root/password", "db/mariadb/phpapp/password"])
      expect(arn(name)).toMatch(dbGrant);
    expect(arn("sshkeys/signing-key")).not.toMatch(dbGrant);
    // Dumps: written below db-dumps/<cluster>/ only, never deleted by a node; listed and read there
    // only, by the database service that restores one.
    expect(on("s3:PutObject").Resource).toEqual({
      "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/db-dumps/\${ClusterName}/*`,
    });
    // A node deletes objects below the file drop's prefix only (its records), never a dump.
    expect(
      mine
        .filter((x) => (x.statement.Action as string[]).includes("s3:DeleteObject"))
        .map((x) => x.statement.Resource),
    ).toEqual([{ "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/filedrop/\${ClusterName}/*` }]);
    expect(
      mine.filter((x) => (x.statement.Action as string[]).includes("s3:ListBucket")).map((x) => x.statement),
    ).toEqual([
      {
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: { "Fn::GetAtt": [Ids.snapshotBucket, "Arn"] },
        Condition: { StringLike: { "s3:prefix": { "Fn::Sub": "db-dumps/${ClusterName}/*" } } },
      },
    ]);
    expect(
      mine
        .filter((x) => (x.statement.Action as string[]).includes("s3:GetObject"))
        .map((x) => JSON.stringify(x.statement.Resource)),
    ).toEqual([
      JSON.stringify({ "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/etcd-snapshots/\${ClusterName}/data/*` }),
      JSON.stringify({ "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/db-dumps/\${ClusterName}/*` }),
      JSON.stringify({ "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/filedrop/\${ClusterName}/*` }),
    ]);
    // A restore's nodes read the cluster's snapshot data, nothing else in the bucket.
    expect(on("s3:GetObject").Resource).toEqual({
      "Fn::Sub": `\${${Ids.snapshotBucket}.Arn}/etcd-snapshots/\${ClusterName}/data/*`,
    });
    expect(on("route53:ChangeResourceRecordSets").Resource).toEqual({
      "Fn::Sub": `arn:\${AWS::Partition}:route53:::hostedzone/\${${Ids.privateZone}}`,
    });
    // The dashboard: its own stack, the status and snapshot functions only (never units, restore,
    // lifecycle or reconcile, and no SSM Run Command), reading the functions' log groups.
    expect(actionsOf(t, Ids.nodeRole).has("ssm:SendCommand")).toBe(false);
    expect(on("cloudformation:DescribeStacks").Resource).toEqual({
      "Fn::Sub":
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*",
    });
    const invoke = JSON.stringify(on("lambda:InvokeFunction").Resource);
    expect(invoke).toContain("function:devcluster-dev-status");
    expect(invoke).toContain("function:devcluster-dev-snapshot");
    for (const fn of ["units", "restore", "lifecycle", "reconcile"]) expect(invoke).not.toContain(`-${fn}`);
    expect(JSON.stringify(on("logs:FilterLogEvents").Resource)).toContain(
      "log-group:/aws/lambda/devcluster-dev-lifecycle:*",
    );
    const pull = on("ecr:BatchGetImage");
    expect(pull.Action).toEqual(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]);
    const arns = (pull.Resource as { "Fn::Sub": string }[]).map((r) => r["Fn::Sub"]);
    expect(arns).toEqual(
      IMAGE_NAMES.map(
        (i) =>
          `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/\${ClusterName}/${i}`,
      ),
    );
  });
  const base = [
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
  ];
  const describeGroups = ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"];
  const commands = ["ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:ListCommandInvocations"];
  const expected: Record<string, { has: string[]; hasNot: string[] }> = {
    lifecycle: {
      has: [
        ...base,
        ...describeGroups,
        ...commands,
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
        "route53:ChangeResourceRecordSets",
        "route53:ListResourceRecordSets",
        "ssm:GetParameter",
        // formedBefore(): lists the snapshots and reads their manifests
        "s3:ListBucket",
        "s3:GetObject",
      ],
      hasNot: [
        "s3:PutObject",
        "s3:DeleteObject",
        "lambda:InvokeFunction",
        "cloudwatch:PutMetricData",
        "ec2:AssociateAddress",
        "route53:GetChange",
      ],
    },
    reconcile: {
      has: [
        ...base,
        ...describeGroups,
        ...commands,
        "route53:ChangeResourceRecordSets",
        "cloudwatch:PutMetricData",
        "ssm:GetParameter",
        // formedBefore() and the automatic restore: snapshots, data, the restore lock
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
      ],
      hasNot: [
        "lambda:InvokeFunction",
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:RecordLifecycleActionHeartbeat",
        "ec2:AssociateAddress",
      ],
    },
    snapshot: {
      has: [
        ...base,
        ...describeGroups,
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
        "cloudwatch:PutMetricData",
        // The control plane's etcd certificate, for members serving TLS (see below).
        "ssm:GetParameter",
      ],
      hasNot: [
        "ssm:SendCommand",
        "ssm:PutParameter",
        "route53:ChangeResourceRecordSets",
        "autoscaling:CompleteLifecycleAction",
      ],
    },
    restore: {
      has: [
        ...base,
        ...describeGroups,
        ...commands,
        "s3:GetObject",
        "s3:ListBucket",
        "route53:ChangeResourceRecordSets",
        "cloudwatch:PutMetricData",
        "ssm:GetParameter",
      ],
      hasNot: ["autoscaling:CompleteLifecycleAction", "s3:AbortMultipartUpload"],
    },
    units: {
      has: [...base, ...describeGroups, ...commands, "ssm:GetParameter"],
      hasNot: [
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "route53:ChangeResourceRecordSets",
        "cloudwatch:PutMetricData",
      ],
    },
  };
  it.each(Object.keys(expected))("%s: exactly the actions it uses", (fn) => {
    const actions = actionsOf(t, `${fn.charAt(0).toUpperCase()}${fn.slice(1)}FunctionRole`);
    for (const a of expected[fn]!.has) expect(actions, a).toContain(a);
    for (const a of expected[fn]!.hasNot) expect(actions, a).not.toContain(a);
  });
  it("lets every function read the control plane's etcd certificate, and only a launch the CA", () => {
    const etcdParams = (role: string) =>
      roleStatements(t)
        .filter((x) => x.role === role && x.statement.Effect === "Allow")
        .filter((x) => JSON.stringify(x.statement.Resource).includes("/etcd/"))
        .map((x) => ({
          actions: x.statement.Action,
          resource: (x.statement.Resource as { "Fn::Sub": string })["Fn::Sub"],
        }));
    const param = (name: string) =>
      `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/devcluster/\${ClusterName}/etcd/${name}`;
    for (const fn of ["reconcile", "restore", "snapshot", "units", "status", "restart"] as const)
      expect(etcdParams(Ids.functionRole(fn)), fn).toEqual([
        { actions: ["ssm:GetParameter"], resource: param("client-root") },
      ]);
    // The launch creates the CA and the control plane's certificate, and signs nodes' CSRs.
    expect(etcdParams(Ids.functionRole("lifecycle"))).toEqual([
      { actions: ["ssm:GetParameter", "ssm:PutParameter"], resource: param("*") },
    ]);
  });
  it("scopes writes to the cluster's own resources", () => {
    const scoped = (action: string) =>
      statements
        .filter((x) => (x.statement.Action as string[]).includes(action))
        .map((x) => JSON.stringify(x.statement.Resource) + JSON.stringify(x.statement.Condition ?? {}));
    for (const r of scoped("autoscaling:CompleteLifecycleAction"))
      expect(r).toMatch(/autoScalingGroupName\/\$\{MainGroup\}.*\$\{WorkerGroup\}.*\$\{DataGroup\}/);
    for (const r of scoped("route53:ChangeResourceRecordSets"))
      expect(r).toContain("hostedzone/${PrivateZone}");
    // Every object action is held to the cluster's own prefix and one of its parts (or, for the
    // nodes' database dumps and the file drop, the cluster's own prefix of each).
    const own =
      /\$\{SnapshotBucket\.Arn\}\/(etcd-snapshots\/\$\{ClusterName\}\/(data|manifests|locks)|(db-dumps|filedrop)\/\$\{ClusterName\})\/\*/;
    for (const a of ["s3:PutObject", "s3:DeleteObject", "s3:GetObject", "s3:AbortMultipartUpload"])
      for (const x of statements.filter((y) => (y.statement.Action as string[]).includes(a))) {
        const rs = [x.statement.Resource].flat().map((r) => JSON.stringify(r));
        for (const r of rs) expect(r, `${x.role} ${a}`).toMatch(own);
      }
    for (const r of scoped("s3:ListBucket")) expect(r).toContain('"s3:prefix"');
    const writesOf = (role: string) =>
      statements
        .filter(
          (x) =>
            x.role === role &&
            (x.statement.Action as string[]).some((a) => a === "s3:PutObject" || a === "s3:DeleteObject"),
        )
        .flatMap((x) => [x.statement.Resource].flat().map((r) => (r as { "Fn::Sub": string })["Fn::Sub"]));
    // Restores write only the lock; the snapshot function never touches it.
    for (const role of ["RestoreFunctionRole", "ReconcileFunctionRole"])
      expect(writesOf(role)).toEqual(["${SnapshotBucket.Arn}/etcd-snapshots/${ClusterName}/locks/*"]);
    expect(writesOf("SnapshotFunctionRole")).toEqual([
      "${SnapshotBucket.Arn}/etcd-snapshots/${ClusterName}/data/*",
      "${SnapshotBucket.Arn}/etcd-snapshots/${ClusterName}/manifests/*",
    ]);
    const send = scoped("ssm:SendCommand");
    expect(send.some((r) => r.includes("document/AWS-RunShellScript"))).toBe(true);
    expect(
      send.some((r) => r.includes("instance/*") && r.includes("ssm:resourceTag/devcluster:cluster")),
    ).toBe(true);
    // Network interfaces only in the cluster's VPC.
    for (const r of scoped("ec2:CreateNetworkInterface")) expect(r).toContain('"ec2:Vpc"');
    for (const r of scoped("ec2:DeleteNetworkInterface")) expect(r).toContain("vpc/${Vpc}");
  });
});

describe("parameters and outputs", () => {
  it("declares the deploy-time knobs with defaults and validation", () => {
    for (const p of [
      "ClusterName",
      "ClusterDomain",
      "MainInstanceType",
      "WorkerInstanceType",
      "DataInstanceType",
      "MainSize",
      "WorkerMinSize",
      "WorkerMaxSize",
      "WorkerDesiredSize",
      "DataSize",
      "SnapshotIntervalMinutes",
    ]) {
      expect(t.Parameters[p], p).toBeDefined();
      expect(t.Parameters[p]!.Default, p).toBeDefined();
    }
    expect(t.Parameters.ClusterName!.AllowedPattern).toBeDefined();
    expect(t.Parameters.ClusterDomain!.AllowedPattern).toBeDefined();
    // Function settings come with the function that reads them.
    expect(t.Parameters.RetainLast).toBeUndefined();
    for (const p of ["RetainLast", "RetainDays", "AutoRestore"])
      expect(withFunctions.Parameters[p], p).toBeDefined();
    // etcd's transport: one setting for the members, the functions and every node's etcd-amb.
    // TLS by default (secure by default); plain only when asked for.
    expect(t.Parameters.EtcdTls).toMatchObject({ Default: "true", AllowedValues: ["true", "false"] });
  });
  it("outputs what the functions and operators need", () => {
    for (const o of [
      "SnapshotBucketName",
      "PrivateZoneId",
      "MainGroupName",
      "WorkerGroupName",
      "DataGroupName",
      "PublicSubnetIds",
      "PrivateSubnetIds",
      "LambdaSecurityGroupId",
      "LifecycleFunctionRoleArn",
      "UnitsFunctionRoleArn",
      "ImageRegistry",
    ]) {
      expect(t.Outputs[o], o).toBeDefined();
    }
  });
  it("stays within CloudFormation's limits", () => {
    expect(Object.keys(t.Resources).length).toBeLessThan(500);
    expect(Object.keys(withFunctions.Parameters).length).toBeLessThan(200);
    expect(Object.keys(t.Outputs).length).toBeLessThan(200);
    expect(JSON.stringify(withFunctions).length).toBeLessThan(1024 * 1024);
  });
});

describe("file drop", () => {
  it("mails only from the sender parameter, and the bucket expires its prefix and lets its page send parts", () => {
    const mail = roleStatements(t).filter((x) => (x.statement.Action as string[]).includes("ses:SendEmail"));
    expect(mail.map((x) => x.role)).toEqual([Ids.nodeRole]);
    expect(mail[0]!.statement.Condition).toEqual({
      StringEquals: { "ses:FromAddress": { Ref: Params.fileDropSender } },
    });
    const bucket = props(t, Ids.snapshotBucket);
    const rules = (bucket.LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    expect(rules.find((r) => r.Id === "expire-file-drop")).toMatchObject({
      Prefix: "filedrop/",
      ExpirationInDays: 15,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    });
    const cors = (bucket.CorsConfiguration as { CorsRules: Record<string, unknown>[] }).CorsRules;
    expect(cors).toEqual([expect.objectContaining({ AllowedMethods: ["PUT"], ExposedHeaders: ["ETag"] })]);
    expect(JSON.stringify(cors[0]!.AllowedOrigins)).toContain("https://filedrop.${ClusterDomain}");
  });
});
