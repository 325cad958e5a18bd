// presence against a real etcd: announced on a lease while healthy, gone at once on SIGTERM, gone
// within the lease TTL after SIGKILL, never announced while the health check fails, master election.
import { createServer, type Server } from "node:net";
import { createServer as createHttpServer } from "node:http";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instanceKey, masterKey, parsePresence } from "../../functions/domain/presence.ts";
import { useRig } from "../rig/index.ts";
import { byCode, startProgram, usePrograms } from "./programs.ts";

const rig = useRig({ etcdMembers: 1 });
const programs = usePrograms(["presence"]);
let etcd: Etcd3;
let nextPort = 20_000;

beforeAll(() => {
  etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
});
afterAll(() => etcd?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function listen(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.end());
    s.once("error", reject);
    s.listen(port, host, () => resolve(s));
  });
}

function presence(service: string, instance: string, port: number, extra: Record<string, string> = {}) {
  return startProgram(programs.entry("presence"), {
    ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
    NODE_ID: "i-0123456789abcdef0",
    PRIVATE_IP: rig.block.address(50),
    UNIT: `${service}@${instance}`,
    PORTS: `http:${port}`,
    HTTP_PORT_NAME: "http",
    HEALTH_INTERVAL_MS: "300",
    LEASE_TTL: "2",
    ...extra,
  });
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 8000,
): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return { value: v, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const serviceKeys = (service: string) => etcd.getAll().prefix(`/services/${service}/`).strings();

describe("presence", () => {
  it("when the instance is healthy, it announces the JSON record and the plain keys on one lease", async () => {
    const port = nextPort++;
    const srv = await listen(rig.block.address(50), port);
    const svc = rig
      .unique("svc")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "");
    const p = presence(svc, "1", port);
    try {
      const { value: kvs } = await until("announcement", async () => {
        const k = await serviceKeys(svc);
        return Object.keys(k).length === 4 ? k : undefined;
      });
      const parsed = parsePresence(kvs);
      expect(parsed.issues).toEqual([]);
      const rec = parsed.services.get(svc)!.instances[0]!;
      expect(rec).toMatchObject({
        service: svc,
        instance: "1",
        node: "i-0123456789abcdef0",
        privateIp: rig.block.address(50),
        port,
        ports: { http: port },
        http: "http",
      });
      expect(kvs[`${instanceKey(svc, "1")}/private_ip`]).toBe(rig.block.address(50));
      expect(kvs[`${instanceKey(svc, "1")}/port`]).toBe(String(port));
      // Every key is on the same, live lease.
      const res = await etcd.getAll().prefix(`/services/${svc}/`).exec();
      const leases = new Set(res.kvs.map((kv) => String(kv.lease)));
      expect(leases.size).toBe(1);
      expect([...leases][0]).not.toBe("0");
    } finally {
      await p.stop();
      srv.close();
    }
  });

  it("when it gets SIGTERM, it removes the keys before it exits", async () => {
    const port = nextPort++;
    const srv = await listen(rig.block.address(50), port);
    const svc = rig
      .unique("term")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "");
    const p = presence(svc, "1", port, { LEASE_TTL: "30", HEALTH_INTERVAL_MS: "1000" });
    try {
      await p.waitLog(byCode("presence.announced"));
      expect(Object.keys(await serviceKeys(svc))).toHaveLength(4);
      expect(await p.stop("SIGTERM")).toBe(0);
      // Checked right after the exit, far inside the 30 s TTL: the lease was revoked.
      expect(await serviceKeys(svc)).toEqual({});
      expect(p.logs.some((l) => l.code === "presence.withdrawn" && l.reason === "stopping")).toBe(true);
    } finally {
      srv.close();
    }
  });

  it("when it is killed (SIGKILL), its keys disappear when the lease expires", async () => {
    const port = nextPort++;
    const srv = await listen(rig.block.address(50), port);
    const svc = rig
      .unique("kill")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "");
    const p = presence(svc, "1", port, { LEASE_TTL: "2", HEALTH_INTERVAL_MS: "300" });
    try {
      await p.waitLog(byCode("presence.announced"));
      await p.stop("SIGKILL");
      const t0 = Date.now();
      // Still there just after the kill: nothing but the lease removes them.
      expect(Object.keys(await serviceKeys(svc))).toHaveLength(4);
      await until(
        "keys gone",
        async () => (Object.keys(await serviceKeys(svc)).length === 0 ? true : undefined),
        20_000,
      );
      const gone = Date.now() - t0;
      // TTL 2 s (etcd may round a lease's expiry up; a loaded machine adds more): seconds, not a minute.
      expect(gone).toBeLessThan(20_000);
    } finally {
      srv.close();
    }
  });

  it("when the health check fails, it does not announce; it announces once it passes and withdraws when it fails again", async () => {
    const port = nextPort++;
    const svc = rig
      .unique("health")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "");
    let healthy = false;
    const http = createHttpServer((req, res) => {
      res.statusCode = req.url === "/healthz" && healthy ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => http.listen(port, rig.block.address(50), r));
    // A long TTL: a withdrawal within seconds is the health check's doing, not the lease's expiry.
    const p = presence(svc, "1", port, { HEALTH_CHECK: "http:http/healthz", LEASE_TTL: "40" });
    try {
      await p.waitLog(byCode("health.failed"));
      await sleep(1000); // three more failed checks
      expect(await serviceKeys(svc)).toEqual({});
      healthy = true;
      await p.waitLog(byCode("presence.announced"));
      expect(Object.keys(await serviceKeys(svc))).toHaveLength(4);
      healthy = false;
      const { ms } = await until("withdrawn", async () =>
        Object.keys(await serviceKeys(svc)).length === 0 ? true : undefined,
      );
      // Revoked by the next check (300 ms), not left to the 40 s TTL (a wide bound: loaded machines).
      expect(ms).toBeLessThan(15_000);
      await p.waitLog((l) => l.code === "presence.withdrawn" && l.reason === "unhealthy");
    } finally {
      await p.stop();
      http.close();
    }
  });

  it("when asked to elect, one instance holds /services/<name>/master and another takes over when it stops", async () => {
    const ports = [nextPort++, nextPort++];
    const srvs = await Promise.all(ports.map((pt) => listen(rig.block.address(50), pt)));
    const svc = rig
      .unique("elect")
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "");
    const a = presence(svc, "1", ports[0]!, { ELECTION: "true" });
    const b = presence(svc, "2", ports[1]!, { ELECTION: "true" });
    try {
      await Promise.all([a.waitLog(byCode("presence.announced")), b.waitLog(byCode("presence.announced"))]);
      const { value: first } = await until(
        "a master",
        async () => parsePresence(await serviceKeys(svc)).services.get(svc)?.master,
      );
      const [winner, other] = first.instance === "1" ? [a, b] : [b, a];
      // The key is committed before the winner logs it, and its stdout arrives later still: wait for the line.
      await winner.waitLog(byCode("presence.elected"));
      expect(other.logs.some((l) => l.code === "presence.elected")).toBe(false);
      await winner.stop();
      const { value: next } = await until("a new master", async () => {
        const m = parsePresence(await serviceKeys(svc)).services.get(svc)?.master;
        return m && m.instance !== first.instance ? m : undefined;
      });
      expect(next.instance).toBe(first.instance === "1" ? "2" : "1");
      expect(await etcd.get(masterKey(svc)).string()).toContain(`"instance":"${next.instance}"`);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      for (const s of srvs) s.close();
    }
  });

  it("when its settings are invalid, it exits 2 naming every bad variable and writes nothing", async () => {
    const p = startProgram(programs.entry("presence"), {
      ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
      UNIT: "Bad_Name@1",
      PORTS: "http:99999",
    });
    expect(await p.exited).toBe(2);
    const line = p.logs.find((l) => l.code === "config.invalid")!;
    expect(String(line.error)).toMatch(/PRIVATE_IP/);
    expect(String(line.error)).toMatch(/PORTS/);
    expect(await etcd.getAll().prefix("/services/").keys()).toEqual([]);
  });
});
