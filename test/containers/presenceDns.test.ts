// presence-dns against moto's Route 53 and a real etcd: service names follow presence records in one
// minimal change per burst, HTTP services point at the front door, node and SRV records are untouched.
import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { Etcd3 } from "etcd3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { announcementKeys, PresenceRecordSchema } from "../../functions/domain/presence.ts";
import { desiredServiceRecords, isServiceRecord } from "../../containers/presence-dns/src/plan.ts";
import { useRig } from "../rig/index.ts";
import { byCode, startProgram, usePrograms } from "./programs.ts";

const rig = useRig({ etcdMembers: 1, moto: true });
const programs = usePrograms(["presence-dns"]);
let etcd: Etcd3;
let r53: Route53Client;

beforeAll(() => {
  etcd = new Etcd3({ hosts: rig.etcd!.endpoints });
  r53 = new Route53Client({});
});
afterAll(() => etcd?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rec = (
  service: string,
  instance: string,
  ip: string,
  ports: Record<string, number>,
  extra: object = {},
) =>
  PresenceRecordSchema.parse({
    service,
    instance,
    privateIp: ip,
    port: Object.values(ports)[0],
    ports,
    ...extra,
  });

async function zoneRecords(zoneId: string) {
  const res = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  return Object.fromEntries(
    (res.ResourceRecordSets ?? [])
      .filter((r) => r.Type !== "NS" && r.Type !== "SOA")
      .map((r) => [`${r.Name} ${r.Type}`, (r.ResourceRecords ?? []).map((v) => v.Value).sort()]),
  );
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`not reached: ${JSON.stringify(v)}`);
    await sleep(100);
  }
}

describe("service DNS plan", () => {
  it("points front-door services at the front door, others at their instances, and owns only one-label names", () => {
    const services = [
      {
        service: "nginx",
        instances: [
          rec("nginx", "1", "10.0.0.6", { http: 80 }, { http: "http" }),
          rec("nginx", "2", "10.0.0.5", { http: 80 }, { http: "http" }),
        ],
      },
      { service: "hello", instances: [rec("hello", "1", "10.0.1.1", { http: 8080 }, { http: "http" })] },
      {
        service: "cache",
        instances: [
          rec("cache", "1", "10.0.2.1", { port: 6379 }),
          rec("cache", "2", "10.0.2.1", { port: 6380 }),
        ],
      },
    ];
    expect(
      desiredServiceRecords(services, { domain: "dev.test", frontDoorService: "nginx", ttl: 30 }),
    ).toEqual([
      { name: "cache.dev.test.", type: "A", ttl: 30, values: ["10.0.2.1"] },
      { name: "hello.dev.test.", type: "A", ttl: 30, values: ["10.0.0.5", "10.0.0.6"] },
      { name: "nginx.dev.test.", type: "A", ttl: 30, values: ["10.0.0.5", "10.0.0.6"] },
    ]);
    // No front door instance: an HTTP service gets no name (never an empty record set).
    expect(
      desiredServiceRecords(services.slice(1), {
        domain: "dev.test",
        frontDoorService: "nginx",
        ttl: 30,
      }).map((r) => r.name),
    ).toEqual(["cache.dev.test."]);
    expect(isServiceRecord({ name: "hello.dev.test.", type: "A" }, "dev.test")).toBe(true);
    expect(isServiceRecord({ name: "i-0123456789abcdef0.dev.test.", type: "A" }, "dev.test")).toBe(false);
    expect(isServiceRecord({ name: "_etcd-client._tcp.dev.test.", type: "SRV" }, "dev.test")).toBe(false);
    expect(isServiceRecord({ name: "a.b.dev.test.", type: "A" }, "dev.test")).toBe(false);
    expect(isServiceRecord({ name: "dev.test.", type: "A" }, "dev.test")).toBe(false);
  });
});

describe("presence-dns", () => {
  it("keeps service names in the zone from presence records, batched, leaving other records alone", async () => {
    const domain = "svc.test";
    const zone = await r53.send(
      new CreateHostedZoneCommand({
        Name: domain,
        CallerReference: rig.unique("zone"),
        HostedZoneConfig: { Comment: "test", PrivateZone: true },
        VPC: { VPCId: "vpc-12345678", VPCRegion: "eu-west-1" },
      }),
    );
    const zoneId = zone.HostedZone!.Id!.replace("/hostedzone/", "");
    const A = (name: string, ip: string) => ({
      Action: "UPSERT" as const,
      ResourceRecordSet: { Name: name, Type: "A" as const, TTL: 60, ResourceRecords: [{ Value: ip }] },
    });
    await r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: [
            A(`i-0123456789abcdef0.${domain}`, "10.0.9.9"),
            A(`stale.${domain}`, "10.0.9.8"),
            {
              Action: "UPSERT",
              ResourceRecordSet: {
                Name: `_etcd-client._tcp.${domain}`,
                Type: "SRV",
                TTL: 30,
                ResourceRecords: [{ Value: `0 0 2379 i-0123456789abcdef0.${domain}.` }],
              },
            },
          ],
        },
      }),
    );
    const p = startProgram(programs.entry("presence-dns"), {
      ETCD_ENDPOINTS: rig.etcd!.endpoints.join(","),
      DOMAIN: domain,
      // No ZONE_ID: the private zone named DOMAIN is looked up.
      DEBOUNCE_MS: "300",
      AWS_REGION: "eu-west-1",
      AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL!,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
    });
    try {
      expect((await p.waitLog(byCode("presence-dns.started"))).zone).toBe(zoneId);
      // The stale service name goes; node and discovery records stay.
      await eventually(
        () => zoneRecords(zoneId),
        (z) => !(`stale.${domain}. A` in z),
      );
      // (and its log line has arrived, so it is not counted with the burst below)
      await p.waitLog(
        (l) => l.code === "dns.applied" && JSON.stringify(l.deletes).includes(`stale.${domain}.`),
      );
      // A burst of 20 key changes (five instances, in one transaction so a loaded machine cannot
      // spread them over two debounce windows): one Route 53 change.
      const appliedBefore = p.logs.filter((l) => l.code === "dns.applied").length;
      const burst = [
        rec("nginx", "1", "10.0.0.5", { http: 80 }, { http: "http" }),
        rec("nginx", "2", "10.0.0.6", { http: 80 }, { http: "http" }),
        rec("hello", "1", "10.0.1.1", { http: 8080 }, { http: "http" }),
        rec("hello", "2", "10.0.1.2", { http: 8080 }, { http: "http" }),
        rec("cache", "1", "10.0.2.1", { port: 6379 }),
      ].flatMap((r) => announcementKeys(r));
      await etcd
        .if(burst[0]![0], "Mod", ">", -1)
        .then(...burst.map(([k, v]) => etcd.put(k).value(v)))
        .commit();
      const z = await eventually(
        () => zoneRecords(zoneId),
        (x) => `cache.${domain}. A` in x && `hello.${domain}. A` in x,
      );
      expect(z).toEqual({
        [`i-0123456789abcdef0.${domain}. A`]: ["10.0.9.9"],
        [`_etcd-client._tcp.${domain}. SRV`]: [`0 0 2379 i-0123456789abcdef0.${domain}.`],
        [`nginx.${domain}. A`]: ["10.0.0.5", "10.0.0.6"],
        [`hello.${domain}. A`]: ["10.0.0.5", "10.0.0.6"],
        [`cache.${domain}. A`]: ["10.0.2.1"],
      });
      await sleep(500);
      const applied = p.logs.filter((l) => l.code === "dns.applied").slice(appliedBefore);
      expect(applied).toHaveLength(1);
      expect(applied[0]!.calls).toBe(1);

      // A malformed record is reported and changes nothing.
      await etcd.put("/services/cache/instances/7").value('{"service":"cache"}');
      await p.waitLog((l) => l.code === "presence.malformed" && l.key === "/services/cache/instances/7");

      // The last cache instance goes: its name goes; a front-door instance goes: HTTP names follow.
      await etcd.delete().prefix("/services/cache/");
      await etcd.delete().prefix("/services/nginx/instances/2");
      const after = await eventually(
        () => zoneRecords(zoneId),
        (x) => !(`cache.${domain}. A` in x) && x[`hello.${domain}. A`]?.length === 1,
      );
      expect(after[`hello.${domain}. A`]).toEqual(["10.0.0.5"]);
      expect(after[`i-0123456789abcdef0.${domain}. A`]).toEqual(["10.0.9.9"]);
      expect(p.proc.exitCode).toBeNull();
    } finally {
      expect(await p.stop()).toBe(0);
      await etcd.delete().prefix("/services/");
    }
  });
});
