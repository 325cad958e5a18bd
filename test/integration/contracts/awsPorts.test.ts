// The Groups, Dns and SnapshotStore contracts against their in-memory fakes and their AWS adapters
// over moto (Auto Scaling + EC2, Route 53, S3).
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { CreateHostedZoneCommand, Route53Client } from "@aws-sdk/client-route-53";
import { CreateVpcCommand } from "@aws-sdk/client-ec2";
import { afterAll } from "vitest";
import { createAwsClients, type AwsClients } from "../../../functions/adapters/aws/clients.ts";
import { route53Dns } from "../../../functions/adapters/aws/route53Dns.ts";
import { s3SnapshotStore } from "../../../functions/adapters/aws/s3Snapshots.ts";
import { ROLES, type Role } from "../../../functions/domain/model.ts";
import { LOCAL_REGION } from "../../../local/moto.ts";
import { dnsContract } from "../../contracts/dns.ts";
import { groupsContract } from "../../contracts/groups.ts";
import { snapshotsContract } from "../../contracts/snapshots.ts";
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
