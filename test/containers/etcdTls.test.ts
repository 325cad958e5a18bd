// The node programs against a member with TLS, client-certificate authentication and the nodes'
// roles on: presence, given the files of its node's PKI directory, announces its own instance
// over TLS; announcing another node's instance is denied and leaves that node's keys alone; https
// endpoints without the files, or only some of them, are a configuration error (exit 2). And
// etcd-amb, the image every worker and data node runs (podman): its gRPC proxy holds the node's
// certificate, so a plain client on the node's loopback (every node program, as nobody, with no key)
// acts as the node: it reads /services/ and writes its own instance's presence, and is refused
// /cluster/ and another node's presence; a client without a certificate is refused by the member.
import { Etcd3 } from "etcd3";
import { chmodSync, copyFileSync, mkdirSync, renameSync, statSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { etcdAccess } from "../../functions/adapters/etcd/etcdAccess.ts";
import { grpcTlsOptions } from "../../functions/adapters/etcd/tls.ts";
import { createEtcdSnapshotApi } from "../../functions/adapters/etcd/snapshots.ts";
import { nodeAccess } from "../../functions/domain/etcdAccess.ts";
import { pollUntil } from "../../functions/domain/poll.ts";
import { instanceKey } from "../../functions/domain/presence.ts";
import { useRig } from "../rig/index.ts";
import { builtImage, podman, runDetached } from "../rig/images.ts";
import { startTlsMember, type TlsMember } from "../rig/tlsMember.ts";
import { byCode, startProgram, usePrograms } from "./programs.ts";

const rig = useRig();
const programs = usePrograms(["presence"]);
const MAIN = "i-0cc0000000000a001";
const W1 = "i-0cc0000000000b001";
const W2 = "i-0cc0000000000b002";

let admin: Etcd3;
let member: TlsMember;

/** What a unit hands presence: the node's PKI files (mounted read-only in the container). */
const tlsEnv = (id: string) => {
  const f = member.pkiFiles(id);
  return { ETCD_CA_FILE: f.ca, ETCD_CERT_FILE: f.cert, ETCD_KEY_FILE: f.key };
};

beforeAll(async () => {
  member = await startTlsMember({
    dir: rig.dir,
    token: rig.unique("t"),
    nodes: [
      { id: MAIN, ip: rig.block.address(41), role: "main" },
      { id: W1, ip: rig.block.address(42), role: "worker" },
      { id: W2, ip: rig.block.address(43), role: "worker" },
    ],
  });
  admin = new Etcd3({
    hosts: [member.endpoint],
    dialTimeout: 1500,
    ...grpcTlsOptions(member.controlPlaneTls),
  });
  // The member is healthy; the client's first connection may still take a moment on a loaded machine.
  expect(
    await pollUntil(
      async () =>
        admin
          .put("/cluster/probe")
          .value("{}")
          .then(
            () => true,
            () => undefined,
          ),
      { timeoutMs: 30_000, intervalMs: 200 },
    ),
  ).toBe(true);
  const access = etcdAccess(admin);
  await access.enableAuth();
  await access.applyNodeAccess(nodeAccess(W1, [{ service: "hello", instance: "1" }]));
  await access.applyNodeAccess(nodeAccess(W2, [{ service: "hello", instance: "2" }]));
}, 90_000);

afterAll(async () => {
  admin?.close();
  await member?.stop();
});

function listen(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.end());
    s.once("error", reject);
    s.listen(port, host, () => resolve(s));
  });
}

const presence = (node: string, instance: string, port: number, extra: Record<string, string> = {}) =>
  startProgram(programs.entry("presence"), {
    ETCD_ENDPOINTS: member.endpoint,
    NODE_ID: node,
    PRIVATE_IP: rig.block.address(50),
    UNIT: `hello@${instance}`,
    PORTS: `http:${port}`,
    HTTP_PORT_NAME: "http",
    HEALTH_INTERVAL_MS: "300",
    LEASE_TTL: "5",
    ...extra,
  });

describe("node programs with etcd TLS and roles", () => {
  it("presence announces its own node's instance over TLS with the node's certificate", async () => {
    const srv = await listen(rig.block.address(50), 20_101);
    const p = presence(W1, "1", 20_101, tlsEnv(W1));
    try {
      await p.waitLog(byCode("presence.announced"));
      expect(await admin.get(`${instanceKey("hello", "1")}/port`).string()).toBe("20101");
      expect(await p.stop("SIGTERM")).toBe(0);
      // Its role may revoke its own lease: the keys are gone at once.
      expect(
        await admin
          .getAll()
          .prefix(`${instanceKey("hello", "1")}/`)
          .keys(),
      ).toEqual([]);
    } finally {
      srv.close();
    }
  });

  it("presence with one node's certificate cannot announce another node's instance", async () => {
    await admin.put(`${instanceKey("hello", "2")}/port`).value("w2's");
    const srv = await listen(rig.block.address(50), 20_102);
    const p = presence(W1, "2", 20_102, tlsEnv(W1));
    try {
      // presence keeps trying (and says so) while etcd refuses it; it never gets through.
      const refused = await p.waitLog((l) => /permission denied/i.test(String(l.error ?? "")));
      expect(refused.level).toBe("warn");
      expect(p.logs.some(byCode("presence.announced"))).toBe(false);
      expect(await admin.get(`${instanceKey("hello", "2")}/port`).string()).toBe("w2's");
    } finally {
      await p.stop("SIGKILL");
      srv.close();
    }
  });

  it("https endpoints without the node's files, or with only some, are refused at start (exit 2)", async () => {
    const none = presence(W1, "1", 20_103);
    expect(await none.exited).toBe(2);
    expect(none.logs.find(byCode("config.invalid"))?.error).toMatch(/ETCD_CA_FILE, ETCD_CERT_FILE/);
    const { ETCD_CA_FILE: _ca, ...partial } = tlsEnv(W1);
    const some = presence(W1, "1", 20_103, partial);
    expect(await some.exited).toBe(2);
    expect(some.logs.find(byCode("config.invalid"))?.error).toMatch(/ETCD_CA_FILE required/);
    // A file that cannot be read is named, not skipped.
    const wrong = presence(W1, "1", 20_103, { ...tlsEnv(W1), ETCD_KEY_FILE: join(rig.dir, "absent.key") });
    expect(await wrong.exited).toBe(2);
    expect(wrong.logs.find(byCode("config.invalid"))?.error).toMatch(/cannot read the etcd client key/);
  });
});

describe("the control plane's snapshot adapter with authentication on", () => {
  it("queries a member serving TLS over gRPC: etcd's JSON gateway refuses a certificate with a CN", async () => {
    const api = createEtcdSnapshotApi(member.controlPlaneTls);
    const s = await api.status(member.endpoint, 5000);
    expect(s?.memberId).toMatch(/^\d+$/);
    expect(s?.revision).toBeGreaterThan(0);
    expect(await api.healthy(member.endpoint)).toBe(true);
    expect((await api.members(member.endpoint)).map((m) => m.clientUrls)).toEqual([[member.endpoint]]);
    await api.put(member.endpoint, [{ key: "/restore-check/a", value: "1" }]);
    expect(await api.getPrefix(member.endpoint, "/restore-check/")).toEqual([
      { key: "/restore-check/a", value: "1" },
    ]);
    expect(await api.keyCount(member.endpoint)).toBeGreaterThan(0);
  }, 60_000);
});

describe("etcd-amb with TLS: the node's programs reach the members as the node", () => {
  let image = "";
  const started: string[] = [];
  const address = () => rig.block.address(60);
  beforeAll(async () => {
    image = await builtImage("etcd-amb");
  }, 600_000);
  afterAll(async () => {
    for (const name of started) await podman(["rm", "-f", "-t", "2", name]).catch(() => {});
  }, 60_000);

  /** etcd-amb as its unit runs it, on `address`: the endpoints as the local resolver gives them (host:port). */
  async function amb(
    pkiDir: string,
    etcdTls: string,
    at = address(),
    env: Record<string, string> = {},
  ): Promise<string> {
    const name = `dc-test-etcd-amb-${process.pid}-${started.length}`;
    started.push(name);
    await runDetached({
      name,
      image,
      options: ["--user", "0", "--cap-drop", "ALL"],
      volumes: [`${pkiDir}:/etc/devcluster/pki:ro`],
      env: { ETCD_TLS: etcdTls, ...env },
      args: [`--listen-addr=${at}:2379`, `--endpoints=${member.endpoint.replace(/^https:\/\//, "")}`],
    });
    return name;
  }

  /** A put through etcd-amb, retried while it is not serving yet (it starts, or waits for its certificate). */
  const putOnceServed = (local: Etcd3, key: string, value: string) =>
    pollUntil(
      () =>
        local
          .put(key)
          .value(value)
          .then(
            () => true,
            () => undefined,
          ),
      { timeoutMs: 30_000, intervalMs: 300 },
    );

  it("a plain client on the node's loopback reads /services/ and announces its own instance, as the node", async () => {
    await amb(dirname(member.pkiFiles(W1).key), "true");
    const local = new Etcd3({ hosts: [`http://${address()}:2379`], dialTimeout: 1500 });
    try {
      const key = `${instanceKey("hello", "1")}/port`;
      expect(await putOnceServed(local, key, "8080")).toBe(true);
      expect(await admin.get(key).string()).toBe("8080");
      expect(await local.getAll().prefix("/services/").keys()).toContain(key);
      // What the proxy did, the member logs as the node: the user is W1, not root.
      await expect(local.get("/cluster/probe").string()).rejects.toThrow(/permission denied/i);
      await admin.put(`${instanceKey("hello", "2")}/port`).value("w2's");
      await expect(local.put(`${instanceKey("hello", "2")}/port`).value("w1's")).rejects.toThrow(
        /permission denied/i,
      );
      expect(await admin.get(`${instanceKey("hello", "2")}/port`).string()).toBe("w2's");
    } finally {
      local.close();
    }
  }, 120_000);

  it("a client without a certificate is refused by the member", async () => {
    const bare = new Etcd3({
      hosts: [member.endpoint],
      dialTimeout: 1500,
      credentials: { rootCertificate: Buffer.from(member.ca.certPem) },
    });
    try {
      await expect(bare.get("/services/hello/instances/1/port").string()).rejects.toThrow();
    } finally {
      bare.close();
    }
  }, 60_000);

  it("started before the launch installs the node's certificate, it waits for it and then serves as the node", async () => {
    const later = join(rig.dir, "pki-later");
    mkdirSync(later, { recursive: true });
    const at = rig.block.address(63);
    const name = await amb(later, "true", at);
    await pollUntil(
      async () =>
        (await podman(["logs", name])).stderr.includes("waiting for the node's certificate")
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // Nothing is served meanwhile: the launch's install step has not run yet.
    const { stdout } = await podman(["inspect", "-f", "{{.State.Running}}", name]);
    expect(stdout.trim()).toBe("true");
    // The install step: the CA, then the key and its certificate, each put in place whole.
    const from = dirname(member.pkiFiles(W1).key);
    for (const f of ["ca.crt", "node.key", "node.crt"]) {
      copyFileSync(join(from, f), join(later, `${f}.tmp`));
      chmodSync(join(later, `${f}.tmp`), statSync(join(from, f)).mode & 0o777);
      renameSync(join(later, `${f}.tmp`), join(later, f));
    }
    const local = new Etcd3({ hosts: [`http://${at}:2379`], dialTimeout: 1500 });
    try {
      const key = `${instanceKey("hello", "1")}/port`;
      expect(await putOnceServed(local, key, "8081")).toBe(true);
      expect(await admin.get(key).string()).toBe("8081");
      await expect(local.get("/cluster/probe").string()).rejects.toThrow(/permission denied/i);
    } finally {
      local.close();
    }
    expect((await podman(["logs", name])).stderr).toContain("etcd-amb: the node's certificate is there");
  }, 120_000);

  it("with ETCD_TLS=true and no node certificate within its wait, or an unknown ETCD_TLS, it stops (exit 2), saying why", async () => {
    const empty = join(rig.dir, "no-pki");
    mkdirSync(empty, { recursive: true });
    const missing = await amb(empty, "true", rig.block.address(61), { ETCD_AMB_CERT_WAIT: "1" });
    expect(Number((await podman(["wait", missing])).stdout.trim())).toBe(2);
    expect((await podman(["logs", missing])).stderr).toContain(
      "etcd-amb: ETCD_TLS=true but /etc/devcluster/pki/ca.crt is missing or unreadable (waited 1 s)",
    );
    const bogus = await amb(empty, "yes", rig.block.address(62));
    expect(Number((await podman(["wait", bogus])).stdout.trim())).toBe(2);
    expect((await podman(["logs", bogus])).stderr).toContain("ETCD_TLS must be true or false (got 'yes')");
  }, 120_000);
});
