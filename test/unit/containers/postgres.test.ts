// The Postgres building block's pure parts: client names, the SQL it runs, its access rules, what it
// makes of a data directory, and its unit file read by the catalog as any other.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  checkPassword,
  clientsSql,
  HBA,
  parseClients,
  passwordParameter,
} from "../../../containers/postgres/src/clients.ts";
import { initInto, inspectDataDir } from "../../../containers/shared/dataDir.ts";
import { readCatalogDir } from "../../../functions/catalog/index.ts";
import { ConfigError } from "../../../functions/domain/errors.ts";
import { loadCatalog } from "../../../functions/domain/units/index.ts";
import { PROJECT_ROOT } from "../../../local/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "pg-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("postgres clients", () => {
  it("maps service names to one identifier each (database and role), once", () => {
    expect(parseClients("wiki, build-bot,wiki  buildbot")).toEqual([
      { service: "wiki", name: "wiki" },
      { service: "build-bot", name: "build_bot" },
      { service: "buildbot", name: "buildbot" },
    ]);
    expect(parseClients(undefined)).toEqual([]);
    expect(parseClients("")).toEqual([]);
  });

  it("refuses what is not a service name, and Postgres's own names, naming each", () => {
    for (const bad of ["Wiki", "a;b", "-x", "x-", "postgres", "pg-stat", "a".repeat(64), 'a"b', "ü"]) {
      expect(() => parseClients(`wiki,${bad}`), bad).toThrow(ConfigError);
    }
    expect(() => parseClients("Wiki,pg-x,ok")).toThrow(/CLIENTS: .*: Wiki, pg-x$/);
  });

  it("names each password under the cluster's db/ parameters", () => {
    expect(passwordParameter("dev", "postgres", { service: "build-bot", name: "build_bot" })).toBe(
      "/devcluster/dev/db/postgres/build-bot/password",
    );
  });

  it("accepts only passwords that cannot break out of a quoted SQL literal, and never says them", () => {
    expect(checkPassword("A".repeat(43), "/p")).toBe("A".repeat(43));
    for (const bad of [
      "short",
      "x".repeat(23),
      `${"x".repeat(30)}'`,
      `${"x".repeat(30)}\\`,
      `${"x".repeat(30)} y`,
      "x".repeat(257),
    ]) {
      expect(() => checkPassword(bad, "/p"), bad).toThrow(/\/p does not hold a usable password/);
      try {
        checkPassword(bad, "/p");
      } catch (e) {
        expect((e as Error).message).not.toContain(bad);
      }
    }
  });

  it("the SQL creates what is missing, sets each password again, drops nothing, and stops at the first error", () => {
    const sql = clientsSql([
      { client: { service: "build-bot", name: "build_bot" }, password: "p".repeat(30) },
      { client: { service: "wiki", name: "wiki" }, password: "q".repeat(30) },
    ]);
    expect(sql.split("\n")[0]).toBe("\\set ON_ERROR_STOP on");
    expect(sql).toContain(
      `SELECT 'CREATE ROLE "build_bot" LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'build_bot')\\gexec`,
    );
    expect(sql).toContain(
      `ALTER ROLE "build_bot" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${"p".repeat(30)}';`,
    );
    expect(sql).toContain(
      `SELECT 'CREATE DATABASE "wiki" OWNER "wiki"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'wiki')\\gexec`,
    );
    expect(sql).toContain(`REVOKE ALL ON DATABASE "wiki" FROM PUBLIC;`);
    expect(sql).not.toMatch(/\bDROP\b/i);
  });

  it("admits the superuser only on the container's socket and each client only to its own database", () => {
    const rules = HBA.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(rules).toEqual([
      "local all postgres peer",
      "host all postgres 0.0.0.0/0 reject",
      "host sameuser all 0.0.0.0/0 scram-sha-256",
    ]);
  });
});

describe("the data directory", () => {
  it("tells an existing cluster, an empty place and foreign files apart", () => {
    const read = (f: string) => readFileSync(f, "utf8");
    expect(inspectDataDir(join(dir, "absent"), "PG_VERSION", read)).toEqual({ kind: "empty" });
    mkdirSync(join(dir, "empty"));
    expect(inspectDataDir(join(dir, "empty"), "PG_VERSION", read)).toEqual({ kind: "empty" });
    mkdirSync(join(dir, "pg"));
    writeFileSync(join(dir, "pg", "PG_VERSION"), "17\n");
    expect(inspectDataDir(join(dir, "pg"), "PG_VERSION", read)).toEqual({ kind: "existing", version: "17" });
    mkdirSync(join(dir, "other"));
    writeFileSync(join(dir, "other", "notes.txt"), "x");
    expect(inspectDataDir(join(dir, "other"), "PG_VERSION", read)).toEqual({
      kind: "foreign",
      entries: ["notes.txt"],
    });
  });

  it("moves a new cluster into place only once whole; a failed or earlier half-made one never lands", async () => {
    const target = join(dir, "data");
    mkdirSync(`${target}.init`);
    writeFileSync(join(`${target}.init`, "half"), "from a crash");
    await expect(
      initInto(target, async (tmp) => {
        mkdirSync(tmp);
        writeFileSync(join(tmp, "PG_VERSION"), "17\n");
        throw new Error("initdb failed");
      }),
    ).rejects.toThrow("initdb failed");
    expect(inspectDataDir(target, "PG_VERSION", (f) => readFileSync(f, "utf8"))).toEqual({ kind: "empty" });
    await initInto(target, async (tmp) => {
      mkdirSync(tmp);
      writeFileSync(join(tmp, "PG_VERSION"), "17\n");
    });
    expect(inspectDataDir(target, "PG_VERSION", (f) => readFileSync(f, "utf8"))).toEqual({
      kind: "existing",
      version: "17",
    });
  });
});

describe("the postgres unit", () => {
  it("is a valid catalog unit: one primary with presence and an election, its data on a volume", () => {
    const text = readFileSync(join(PROJECT_ROOT, "functions", "catalog", "postgres@.service"), "utf8");
    const catalog = loadCatalog(readCatalogDir());
    const unit = catalog.byName.get("postgres@1.service")!;
    expect(unit).toBeDefined();
    expect(catalog.byName.get("presence@postgres@1.service")!.rules.machineOf).toEqual([
      "postgres@1.service",
    ]);
    expect(JSON.stringify(unit.rules.metadata)).toMatch(/"key":"role".*"worker"/);
    expect(text).toMatch(/-v \/srv\/postgres-%i:\/var\/lib\/postgresql/);
    expect(text).toMatch(/^Volume=data:20:\/srv\/postgres-%i$/m);
    expect(text).toMatch(/^Election=true$/m);
    expect(text).toMatch(/\{\{image:postgres\}\}/);
  });
});
