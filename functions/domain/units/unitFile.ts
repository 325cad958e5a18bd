// Unit files as systemd reads them (systemd.syntax(7), src/shared/conf-parser.c), plus fleet's
// [X-Fleet] section. Comments are dropped, continuations joined, repeated keys kept in order.
import { InvalidInputError } from "../errors.ts";
import { parseUnitName, unknownSpecifiers, type UnitName } from "./names.ts";

export interface UnitEntry {
  key: string;
  value: string;
  /** 1-based line where the (possibly continued) assignment starts. */
  line: number;
}
export interface UnitSection {
  name: string;
  line: number;
  entries: UnitEntry[];
}
export interface UnitFile {
  /** The file name: `nginx@.service`, `etcd-member.service`. */
  name: string;
  unit: UnitName;
  sections: UnitSection[];
}

/** Sections systemd knows per unit type; `X-` sections are ignored by systemd and kept by us. */
const SECTIONS: Record<string, string[]> = {
  service: ["Unit", "Service", "Install"],
  socket: ["Unit", "Socket", "Install"],
  timer: ["Unit", "Timer", "Install"],
  path: ["Unit", "Path", "Install"],
  target: ["Unit", "Install"],
  mount: ["Unit", "Mount", "Install"],
  automount: ["Unit", "Automount", "Install"],
  slice: ["Unit", "Slice", "Install"],
  scope: ["Unit", "Scope"],
  swap: ["Unit", "Swap", "Install"],
  device: ["Unit"],
};

const COMMENT = /^[ \t\n\r]*[#;]/;
const KEY = /^[A-Za-z0-9_.-]+$/;
const WS = " \t\n\r";
const strip = (s: string) => {
  let a = 0;
  let b = s.length;
  while (a < b && WS.includes(s[a]!)) a++;
  while (b > a && WS.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
};

/** An odd run of trailing backslashes (ignoring none of the characters) marks a continuation. */
function endsEscaped(s: string): boolean {
  let escaped = false;
  for (const c of s) escaped = escaped ? false : c === "\\";
  return escaped;
}

/**
 * Parse a unit file. Like systemd: lines whose first non-blank character is '#' or ';' are
 * comments (also inside a continuation), a line ending in an unescaped '\' continues on the next
 * one (the '\' becomes a space), whitespace around keys and values is stripped, keys may repeat.
 * Unlike systemd (which logs and ignores), a line systemd would ignore is an error here: every such
 * line is reported at once (`file:line: reason`).
 */
export function parseUnitFile(name: string, text: string): UnitFile {
  const issues: string[] = [];
  const u = readUnitFile(name, text, issues);
  if (issues.length || !u) throw new InvalidInputError(`invalid unit ${name}`, issues);
  return u;
}

/**
 * Read a unit file, adding a `file:line: reason` to `issues` for every line that does not parse and
 * going on without it, so a catalog check reports every problem in one pass. Undefined only when the
 * name is not a unit name (nothing else can be checked then).
 */
export function readUnitFile(name: string, text: string, issues: string[]): UnitFile | undefined {
  const unit = parseUnitName(name);
  if (!unit) {
    issues.push(`${name}:0: '${name}' is not a valid systemd unit name`);
    return undefined;
  }
  const known = SECTIONS[unit.type] ?? ["Unit"];
  const sections: UnitSection[] = [];
  let current: UnitSection | undefined;
  /** A bad section header: its assignments are skipped (each would repeat the same problem). */
  let skipping = false;
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  let continuation: string | undefined;
  let contStart = 0;
  const bad = (lineNo: number, reason: string) => issues.push(`${name}:${lineNo}: ${reason}`);

  const parseLine = (raw: string, lineNo: number) => {
    const l = strip(raw);
    if (!l) return;
    if (l.startsWith("[")) {
      const s = l.slice(1, -1);
      if (!l.endsWith("]") || !s || /[[\]]/.test(s)) {
        skipping = true;
        return bad(lineNo, `invalid section header '${l}'`);
      }
      if (!known.includes(s) && !s.startsWith("X-")) {
        skipping = true;
        return bad(lineNo, `unknown section [${s}] for a .${unit.type} unit`);
      }
      skipping = false;
      if (sections.some((x) => x.name === s)) {
        // systemd merges a repeated section into the first; so do we.
        current = sections.find((x) => x.name === s);
      } else {
        current = { name: s, line: lineNo, entries: [] };
        sections.push(current);
      }
      return;
    }
    if (skipping) return;
    const eq = l.indexOf("=");
    if (eq < 0) return bad(lineNo, `missing '=' in '${l}'`);
    if (!current) return bad(lineNo, `assignment outside of a section`);
    const key = strip(l.slice(0, eq));
    const value = strip(l.slice(eq + 1));
    if (!KEY.test(key)) return bad(lineNo, `invalid key '${key}'`);
    const unknown = unknownSpecifiers(value);
    // The assignment is kept (the file is refused anyway), so checks that need the key do not fail too.
    if (unknown.length)
      bad(lineNo, `unknown specifier ${unknown.join(", ")} in ${key}= (write %% for a literal %)`);
    current.entries.push({ key, value, line: lineNo });
  };

  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    if (COMMENT.test(raw)) return;
    const p = continuation !== undefined ? continuation + raw : raw;
    if (continuation === undefined) contStart = lineNo;
    if (endsEscaped(p)) {
      continuation = p.slice(0, -1) + " ";
      return;
    }
    continuation = undefined;
    parseLine(p, contStart);
  });
  if (continuation !== undefined) parseLine(continuation, contStart);
  return { name, unit, sections };
}

/** Render a unit file in canonical form: sections in order, one `Key=Value` per line, no comments. */
export function renderUnitFile(
  u: Pick<UnitFile, "sections">,
  opts: { omitSections?: (name: string) => boolean } = {},
): string {
  const parts: string[] = [];
  for (const s of u.sections) {
    if (opts.omitSections?.(s.name)) continue;
    const lines = [`[${s.name}]`];
    for (const e of s.entries) {
      // A value ending in an odd run of '\' would read back as a continuation; a trailing blank
      // (stripped on reading) keeps it a value.
      lines.push(`${e.key}=${e.value}${endsEscaped(e.value) ? " " : ""}`);
    }
    parts.push(lines.join("\n"));
  }
  return parts.join("\n\n") + "\n";
}

export function section(u: UnitFile, name: string): UnitSection | undefined {
  return u.sections.find((s) => s.name === name);
}

/** The effective value of a single-valued setting: the last assignment wins (`undefined` if none). */
export function getValue(u: UnitFile, sectionName: string, key: string): string | undefined {
  const s = section(u, sectionName);
  if (!s) return undefined;
  for (let i = s.entries.length - 1; i >= 0; i--) if (s.entries[i]!.key === key) return s.entries[i]!.value;
  return undefined;
}

/** A list setting: every assignment adds, an empty assignment resets the list (systemd's rule). */
export function getList(u: UnitFile, sectionName: string, key: string): UnitEntry[] {
  const s = section(u, sectionName);
  let out: UnitEntry[] = [];
  for (const e of s?.entries ?? []) {
    if (e.key !== key) continue;
    if (e.value === "") out = [];
    else out.push(e);
  }
  return out;
}

/** systemd's boolean words. */
export function parseBoolean(v: string): boolean | undefined {
  const s = v.toLowerCase();
  if (["1", "yes", "y", "true", "t", "on"].includes(s)) return true;
  if (["0", "no", "n", "false", "f", "off"].includes(s)) return false;
  return undefined;
}

/**
 * Split a value into words the way fleet read [X-Fleet] values: blanks separate words, double
 * quotes group a word (`MachineMetadata="region=us east" role=worker`).
 */
export function splitWords(v: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let has = false;
  for (const c of v) {
    if (c === '"') {
      quoted = !quoted;
      has = true;
    } else if (!quoted && (c === " " || c === "\t")) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}
