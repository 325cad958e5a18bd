// What every Dns port does (list by type, apply a diff as one all-or-nothing change), run against the
// in-memory fake and Route 53 in moto (test/integration/contracts/dns.test.ts).
import { describe, expect, it } from "vitest";
import type { DnsRecord } from "../../functions/domain/dnsPlan.ts";
import type { Dns } from "../../functions/ports/dns.ts";

/** A fresh, empty private zone and its domain. */
export type DnsSubject = () => Promise<{ dns: Dns; domain: string }>;

const sorted = (rs: DnsRecord[]) =>
  [...rs].sort((a, b) => `${a.name}${a.type}`.localeCompare(`${b.name}${b.type}`));

export function dnsContract(name: string, subject: DnsSubject): void {
  describe(`Dns contract: ${name}`, () => {
    const records = (domain: string) => {
      const a: DnsRecord = {
        name: `i-0000000000000000a.${domain}.`,
        type: "A",
        ttl: 60,
        values: ["127.0.0.11"],
      };
      const srv: DnsRecord = {
        name: `_etcd-server._tcp.${domain}.`,
        type: "SRV",
        ttl: 30,
        values: [`0 0 2380 i-0000000000000000a.${domain}.`],
      };
      return { a, srv };
    };

    it("a new zone holds no A or SRV record; an empty diff makes no call", async () => {
      const { dns } = await subject();
      expect(await dns.listRecords(["A", "SRV"])).toEqual([]);
      expect(await dns.apply({ upserts: [], deletes: [] }, "nothing")).toEqual({ calls: 0 });
    });

    it("upserts records and lists them by type, with fully qualified names", async () => {
      const { dns, domain } = await subject();
      const { a, srv } = records(domain);
      expect((await dns.apply({ upserts: [a, srv], deletes: [] }, "create")).calls).toBe(1);
      expect(sorted(await dns.listRecords(["A", "SRV"]))).toEqual(sorted([a, srv]));
      expect(await dns.listRecords(["A"])).toEqual([a]);
      // An upsert replaces the values of a record that exists.
      const moved = { ...a, values: ["127.0.0.12"] };
      await dns.apply({ upserts: [moved], deletes: [] }, "change");
      expect(await dns.listRecords(["A"])).toEqual([moved]);
    });

    it("deletes a record given its exact live copy; a delete that does not match changes nothing", async () => {
      const { dns, domain } = await subject();
      const { a, srv } = records(domain);
      await dns.apply({ upserts: [a, srv], deletes: [] }, "create");
      const stale = { ...srv, values: [`0 0 2380 i-0000000000000000b.${domain}.`] };
      const other = { ...a, name: `i-0000000000000000c.${domain}.` };
      await expect(dns.apply({ upserts: [other], deletes: [stale] }, "bad delete")).rejects.toThrow();
      expect(sorted(await dns.listRecords(["A", "SRV"]))).toEqual(sorted([a, srv]));
      await dns.apply({ upserts: [], deletes: [srv] }, "delete");
      expect(await dns.listRecords(["A", "SRV"])).toEqual([a]);
    });
  });
}
