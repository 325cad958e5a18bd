// The Groups, Dns and SnapshotStore contracts against their in-memory fakes and their AWS adapters
// over moto (Auto Scaling + EC2, Route 53, S3, EBS).
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { CreateHostedZoneCommand, Route53Client } from "@aws-sdk/client-route-53";
import {
  CreateVpcCommand,
  DescribeVolumesCommand,
  EC2Client,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { afterAll, describe, expect, it } from "vitest";
import { createAwsClients, type AwsClients } from "../../../functions/adapters/aws/clients.ts";
import { route53Dns } from "../../../functions/adapters/aws/route53Dns.ts";
import { s3SnapshotStore } from "../../../functions/adapters/aws/s3Snapshots.ts";
import { ec2Volumes } from "../../../functions/adapters/aws/ec2Volumes.ts";
import { ROLES, type Role } from "../../../functions/domain/model.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { dnsContract } from "../../contracts/dns.ts";
import { groupsContract } from "../../contracts/groups.ts";
import { snapshotsContract } from "../../contracts/snapshots.ts";
import { volumeSnapshotsContract, volumesContract } from "../../contracts/volumes.ts";
import { FakeVolumeSnapshots, FakeVolumes } from "../../fakes/volumes.ts";
import { ec2VolumeSnapshots } from "../../../functions/adapters/aws/ec2VolumeSnapshots.ts";
import { FakeDns } from "../../fakes/dns.ts";
import { FakeGroups } from "../../fakes/groups.ts";
import { FakeSnapshotStore } from "../../fakes/snapshots.ts";
import { useRig } from "../../rig/index.ts";
import { createWorld, type World } from "../operations/lifecycleWorld.ts";

const rig = useRig({ moto: true });
let aws: AwsClients | undefined;
const clients = () => (aws ??= createAwsClients());
const worlds: World[] = [];
afterAll(() => worlds.forEach((w) => w.close()));

groupsContract("in-memory fake", async () => {
  const g = new FakeGroups({ prefix: "127.0.0" });
  const name = (role: Role) => `fake-${role}`;
  for (const role of ROLES) g.createGroup(name(role), role);
  return {
    groups: g,
    name,
    scaleTo: async (role, n) => g.scaleTo(name(role), n),
    terminate: async (role, id) => g.terminate(name(role), id),
  };
});
groupsContract("Auto Scaling and EC2 in moto", async () => {
  const w = await createWorld({ prefix: rig.block.prefix, root: rig.dir, name: rig.unique("groups") });
  worlds.push(w);
  return {
    groups: w.deps.groups,
    name: (role) => w.groups[role],
    scaleTo: (role, n) => w.scaleTo(role, n),
    terminate: (role, id) => w.terminate(role, id),
  };
});

dnsContract("in-memory fake", async () => ({ dns: new FakeDns(), domain: "fake.test.internal" }));
dnsContract("Route 53 in moto", async () => {
  const domain = `${rig
    .unique("z")
    .replace(/[^a-z0-9]/g, "")
    .slice(-20)}.test.internal`;
  const vpc = await clients().ec2.send(new CreateVpcCommand({ CidrBlock: "10.0.0.0/16" }));
  const zone = await clients().route53.send(
    new CreateHostedZoneCommand({
      Name: domain,
      CallerReference: domain,
      HostedZoneConfig: { PrivateZone: true },
      VPC: { VPCId: vpc.Vpc!.VpcId!, VPCRegion: LOCAL_REGION },
    }),
  );
  const id = zone.HostedZone!.Id!.replace(/^\/hostedzone\//, "");
  return { dns: route53Dns(new Route53Client({ maxAttempts: 1 }), id), domain };
});

snapshotsContract(
  "in-memory fake",
  async () => new FakeSnapshotStore({ prefix: "snapshots/", cluster: "fake" }),
);
snapshotsContract("S3 in moto", async () => {
  const bucket = rig.unique("snap").toLowerCase();
  await clients().s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      CreateBucketConfiguration: { LocationConstraint: LOCAL_REGION },
    }),
  );
  return s3SnapshotStore(clients().s3, bucket, { prefix: "snapshots/", cluster: "c" });
});

volumesContract("in-memory fake", async () => {
  const volumes = new FakeVolumes("a");
  let n = 0;
  const instance = async () => {
    const id = `i-${(++n).toString(16).padStart(17, "0")}`;
    volumes.instances.set(id, "running");
    return id;
  };
  return { volumes, zone: "us-east-1a", otherCluster: new FakeVolumes("b"), instance };
});
volumesContract("EBS in moto", async () => {
  // Each subject its own cluster names, so the volumes of earlier tests are not listed.
  const [a, b] = [rig.unique("vc"), rig.unique("vc")];
  return {
    volumes: ec2Volumes(clients().ec2, a),
    zone: `${LOCAL_REGION}a`,
    otherCluster: ec2Volumes(clients().ec2, b),
    instance: async () => {
      const r = await clients().ec2.send(
        new RunInstancesCommand({
          ImageId: "ami-12c6146b",
          InstanceType: "t3.micro",
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: `${LOCAL_REGION}a` },
        }),
      );
      return r.Instances![0]!.InstanceId!;
    },
  };
});

describe("EBS volumes in moto, beyond the contract", () => {
  it("creates encrypted gp3 volumes tagged with cluster, service, instance and volume", async () => {
    const cluster = rig.unique("vt");
    const v = await ec2Volumes(clients().ec2, cluster).create({
      unit: "db@1.service",
      service: "db",
      instance: "db@1",
      volume: "data",
      sizeGiB: 2,
      path: "/srv/db-1",
      zone: `${LOCAL_REGION}b`,
    });
    const out = await clients().ec2.send(new DescribeVolumesCommand({ VolumeIds: [v.id] }));
    const d = out.Volumes![0]!;
    expect(d).toMatchObject({
      Encrypted: true,
      VolumeType: "gp3",
      Size: 2,
      AvailabilityZone: `${LOCAL_REGION}b`,
    });
    expect(Object.fromEntries((d.Tags ?? []).map((t) => [t.Key, t.Value]))).toMatchObject({
      "devcluster:cluster": cluster,
      "devcluster:service": "db",
      "devcluster:instance": "db@1",
      "devcluster:volume": "data",
    });
  });

  it("needs the functions' volume grants: without CreateVolume, nothing is created", async () => {
    const cluster = rig.unique("vi");
    const onlyDescribe = await rig.roleCredentials([
      { Effect: "Allow", Action: ["ec2:DescribeVolumes"], Resource: "*" },
    ]);
    const ec2 = new EC2Client({ credentials: onlyDescribe });
    const volumes = ec2Volumes(ec2, cluster);
    const req = {
      unit: "db@1.service",
      service: "db",
      instance: "db@1",
      volume: "data",
      sizeGiB: 1,
      path: "/srv/db-1",
      zone: `${LOCAL_REGION}a`,
    };
    await expect(volumes.create(req)).rejects.toMatchObject({
      name: expect.stringMatching(/AccessDenied|UnauthorizedOperation/),
    });
    expect(await volumes.list()).toEqual([]);
    const granted = await rig.roleCredentials([
      {
        Effect: "Allow",
        Action: ["ec2:DescribeVolumes", "ec2:CreateVolume", "ec2:CreateTags"],
        Resource: "*",
      },
    ]);
    const made = await ec2Volumes(new EC2Client({ credentials: granted }), cluster).create(req);
    expect((await volumes.list()).map((v) => v.id)).toEqual([made.id]);
  });
});

volumeSnapshotsContract("in-memory fake", async () => {
  const [volumes, otherVolumes] = [new FakeVolumes("a"), new FakeVolumes("b")];
  return {
    volumes,
    snapshots: new FakeVolumeSnapshots(volumes),
    otherVolumes,
    otherSnapshots: new FakeVolumeSnapshots(otherVolumes),
    zone: "us-east-1a",
    otherZone: "us-east-1b",
  };
});
volumeSnapshotsContract("EBS snapshots in moto", async () => {
  const [a, b] = [rig.unique("vs"), rig.unique("vs")];
  return {
    volumes: ec2Volumes(clients().ec2, a),
    snapshots: ec2VolumeSnapshots(clients().ec2, a),
    otherVolumes: ec2Volumes(clients().ec2, b),
    otherSnapshots: ec2VolumeSnapshots(clients().ec2, b),
    zone: `${LOCAL_REGION}a`,
    otherZone: `${LOCAL_REGION}b`,
  };
});
