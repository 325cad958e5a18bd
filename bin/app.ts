// `devcluster app new ...`: an ad-hoc app as a catalog unit (functions/domain/units/appUnit.ts),
// written only when the whole catalog with it loads; deploying it is the usual push.
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CATALOG_DIR, readCatalogDir, readTeamDir, TEAM_SUBDIR } from "../functions/catalog/index.ts";
import { InvalidInputError, RefusedError } from "../functions/domain/errors.ts";
import {
  APP_MARKER,
  parseAppVolume,
  renderAppUnit,
  type AppSpec,
} from "../functions/domain/units/appUnit.ts";
import { loadCatalog } from "../functions/domain/units/catalog.ts";
import { serviceOf } from "../functions/domain/units/services.ts";
import { didYouMean, parse } from "./args.ts";

export const APP_USAGE = `usage: npx devcluster app new <name> --image <ref> --port <n> [options]

  Writes functions/catalog/<name>@.service: the image run as <name>.<domain> behind the front door.
  --image REF        the container image, pinned: a tag other than latest, or a digest
  --port N           the HTTP port the app listens on (1024-65535; the container gets PORT=N)
  --volume V:GIB:PATH  a volume that follows the app (repeatable): name, size in GiB, path in the container
  --public           served without sign-in (default: signed-in users only)
  --group G          only members of this group of the user pool (repeatable)
  --instances N      how many (default 1; more run on different workers)
  --health PATH      an HTTP health check path such as /healthz (default: a TCP connect to the port)
  --catalog DIR      the catalog folder (default functions/catalog)
  --force            replace an app this command wrote before (never another unit)
Then deploy it: npx devcluster local units (the local cluster) or npx devcluster deploy (AWS).
`;

export async function appCommand(
  args: string[],
  out: (s: string) => void = (s) => void process.stdout.write(s),
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
    out(APP_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== "new")
    throw new InvalidInputError(
      `app: unknown subcommand '${sub}'${didYouMean(sub, ["new"])}; 'npx devcluster app --help'`,
    );
  const { values: v, positionals } = parse(
    "app new",
    rest,
    {
      image: { type: "string" },
      port: { type: "string" },
      volume: { type: "string", multiple: true },
      public: { type: "boolean" },
      group: { type: "string", multiple: true },
      instances: { type: "string" },
      health: { type: "string" },
      catalog: { type: "string" },
      force: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    1,
  );
  if (v.help) {
    out(APP_USAGE);
    return 0;
  }
  const name = positionals[0];
  const missing = [!name && "<name>", !v.image && "--image", !v.port && "--port"].filter(Boolean);
  if (missing.length)
    throw new InvalidInputError(`app new: ${missing.join(", ")} required; 'npx devcluster app --help'`);
  const whole = (text: string | undefined, dflt: number) =>
    text === undefined ? dflt : /^\d+$/.test(text) ? Number(text) : NaN;
  const spec: AppSpec = {
    name: name!,
    image: v.image!,
    port: whole(v.port, NaN),
    volumes: (v.volume ?? []).map(parseAppVolume),
    public: Boolean(v.public),
    groups: v.group ?? [],
    instances: whole(v.instances, 1),
    ...(v.health !== undefined ? { healthPath: v.health } : {}),
  };
  const text = renderAppUnit(spec);
  const dir = resolve(v.catalog ?? CATALOG_DIR);
  if (!existsSync(dir)) throw new InvalidInputError(`app new: no catalog directory at ${dir}`);
  const file = `${spec.name}@.service`;
  const path = join(dir, file);
  // One service, one name: another unit of that name (here or among the team's) is never replaced.
  const own = readCatalogDir(dir);
  const team = readTeamDir(dir);
  const taken = [
    ...Object.keys(own).filter((f) => serviceOf(f) === spec.name),
    ...Object.keys(team)
      .filter((f) => serviceOf(f) === spec.name)
      .map((f) => `${TEAM_SUBDIR}/${f}`),
  ];
  const replacing = taken.length === 1 && taken[0] === file && own[file]!.startsWith(APP_MARKER);
  if (taken.length && !(replacing && v.force))
    throw new RefusedError(
      `app new: the catalog already has ${taken.join(", ")}; ${replacing ? "--force replaces the app" : "pick another name"} (nothing was written)`,
    );
  // The whole catalog with the app must load (a port another unit declares, ...); else nothing is written.
  loadCatalog({ ...readCatalogDir(dir, "all"), [file]: text });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
  out(
    `${replacing ? "replaced" : "wrote"} ${path}\n` +
      `deploy it: npx devcluster local units (the local cluster) or npx devcluster deploy (AWS)\n`,
  );
  return 0;
}
