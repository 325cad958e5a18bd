// The functions' composition reaching etcd members that serve TLS: the control plane's certificate is
// read from SSM (moto, IAM enforced) with the function's own role from the template, the first time
// an https member is dialled; members on plain http are reached without any read; a role without
// the grant gets SSM's refusal, not a plain-text fallback.
import { SSMClient } from "@aws-sdk/client-ssm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pkiParameterNames, ssmClusterPki } from "../../../functions/adapters/aws/ssmClusterPki.ts";
import { parseConfig } from "../../../functions/domain/config.ts";
import { describeCertificate } from "../../../functions/domain/pki.ts";
import { createWiring, lifecycleDeps, snapshotDeps } from "../../../functions/runtime/wiring.ts";
import { statusDeps } from "../../../functions/runtime/statusWiring.ts";
import { awsEnvFor, type AwsCredentials } from "../../../local/moto.ts";
import { useRig } from "../../rig/index.ts";
import { templateRoleStatements } from "../../rig/roles.ts";
import { startTlsMember, type TlsMember } from "../../rig/tlsMember.ts";

const rig = useRig({ moto: true, etcdMembers: 1 });
const quiet = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet } as never;
const MAIN = "i-0ee0000000000a001";
let member: TlsMember;
let cluster: string;
let saved: NodeJS.ProcessEnv;

/** The function's AWS environment: its own credentials (the SDK reads them when a client first signs). */
const actAs = (creds: AwsCredentials) => Object.assign(process.env, awsEnvFor(rig.moto!.endpoint, creds));
const config = () =>
  parseConfig({
    CLUSTER_NAME: cluster,
    CLUSTER_DOMAIN: "dev.internal",
    PRIVATE_ZONE_ID: "ZNOTUSED",
    SNAPSHOT_BUCKET: "bucket-notused",
    GROUP_MAIN: "main",
    GROUP_WORKER: "worker",
    GROUP_DATA: "data",
  });

beforeAll(async () => {
  saved = { ...process.env }; // with the rig's (moto's administrator)
  cluster = rig.unique("c").slice(0, 30).toLowerCase();
  // What a launch does first: the CA and the control plane's certificate created in SSM.
  const pki = ssmClusterPki(new SSMClient({ maxAttempts: 2 }), cluster);
  member = await startTlsMember({
    dir: rig.dir,
    token: rig.unique("t"),
    nodes: [{ id: MAIN, ip: rig.block.address(41), role: "main" }],
    pki,
  });
}, 90_000);
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});
afterAll(async () => member?.stop());

describe("the functions reach TLS members with the certificate from SSM", () => {
  it.each(["status", "snapshot", "reconcile"] as const)(
    "%s, as its own role, reads members and keys over https",
    async (fn) => {
      actAs(await rig.roleCredentials(templateRoleStatements(fn, { bucket: "bucket-notused", cluster })));
      const w = createWiring(config());
      if (fn === "status") {
        const etcd = await statusDeps(w).etcd([member.endpoint]);
        expect((await etcd.store.memberList())?.map((m) => m.name)).toEqual([MAIN]);
        expect(await etcd.services.instances()).toEqual([]);
      } else if (fn === "snapshot") {
        const api = snapshotDeps(w, quiet).etcd;
        expect(await api.healthy(member.endpoint)).toBe(true);
        expect((await api.members(member.endpoint)).map((m) => m.name)).toEqual([MAIN]);
      } else {
        const store = lifecycleDeps(w).store([member.endpoint]);
        await store.putKey("/cluster/tls-wiring", fn);
        expect(await store.getKey("/cluster/tls-wiring")).toBe(fn);
        store.close();
      }
    },
    60_000,
  );

  it("the certificate read is the control plane's with the CA's certificate, never the CA's key", async () => {
    const admin = new SSMClient({ maxAttempts: 2 });
    const { GetParameterCommand } = await import("@aws-sdk/client-ssm");
    const raw = await admin.send(
      new GetParameterCommand({ Name: pkiParameterNames(cluster).client, WithDecryption: true }),
    );
    const value = JSON.parse(raw.Parameter!.Value!) as Record<string, string>;
    expect(Object.keys(value).sort()).toEqual(["caPem", "certPem", "keyPem"]);
    expect(describeCertificate(value.certPem!).cn).toBe("root");
    expect(value.caPem).toBe(member.ca.certPem);
    expect(JSON.stringify(value)).not.toContain(member.ca.keyPem.split("\n")[1]!);
  });

  it("a role without the grant is refused by SSM and reaches nothing; plain members need no read", async () => {
    actAs(await rig.roleCredentials([{ Effect: "Allow", Action: ["ec2:DescribeInstances"], Resource: "*" }]));
    const w = createWiring(config());
    // moto answers SSM's refusal in XML, which the JSON client cannot parse: its status is the check.
    const refused = await Promise.resolve()
      .then(() => statusDeps(w).etcd([member.endpoint]))
      .then(
        () => undefined,
        (e: unknown) => e as { $metadata?: { httpStatusCode?: number } },
      );
    expect(refused?.$metadata?.httpStatusCode).toBe(403);
    expect(await snapshotDeps(w, quiet).etcd.healthy(member.endpoint)).toBe(false);
    // The rig's plain member: http endpoints never ask SSM, so the same role reaches it.
    const etcd = await statusDeps(w).etcd(rig.etcd!.endpoints);
    expect((await etcd.store.memberList())?.length).toBe(1);
  });
});
