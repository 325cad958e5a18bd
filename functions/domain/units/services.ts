// Which of the team's services (the catalog's `team/` folder) a cluster runs: the `services` setting
// ("all", "none", or a comma-separated list of service names), and the files that selection takes,
// with the team services each one reaches through its ambassador (`Upstreams=`), so naming an
// application brings its database. Pure: the folder is read by functions/catalog/index.ts.
import type { CatalogSource } from "./catalog.ts";
import { InvalidInputError } from "../errors.ts";
import { parseUnitName } from "./names.ts";

/** "all" team services, or these by name (empty: none). */
export type ServiceSelection = "all" | readonly string[];

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** Parse the `services` setting: "all", "" / "none", or `name[,name...]`. */
export function parseServiceSelection(text: string): ServiceSelection {
  const t = text.trim();
  if (t === "all") return "all";
  if (t === "" || t === "none") return [];
  const names = t.split(",").map((s) => s.trim());
  const bad = names.filter((n) => !NAME.test(n) || n === "all" || n === "none");
  if (bad.length)
    throw new InvalidInputError(
      `services: '${bad.join("', '")}' is not a service name; give "all", "none" or names such as gerrit,phpapp`,
    );
  return [...new Set(names)].sort();
}

/** The service a unit file belongs to: its name before `@` (templates) or the type suffix. */
export function serviceOf(file: string): string | undefined {
  return parseUnitName(file)?.prefix;
}

/** The services a unit file reaches through its ambassador (`Upstreams=<service>[/<port>]:...`). */
function upstreamServices(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*Upstreams\s*=(.*)$/.exec(line);
    if (!m) continue;
    for (const w of m[1]!.trim().split(/\s+/)) {
      const svc = /^([A-Za-z0-9_.-]+)[/:]/.exec(w)?.[1];
      if (svc) out.push(svc);
    }
  }
  return out;
}

/**
 * The team's unit files a selection takes: every file for "all"; otherwise each named service's files
 * and, transitively, the team services they name in `Upstreams=`. A name no file has is refused,
 * listing those that exist.
 */
export function selectTeamServices(team: CatalogSource, selection: ServiceSelection): CatalogSource {
  if (selection === "all") return { ...team };
  const byService = new Map<string, string[]>();
  for (const file of Object.keys(team)) {
    const svc = serviceOf(file);
    if (svc) byService.set(svc, [...(byService.get(svc) ?? []), file]);
  }
  const unknown = selection.filter((s) => !byService.has(s));
  if (unknown.length) {
    const known = [...byService.keys()].sort();
    throw new InvalidInputError(
      `services: no team service named '${unknown.join("', '")}' (the team's services: ${known.length ? known.join(", ") : "none"})`,
    );
  }
  const taken = new Set<string>();
  const queue = [...selection];
  while (queue.length) {
    const svc = queue.shift()!;
    if (taken.has(svc)) continue;
    taken.add(svc);
    for (const file of byService.get(svc) ?? [])
      for (const up of upstreamServices(team[file]!)) if (byService.has(up)) queue.push(up);
  }
  const out: CatalogSource = {};
  for (const svc of [...taken].sort()) for (const file of byService.get(svc)!) out[file] = team[file]!;
  return out;
}

/** The names a selection resolves to (with what `Upstreams=` brings), for progress lines and status. */
export const selectedServiceNames = (team: CatalogSource, selection: ServiceSelection): string[] =>
  [...new Set(Object.keys(selectTeamServices(team, selection)).map((f) => serviceOf(f)!))].sort();
