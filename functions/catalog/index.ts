// The repository's unit catalog: every `*.service` (and other unit) file in this folder, plus the
// team's services in `team/` that the cluster's `services` setting selects (domain/units/services.ts).
// One file per service; see docs/UNITS.md. UNITS_CATALOG_DIR overrides the folder (e.g. a packaged copy).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CatalogSource } from "../domain/units/catalog.ts";
import { InvalidInputError } from "../domain/errors.ts";
import { parseUnitName } from "../domain/units/names.ts";
import { selectTeamServices, type ServiceSelection } from "../domain/units/services.ts";

export const CATALOG_DIR = process.env.UNITS_CATALOG_DIR ?? dirname(fileURLToPath(import.meta.url));

/** The team's services: a folder of the catalog that a cluster runs only as its `services` setting says. */
export const TEAM_SUBDIR = "team";

function readUnits(dir: string): CatalogSource {
  const out: CatalogSource = {};
  for (const f of readdirSync(dir).sort()) {
    if (parseUnitName(f)) out[f] = readFileSync(join(dir, f), "utf8");
  }
  return out;
}

/** The team's unit files (name -> text), all of them: what a selection chooses from. */
export function readTeamDir(dir: string = CATALOG_DIR): CatalogSource {
  const team = join(dir, TEAM_SUBDIR);
  return existsSync(team) ? readUnits(team) : {};
}

/** Read the catalog's unit files (name -> text): the folder's own, and the team's that `services` selects. */
export function readCatalogDir(dir: string = CATALOG_DIR, services: ServiceSelection = []): CatalogSource {
  const out = readUnits(dir);
  const team = selectTeamServices(readTeamDir(dir), services);
  const clash = Object.keys(team).filter((f) => f in out);
  if (clash.length)
    throw new InvalidInputError(
      `catalog: ${clash.join(", ")} is both in ${dir} and in its ${TEAM_SUBDIR}/ folder; a unit file has one place`,
    );
  return { ...out, ...team };
}
