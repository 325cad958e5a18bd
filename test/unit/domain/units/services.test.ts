import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CATALOG_DIR, readCatalogDir, readTeamDir } from "../../../../functions/catalog/index.ts";
import { parseConfig } from "../../../../functions/domain/config.ts";
import { ConfigError, InvalidInputError } from "../../../../functions/domain/errors.ts";
import { imagesOf, IMAGE_NAMES } from "../../../../functions/domain/images.ts";
import { loadCatalog } from "../../../../functions/domain/units/catalog.ts";
import {
  parseServiceSelection,
  selectTeamServices,
  selectedServiceNames,
} from "../../../../functions/domain/units/services.ts";

const unit = (extra: string) =>
  `[Service]\nExecStart=/usr/bin/docker run --rm {{image:hello}}\n\n[X-Devcluster]\nInstances=1\n${extra}`;

const team = {
  "wiki@.service": unit("Upstreams=db/sql:3307:master\n"),
  "db@.service": unit("Ports=sql:3306\n"),
  "chat@.service": unit("Upstreams=postgres/pg:15433:master cache:6380\n"),
  "cache@.service": unit("Ports=redis:6379\n"),
  "git@.service": unit(""),
  "git-mirror@.service": unit(""),
};

describe("the services setting", () => {
  it("reads all, none, empty and name lists (sorted, without repeats)", () => {
    expect(parseServiceSelection("all")).toBe("all");
    expect(parseServiceSelection("none")).toEqual([]);
    expect(parseServiceSelection("")).toEqual([]);
    expect(parseServiceSelection(" wiki, chat,wiki ")).toEqual(["chat", "wiki"]);
  });

  it("refuses what is not a service name, naming it", () => {
    for (const bad of ["Wiki", "wiki,,chat", "../x", "all,wiki", "-x", "a b"])
      expect(() => parseServiceSelection(bad), bad).toThrow(InvalidInputError);
    expect(() => parseServiceSelection("wiki,Bad_Name")).toThrow(/'Bad_Name' is not a service name/);
  });

  it("is a setting of the control plane: default none, a bad value refused at start", () => {
    const env = {
      CLUSTER_NAME: "dev",
      CLUSTER_DOMAIN: "dev.internal",
      PRIVATE_ZONE_ID: "Z1",
      SNAPSHOT_BUCKET: "b-1",
      GROUP_MAIN: "m",
      GROUP_WORKER: "w",
      GROUP_DATA: "d",
    };
    expect(parseConfig(env).SERVICES).toEqual([]);
    expect(parseConfig({ ...env, SERVICES: "all" }).SERVICES).toBe("all");
    expect(parseConfig({ ...env, SERVICES: "gerrit,phpapp" }).SERVICES).toEqual(["gerrit", "phpapp"]);
    expect(() => parseConfig({ ...env, SERVICES: "gerrit;rm" })).toThrow(ConfigError);
  });
});

describe("selecting the team's services", () => {
  it("takes every file for all, none for an empty list", () => {
    expect(Object.keys(selectTeamServices(team, "all")).sort()).toEqual(Object.keys(team).sort());
    expect(selectTeamServices(team, [])).toEqual({});
  });

  it("brings the team services a selected one reaches through its ambassador, and only those", () => {
    expect(Object.keys(selectTeamServices(team, ["wiki"])).sort()).toEqual(["db@.service", "wiki@.service"]);
    // postgres is not a team service (the default catalog has it): nothing more is taken for it.
    expect(Object.keys(selectTeamServices(team, ["chat"])).sort()).toEqual([
      "cache@.service",
      "chat@.service",
    ]);
    expect(selectedServiceNames(team, ["wiki", "chat"])).toEqual(["cache", "chat", "db", "wiki"]);
  });

  it("names a service by its file's name before @: git does not take git-mirror", () => {
    expect(Object.keys(selectTeamServices(team, ["git"]))).toEqual(["git@.service"]);
  });

  it("refuses a name no team service has, listing those there are", () => {
    expect(() => selectTeamServices(team, ["wiki", "gitlab"])).toThrow(
      /no team service named 'gitlab' \(the team's services: cache, chat, db, git, git-mirror, wiki\)/,
    );
  });
});

describe("the catalog folder with its team/ folder", () => {
  const dir = mkdtempSync(join(tmpdir(), "catalog-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "team"));
  writeFileSync(join(dir, "hello@.service"), unit(""));
  writeFileSync(join(dir, "README.md"), "not a unit");
  for (const [f, t] of Object.entries(team)) writeFileSync(join(dir, "team", f), t);

  it("reads the folder's own units alone unless the selection names team services", () => {
    expect(Object.keys(readCatalogDir(dir))).toEqual(["hello@.service"]);
    expect(Object.keys(readCatalogDir(dir, ["wiki"])).sort()).toEqual([
      "db@.service",
      "hello@.service",
      "wiki@.service",
    ]);
    expect(Object.keys(readCatalogDir(dir, "all"))).toHaveLength(1 + Object.keys(team).length);
  });

  it("refuses a unit file that is in both places", () => {
    const clash = mkdtempSync(join(tmpdir(), "catalog-"));
    try {
      mkdirSync(join(clash, "team"));
      writeFileSync(join(clash, "db@.service"), unit(""));
      writeFileSync(join(clash, "team", "db@.service"), unit(""));
      expect(readCatalogDir(clash)).toHaveProperty("db@.service"); // nothing selected: no clash
      expect(() => readCatalogDir(clash, ["db"])).toThrow(
        /db@\.service is both in .* and in its team\/ folder/,
      );
    } finally {
      rmSync(clash, { recursive: true, force: true });
    }
  });

  it("the repository's catalog with every team service loads, and each image it names is one the build knows", () => {
    const all = readCatalogDir(CATALOG_DIR, "all");
    expect(() => loadCatalog(all)).not.toThrow();
    expect(imagesOf(all).filter((i) => !(IMAGE_NAMES as readonly string[]).includes(i))).toEqual([]);
    for (const f of Object.keys(readTeamDir())) expect(all).toHaveProperty([f]);
  });
});

describe("imagesOf", () => {
  it("lists each image the units name, once, sorted", () => {
    expect(
      imagesOf({
        "a.service": "ExecStart=/usr/bin/docker run {{image:redis}} && {{image:hello}}",
        "b.service": "ExecStart=/usr/bin/docker run {{image:hello}}",
        "c.service": "ExecStart=/opt/bin/etcd",
      }),
    ).toEqual(["hello", "redis"]);
  });
});
