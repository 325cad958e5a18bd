// ServiceDirectory over etcd: the JSON record presence writes at `/services/<name>/instances/<id>`
// (the original cluster's plain keys beside it are not read: the record carries them all).
import type { Etcd3 } from "etcd3";
import { z } from "zod";
import { SERVICES_PREFIX } from "../../domain/etcdKeys.ts";
import type { ObservedServiceInstance } from "../../domain/clusterView.ts";
import type { ServiceDirectory } from "../../ports/clusterView.ts";

const Record = z.object({
  node: z.string().default(""),
  privateIp: z.string().default(""),
  port: z.coerce.number().int().nonnegative().default(0),
});

const INSTANCE_KEY = /^\/services\/([^/]+)\/instances\/([^/]+)$/;

export function etcdServiceDirectory(client: Etcd3): ServiceDirectory {
  return {
    async instances() {
      const all = await client.getAll().prefix(SERVICES_PREFIX).strings();
      const out: ObservedServiceInstance[] = [];
      for (const [key, value] of Object.entries(all)) {
        const m = INSTANCE_KEY.exec(key);
        if (!m) continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(value);
        } catch {
          continue; // an older writer's plain value: not a record this directory lists
        }
        const r = Record.safeParse(parsed);
        if (!r.success) continue;
        out.push({
          service: m[1]!,
          id: m[2]!,
          node: r.data.node,
          address: r.data.privateIp,
          port: r.data.port,
        });
      }
      return out;
    },
  };
}
