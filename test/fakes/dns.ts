// An in-memory private hosted zone (the Dns port), for operation tests.
// test/integration/contracts/dns.test.ts runs the same suite against it and Route 53 in moto.
import { fqdn, type DnsDiff, type DnsRecord } from "../../functions/domain/dnsPlan.ts";
import { InvalidInputError } from "../../functions/domain/errors.ts";
import type { Dns } from "../../functions/ports/dns.ts";

export class FakeDns implements Dns {
  readonly records = new Map<string, DnsRecord>();
  calls = 0;

  async listRecords(types: readonly string[]): Promise<DnsRecord[]> {
    return [...this.records.values()]
      .filter((r) => types.includes(r.type))
      .map((r) => ({ ...r, values: [...r.values] }));
  }

  /** All or nothing, as one change batch: a DELETE must match the live record exactly. */
  async apply(diff: DnsDiff): Promise<{ calls: number }> {
    if (diff.upserts.length === 0 && diff.deletes.length === 0) return { calls: 0 };
    const key = (r: DnsRecord) => `${fqdn(r.name)} ${r.type}`;
    for (const d of diff.deletes) {
      const live = this.records.get(key(d));
      const same =
        live && live.ttl === d.ttl && [...live.values].sort().join() === [...d.values].sort().join();
      if (!same) throw new InvalidInputError(`DELETE of ${key(d)} does not match the live record`);
    }
    for (const d of diff.deletes) this.records.delete(key(d));
    for (const u of diff.upserts)
      this.records.set(key(u), { ...u, name: fqdn(u.name), values: [...u.values] });
    this.calls++;
    return { calls: 1 };
  }
}
