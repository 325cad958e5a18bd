// The node scripts behind the operator's commands (unit states, start/stop/restart, journals), run on
// nodes through the Commands port: SSM Run Command on AWS, the local runner on one machine. Pure.
import { InvalidInputError } from "./errors.ts";
import { parseUnitName } from "./units/names.ts";

/** A unit name as a shell word: checked as systemd would, then single-quoted (names may hold `\`). */
export function unitWord(name: string): string {
  const u = parseUnitName(name);
  if (!u || u.instance === "")
    throw new InvalidInputError(`'${name}' is not a unit name (e.g. hello@1.service, etcd-member.service)`);
  return `'${name.replaceAll("'", "'\\''")}'`;
}

export const UNIT_VERBS = ["start", "stop", "restart"] as const;
export type UnitVerb = (typeof UNIT_VERBS)[number];

/**
 * Each unit's state on the node, one `<unit> <state>` line per unit, from one `systemctl is-active`
 * call (it prints one line per unit, in order). `all`: also every unit the node has enabled, each
 * such line ending in ` enabled`.
 */
export function unitStatesScript(units: string[], all: boolean): string {
  const words = units.map(unitWord).join(" ");
  return [
    `units=(${words})`,
    `enabled=()`,
    all
      ? `for f in "$ROOT/etc/systemd/system/multi-user.target.wants/"*; do [ -e "$f" ] && enabled+=("$(basename "$f")"); done`
      : "",
    `mapfile -t units < <(printf '%s\\n' "\${units[@]}" "\${enabled[@]}" | sort -u | grep -v '^$' || true)`,
    `[ \${#units[@]} -gt 0 ] || exit 0`,
    `mapfile -t states < <(systemctl is-active -- "\${units[@]}" 2>/dev/null || true)`,
    `on=" \${enabled[*]} "`,
    `for i in "\${!units[@]}"; do u="\${units[$i]}"; e=""; [[ "$on" == *" $u "* ]] && e=" enabled"; printf '%s %s%s\\n' "$u" "\${states[$i]:-unknown}" "$e"; done`,
  ]
    .filter(Boolean)
    .join("\n");
}

export interface UnitState {
  state: string;
  /** Listed because the node enabled it (only asked with `all`). */
  enabled: boolean;
}

/** `<unit> <state>[ enabled]` lines as a map (other lines are ignored). */
export function parseUnitStates(stdout: string): Map<string, UnitState> {
  const out = new Map<string, UnitState>();
  for (const line of stdout.split("\n")) {
    const m = /^(\S+) (\S+)( enabled)?$/.exec(line.trim());
    if (m) out.set(m[1]!, { state: m[2]!, enabled: Boolean(m[3]) });
  }
  return out;
}

/** systemctl <verb> on the unit, then its state (the last line of stdout). */
export function unitVerbScript(verb: UnitVerb, unit: string): string {
  const w = unitWord(unit);
  return `rc=0\nsystemctl ${verb} -- ${w} || rc=$?\nsystemctl is-active -- ${w} || true\nexit $rc`;
}

/**
 * The unit's journal: the last `lines` lines, or with `cursorFile`, what was written since the last
 * call that used the same file (journalctl's --cursor-file; how `journal -f` follows over commands).
 */
export function journalScript(unit: string, opts: { lines: number; cursorFile?: string }): string {
  const w = unitWord(unit);
  if (!Number.isInteger(opts.lines) || opts.lines < 1 || opts.lines > 10_000)
    throw new InvalidInputError(`journal: --lines must be 1 to 10000 (got ${opts.lines})`);
  if (opts.cursorFile !== undefined && !/^[A-Za-z0-9._-]+$/.test(opts.cursorFile))
    throw new InvalidInputError(`journal: a cursor file name is letters, digits, '.', '_' and '-'`);
  const cursor = opts.cursorFile ? ` --cursor-file="$ROOT/run/devcluster-journal/${opts.cursorFile}"` : "";
  return [
    opts.cursorFile ? `mkdir -p "$ROOT/run/devcluster-journal"` : "",
    `journalctl --no-pager -o short-iso -u ${w} -n ${opts.lines}${cursor}`,
  ]
    .filter(Boolean)
    .join("\n");
}
