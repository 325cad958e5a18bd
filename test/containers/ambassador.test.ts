// The ambassador with real sockets and a real etcd: a long connection survives an instance change,
// new connections go to the new set (or the master), and with no instance a connection is refused at once.
import { connect, createServer, type Server, type Socket } from "node:net";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { announcementKeys, masterKey, PresenceRecordSchema } from "../../functions/domain/presence.ts";
import { parseUpstreams, targetsOf } from "../../containers/ambassador/src/routes.ts";
import { useRig } from "../rig/index.ts";
import { byCode, startProgram, usePrograms } from "./programs.ts";

const rig = useRig({ etcdMembers: 1 });
const programs = usePrograms(["ambassador"]);
let etcd: Etcd3;
const servers: Server[] = [];

beforeAll(() => {
  etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
});
afterAll(() => {
  for (const s of servers) s.close();
  etcd?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers every chunk with `<name>:<chunk>`. */
async function echo(ip: string, port: number, name: string) {
  const sockets = new Set<Socket>();
  const s = createServer((c) => {
    sockets.add(c);
    c.on("data", (d) => c.write(`${name}:${d.toString()}`));
    c.on("error", () => undefined);
    c.on("close", () => sockets.delete(c));
  });
  await new Promise<void>((r) => s.listen(port, ip, r));
  servers.push(s);
  return s;
}

const rec = (service: string, instance: string, ip: string, port: number) =>
  PresenceRecordSchema.parse({ service, instance, privateIp: ip, port, ports: { db: port } });

async function put(r: ReturnType<typeof rec>) {
  for (const [k, v] of announcementKeys(r)) await etcd.put(k).value(v);
}

/** A client connection with a line-at-a-time exchange. */
function client(ip: string, port: number): Promise<{ sock: Socket; ask(s: string): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ip, port });
    sock.once("error", reject);
    sock.once("connect", () => {
      sock.off("error", reject);
      resolve({
        sock,
        ask: (s) =>
          new Promise((res, rej) => {
            sock.once("data", (d) => res(d.toString()));
            sock.once("error", rej);
            sock.once("close", () => rej(new Error("closed")));
            sock.write(s);
          }),
      });
    });
  });
}

/** Connect and see what happens within 500 ms: an answer, or the connection's end and how. */
async function attempt(ip: string, port: number): Promise<{ answer?: string; error?: string; ms: number }> {
  const t0 = Date.now();
  try {
    const c = await client(ip, port);
    const r = await Promise.race([c.ask("ping"), sleep(500).then(() => "timeout")]);
    c.sock.destroy();
    return { answer: r, ms: Date.now() - t0 };
  } catch (e) {
    return { error: (e as NodeJS.ErrnoException).code ?? (e as Error).message, ms: Date.now() - t0 };
  }
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`not reached: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

describe("ambassador routes", () => {
  it("parses routes and rejects bad ones with every reason", () => {
    expect(parseUpstreams("pg:5432:master,api/http:8081")).toEqual([
      { service: "pg", localPort: 5432, master: true },
      { service: "api", portName: "http", localPort: 8081, master: false },
    ]);
    expect(() => parseUpstreams("Bad:1,x:99999,y:1")).toThrow(/'Bad:1'.*'x:99999'/);
    expect(() => parseUpstreams("a:1,b:1")).toThrow(/used twice/);
  });

  it("targets follow the named port, or the master only", () => {
    const a = rec("pg", "1", "127.0.0.1", 5001);
    const b = rec("pg", "2", "127.0.0.2", 5002);
    expect(
      targetsOf({ service: "pg", localPort: 1, master: false }, { service: "pg", instances: [a, b] }),
    ).toEqual(["127.0.0.1:5001", "127.0.0.2:5002"]);
    expect(
      targetsOf(
        { service: "pg", localPort: 1, master: true },
        { service: "pg", instances: [a, b], master: b },
      ),
    ).toEqual(["127.0.0.2:5002"]);
    expect(
      targetsOf({ service: "pg", localPort: 1, master: true }, { service: "pg", instances: [a, b] }),
    ).toEqual([]);
    expect(
      targetsOf(
        { service: "pg", portName: "admin", localPort: 1, master: false },
        { service: "pg", instances: [a] },
      ),
    ).toEqual([]);
  });
});

describe("ambassador", () => {
  it("refuses at once with no instance, follows instance changes for new connections and keeps established ones", async () => {
    const [ipA, ipB, local] = [rig.block.address(61), rig.block.address(62), rig.block.address(60)];
    await echo(ipA, 7001, "A");
    await echo(ipB, 7002, "B");
    const svc = "echo";
    const p = startProgram(programs.entry("ambassador"), {
      ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
      UPSTREAMS: `${svc}:17001,db:17002:master`,
      LISTEN_ADDRESS: local,
      DEBOUNCE_MS: "20",
    });
    try {
      await p.waitLog(byCode("ambassador.listening"));
      // No instance: the connection is reset at once (not left hanging) and the refusal is logged.
      const refused = await attempt(local, 17001);
      // Reset, not a hang: a connection left open would answer "timeout" after 500 ms instead.
      expect(refused.answer).toBeUndefined();
      expect(refused.error).toMatch(/ECONNRESET|closed/);
      expect(refused.ms).toBeLessThan(5000);
      await p.waitLog(byCode("route.no_instance"));

      await put(rec(svc, "1", ipA, 7001));
      const first = await eventually(
        () => attempt(local, 17001),
        (r) => r.answer !== undefined,
      );
      expect(first.answer).toBe("A:ping");

      // A long connection to A...
      const long = await client(local, 17001);
      expect(await long.ask("one")).toBe("A:one");
      // ...while the set changes to B only.
      await put(rec(svc, "2", ipB, 7002));
      await etcd.delete().prefix(`/services/${svc}/instances/1`);
      await p.waitLog(
        (l) => l.code === "route.targets" && JSON.stringify(l.targets) === JSON.stringify([`${ipB}:7002`]),
      );
      for (let i = 0; i < 5; i++) expect((await attempt(local, 17001)).answer).toBe("B:ping");
      expect(await long.ask("two")).toBe("A:two");
      long.sock.destroy();

      // Master route: only the elected instance, and the new one after a change.
      await put(rec("db", "1", ipA, 7001));
      await put(rec("db", "2", ipB, 7002));
      expect((await attempt(local, 17002)).answer).toBeUndefined();
      await etcd.put(masterKey("db")).value(JSON.stringify(rec("db", "2", ipB, 7002)));
      expect(
        (
          await eventually(
            () => attempt(local, 17002),
            (r) => r.answer !== undefined,
          )
        ).answer,
      ).toBe("B:ping");
      await etcd.put(masterKey("db")).value(JSON.stringify(rec("db", "1", ipA, 7001)));
      expect(
        (
          await eventually(
            () => attempt(local, 17002),
            (r) => r.answer === "A:ping",
          )
        ).answer,
      ).toBe("A:ping");

      // A malformed record is reported and ignored.
      await etcd.put(`/services/${svc}/instances/9`).value("garbage");
      await p.waitLog((l) => l.code === "presence.malformed" && l.key === `/services/${svc}/instances/9`);
      expect((await attempt(local, 17001)).answer).toBe("B:ping");
    } finally {
      expect(await p.stop()).toBe(0);
      await etcd.delete().prefix("/services/");
    }
    // Stopped: nothing listens.
    expect((await attempt(local, 17001)).error).toBe("ECONNREFUSED");
  });
});
