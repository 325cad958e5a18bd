// The host-side client of the SSH-key service (containers/sshkeys/client/devcluster-sshkeys): as
// sshd's AuthorizedKeysCommand it prints a user's keys only from a list signed by the service and
// not expired; lists are served by a real HTTP server on loopback, signed by the domain code.
import { execFile, execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signKeyList, verifyKeyList, type KeyList } from "../../functions/domain/sshKeyList.ts";
import { useRig } from "../rig/index.ts";

const HELPER = resolve("containers/sshkeys/client/devcluster-sshkeys");
const rig = useRig({ etcdMembers: 0 });

const pair = () => {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return {
    pub: publicKey.export({ type: "spki", format: "pem" }).toString(),
    priv: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
};
const service = pair();
const impostor = pair();

const dir = mkdtempSync(join(tmpdir(), "sshkeys-client-"));
const keygen = (name: string) => {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), "utf8").trim();
};
const aliceKey = keygen("alice");
const aliceKey2 = keygen("alice2");
const bobKey = keygen("bob");

/** What the server answers next, by path. */
const answers = new Map<string, string>();
let server: Server;
let conf: string;

beforeAll(async () => {
  const host = rig.block.address(2);
  server = createServer((req, res) => {
    const body = answers.get(req.url ?? "");
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "text/plain" });
    res.end(body ?? "not found\n");
  });
  await new Promise<void>((ok) => server.listen(0, host, ok));
  const port = (server.address() as { port: number }).port;
  writeFileSync(join(dir, "service.pem"), service.pub);
  conf = join(dir, "sshkeys.conf");
  writeFileSync(conf, `url=http://${host}:${port}/\npublic_key=${join(dir, "service.pem")}\ntimeout=10\n`);
});
afterAll(async () => {
  await new Promise<void>((ok) => server.close(() => ok()));
  rmSync(dir, { recursive: true, force: true });
});

const now = () => Math.floor(Date.now() / 1000);
const aliceList = (over: Partial<KeyList> = {}): KeyList => ({
  subject: "alice",
  issuedAt: now(),
  expiresAt: now() + 300,
  accounts: [{ user: "alice", groups: ["developers"], keys: [aliceKey, aliceKey2] }],
  ...over,
});

/** Run the helper as sshd would; resolves with its exit code and output, never rejects. */
function helper(user: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((ok) => {
    execFile(
      HELPER,
      ["authorized-keys", user],
      { env: { PATH: process.env.PATH, DEVCLUSTER_SSHKEYS_CONF: conf } },
      (e, stdout, stderr) => ok({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("devcluster-sshkeys authorized-keys", () => {
  it("when the list is signed by the service and current, it prints the user's keys", async () => {
    const signed = signKeyList(aliceList(), service.priv);
    answers.set("/v1/keys/alice", signed);
    expect(verifyKeyList(signed, service.pub, "alice", now()).accounts[0]!.keys).toEqual([
      aliceKey,
      aliceKey2,
    ]);
    const r = await helper("alice");
    expect(r).toMatchObject({ code: 0, stdout: `${aliceKey}\n${aliceKey2}\n` });
  });

  it("when a key line was changed after signing, it prints nothing", async () => {
    const tampered = signKeyList(aliceList(), service.priv).replace(aliceKey2, bobKey);
    answers.set("/v1/keys/alice", tampered);
    expect(() => verifyKeyList(tampered, service.pub, "alice", now())).toThrow(/bad signature/);
    const r = await helper("alice");
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/refused: bad signature/);
  });

  it("when a key line was appended after the signature, it prints nothing", async () => {
    answers.set("/v1/keys/alice", signKeyList(aliceList(), service.priv) + `key alice ${bobKey}\n`);
    const r = await helper("alice");
    expect(r).toMatchObject({ stdout: "" });
    expect(r.stderr).toMatch(/refused: no signature line/);
  });

  it("when the list is signed by another key, it prints nothing", async () => {
    answers.set("/v1/keys/alice", signKeyList(aliceList(), impostor.priv));
    const r = await helper("alice");
    expect(r).toMatchObject({ stdout: "" });
    expect(r.stderr).toMatch(/refused: bad signature/);
  });

  it("when an old list is replayed after its expiry, it prints nothing", async () => {
    const old = signKeyList(aliceList({ issuedAt: now() - 900, expiresAt: now() - 600 }), service.priv);
    answers.set("/v1/keys/alice", old);
    expect(() => verifyKeyList(old, service.pub, "alice", now())).toThrow(/expired/);
    const r = await helper("alice");
    expect(r).toMatchObject({ stdout: "" });
    expect(r.stderr).toMatch(/refused: expired list/);
  });

  it("when a list claims a validity longer than an hour, it prints nothing", async () => {
    answers.set("/v1/keys/alice", signKeyList(aliceList({ expiresAt: now() + 86_400 }), service.priv));
    const r = await helper("alice");
    expect(r).toMatchObject({ stdout: "" });
    expect(r.stderr).toMatch(/refused: valid for too long/);
  });

  it("when another user's signed list is served for alice, it prints nothing", async () => {
    const bobs = signKeyList(
      { ...aliceList(), subject: "bob", accounts: [{ user: "bob", groups: [], keys: [bobKey] }] },
      service.priv,
    );
    answers.set("/v1/keys/alice", bobs);
    const r = await helper("alice");
    expect(r).toMatchObject({ stdout: "" });
    expect(r.stderr).toMatch(/refused: list not issued for 'alice'/);
  });

  it("when the service cannot be reached or the name is not a local user name, it prints nothing", async () => {
    answers.delete("/v1/keys/carol");
    expect(await helper("carol")).toMatchObject({
      stdout: "",
      stderr: expect.stringMatching(/fetching .* failed/),
    });
    expect(await helper("../etc")).toMatchObject({
      stdout: "",
      stderr: expect.stringMatching(/not a local user name/),
    });
  });
});
