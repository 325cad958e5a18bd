// Unit names and specifiers, as systemd reads them (systemd.unit(5): "Specifiers", systemd-escape(1)).

export const UNIT_TYPES = [
  "service",
  "socket",
  "target",
  "timer",
  "path",
  "mount",
  "automount",
  "slice",
  "scope",
  "device",
  "swap",
] as const;
export type UnitType = (typeof UNIT_TYPES)[number];

export interface UnitName {
  name: string; // full name: prefix@instance.type
  prefix: string;
  /** `undefined` for a plain unit; "" for a template (`name@.service`); else the instance string. */
  instance: string | undefined;
  type: UnitType;
}

const PREFIX_CHARS = /^[A-Za-z0-9:_.\\-]+$/;
/** systemd accepts '@' inside an instance string (only the first '@' separates the prefix). */
const INSTANCE_CHARS = /^[A-Za-z0-9:_.\\@-]*$/;
const MAX_NAME = 255;

/** Parse a unit name; `undefined` when systemd would not accept it. */
export function parseUnitName(name: string): UnitName | undefined {
  if (name.length === 0 || name.length > MAX_NAME) return undefined;
  // A leading '-' would read as an option to systemctl (node scripts also pass `--` before names).
  if (name.startsWith("-")) return undefined;
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const type = name.slice(dot + 1) as UnitType;
  if (!UNIT_TYPES.includes(type)) return undefined;
  const stem = name.slice(0, dot);
  const at = stem.indexOf("@");
  if (at < 0) return PREFIX_CHARS.test(stem) ? { name, prefix: stem, instance: undefined, type } : undefined;
  const prefix = stem.slice(0, at);
  const instance = stem.slice(at + 1);
  if (!prefix || !PREFIX_CHARS.test(prefix) || !INSTANCE_CHARS.test(instance)) return undefined;
  return { name, prefix, instance, type };
}

export const isTemplate = (n: UnitName) => n.instance === "";
export const isInstance = (n: UnitName) => n.instance !== undefined && n.instance !== "";
/** `nginx@1.service` -> `nginx@.service`; a plain unit or template names itself. */
export const templateOf = (n: UnitName) => (isInstance(n) ? `${n.prefix}@.${n.type}` : n.name);
export const instanceName = (template: UnitName, instance: string) =>
  `${template.prefix}@${instance}.${template.type}`;

/** systemd-escape's inverse: `\xNN` becomes the byte; in paths `-` stands for `/`. */
export function unescapeName(s: string, path = false): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && s[i + 1] === "x" && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 2, i + 4))) {
      out += String.fromCharCode(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (c === "-" && path) out += "/";
    else out += c;
  }
  return out;
}

/** systemd-escape: keep [A-Za-z0-9:_.], '/' -> '-' (path mode), anything else `\xNN`; a leading '.' is escaped. */
export function escapeName(s: string, path = false): string {
  let src = s;
  if (path) src = src.replace(/^\/+|\/+$/g, "").replace(/\/+/g, "/") || "/";
  if (path && src === "/") return "-";
  let out = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (path && c === "/") out += "-";
    else if (/[A-Za-z0-9:_]/.test(c) || (c === "." && i > 0)) out += c;
    else out += `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Facts about the node a unit runs on; specifiers that need them stay unexpanded without them. */
export interface HostContext {
  hostname?: string; // %H (and %l: up to the first '.')
  machineId?: string; // %m
  bootId?: string; // %b
}

/** Specifier letters systemd knows (systemd 252). Anything else is an error. */
export const KNOWN_SPECIFIERS = new Set("aAbBCdEfgGhHiIjJlLmMnNopPqsStTuUvVwWyY%".split(""));

/**
 * Expand the specifiers of `text` for unit `unit` as systemd would. Name specifiers (%n %N %p %P
 * %i %I %j %J %f) always expand; host specifiers (%H %l %m %b) expand when `host` gives them;
 * the rest (%t, %u, ...) depend on the manager and are kept as written. `%%` is a literal '%'.
 */
export function expandSpecifiers(text: string, unit: UnitName, host: HostContext = {}): string {
  if (!text.includes("%")) return text;
  const stem = unit.name.slice(0, unit.name.lastIndexOf("."));
  const dash = unit.prefix.lastIndexOf("-");
  const j = dash >= 0 ? unit.prefix.slice(dash + 1) : unit.prefix;
  const values: Record<string, string | undefined> = {
    n: unit.name,
    N: stem,
    p: unit.prefix,
    P: unescapeName(unit.prefix),
    i: unit.instance ?? "",
    I: unescapeName(unit.instance ?? ""),
    j,
    J: unescapeName(j),
    f: unit.instance ? "/" + unescapeName(unit.instance, true) : "/" + unescapeName(unit.prefix, true),
    H: host.hostname,
    l: host.hostname?.split(".")[0],
    m: host.machineId,
    b: host.bootId,
  };
  let out = "";
  for (let k = 0; k < text.length; k++) {
    const c = text[k]!;
    if (c !== "%") {
      out += c;
      continue;
    }
    const s = text[k + 1];
    k++;
    if (s === "%") out += "%";
    else if (s !== undefined && values[s] !== undefined) out += values[s];
    else out += "%" + (s ?? "");
  }
  return out;
}

/** The specifier letters used in `text` that systemd does not know (`%` at the end included). */
export function unknownSpecifiers(text: string): string[] {
  const bad: string[] = [];
  for (let k = 0; k < text.length; k++) {
    if (text[k] !== "%") continue;
    const s = text[k + 1];
    if (s === undefined || !KNOWN_SPECIFIERS.has(s)) bad.push("%" + (s ?? ""));
    k++;
  }
  return bad;
}

/** fleet's glob match on unit names (`*`, `?`, `[...]`), anchored at both ends. */
export function globToRegExp(glob: string): RegExp {
  let re = "^";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith("!")) cls = "^" + cls.slice(1);
        re += "[" + cls.replace(/\\/g, "\\\\") + "]";
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(re + "$");
}
