// The DNS rules, each proved on its own: which names the control plane owns, which members the SRV
// records list, and a diff that is minimal and, applied to the zone, yields exactly what is wanted.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  desiredNodeRecords,
  desiredSrvRecords,
  diffRecords,
  isEmptyDiff,
  isManaged,
  nodeName,
  srvClientName,
  srvServerName,
  type DnsDiff,
  type DnsRecord,
  type Scope,
} from "../../../functions/domain/dnsPlan.ts";
import { id, ip, learner, member, record } from "./cluster.ts";

const D = "dev.internal";
const ALL: Scope = { nodes: true, srv: true };
const A = (n: number, value = ip(n), ttl = 60): DnsRecord => ({
  name: nodeName(id(n), D),
  type: "A",
  ttl,
  values: [value],
});
const SRV = (name: string, values: string[], ttl = 30): DnsRecord => ({ name, type: "SRV", ttl, values });
const server = (n: number) => `0 0 2380 ${id(n)}.${D}.`;
const client = (n: number) => `0 0 2379 ${id(n)}.${D}.`;

describe("the names the control plane owns", () => {
  it("are the two discovery SRV names, as SRV records only", () => {
    expect(isManaged({ name: srvServerName(D), type: "SRV" }, D, ALL)).toBe(true);
    expect(isManaged({ name: `_etcd-client._tcp.${D}`, type: "SRV" }, D, ALL)).toBe(true);
    expect(isManaged({ name: `_ldap._tcp.${D}.`, type: "SRV" }, D, ALL)).toBe(false);
    expect(isManaged({ name: srvServerName(D), type: "TXT" }, D, ALL)).toBe(false);
    expect(isManaged({ name: srvServerName(D), type: "SRV" }, D, { nodes: true, srv: false })).toBe(false);
  });
  it("include the discovery names of members serving TLS (`-ssl`), and no other variant", () => {
    expect(srvServerName(D, true)).toBe(`_etcd-server-ssl._tcp.${D}.`);
    expect(srvClientName(D, true)).toBe(`_etcd-client-ssl._tcp.${D}.`);
    expect(isManaged({ name: `_etcd-server-ssl._tcp.${D}`, type: "SRV" }, D, ALL)).toBe(true);
    expect(isManaged({ name: `_etcd-client-ssl._tcp.${D}.`, type: "SRV" }, D, ALL)).toBe(true);
    expect(isManaged({ name: `_etcd-client-tls._tcp.${D}.`, type: "SRV" }, D, ALL)).toBe(false);
    expect(isManaged({ name: `_etcd-client-ssl._tcp.other.${D}.`, type: "SRV" }, D, ALL)).toBe(false);
  });
  it("are node A records only when nodes are in scope", () => {
    expect(isManaged({ name: nodeName(id(1), D), type: "A" }, D, ALL)).toBe(true);
    expect(isManaged({ name: nodeName(id(1), D), type: "A" }, D, { nodes: false, srv: true })).toBe(false);
    expect(isManaged({ name: nodeName(id(1), D), type: "AAAA" }, D, ALL)).toBe(false);
  });
});

describe("desired records", () => {
  it("give every node that is not gone an A record with its address", () => {
    expect(
      desiredNodeRecords(
        [
          record(1),
          record(2, { state: "joining" }),
          record(3, { state: "gone" }),
          record(4, { privateIp: "" }),
        ],
        D,
      ),
    ).toEqual([A(1), A(2)]);
  });

  it("list started members by instance name, or by the instance at their peer address; nobody else", () => {
    const ipToInstance = new Map([
      [ip(2), id(2)],
      [ip(3), id(3)],
      [ip(4), id(4)],
      [ip(5), id(5)],
    ]);
    const ms = [
      member(1), // named after its instance
      member(2, { name: "etcd-b" }), // named otherwise: found by address
      member(3, { name: `node-${id(3)}` }), // contains an instance id but is not one
      member(4, { name: `${id(4)}.old` }),
      member(5, { name: "" }), // added, never started
      member(6, { name: "etcd-f" }), // address unknown: no target
    ];
    expect(desiredSrvRecords(ms, ipToInstance, D)).toEqual([
      SRV(srvServerName(D), [server(1), server(2), server(3), server(4)]),
      SRV(srvClientName(D), [client(1), client(2), client(3), client(4)]),
    ]);
  });

  it("sort the targets whatever the member order, and keep learners out of _etcd-client", () => {
    expect(desiredSrvRecords([member(3), learner(2), member(1)], new Map(), D)).toEqual([
      SRV(srvServerName(D), [server(1), server(2), server(3)]),
      SRV(srvClientName(D), [client(1), client(3)]),
    ]);
    expect(desiredSrvRecords([learner(2)], new Map(), D)).toEqual([SRV(srvServerName(D), [server(2)])]);
  });

  it("list a member serving TLS under the -ssl names, in the scheme it serves", () => {
    const tls = (n: number, o: Parameters<typeof member>[1] = {}) =>
      member(n, { peerUrls: [`https://${ip(n)}:2380`], clientUrls: [`https://${ip(n)}:2379`], ...o });
    expect(
      desiredSrvRecords([tls(2), tls(1), learner(3, { peerUrls: [`https://${ip(3)}:2380`] })], new Map(), D),
    ).toEqual([
      SRV(srvServerName(D, true), [server(1), server(2), server(3)]),
      SRV(srvClientName(D, true), [client(1), client(2)]),
    ]);
    // A cluster part-way through a switch: each member under its own scheme's names.
    expect(desiredSrvRecords([member(1), tls(2)], new Map(), D)).toEqual([
      SRV(srvServerName(D), [server(1)]),
      SRV(srvClientName(D), [client(1)]),
      SRV(srvServerName(D, true), [server(2)]),
      SRV(srvClientName(D, true), [client(2)]),
    ]);
  });

  it("are none for no started member (Route 53 has no empty record sets)", () => {
    expect(desiredSrvRecords([], new Map(), D)).toEqual([]);
    expect(desiredSrvRecords([member(1, { name: "" })], new Map([[ip(1), id(1)]]), D)).toEqual([]);
  });
});

describe("the diff", () => {
  const srvA = SRV(srvServerName(D), [server(1), server(2)]);

  it("changes nothing when only the order of values differs", () => {
    expect(diffRecords([srvA], [SRV(srvServerName(D), [server(2), server(1)])], D, ALL)).toEqual({
      upserts: [],
      deletes: [],
    });
  });

  it.each([
    ["a value added", [server(1)]],
    ["a value removed", [server(1), server(2), server(3)]],
    ["a value changed", [server(1), server(3)]],
  ])("upserts a record with %s", (_n, liveValues) => {
    expect(diffRecords([srvA], [SRV(srvServerName(D), liveValues)], D, ALL)).toEqual({
      upserts: [srvA],
      deletes: [],
    });
  });

  it("neither upserts nor deletes what is out of scope", () => {
    expect(diffRecords([srvA, A(1)], [], D, { nodes: true, srv: false })).toEqual({
      upserts: [A(1)],
      deletes: [],
    });
    expect(diffRecords([srvA, A(1)], [A(2)], D, { nodes: false, srv: true })).toEqual({
      upserts: [srvA],
      deletes: [],
    });
  });

  it("is empty exactly when there is nothing to upsert or delete", () => {
    expect(isEmptyDiff({ upserts: [], deletes: [] })).toBe(true);
    expect(isEmptyDiff({ upserts: [A(1)], deletes: [] })).toBe(false);
    expect(isEmptyDiff({ upserts: [], deletes: [A(1)] })).toBe(false);
  });

  /** A zone: some of the managed names (node A records and SRV records) and some foreign ones, with any values. */
  const valueArb = fc.constantFrom("127.0.0.1", "127.0.0.2", "127.0.0.3");
  const recordArb: fc.Arbitrary<DnsRecord> = fc.oneof(
    fc
      .record({ n: fc.integer({ min: 1, max: 6 }), v: valueArb, ttl: fc.constantFrom(60, 300) })
      .map(({ n, v, ttl }) => A(n, v, ttl)),
    fc
      .record({
        name: fc.constantFrom(srvServerName(D), srvClientName(D)),
        vs: fc.uniqueArray(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        ttl: fc.constantFrom(30, 60),
      })
      .map(({ name, vs, ttl }) => SRV(name, vs.map(server), ttl)),
    fc
      .record({ name: fc.constantFrom(`nginx.${D}.`, `db.${D}.`, `${id(1)}.other.internal.`), v: valueArb })
      .map(({ name, v }): DnsRecord => ({ name, type: "A", ttl: 60, values: [v] })),
  );
  const zoneArb = fc.uniqueArray(recordArb, { selector: (r) => `${r.name}|${r.type}`, maxLength: 10 });
  const scopeArb = fc.record({ nodes: fc.boolean(), srv: fc.boolean() });
  const keyOf = (r: DnsRecord) => `${r.name}|${r.type}`;
  const apply = (live: DnsRecord[], d: DnsDiff) => {
    const zone = new Map(live.map((r) => [keyOf(r), r]));
    for (const r of d.deletes) zone.delete(keyOf(r));
    for (const r of d.upserts) zone.set(keyOf(r), r);
    return zone;
  };
  const canon = (r: DnsRecord) => ({ ...r, values: [...r.values].sort() });

  it("applied to the zone yields the desired managed records and leaves the rest as it was (property)", () => {
    fc.assert(
      fc.property(zoneArb, zoneArb, scopeArb, (desired, live, scope) => {
        const d = diffRecords(desired, live, D, scope);
        const zone = apply(live, d);
        for (const r of desired)
          if (isManaged(r, D, scope)) expect(canon(zone.get(keyOf(r))!)).toEqual(canon(r));
        for (const r of live) if (!isManaged(r, D, scope)) expect(zone.get(keyOf(r))).toBe(r);
        const wanted = new Set(desired.filter((r) => isManaged(r, D, scope)).map(keyOf));
        for (const [k, r] of zone) if (isManaged(r, D, scope)) expect(wanted.has(k)).toBe(true);
        // Converged: planning again against the new zone changes nothing.
        expect(isEmptyDiff(diffRecords(desired, [...zone.values()], D, scope))).toBe(true);
      }),
    );
  });

  it("is minimal: upserts only missing or different records, deletes only live managed records nobody wants (property)", () => {
    fc.assert(
      fc.property(zoneArb, zoneArb, scopeArb, (desired, live, scope) => {
        const d = diffRecords(desired, live, D, scope);
        const liveBy = new Map(live.map((r) => [keyOf(r), r]));
        for (const u of d.upserts) {
          const l = liveBy.get(keyOf(u));
          expect(l === undefined || JSON.stringify(canon(l)) !== JSON.stringify(canon(u))).toBe(true);
        }
        const desiredKeys = new Set(desired.map(keyOf));
        for (const x of d.deletes) {
          expect(live).toContain(x); // an exact copy, as Route 53 requires
          expect(isManaged(x, D, scope) && !desiredKeys.has(keyOf(x))).toBe(true);
        }
      }),
    );
  });
});
