// etcd-amb's arguments, as its unit passes them to etcd's gateway too: the listen address, and
// the members by discovery domain (SRV records) or as a list (what the local cluster's resolver
// gives). Pure.
import type { SrvRecord } from "node:dns";
import { ConfigError } from "../../../functions/domain/errors.ts";

export interface AmbArgs {
  listen: { address: string; port: number };
  /** host:port of each member, when given as a list. */
  endpoints?: string[];
  /** The cluster's domain: the members are its `_etcd-client-ssl._tcp` records. */
  discoverySrv?: string;
}

const HOST_PORT = /^([a-z0-9.-]+|\d{1,3}(\.\d{1,3}){3}):(\d{1,5})$/i;

function hostPort(v: string, what: string): { host: string; port: number } {
  const m = HOST_PORT.exec(v.replace(/^https:\/\//, "").replace(/\/$/, ""));
  const port = m ? Number(m[3]) : 0;
  if (!m || port < 1 || port > 65_535) throw new ConfigError(`${what}: not host:port: ${v}`);
  return { host: m[1]!, port };
}

export function parseAmbArgs(argv: string[]): AmbArgs {
  const opts = new Map<string, string>();
  for (const a of argv) {
    const m = /^--(listen-addr|endpoints|discovery-srv)=(.+)$/.exec(a);
    if (!m) throw new ConfigError(`unknown argument ${a} (--listen-addr=, --endpoints= or --discovery-srv=)`);
    opts.set(m[1]!, m[2]!);
  }
  const listen = opts.get("listen-addr");
  if (!listen) throw new ConfigError("--listen-addr=<address>:<port> is required");
  const l = hostPort(listen, "--listen-addr");
  const endpoints = opts.get("endpoints");
  const domain = opts.get("discovery-srv");
  if (Boolean(endpoints) === Boolean(domain))
    throw new ConfigError("one of --endpoints=<host:port,...> or --discovery-srv=<domain> is required");
  if (endpoints) {
    if (endpoints.startsWith("http://") || endpoints.includes(",http://"))
      throw new ConfigError(`--endpoints: the members serve TLS, not http: ${endpoints}`);
    return {
      listen: { address: l.host, port: l.port },
      endpoints: endpoints.split(",").map((e) => {
        const hp = hostPort(e.trim(), "--endpoints");
        return `${hp.host}:${hp.port}`;
      }),
    };
  }
  if (!/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/.test(domain!))
    throw new ConfigError(`--discovery-srv: not a DNS name: ${domain}`);
  return { listen: { address: l.host, port: l.port }, discoverySrv: domain! };
}

/** The members an SRV answer names, host:port, by priority then weight (etcd's order); none is an error. */
export function srvTargets(records: SrvRecord[]): string[] {
  if (!records.length) throw new Error("no _etcd-client-ssl._tcp record names a member");
  return [...records]
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight || a.name.localeCompare(b.name))
    .map((r) => `${r.name.replace(/\.$/, "")}:${r.port}`);
}
