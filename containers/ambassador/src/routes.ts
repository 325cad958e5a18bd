// The ambassador's routes (`UPSTREAMS`) and, per route, the addresses it may connect to now.
import {
  PORT_NAME,
  SERVICE_NAME,
  type PresenceRecord,
  type ServicePresence,
} from "../../../functions/domain/presence.ts";

export interface Route {
  service: string;
  /** Which named port of the instances; absent: each record's primary `port`. */
  portName?: string;
  localPort: number;
  /** Only the elected master (`/services/<service>/master`), never the other instances. */
  master: boolean;
}

/** `<service>[/<portName>]:<localPort>[:master]`, comma-separated. */
export function parseUpstreams(spec: string): Route[] {
  const routes: Route[] = [];
  const issues: string[] = [];
  for (const word of spec.split(/[,\s]+/).filter(Boolean)) {
    const m = /^([^/:]+)(?:\/([^:]+))?:(\d{1,5})(?::(master))?$/.exec(word);
    const port = Number(m?.[3]);
    if (!m || port < 1 || port > 65535)
      issues.push(`'${word}' is not <service>[/<portName>]:<localPort>[:master]`);
    else if (!SERVICE_NAME.test(m[1]!)) issues.push(`'${word}': '${m[1]}' is not a service name`);
    else if (m[2] !== undefined && !PORT_NAME.test(m[2]))
      issues.push(`'${word}': '${m[2]}' is not a port name`);
    else if (routes.some((r) => r.localPort === port))
      issues.push(`'${word}': local port ${port} is used twice`);
    else
      routes.push({
        service: m[1]!,
        ...(m[2] ? { portName: m[2] } : {}),
        localPort: port,
        master: m[4] === "master",
      });
  }
  if (issues.length) throw new Error(issues.join("; "));
  if (!routes.length) throw new Error("no route given");
  return routes;
}

const target = (r: Route, rec: PresenceRecord): string | undefined => {
  const port = r.portName ? rec.ports[r.portName] : rec.port;
  return port === undefined ? undefined : `${rec.privateIp}:${port}`;
};

/** The addresses a route may connect to, given its service's presence (sorted, no duplicates). */
export function targetsOf(r: Route, p: ServicePresence | undefined): string[] {
  if (!p) return [];
  const recs = r.master ? (p.master ? [p.master] : []) : p.instances;
  return [...new Set(recs.map((rec) => target(r, rec)).filter((t): t is string => t !== undefined))].sort();
}
