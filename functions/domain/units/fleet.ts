// fleet's [X-Fleet] scheduling rules, read from a unit file (fleet's job.go semantics).
import { InvalidInputError } from "../errors.ts";
import { getList, parseBoolean, section, splitWords, type UnitFile } from "./unitFile.ts";
import { expandSpecifiers, type UnitName } from "./names.ts";

export const FLEET_SECTION = "X-Fleet";
export const FLEET_KEYS = [
  "MachineID",
  "MachineOf",
  "MachineMetadata",
  "Conflicts",
  "Global",
  "Replaces",
] as const;

/** One metadata requirement: `key` must be one of `values` (fleet ORs values of the same key, ANDs keys). */
export interface MetadataRule {
  key: string;
  values: string[];
  /** `key!=value` words: the node's value must be none of these. */
  notValues: string[];
}

export interface FleetRules {
  machineId?: string;
  machineOf: string[];
  metadata: MetadataRule[];
  conflicts: string[];
  replaces: string[];
  global: boolean;
}

/** The words of every assignment of `key` ([X-Fleet] values, deprecated `X-Condition<Key>` included). */
function words(u: UnitFile, key: string): { word: string; line: number }[] {
  const out: { word: string; line: number }[] = [];
  for (const k of [key, `X-Condition${key}`]) {
    for (const e of getList(u, FLEET_SECTION, k))
      for (const w of splitWords(e.value)) out.push({ word: w, line: e.line });
  }
  return out;
}

/**
 * Read and check the [X-Fleet] section. Specifiers are left as written (see `expandRules`). Each
 * problem is added to `issues` as `file:line: reason` and the rest is read on; without `issues`, the
 * problems are thrown together.
 */
export function fleetRules(u: UnitFile, issues?: string[]): FleetRules {
  const found: string[] = [];
  const bad = (line: number, reason: string) => found.push(`${u.name}:${line}: ${reason}`);
  const s = section(u, FLEET_SECTION);
  for (const e of s?.entries ?? []) {
    const k = e.key.replace(/^X-Condition/, "");
    if (!(FLEET_KEYS as readonly string[]).includes(k))
      bad(e.line, `unknown [X-Fleet] key '${e.key}' (known: ${FLEET_KEYS.join(", ")})`);
  }
  const ids = words(u, "MachineID");
  if (ids.length > 1) bad(ids[1]!.line, "MachineID= may name only one machine");
  let global = false;
  for (const e of getList(u, FLEET_SECTION, "Global")) {
    const b = parseBoolean(e.value);
    if (b === undefined) bad(e.line, `Global= takes a boolean, not '${e.value}'`);
    else global = b;
  }
  const byKey = new Map<string, MetadataRule>();
  for (const { word, line } of words(u, "MachineMetadata")) {
    const m = /^([^=!]+)(!?=)(.+)$/.exec(word);
    if (!m) {
      bad(line, `MachineMetadata word '${word}' is not key=value or key!=value`);
      continue;
    }
    const [, key, op, value] = m as unknown as [string, string, string, string];
    const rule = byKey.get(key) ?? { key, values: [], notValues: [] };
    (op === "=" ? rule.values : rule.notValues).push(value);
    byKey.set(key, rule);
  }
  const rules: FleetRules = {
    machineOf: words(u, "MachineOf").map((w) => w.word),
    metadata: [...byKey.values()],
    conflicts: words(u, "Conflicts").map((w) => w.word),
    replaces: words(u, "Replaces").map((w) => w.word),
    global,
  };
  if (ids[0]) rules.machineId = ids[0].word;
  if (global) {
    // fleet: "a unit is considered invalid if options other than MachineMetadata are provided alongside Global=true".
    const other = s!.entries.find(
      (e) => !["Global", "MachineMetadata", "X-ConditionMachineMetadata"].includes(e.key),
    );
    if (other) bad(other.line, `Global=true allows only MachineMetadata= alongside it, not ${other.key}=`);
  }
  if (issues) issues.push(...found);
  else if (found.length) throw new InvalidInputError(`invalid unit ${u.name}`, found);
  return rules;
}

/** Expand fleet's specifiers (%n %N %p %i ...) in the rules for one unit instance. */
export function expandRules(r: FleetRules, unit: UnitName): FleetRules {
  const x = (v: string) => expandSpecifiers(v, unit);
  const out: FleetRules = {
    machineOf: r.machineOf.map(x),
    metadata: r.metadata.map((m) => ({ key: m.key, values: m.values.map(x), notValues: m.notValues.map(x) })),
    conflicts: r.conflicts.map(x),
    replaces: r.replaces.map(x),
    global: r.global,
  };
  if (r.machineId !== undefined) out.machineId = x(r.machineId);
  return out;
}

export function metadataMatches(rules: MetadataRule[], meta: Record<string, string>): boolean {
  for (const r of rules) {
    const v = meta[r.key];
    if (r.values.length && (v === undefined || !r.values.includes(v))) return false;
    if (v !== undefined && r.notValues.includes(v)) return false;
  }
  return true;
}

export const describeMetadata = (rules: MetadataRule[]) =>
  rules
    .map((r) =>
      [...r.values.map((v) => `${r.key}=${v}`), ...r.notValues.map((v) => `${r.key}!=${v}`)].join("|"),
    )
    .join(" ") || "(any)";
