// `devcluster app new`: the unit it writes loads with the repository's catalog and says what was
// asked; anything invalid or clashing is refused with every reason and nothing is written.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { appCommand } from "../../../bin/app.ts";
import { CATALOG_DIR, readCatalogDir } from "../../../functions/catalog/index.ts";
import { InvalidInputError, RefusedError } from "../../../functions/domain/errors.ts";
import { loadCatalog } from "../../../functions/domain/units/catalog.ts";
import { checkAppSpec, parseAppVolume, renderAppUnit } from "../../../functions/domain/units/appUnit.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
/** A copy of the repository's catalog (team/ folder included) to write into. */
function catalogCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "app-catalog-"));
  dirs.push(dir);
  cpSync(CATALOG_DIR, dir, { recursive: true, filter: (f) => !f.endsWith(".ts") });
  return dir;
}
const listing = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();
const run = async (...args: string[]) => {
  let text = "";
  const code = await appCommand(args, (s) => (text += s));
  return { code, text };
};
const IMG = "registry.example.com/team/shop:2.1";

describe("devcluster app new", () => {
  it("writes a unit the catalog loads: the image on the node's address, announced, behind sign-in", async () => {
    const dir = catalogCopy();
    const r = await run("new", "shop", "--image", IMG, "--port", "8380", "--catalog", dir);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/wrote .*shop@\.service\ndeploy it: npx devcluster local units/);
    const text = readFileSync(join(dir, "shop@.service"), "utf8");
    const catalog = loadCatalog(readCatalogDir(dir));
    const unit = catalog.units.find((u) => u.name === "shop@1.service")!;
    expect(unit).toBeDefined();
    expect(text).toContain(`-p \${PRIVATE_IP}:8380:8380 -e PORT=8380`);
    expect(text).toContain(`    ${IMG}\n`);
    expect(text).toMatch(/^Ports=http:8380$/m);
    expect(text).toMatch(/^Http=http$/m);
    expect(text).not.toMatch(/^(Public|Groups)=/m); // any signed-in user
    expect(text).toMatch(/^HealthCheck=tcp:http$/m);
  });

  it("takes volumes, groups, instances and a health path", async () => {
    const dir = catalogCopy();
    const args = ["new", "wiki2", "--image", `${IMG}@sha256:${"a".repeat(64)}`, "--port", "8381"];
    args.push("--volume", "data:5:/var/lib/wiki", "--volume", "cache:1:/cache", "--group", "developers");
    args.push("--group", "admins", "--instances", "2", "--health", "/healthz", "--catalog", dir);
    expect((await run(...args)).code).toBe(0);
    const text = readFileSync(join(dir, "wiki2@.service"), "utf8");
    expect(text).toContain("-v /srv/wiki2-%i/data:/var/lib/wiki");
    expect(text).toMatch(/^Volume=data:5:\/srv\/wiki2-%i\/data$/m);
    expect(text).toMatch(/^Volume=cache:1:\/srv\/wiki2-%i\/cache$/m);
    expect(text).toMatch(/^Groups=developers admins$/m);
    expect(text).toMatch(/^Conflicts=wiki2@\*\.service$/m);
    expect(text).toMatch(/^HealthCheck=http:http\/healthz$/m);
    const units = loadCatalog(readCatalogDir(dir)).units.filter((u) => u.name.startsWith("wiki2@"));
    expect(units.map((u) => u.name)).toEqual(["wiki2@1.service", "wiki2@2.service"]);
  });

  it("refuses every invalid option at once, writing nothing", async () => {
    const dir = catalogCopy();
    const before = listing(dir);
    const err = await run(
      "new",
      "Shop",
      "--image",
      "nginx:latest",
      "--port",
      "80",
      "--public",
      "--group",
      "devs",
      "--volume",
      "d:0:../x",
      "--catalog",
      dir,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    const details = (err as InvalidInputError).issues;
    expect(details.join("\n")).toMatch(/name: 'Shop'/);
    expect(details.join("\n")).toMatch(/--image: 'nginx:latest' is the mutable tag latest/);
    expect(details.join("\n")).toMatch(/--port: 80 must be/);
    expect(details.join("\n")).toMatch(/--public and --group exclude each other/);
    expect(details.join("\n")).toMatch(/--volume d: size 0/);
    expect(details.join("\n")).toMatch(/'\.\.\/x' must be an absolute path/);
    expect(listing(dir)).toEqual(before);
  });

  it("refuses an image without a tag, shell characters, etcd's port, a second use of a port", async () => {
    for (const [image, port] of [
      ["nginx", 8380],
      ["nginx:1;rm -rf /", 8380],
      ["nginx:1 $(id)", 8380],
      [IMG, 2379],
    ] as const)
      expect(() =>
        checkAppSpec({ name: "a", image, port, volumes: [], public: false, groups: [], instances: 1 }),
      ).toThrow(InvalidInputError);
    const dir = catalogCopy();
    const before = listing(dir);
    // hello@ declares 8080: the whole catalog must load with the app, so the clash is refused.
    await expect(run("new", "shop", "--image", IMG, "--port", "8080", "--catalog", dir)).rejects.toThrow(
      /8080/,
    );
    expect(listing(dir)).toEqual(before);
  });

  it("never replaces another unit; --force replaces only an app it wrote", async () => {
    const dir = catalogCopy();
    await expect(run("new", "hello", "--image", IMG, "--port", "8382", "--catalog", dir)).rejects.toThrow(
      RefusedError,
    );
    await expect(
      run("new", "hello", "--image", IMG, "--port", "8382", "--catalog", dir, "--force"),
    ).rejects.toThrow(/already has hello@\.service; pick another name/);
    expect((await run("new", "shop", "--image", IMG, "--port", "8380", "--catalog", dir)).code).toBe(0);
    await expect(run("new", "shop", "--image", IMG, "--port", "8383", "--catalog", dir)).rejects.toThrow(
      /--force replaces the app/,
    );
    const r = await run("new", "shop", "--image", IMG, "--port", "8383", "--catalog", dir, "--force");
    expect(r.text).toMatch(/^replaced /);
    expect(readFileSync(join(dir, "shop@.service"), "utf8")).toMatch(/^Ports=http:8383$/m);
    // A hand-written unit with an app's name is never replaced, even with --force.
    writeFileSync(join(dir, "mine@.service"), readFileSync(join(dir, "hello@.service"), "utf8"));
    await expect(
      run("new", "mine", "--image", IMG, "--port", "8384", "--catalog", dir, "--force"),
    ).rejects.toThrow(/pick another name/);
  });

  it("asks for what is missing, and parses volumes strictly", async () => {
    await expect(run("new", "shop", "--port", "8380")).rejects.toThrow(/--image required/);
    await expect(run("create", "shop")).rejects.toThrow(/unknown subcommand 'create'/);
    expect(() => parseAppVolume("data:5")).toThrow(/not <name>:<size GiB>:<container path>/);
    expect(parseAppVolume("data:x:/d").sizeGiB).toBeNaN();
    expect(
      renderAppUnit({
        name: "p",
        image: IMG,
        port: 9000,
        volumes: [],
        public: true,
        groups: [],
        instances: 1,
      }),
    ).toMatch(/^Public=true$/m);
  });
});
