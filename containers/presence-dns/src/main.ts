// presence-dns: keeps `<service>.<domain>` A records in the private zone from the presence records,
// one minimal Route 53 change per burst of etcd changes (the control plane's diff and Route 53 adapter).
import { SERVICES_PREFIX } from "../../../functions/domain/etcdKeys.ts";
import { ListHostedZonesByNameCommand, Route53Client } from "@aws-sdk/client-route-53";
import { ConfigError } from "../../../functions/domain/errors.ts";
import { z } from "zod";
import { diffManagedRecords, fqdn, isEmptyDiff, type DnsRecord } from "../../../functions/domain/dnsPlan.ts";
import { parsePresence } from "../../../functions/domain/presence.ts";
import { route53Dns } from "../../../functions/adapters/aws/route53Dns.ts";
import { etcdEndpoints, int, loadEnv } from "../../shared/config.ts";
import { etcdClient, followPrefix, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { desiredServiceRecords, isServiceRecord } from "./plan.ts";

const log = programLogger("presence-dns");

const Env = z.object({
  ETCD_ENDPOINTS: etcdEndpoints,
  DOMAIN: z
    .string({ error: "required: the private zone's name" })
    .regex(/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, "a DNS name"),
  /** Absent: the private zone named DOMAIN, looked up once at start. */
  ZONE_ID: z.string().optional(),
  FRONTDOOR_SERVICE: z.string().default("nginx"),
  RECORD_TTL: int(1, 86_400, 30),
  DEBOUNCE_MS: int(0, 60_000, 1000),
  RESYNC_S: int(10, 86_400, 300),
});

await runProgram(log, async () => {
  const env = loadEnv(Env);
  // The adapter retries throttling itself; the client must not retry as well.
  const route53 = new Route53Client({ maxAttempts: 1 });
  const zoneId = env.ZONE_ID ?? (await privateZoneNamed(route53, env.DOMAIN));
  const dns = route53Dns(route53, zoneId);
  const managed = (r: { name: string; type: string }) => isServiceRecord(r, env.DOMAIN);
  const settings = { domain: env.DOMAIN, frontDoorService: env.FRONTDOOR_SERVICE, ttl: env.RECORD_TTL };

  /** What the zone holds of our names, as last read or written; undefined: read it again. */
  let live: DnsRecord[] | undefined;
  let desired: DnsRecord[] | undefined;
  let lastIssues = "";

  const sync = async (reason: string) => {
    if (!desired) return;
    live ??= (await dns.listRecords(["A"])).filter(managed);
    const diff = diffManagedRecords(desired, live, managed);
    if (isEmptyDiff(diff)) return;
    try {
      const { calls } = await dns.apply(diff, `presence-dns: ${reason}`);
      log.info("dns.applied", {
        code: "dns.applied",
        reason,
        calls,
        upserts: diff.upserts.map((r) => `${r.name} ${r.values.join(",")}`),
        deletes: diff.deletes.map((r) => r.name),
      });
      live = desired;
    } catch (e) {
      live = undefined; // the zone may differ from what we think: read it again next time
      throw e;
    }
  };

  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const serial = (reason: string, fn: () => void = () => {}) => {
    chain = chain
      .then(() => {
        fn();
        return sync(reason);
      })
      .catch((e: unknown) => {
        log.error("dns.failed", { code: "dns.failed", error: (e as Error).message });
        // Try again later: the next change or this timer, whichever comes first.
        if (!stopped)
          retry ??= setTimeout(() => {
            retry = undefined;
            serial("retry");
          }, 5000);
      });
    return chain;
  };

  const etcd = etcdClient(env.ETCD_ENDPOINTS, etcdTlsFromEnv());
  const follower = followPrefix(
    etcd,
    SERVICES_PREFIX,
    (kvs) =>
      serial("presence", () => {
        const parsed = parsePresence(kvs);
        const issues = JSON.stringify(parsed.issues);
        if (issues !== lastIssues)
          for (const i of parsed.issues)
            log.warn("presence.malformed", { code: "presence.malformed", key: i.key, reason: i.reason });
        lastIssues = issues;
        desired = desiredServiceRecords([...parsed.services.values()], settings);
      }),
    { debounceMs: env.DEBOUNCE_MS, log },
  );
  const resync = setInterval(() => void serial("resync", () => (live = undefined)), env.RESYNC_S * 1000);
  log.info("started", { code: "presence-dns.started", domain: env.DOMAIN, zone: zoneId });

  return {
    async stop() {
      stopped = true;
      clearInterval(resync);
      if (retry) clearTimeout(retry);
      await follower.close();
      await chain;
      etcd.close();
    },
  };
});

/** The one private hosted zone named `domain`. */
async function privateZoneNamed(route53: Route53Client, domain: string): Promise<string> {
  const res = await route53.send(new ListHostedZonesByNameCommand({ DNSName: domain, MaxItems: 10 }));
  const zones = (res.HostedZones ?? []).filter(
    (z) => fqdn(z.Name ?? "") === fqdn(domain) && z.Config?.PrivateZone,
  );
  if (zones.length !== 1)
    throw new ConfigError(
      `ZONE_ID: not given, and ${zones.length} private zones are named ${domain} (set ZONE_ID)`,
    );
  return zones[0]!.Id!.replace("/hostedzone/", "");
}
