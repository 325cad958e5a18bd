// The unit catalog: every service as unit files, each with an optional [X-Devcluster] manifest
// (instance count, sidecars, the etcd keys it reads). Validated as a whole on load.
import { createHash } from "node:crypto";
import { InvalidInputError } from "../errors.ts";
import { expandRules, fleetRules, type FleetRules } from "./fleet.ts";
import {
  expandSpecifiers,
  globToRegExp,
  instanceName,
  isInstance,
  isTemplate,
  parseUnitName,
} from "./names.ts";
import { checkMountPath, parseVolume, type VolumeSpec } from "../volumes.ts";
import { GROUP_NAME, PORT_NAME, SERVICE_NAME, parsePorts } from "../presence.ts";
import { encodeApiRoutes, parseApiRoutes } from "../apiRoutes.ts";
import {
  getList,
  getValue,
  parseBoolean,
  readUnitFile,
  renderUnitFile,
  section,
  splitWords,
  type UnitFile,
  type UnitSection,
} from "./unitFile.ts";

export const MANIFEST_SECTION = "X-Devcluster";
const MANIFEST_KEYS = [
  "Instances",
  "InstanceNames",
  "Sidecar",
  "Sidecars",
  "EtcdKeys",
  "Start",
  "Service",
  "Ports",
  "Http",
  "Streams",
  "HealthCheck",
  "Election",
  "Upstreams",
  "Public",
  "Groups",
  "Volume",
  "ApiRoute",
];
const PRESENCE_KEYS = ["Ports", "Http", "Streams", "HealthCheck", "Election", "Public", "Groups"];
export const PRESENCE_SIDECAR = "presence@.service";
export const AMBASSADOR_SIDECAR = "ambassador@.service";
const UPSTREAM = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\/[a-z][a-z0-9-]{0,31})?:\d{1,5}(:master)?$/;

export interface UnitManifest {
  /** The service this unit belongs to (default: the unit's prefix). */
  service: string;
  /** Template instances to run (`Instances=` gives 1..N, `InstanceNames=` names them). */
  instances: string[];
  /** A sidecar template: instantiated once per unit that lists it in `Sidecars=`. */
  sidecar: boolean;
  /** Sidecar templates to attach to each instance of this unit (`presence@.service`). */
  sidecars: string[];
  /** etcd keys (or prefixes ending in '/') the service reads. */
  etcdKeys: string[];
  /** false: the file is placed and written, but starting/stopping belongs to someone else (etcd-member). */
  start: boolean;
  /**
   * The sidecars' settings: what presence announces (`Ports=`, `Http=`, `Streams=`, `HealthCheck=`,
   * `Election=`) and what the ambassador forwards (`Upstreams=`), as the environment file the push
   * writes for each instance, `/etc/devcluster/sidecars/<unit>.env` (containers/README.md).
   */
  sidecarEnv?: string;
  /** Whether `sidecarEnv` holds presence's settings (`Ports=`) and the ambassador's (`Upstreams=`). */
  announces: boolean;
  forwards: boolean;
  /** `Volume=name:size:path` lines (specifiers as written; each unit instance expands its own). */
  volumes: (VolumeSpec & { line: number })[];
}

export interface CatalogFile {
  name: string;
  unit: UnitFile;
  rules: FleetRules;
  manifest: UnitManifest;
  /** What a node receives: the file without its [X-Fleet] and [X-Devcluster] sections. */
  rendered: string;
  hash: string;
}

/** One schedulable unit: a plain unit, a template instance, or a Global unit (placed on every match). */
export interface UnitSpec {
  name: string;
  /** The catalog file that defines it (the template for an instance). */
  file: string;
  service: string;
  rules: FleetRules; // specifiers expanded for this instance
  global: boolean;
  start: boolean;
  /** Instances of one file spread together across zones and nodes. */
  spreadGroup: string;
  /** Its volumes, mount paths expanded for this instance. */
  volumes: VolumeSpec[];
}

export interface Catalog {
  files: Map<string, CatalogFile>;
  /** Every unit to place, in a stable order (catalog file name, then instance). */
  units: UnitSpec[];
  byName: Map<string, UnitSpec>;
}

export type CatalogSource = Record<string, string>;

const isNodeSection = (s: string) => !s.startsWith("X-");

function readManifest(u: UnitFile, issues: string[]): UnitManifest {
  const s = section(u, MANIFEST_SECTION);
  for (const e of s?.entries ?? []) {
    if (!MANIFEST_KEYS.includes(e.key))
      issues.push(
        `${u.name}:${e.line}: unknown [${MANIFEST_SECTION}] key '${e.key}' (known: ${MANIFEST_KEYS.join(", ")})`,
      );
  }
  const bool = (key: string, dflt: boolean) => {
    const v = getValue(u, MANIFEST_SECTION, key);
    if (v === undefined) return dflt;
    const b = parseBoolean(v);
    if (b === undefined) {
      const line = getList(u, MANIFEST_SECTION, key).at(-1)?.line ?? 0;
      issues.push(`${u.name}:${line}: ${key}= takes a boolean, not '${v}'`);
      return dflt;
    }
    return b;
  };
  const list = (key: string) =>
    getList(u, MANIFEST_SECTION, key).flatMap((e) => splitWords(e.value).map((w) => ({ w, line: e.line })));
  let instances: string[] = [];
  const count = getList(u, MANIFEST_SECTION, "Instances").at(-1);
  const named = list("InstanceNames");
  if (count && named.length)
    issues.push(`${u.name}:${count.line}: give Instances= or InstanceNames=, not both`);
  if (count) {
    if (!/^\d+$/.test(count.value) || Number(count.value) > 10_000)
      issues.push(`${u.name}:${count.line}: Instances= takes a count 0..10000, not '${count.value}'`);
    else instances = Array.from({ length: Number(count.value) }, (_, i) => String(i + 1));
  } else instances = named.map((x) => x.w);
  const sidecars = list("Sidecars").map(({ w, line }) => {
    const t = w.includes(".") ? w : `${w}@.service`;
    if (!parseUnitName(t) || !isTemplate(parseUnitName(t)!))
      issues.push(`${u.name}:${line}: Sidecars= names templates (presence@.service), not '${w}'`);
    return t;
  });
  const service = getValue(u, MANIFEST_SECTION, "Service") ?? u.unit.prefix;
  const presenceEnv = readPresence(u, service, bool("Election", false), issues);
  const upstreams = list("Upstreams");
  for (const { w, line } of upstreams)
    if (!UPSTREAM.test(w))
      issues.push(
        `${u.name}:${line}: Upstreams= takes <service>[/<portName>]:<localPort>[:master], not '${w}'`,
      );
  // The API proxy's routes reach its container through the same per-instance file (its unit reads it).
  const routeLines = getList(u, MANIFEST_SECTION, "ApiRoute");
  const routes = parseApiRoutes(routeLines.map((e) => ({ value: e.value, at: `${u.name}:${e.line}` })));
  if (routes.length && typeof routes[0] === "string") issues.push(...(routes as string[]));
  const routesEnv = routeLines.length
    ? `API_ROUTES=${encodeApiRoutes(routeLines.map((e) => e.value))}\n`
    : "";
  const sidecarEnv =
    presenceEnv === undefined && !upstreams.length && !routesEnv
      ? undefined
      : `# sidecar settings of ${u.name} (its [${MANIFEST_SECTION}] section)\n${presenceEnv ?? ""}${upstreams.length ? `UPSTREAMS=${upstreams.map((x) => x.w).join(",")}\n` : ""}${routesEnv}`;
  const volumes: UnitManifest["volumes"] = [];
  for (const e of getList(u, MANIFEST_SECTION, "Volume")) {
    const v = parseVolume(e.value.trim());
    if (typeof v === "string") issues.push(`${u.name}:${e.line}: ${v}`);
    else if (volumes.some((x) => x.name === v.name))
      issues.push(`${u.name}:${e.line}: volume ${v.name} is declared twice`);
    else volumes.push({ ...v, line: e.line });
  }
  return {
    service,
    instances,
    volumes,
    sidecar: bool("Sidecar", false),
    sidecars,
    etcdKeys: list("EtcdKeys").map((x) => x.w),
    start: bool("Start", true),
    ...(sidecarEnv !== undefined ? { sidecarEnv } : {}),
    announces: presenceEnv !== undefined,
    forwards: upstreams.length > 0,
  };
}

/** The presence keys of a manifest, checked, as `KEY=value` lines; undefined when none is given. */
function readPresence(u: UnitFile, service: string, election: boolean, issues: string[]): string | undefined {
  const given = PRESENCE_KEYS.filter((k) => getList(u, MANIFEST_SECTION, k).length);
  if (!given.length) return undefined;
  const at = (k: string) => `${u.name}:${getList(u, MANIFEST_SECTION, k).at(-1)?.line ?? 0}`;
  const value = (k: string) => getValue(u, MANIFEST_SECTION, k);
  const ports = value("Ports");
  let names: string[] = [];
  if (ports === undefined) issues.push(`${at(given[0]!)}: ${given.join("=, ")}= need Ports= (name:port ...)`);
  else {
    try {
      names = Object.keys(parsePorts(ports));
    } catch (e) {
      issues.push(`${at("Ports")}: Ports= ${(e as Error).message}`);
    }
  }
  if (!SERVICE_NAME.test(service))
    issues.push(
      `${at("Ports")}: service '${service}' is announced as <service>.<domain>, so it must be a DNS label (set Service=)`,
    );
  const http = value("Http");
  if (http !== undefined && names.length && !names.includes(http))
    issues.push(`${at("Http")}: Http=${http} names no port of Ports=`);
  const streams = value("Streams");
  if (streams !== undefined) {
    try {
      for (const n of Object.keys(parsePorts(streams)))
        if (names.length && !names.includes(n))
          issues.push(`${at("Streams")}: Streams= names no port '${n}' of Ports=`);
    } catch (e) {
      issues.push(`${at("Streams")}: Streams= ${(e as Error).message} (portName:frontDoorPort)`);
    }
  }
  const check = value("HealthCheck");
  if (check !== undefined) {
    const m = /^(?:none|(tcp|http):([a-z][a-z0-9-]{0,31})(\/\S*)?)$/.exec(check);
    if (!m || (m[1] === "tcp" && m[3]))
      issues.push(
        `${at("HealthCheck")}: HealthCheck= takes tcp:<port>, http:<port>/<path> or none, not '${check}'`,
      );
    else if (m[2] && PORT_NAME.test(m[2]) && names.length && !names.includes(m[2]))
      issues.push(`${at("HealthCheck")}: HealthCheck= names no port '${m[2]}' of Ports=`);
  }
  // Who may use it through the front door: everyone (Public=true), some groups, or any signed-in user.
  const pub = value("Public");
  const isPublic = pub === undefined ? false : parseBoolean(pub);
  if (isPublic === undefined) issues.push(`${at("Public")}: Public= takes true or false, not '${pub}'`);
  const groups = getList(u, MANIFEST_SECTION, "Groups").length
    ? splitWords(value("Groups") ?? "")
    : undefined;
  for (const g of groups ?? [])
    if (!GROUP_NAME.test(g))
      issues.push(`${at("Groups")}: Groups= takes group names (letters, digits, '_.-'), not '${g}'`);
  if (groups && !groups.length) issues.push(`${at("Groups")}: Groups= names no group`);
  if (isPublic && groups) issues.push(`${at("Groups")}: a Public=true service has no Groups=`);
  if ((pub !== undefined || groups) && http === undefined)
    issues.push(
      `${at(pub !== undefined ? "Public" : "Groups")}: Public= and Groups= apply to the Http= port; set Http=`,
    );
  // Lists are written comma-separated: the sidecar unit passes them as `-e PORTS=${PORTS}`, which
  // systemd splits at whitespace, so `http:8180 ssh:8229` would reach docker as two arguments.
  const list = (v: string) => splitWords(v).join(",");
  const lines = [`SERVICE=${service}`, `PORTS=${list(ports ?? "")}`];
  if (http !== undefined) lines.push(`HTTP_PORT_NAME=${http}`);
  if (streams !== undefined) lines.push(`STREAMS=${list(streams)}`);
  if (check !== undefined) lines.push(`HEALTH_CHECK=${check}`);
  lines.push(`ELECTION=${election}`);
  if (isPublic) lines.push("ACCESS_PUBLIC=true");
  if (groups?.length) lines.push(`ACCESS_GROUPS=${groups.join(",")}`);
  return lines.join("\n") + "\n";
}

/**
 * A unit with volumes never runs without them: systemd refuses to start it (and says why) unless
 * each mount path is a mount point, whatever brought it there (systemd expands `%i` in the path).
 */
function withVolumeAsserts(sections: UnitSection[], volumes: VolumeSpec[]): UnitSection[] {
  if (!volumes.length) return sections;
  const asserts = volumes.map((v) => ({ key: "AssertPathIsMountPoint", value: v.path, line: 0 }));
  const unit = sections.find((s) => s.name === "Unit");
  if (!unit) return [{ name: "Unit", line: 0, entries: asserts }, ...sections];
  return sections.map((s) => (s === unit ? { ...s, entries: [...s.entries, ...asserts] } : s));
}

function lineOf(u: UnitFile, sectionName: string, key: string): number {
  return getList(u, sectionName, key)[0]?.line ?? section(u, sectionName)?.line ?? 0;
}

/**
 * Load and validate a catalog (file name -> text). Every problem of every file is collected and
 * reported at once as an InvalidInputError whose issues read `file:line: reason`.
 */
export function loadCatalog(source: CatalogSource): Catalog {
  const issues: string[] = [];
  const files = new Map<string, CatalogFile>();
  for (const name of Object.keys(source).sort()) {
    // Every check runs on what could be read, so one pass reports every problem of every file.
    const unit = readUnitFile(name, source[name]!, issues);
    if (!unit) continue;
    if (isInstance(unit.unit)) {
      issues.push(`${name}:0: the catalog holds plain units and templates, not instances`);
      continue;
    }
    const rules = fleetRules(unit, issues);
    const manifest = readManifest(unit, issues);
    if (unit.unit.type === "service" && !getList(unit, "Service", "ExecStart").length) {
      issues.push(`${name}:${section(unit, "Service")?.line ?? 0}: a service needs ExecStart=`);
    }
    const rendered = renderUnitFile(
      { sections: withVolumeAsserts(unit.sections, manifest.volumes) },
      { omitSections: (s) => !isNodeSection(s) },
    );
    // What presence announces is pushed with the file: a change to it is a change of the file.
    const hash = createHash("sha256")
      .update(rendered)
      .update(manifest.sidecarEnv ?? "")
      .update(manifest.volumes.map((v) => `${v.name}:${v.sizeGiB}:${v.path}\n`).join(""))
      .digest("hex")
      .slice(0, 16);
    files.set(name, { name, unit, rules, manifest, rendered, hash });
  }

  // Expand files into units.
  const units: UnitSpec[] = [];
  const add = (f: CatalogFile, name: string) => {
    const un = parseUnitName(name);
    if (!un) {
      issues.push(
        `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "InstanceNames")}: instance name '${name}' is not a valid unit name`,
      );
      return;
    }
    const volumes = f.manifest.volumes.map(({ line, ...v }) => {
      const path = expandSpecifiers(v.path, un);
      const bad = path === v.path ? undefined : checkMountPath(path);
      if (bad) issues.push(`${f.name}:${line}: ${name}: volume ${v.name}: ${bad}`);
      return { ...v, path };
    });
    units.push({
      name,
      file: f.name,
      service: f.manifest.service,
      rules: expandRules(f.rules, un),
      global: f.rules.global,
      start: f.manifest.start,
      spreadGroup: f.name,
      volumes,
    });
  };
  for (const f of files.values()) {
    const template = isTemplate(f.unit.unit);
    const m = f.manifest;
    if (!template) {
      if (m.instances.length)
        issues.push(
          `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Instances")}: Instances= is for templates (name@.service)`,
        );
      if (m.sidecar)
        issues.push(
          `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecar")}: a sidecar must be a template (name@.service)`,
        );
    } else if (f.rules.global) {
      issues.push(
        `${f.name}:${lineOf(f.unit, "X-Fleet", "Global")}: a template cannot be Global=true; make a plain unit`,
      );
    } else if (m.sidecar && m.instances.length) {
      issues.push(
        `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecar")}: a sidecar gets its instances from Sidecars=, not Instances=`,
      );
    } else if (!m.sidecar && !getList(f.unit, MANIFEST_SECTION, "Instances").length && !m.instances.length) {
      issues.push(
        `${f.name}:${section(f.unit, "Unit")?.line ?? 0}: a template needs Instances=N (or InstanceNames=, or Sidecar=true) in [${MANIFEST_SECTION}]`,
      );
    }
    if (m.volumes.length && (f.rules.global || m.sidecar))
      issues.push(
        `${f.name}:${m.volumes[0]!.line}: a volume belongs to one service instance: ${f.rules.global ? "a Global unit" : "a sidecar"} cannot have Volume=`,
      );
    const hasPresence = m.sidecars.includes(PRESENCE_SIDECAR);
    const hasAmbassador = m.sidecars.includes(AMBASSADOR_SIDECAR);
    if (m.announces && !hasPresence)
      issues.push(
        `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Ports")}: Ports= and the other presence keys are announced by the presence sidecar: add Sidecars=presence`,
      );
    if (hasPresence && !m.announces)
      issues.push(
        `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecars")}: Sidecars=presence needs Ports= (what it announces)`,
      );
    if (m.forwards && !hasAmbassador)
      issues.push(
        `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Upstreams")}: Upstreams= are forwarded by the ambassador sidecar: add Sidecars=ambassador`,
      );
    if (hasAmbassador && !m.forwards)
      issues.push(
        `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecars")}: Sidecars=ambassador needs Upstreams= (what it forwards)`,
      );
    const mains = template
      ? m.sidecar
        ? []
        : m.instances.map((i) => instanceName(f.unit.unit, i))
      : [f.name];
    for (const n of mains) {
      add(f, n);
      for (const sc of m.sidecars) {
        const scf = files.get(sc);
        if (!scf)
          issues.push(
            `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecars")}: sidecar ${sc} is not in the catalog`,
          );
        else if (!scf.manifest.sidecar)
          issues.push(
            `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecars")}: ${sc} is not declared Sidecar=true`,
          );
        else if (f.rules.global)
          issues.push(
            `${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecars")}: a Global unit cannot have sidecars`,
          );
        else add(scf, instanceName(scf.unit.unit, n.slice(0, n.lastIndexOf("."))));
      }
    }
  }

  const byName = new Map<string, UnitSpec>();
  for (const u of units) {
    if (byName.has(u.name)) {
      const first = byName.get(u.name)!.file;
      issues.push(
        `${u.file}:${section(files.get(u.file)!.unit, "Unit")?.line ?? 0}: unit ${u.name} is declared twice (also by ${first})`,
      );
    }
    byName.set(u.name, u);
  }
  // Cross-unit rules.
  for (const u of units) {
    const f = files.get(u.file)!;
    for (const t of u.rules.machineOf) {
      if (!byName.has(t))
        issues.push(
          `${u.file}:${lineOf(f.unit, "X-Fleet", "MachineOf")}: ${u.name}: unknown MachineOf target ${t}`,
        );
      if (t === u.name)
        issues.push(`${u.file}:${lineOf(f.unit, "X-Fleet", "MachineOf")}: ${u.name} is MachineOf itself`);
    }
    for (const t of u.rules.replaces) {
      if (!byName.has(t))
        issues.push(
          `${u.file}:${lineOf(f.unit, "X-Fleet", "Replaces")}: ${u.name}: unknown Replaces target ${t}`,
        );
    }
    for (const c of u.rules.conflicts) {
      try {
        globToRegExp(c);
      } catch {
        issues.push(`${u.file}:${lineOf(f.unit, "X-Fleet", "Conflicts")}: bad Conflicts glob '${c}'`);
      }
    }
    if (u.rules.machineOf.length && u.rules.machineId) {
      issues.push(
        `${u.file}:${lineOf(f.unit, "X-Fleet", "MachineID")}: ${u.name}: MachineID= and MachineOf= together`,
      );
    }
  }
  // Two volumes mounted at one path would hide each other on a node running both units.
  const mountedBy = new Map<string, string>();
  for (const u of units)
    for (const v of u.volumes) {
      const other = mountedBy.get(v.path);
      if (other)
        issues.push(
          `${u.file}:${files.get(u.file)!.manifest.volumes.find((x) => x.name === v.name)?.line ?? 0}: ${u.name}: volume ${v.name} mounts at ${v.path}, as ${other} does (give each instance its own path, e.g. with %i)`,
        );
      else mountedBy.set(v.path, `${u.name} (volume ${v.name})`);
    }
  // Services bind their Ports= on the node's private address (host networking): two catalog files
  // declaring one port would fail on whichever node the placement gives both, at random.
  const portOwner = new Map<number, string>();
  for (const f of files.values()) {
    const entry = getList(f.unit, MANIFEST_SECTION, "Ports").at(-1);
    if (!entry) continue;
    let ports: number[];
    try {
      ports = Object.values(parsePorts(entry.value));
    } catch {
      continue; // already reported by readManifest
    }
    for (const port of new Set(ports)) {
      const other = portOwner.get(port);
      if (other)
        issues.push(
          `${f.name}:${entry.line}: port ${port} is also declared by ${other}: two services placed on one node would both bind it (give each its own port)`,
        );
      else portOwner.set(port, f.name);
    }
  }
  // MachineOf cycles.
  const state = new Map<string, 1 | 2>();
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) {
      const f = files.get(byName.get(n)!.file)!;
      issues.push(
        `${f.name}:${lineOf(f.unit, "X-Fleet", "MachineOf")}: MachineOf cycle: ${[...path.slice(path.indexOf(n)), n].join(" -> ")}`,
      );
      return;
    }
    state.set(n, 1);
    for (const t of byName.get(n)?.rules.machineOf ?? []) if (byName.has(t)) visit(t, [...path, n]);
    state.set(n, 2);
  };
  for (const u of units) visit(u.name, []);

  if (issues.length) throw new InvalidInputError("invalid unit catalog", [...new Set(issues)]);
  return { files, units, byName };
}
