// Service presence in etcd (pure): the keys under /services/, the announced instance record, and the
// one parser every reader (front door, ambassador, service DNS, status) uses.
//
//   /services/<service>/instances/<id>                      JSON PresenceRecord (on the announcer's lease)
//   /services/<service>/instances/<id>/{private_ip,public_ip,port}   the original cluster's plain keys (same lease)
//   /services/<service>/master                              JSON PresenceRecord of the elected instance (its lease)
import { SERVICES_PREFIX } from "./etcdKeys.ts";
import { z } from "zod";
import { InvalidInputError } from "./errors.ts";

export const servicePrefix = (service: string) => `${SERVICES_PREFIX}${service}/`;
export const instancesPrefix = (service: string) => `${servicePrefix(service)}instances/`;
export const instanceKey = (service: string, id: string) => `${instancesPrefix(service)}${id}`;
export const masterKey = (service: string) => `${servicePrefix(service)}master`;
export const LEGACY_FIELDS = ["private_ip", "public_ip", "port"] as const;
export type LegacyField = (typeof LEGACY_FIELDS)[number];
export const legacyKey = (service: string, id: string, field: LegacyField) =>
  `${instanceKey(service, id)}/${field}`;

/** A service name becomes a DNS label (`<service>.<domain>`), so it must be one. */
export const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Instance ids are one etcd key segment: unit instance strings or instance ids. */
export const INSTANCE_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
export const PORT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** A group of the cluster's user pool, as the catalog names it (one word: it travels in headers and nginx). */
export const GROUP_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const port = z.number().int().min(1).max(65535);
const portName = z.string().regex(PORT_NAME, "a port name: lower-case letters, digits, '-'");

export const PresenceRecordSchema = z
  .object({
    service: z.string().regex(SERVICE_NAME, "a DNS label"),
    instance: z.string().regex(INSTANCE_ID),
    node: z.string().default(""),
    privateIp: z.string().regex(IPV4, "an IPv4 address"),
    publicIp: z.union([z.string().regex(IPV4), z.literal("")]).default(""),
    /** The primary port (the first of `ports`), as the plain `port` key has it. */
    port,
    ports: z.record(portName, port),
    /** The port the front door serves as `<service>.<domain>`. */
    http: portName.optional(),
    /** Port name -> the front door's TCP port that forwards to it. */
    streams: z.record(portName, port).optional(),
    /** The front door serves it without a login (`Public=true`). */
    public: z.boolean().optional(),
    /** Only members of these groups may use it through the front door (`Groups=`); absent: any signed-in user. */
    groups: z.array(z.string().regex(GROUP_NAME, "a group name")).min(1).optional(),
    updatedAt: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.http !== undefined && r.ports[r.http] === undefined)
      ctx.addIssue({ code: "custom", path: ["http"], message: `names no port in ports` });
    if (r.public && r.groups)
      ctx.addIssue({ code: "custom", path: ["groups"], message: "a public service has no groups" });
    for (const n of Object.keys(r.streams ?? {})) {
      if (r.ports[n] === undefined)
        ctx.addIssue({ code: "custom", path: ["streams", n], message: `names no port in ports` });
    }
  });

export type PresenceRecord = z.infer<typeof PresenceRecordSchema>;

export interface ServicePresence {
  service: string;
  /** Announced instances, sorted by instance id. */
  instances: PresenceRecord[];
  /** The elected master, when the service elects one. */
  master?: PresenceRecord;
}

export interface PresenceIssue {
  key: string;
  reason: string;
}

export interface ParsedPresence {
  /** By service name, sorted. */
  services: Map<string, ServicePresence>;
  /** Records that were ignored, with why. */
  issues: PresenceIssue[];
}

const zodReason = (e: z.ZodError) =>
  e.issues.map((i) => `${i.path.join(".") || "record"}: ${i.message}`).join("; ");

/** Parse one JSON record stored at `key`, which must name the same service (and instance, if given). */
export function parseRecord(
  key: string,
  value: string,
  service: string,
  instance?: string,
): PresenceRecord | PresenceIssue {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { key, reason: "not JSON" };
  }
  const r = PresenceRecordSchema.safeParse(json);
  if (!r.success) return { key, reason: zodReason(r.error) };
  if (r.data.service !== service)
    return { key, reason: `record names service '${r.data.service}', key says '${service}'` };
  if (instance !== undefined && r.data.instance !== instance)
    return { key, reason: `record names instance '${r.data.instance}', key says '${instance}'` };
  return r.data;
}

const isIssue = (x: PresenceRecord | PresenceIssue): x is PresenceIssue => "reason" in x;

/**
 * Every service's instances (and master) from the keys under /services/ (key -> value). Keys that are
 * not presence keys (front-door settings such as /services/nginx/dns_name) are skipped silently;
 * presence keys that do not parse are listed in `issues` and left out. An instance written only with
 * the original cluster's plain keys is read from them.
 */
export function parsePresence(kvs: Record<string, string>): ParsedPresence {
  const issues: PresenceIssue[] = [];
  const records = new Map<string, Map<string, PresenceRecord>>();
  const legacy = new Map<string, Map<string, Partial<Record<LegacyField, { key: string; value: string }>>>>();
  const masters = new Map<string, PresenceRecord>();
  const bucket = <V>(m: Map<string, Map<string, V>>, s: string) => m.get(s) ?? m.set(s, new Map()).get(s)!;

  for (const key of Object.keys(kvs).sort()) {
    if (!key.startsWith(SERVICES_PREFIX)) continue;
    const parts = key.slice(SERVICES_PREFIX.length).split("/");
    const [service, kind, id, field, ...rest] = parts;
    if (!service || (kind !== "instances" && kind !== "master")) continue;
    const value = kvs[key]!;
    if (!SERVICE_NAME.test(service)) {
      issues.push({ key, reason: `service name '${service}' is not a DNS label` });
      continue;
    }
    if (kind === "master") {
      if (id !== undefined) continue;
      const r = parseRecord(key, value, service);
      if (isIssue(r)) issues.push(r);
      else masters.set(service, r);
      continue;
    }
    if (!id || rest.length) continue;
    if (!INSTANCE_ID.test(id)) {
      issues.push({ key, reason: `instance id '${id}' is not valid` });
      continue;
    }
    if (field === undefined) {
      const r = parseRecord(key, value, service, id);
      if (isIssue(r)) issues.push(r);
      else bucket(records, service).set(id, r);
    } else if ((LEGACY_FIELDS as readonly string[]).includes(field)) {
      const m = bucket(legacy, service);
      const entry = m.get(id) ?? m.set(id, {}).get(id)!;
      entry[field as LegacyField] = { key, value };
    }
  }

  // Instances announced only with the plain keys.
  for (const [service, byId] of legacy) {
    for (const [id, f] of byId) {
      if (records.get(service)?.has(id)) continue;
      const base = instanceKey(service, id);
      const p = Number(f.port?.value);
      const candidate = {
        service,
        instance: id,
        privateIp: f.private_ip?.value ?? "",
        publicIp: f.public_ip?.value ?? "",
        port: p,
        ports: { port: p },
      };
      const r = PresenceRecordSchema.safeParse(candidate);
      if (!r.success) issues.push({ key: `${base}/*`, reason: `plain keys: ${zodReason(r.error)}` });
      else bucket(records, service).set(id, r.data);
    }
  }

  const services = new Map<string, ServicePresence>();
  for (const name of [...new Set([...records.keys(), ...masters.keys()])].sort()) {
    const instances = [...(records.get(name)?.values() ?? [])].sort((a, b) =>
      a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0,
    );
    const master = masters.get(name);
    services.set(name, master ? { service: name, instances, master } : { service: name, instances });
  }
  return { services, issues };
}

/** The keys and values one instance is announced with (all written in one transaction, on one lease). */
export function announcementKeys(r: PresenceRecord): [string, string][] {
  return [
    [instanceKey(r.service, r.instance), JSON.stringify(r)],
    [legacyKey(r.service, r.instance, "private_ip"), r.privateIp],
    [legacyKey(r.service, r.instance, "public_ip"), r.publicIp],
    [legacyKey(r.service, r.instance, "port"), String(r.port)],
  ];
}

/** `http:8080,ssh:29418` (or a bare `8080`, named `port`) -> named ports, in the order given. */
export function parsePorts(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const word of spec.split(/[,\s]+/).filter(Boolean)) {
    const m = /^(?:([a-z][a-z0-9-]{0,31})[:=])?(\d{1,5})$/.exec(word);
    const n = Number(m?.[2]);
    if (!m || n < 1 || n > 65535) throw new InvalidInputError(`'${word}' is not name:port (port 1-65535)`);
    const name = m[1] ?? "port";
    if (out[name] !== undefined) throw new InvalidInputError(`port name '${name}' given twice`);
    out[name] = n;
  }
  if (!Object.keys(out).length) throw new InvalidInputError("no port given");
  return out;
}
