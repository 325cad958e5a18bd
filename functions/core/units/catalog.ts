// The unit catalog: every service as unit files, each with an optional [X-Devcluster] manifest
// (instance count, sidecars, the etcd keys it reads). Validated as a whole on load.
import { createHash } from "node:crypto";
import { InvalidInputError } from "../errors.ts";
import { expandRules, fleetRules, type FleetRules } from "./fleet.ts";
import { globToRegExp, instanceName, isInstance, isTemplate, parseUnitName, templateOf } from "./names.ts";
import { UnitSyntaxError, getList, getValue, parseBoolean, parseUnitFile, renderUnitFile, section, splitWords, type UnitFile } from "./unitFile.ts";

export const MANIFEST_SECTION = "X-Devcluster";
const MANIFEST_KEYS = ["Instances", "InstanceNames", "Sidecar", "Sidecars", "EtcdKeys", "Start", "Service", "Ports", "Http", "HealthCheck", "Streams", "Election"];

/** What presence announces for an instance (containers/README.md): named ports, HTTP, health check. */
export interface PresenceSettings {
  ports: string;
  http?: string;
  healthCheck?: string;
  streams?: string;
  election?: boolean;
}

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
  /** `Ports=` (and `Http=`, `HealthCheck=`, `Streams=`, `Election=`): what presence announces. */
  presence?: PresenceSettings;
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
    if (!MANIFEST_KEYS.includes(e.key)) issues.push(`${u.name}:${e.line}: unknown [${MANIFEST_SECTION}] key '${e.key}' (known: ${MANIFEST_KEYS.join(", ")})`);
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
  const list = (key: string) => getList(u, MANIFEST_SECTION, key).flatMap((e) => splitWords(e.value).map((w) => ({ w, line: e.line })));
  let instances: string[] = [];
  const count = getList(u, MANIFEST_SECTION, "Instances").at(-1);
  const named = list("InstanceNames");
  if (count && named.length) issues.push(`${u.name}:${count.line}: give Instances= or InstanceNames=, not both`);
  if (count) {
    if (!/^\d+$/.test(count.value) || Number(count.value) > 10_000) issues.push(`${u.name}:${count.line}: Instances= takes a count 0..10000, not '${count.value}'`);
    else instances = Array.from({ length: Number(count.value) }, (_, i) => String(i + 1));
  } else instances = named.map((x) => x.w);
  const sidecars = list("Sidecars").map(({ w, line }) => {
    const t = w.includes(".") ? w : `${w}@.service`;
    if (!parseUnitName(t) || !isTemplate(parseUnitName(t)!)) issues.push(`${u.name}:${line}: Sidecars= names templates (presence@.service), not '${w}'`);
    return t;
  });
  const ports = list("Ports").map((x) => x.w);
  for (const { w, line } of list("Ports")) if (!/^([a-z][a-z0-9-]*:)?\d{1,5}$/.test(w)) issues.push(`${u.name}:${line}: Ports= takes name:port words, not '${w}'`);
  const one = (key: string) => getValue(u, MANIFEST_SECTION, key);
  for (const key of ["Http", "HealthCheck", "Streams", "Election"])
    if (one(key) !== undefined && !ports.length) issues.push(`${u.name}:${lineOf(u, MANIFEST_SECTION, key)}: ${key}= needs Ports=`);
  const presence: PresenceSettings | undefined = ports.length
    ? {
        ports: ports.join(","),
        ...(one("Http") ? { http: one("Http")! } : {}),
        ...(one("HealthCheck") ? { healthCheck: one("HealthCheck")! } : {}),
        ...(one("Streams") ? { streams: splitWords(one("Streams")!).join(",") } : {}),
        ...(one("Election") ? { election: bool("Election", false) } : {}),
      }
    : undefined;
  return {
    ...(presence ? { presence } : {}),
    service: getValue(u, MANIFEST_SECTION, "Service") ?? u.unit.prefix,
    instances,
    sidecar: bool("Sidecar", false),
    sidecars,
    etcdKeys: list("EtcdKeys").map((x) => x.w),
    start: bool("Start", true),
  };
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
    try {
      const unit = parseUnitFile(name, source[name]!);
      if (isInstance(unit.unit)) throw new UnitSyntaxError(name, 0, "the catalog holds plain units and templates, not instances");
      const rules = fleetRules(unit);
      const manifest = readManifest(unit, issues);
      if (unit.unit.type === "service" && !getList(unit, "Service", "ExecStart").length) {
        issues.push(`${name}:${section(unit, "Service")?.line ?? 0}: a service needs ExecStart=`);
      }
      const rendered = renderUnitFile(unit, { omitSections: (s) => !isNodeSection(s) });
      // The manifest's presence settings reach nodes too (presence env files): a change re-pushes.
      const h = createHash("sha256").update(rendered);
      if (manifest.presence) h.update(JSON.stringify(manifest.presence));
      const hash = h.digest("hex").slice(0, 16);
      files.set(name, { name, unit, rules, manifest, rendered, hash });
    } catch (e) {
      if (e instanceof InvalidInputError) issues.push(...(e.issues.length ? e.issues : [e.message]));
      else throw e;
    }
  }

  // Expand files into units.
  const units: UnitSpec[] = [];
  const add = (f: CatalogFile, name: string) => {
    const un = parseUnitName(name);
    if (!un) {
      issues.push(`${f.name}: instance name '${name}' is not a valid unit name`);
      return;
    }
    units.push({
      name,
      file: f.name,
      service: f.manifest.service,
      rules: expandRules(f.rules, un),
      global: f.rules.global,
      start: f.manifest.start,
      spreadGroup: f.name,
    });
  };
  for (const f of files.values()) {
    const template = isTemplate(f.unit.unit);
    const m = f.manifest;
    if (!template) {
      if (m.instances.length) issues.push(`${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Instances")}: Instances= is for templates (name@.service)`);
      if (m.sidecar) issues.push(`${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecar")}: a sidecar must be a template (name@.service)`);
    } else if (f.rules.global) {
      issues.push(`${f.name}:${lineOf(f.unit, "X-Fleet", "Global")}: a template cannot be Global=true; make a plain unit`);
    } else if (m.sidecar && m.instances.length) {
      issues.push(`${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecar")}: a sidecar gets its instances from Sidecars=, not Instances=`);
    } else if (!m.sidecar && !getList(f.unit, MANIFEST_SECTION, "Instances").length && !m.instances.length) {
      issues.push(`${f.name}:${section(f.unit, "Unit")?.line ?? 0}: a template needs Instances=N (or InstanceNames=, or Sidecar=true) in [${MANIFEST_SECTION}]`);
    }
    const mains = template ? (m.sidecar ? [] : m.instances.map((i) => instanceName(f.unit.unit, i))) : [f.name];
    for (const n of mains) {
      add(f, n);
      for (const sc of m.sidecars) {
        const scf = files.get(sc);
        if (!scf) issues.push(`${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecars")}: sidecar ${sc} is not in the catalog`);
        else if (!scf.manifest.sidecar) issues.push(`${f.name}:${lineOf(f.unit, MANIFEST_SECTION, "Sidecars")}: ${sc} is not declared Sidecar=true`);
        else if (f.rules.global) issues.push(`${f.name}: a Global unit cannot have sidecars`);
        else add(scf, instanceName(scf.unit.unit, n.slice(0, n.lastIndexOf("."))));
      }
    }
  }

  const byName = new Map<string, UnitSpec>();
  for (const u of units) {
    if (byName.has(u.name)) issues.push(`${u.file}: unit ${u.name} is declared twice`);
    byName.set(u.name, u);
  }
  // Cross-unit rules.
  for (const u of units) {
    const f = files.get(u.file)!;
    for (const t of u.rules.machineOf) {
      if (!byName.has(t)) issues.push(`${u.file}:${lineOf(f.unit, "X-Fleet", "MachineOf")}: ${u.name}: unknown MachineOf target ${t}`);
      if (t === u.name) issues.push(`${u.file}:${lineOf(f.unit, "X-Fleet", "MachineOf")}: ${u.name} is MachineOf itself`);
    }
    for (const t of u.rules.replaces) {
      if (!byName.has(t)) issues.push(`${u.file}:${lineOf(f.unit, "X-Fleet", "Replaces")}: ${u.name}: unknown Replaces target ${t}`);
    }
    for (const c of u.rules.conflicts) {
      try {
        globToRegExp(c);
      } catch {
        issues.push(`${u.file}:${lineOf(f.unit, "X-Fleet", "Conflicts")}: bad Conflicts glob '${c}'`);
      }
    }
    if (u.rules.machineOf.length && u.rules.machineId) {
      issues.push(`${u.file}:${lineOf(f.unit, "X-Fleet", "MachineID")}: ${u.name}: MachineID= and MachineOf= together`);
    }
  }
  // MachineOf cycles.
  const state = new Map<string, 1 | 2>();
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) {
      issues.push(`MachineOf cycle: ${[...path.slice(path.indexOf(n)), n].join(" -> ")}`);
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

/** The catalog file a placed unit name comes from. */
export function fileOfUnit(catalog: Catalog, unitName: string): CatalogFile | undefined {
  const spec = catalog.byName.get(unitName);
  if (spec) return catalog.files.get(spec.file);
  const n = parseUnitName(unitName);
  return n ? catalog.files.get(templateOf(n)) : undefined;
}
