// The repository's unit catalog: every `*.service` (and other unit) file in this folder. One file
// per service; see docs/UNITS.md. UNITS_CATALOG_DIR overrides the folder (e.g. a packaged copy).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CatalogSource } from "../domain/units/catalog.ts";
import { parseUnitName } from "../domain/units/names.ts";

export const CATALOG_DIR = process.env.UNITS_CATALOG_DIR ?? dirname(fileURLToPath(import.meta.url));
/** The team's services (team/): kept out of the default catalog, so default clusters stay light. */
export const TEAM_CATALOG_DIR = join(CATALOG_DIR, "team");

/** Read the catalog's unit files (name -> text). */
export function readCatalogDir(dir: string = CATALOG_DIR): CatalogSource {
  const out: CatalogSource = {};
  for (const f of readdirSync(dir).sort()) {
    if (parseUnitName(f)) out[f] = readFileSync(join(dir, f), "utf8");
  }
  return out;
}
