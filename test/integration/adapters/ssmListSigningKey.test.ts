// The SSH-key service's list-signing key in SSM (moto, as a role allowed only to read and create
// parameters, IAM enforced): created once even when instances race, refused when the role may not
// create it, and a list it signs is accepted by the host helper with the public key derived from it.
import { execFile, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { describe, expect, it } from "vitest";
import {
  ensureListSigningKey,
  listSigningKeyParameterName,
} from "../../../functions/adapters/aws/ssmListSigningKey.ts";
import { signKeyList } from "../../../functions/domain/sshKeyList.ts";
import { useRig } from "../../rig/index.ts";

const rig = useRig({ moto: true });

// moto matches SSM statements against "*" only (local/moto.ts motoEvaluable); the actions are the point.
const ssmAs = async (actions: string[]) =>
  new SSMClient({
    region: "eu-west-1",
    credentials: await rig.roleCredentials([{ Effect: "Allow", Action: actions, Resource: "*" }]),
    maxAttempts: 2,
  });

describe("ensureListSigningKey", () => {
  it("when instances race on a new cluster, they all end up with the one stored ed25519 key", async () => {
    const cluster = rig.unique("c").slice(0, 30).toLowerCase();
    const ssm = await ssmAs(["ssm:GetParameter", "ssm:PutParameter"]);
    const all = await Promise.all([1, 2, 3].map(() => ensureListSigningKey(ssm, cluster)));
    expect(new Set(all.map((k) => k.privateKeyPem)).size).toBe(1);
    expect(all.filter((k) => k.action === "created")).toHaveLength(1);
    const raw = await ssm.send(new GetParameterCommand({ Name: listSigningKeyParameterName(cluster) }));
    expect(raw.Parameter?.Type).toBe("SecureString");
    const again = await ensureListSigningKey(ssm, cluster);
    expect(again).toMatchObject({ action: "kept", publicKeyPem: all[0]!.publicKeyPem });
  });

  it("when the role may only read, it fails and stores nothing", async () => {
    const cluster = rig.unique("c").slice(0, 30).toLowerCase();
    const ssm = await ssmAs(["ssm:GetParameter"]);
    // moto answers an SSM denial with an XML body the SDK cannot parse as JSON, so only the status is
    // asserted (AWS answers AccessDeniedException with the same 403).
    await expect(ensureListSigningKey(ssm, cluster)).rejects.toMatchObject({
      $response: { statusCode: 403 },
    });
    const admin = new SSMClient({ region: "eu-west-1", credentials: rig.moto!.admin });
    await expect(
      admin.send(new GetParameterCommand({ Name: listSigningKeyParameterName(cluster) })),
    ).rejects.toMatchObject({ name: "ParameterNotFound" });
  });

  it("when the parameter holds something other than an ed25519 key, it refuses to sign with it", async () => {
    const cluster = rig.unique("c").slice(0, 30).toLowerCase();
    const admin = new SSMClient({ region: "eu-west-1", credentials: rig.moto!.admin });
    await admin.send(
      new PutParameterCommand({
        Name: listSigningKeyParameterName(cluster),
        Type: "SecureString",
        Value: "junk",
      }),
    );
    await expect(ensureListSigningKey(admin, cluster)).rejects.toThrow(/is not a private key/);
  });

  it("when a list is signed with the stored key, the host helper accepts it with the derived public key", async () => {
    const cluster = rig.unique("c").slice(0, 30).toLowerCase();
    const key = await ensureListSigningKey(await ssmAs(["ssm:GetParameter", "ssm:PutParameter"]), cluster);
    const now = Math.floor(Date.now() / 1000);
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "alice@laptop",
      "-f",
      join(rig.dir, "alice"),
    ]);
    const line = readFileSync(join(rig.dir, "alice.pub"), "utf8").trim();
    const list = signKeyList(
      {
        subject: "alice",
        issuedAt: now,
        expiresAt: now + 300,
        accounts: [{ user: "alice", groups: [], keys: [line] }],
      },
      key.privateKeyPem,
    );
    const server = createServer((_req, res) => res.end(list));
    await new Promise<void>((ok) => server.listen(0, rig.block.address(3), ok));
    try {
      writeFileSync(join(rig.dir, "service.pem"), key.publicKeyPem);
      const conf = join(rig.dir, "sshkeys.conf");
      const port = (server.address() as { port: number }).port;
      writeFileSync(
        conf,
        `url=http://${rig.block.address(3)}:${port}\npublic_key=${join(rig.dir, "service.pem")}\n`,
      );
      const out = await new Promise<string>((ok, fail) =>
        execFile(
          resolve("containers/sshkeys/client/devcluster-sshkeys"),
          ["authorized-keys", "alice"],
          { env: { PATH: process.env.PATH, DEVCLUSTER_SSHKEYS_CONF: conf } },
          (e, stdout, stderr) => (e ? fail(new Error(stderr)) : ok(stdout)),
        ),
      );
      expect(out).toBe(`${line}\n`);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});
