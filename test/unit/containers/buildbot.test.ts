// Buildbot's pure parts: worker names and their password parameters, the settings handed to
// master.cfg, the web gate's rule, and its two unit files read by the catalog with what they select.
import { describe, expect, it } from "vitest";
import {
  callerAllowed,
  masterSettings,
  parseWorkers,
  workerKind,
  workerPasswordParameter,
} from "../../../containers/buildbot/src/config.ts";
import { CATALOG_DIR, readCatalogDir } from "../../../functions/catalog/index.ts";
import { loadCatalog } from "../../../functions/domain/units/index.ts";
import { parseServiceSelection, selectedServiceNames } from "../../../functions/domain/units/services.ts";

const PW = "A".repeat(24);

describe("buildbot worker names", () => {
  it("when WORKERS lists names, it keeps each once in order", () => {
    expect(parseWorkers(" linux-1, win-build1 ,linux-1")).toEqual(["linux-1", "win-build1"]);
  });

  it("when a name is not a worker name or none is given, it says which", () => {
    expect(() => parseWorkers("linux-1,Bad Name")).toThrow(/Bad Name/);
    expect(() => parseWorkers("../x")).toThrow(/\.\.\/x/);
    expect(() => parseWorkers(" , ")).toThrow(/no worker/);
  });

  it("names each worker's password below db/ (what the node role may write) and tells Windows VMs by name", () => {
    expect(workerPasswordParameter("dev", "win-build1")).toBe(
      "/devcluster/dev/db/buildbot/workers/win-build1/password",
    );
    expect(workerKind("win-build1")).toBe("windows");
    expect(workerKind("linux-1")).toBe("linux");
  });
});

describe("buildbot master settings", () => {
  const base = {
    domain: "dev.example.com",
    db: { host: "127.0.0.1", port: 15435, name: "buildbot", user: "buildbot", password: `${PW}+/=` },
    worker: { address: "10.0.1.5", port: 8989 },
    www: { address: "127.0.0.1", port: 8011 },
    workers: [
      { name: "linux-1", password: PW },
      { name: "win-build1", password: PW },
    ],
  };

  it("gives master.cfg its database URL (password quoted), endpoints, links and workers", () => {
    const s = masterSettings(base);
    expect(s.dbUrl).toBe(`postgresql+psycopg2://buildbot:${PW}%2B%2F%3D@127.0.0.1:15435/buildbot`);
    expect(s.workerPort).toBe("tcp:8989:interface=10.0.1.5");
    expect(s.wwwPort).toBe("tcp:8011:interface=127.0.0.1");
    expect(s.url).toBe("https://buildbot.dev.example.com/");
    expect(s.workers.map((w) => [w.name, w.kind])).toEqual([
      ["linux-1", "linux"],
      ["win-build1", "windows"],
    ]);
  });

  it("refuses a password or address that would change the configuration's meaning", () => {
    expect(() => masterSettings({ ...base, db: { ...base.db, password: "short" } })).toThrow(/password/);
    expect(() => masterSettings({ ...base, workers: [{ name: "linux-1", password: `${PW}:x` }] })).toThrow(
      /password/,
    );
    expect(() => masterSettings({ ...base, worker: { address: "1.2.3.4:99", port: 1 } })).toThrow(
      /worker address/,
    );
  });
});

describe("buildbot's web gate", () => {
  const doors = new Set(["10.0.2.7"]);
  const allowed = (a?: string) => callerAllowed(a, "10.0.1.5", (x) => doors.has(x));

  it("lets in the announced front doors and the node itself (presence's check)", () => {
    expect(allowed("10.0.2.7")).toBe(true);
    expect(allowed("::ffff:10.0.2.7")).toBe(true);
    expect(allowed("10.0.1.5")).toBe(true);
    expect(allowed("127.0.0.1")).toBe(true);
  });

  it("refuses any other caller, whatever it sends", () => {
    expect(allowed("10.0.2.8")).toBe(false);
    expect(allowed("127.0.0.2")).toBe(false);
    expect(allowed("::1")).toBe(false);
    expect(allowed(undefined)).toBe(false);
  });
});

describe("buildbot's units", () => {
  const all = readCatalogDir(CATALOG_DIR, "all");
  const catalog = loadCatalog(all);
  const teamOnly = Object.fromEntries(
    Object.entries(readCatalogDir(CATALOG_DIR, "all")).filter(([f]) => !(f in readCatalogDir())),
  );

  it("declares the master behind sign-in with its worker stream, volume and health check", () => {
    const m = catalog.files.get("buildbot@.service")!.manifest;
    expect(m.sidecarEnv).toContain("HTTP_PORT_NAME=http\n");
    expect(m.sidecarEnv).toContain("STREAMS=worker:9989\n");
    expect(m.sidecarEnv).toContain("ACCESS_GROUPS=developers,admins\n");
    expect(m.sidecarEnv).toContain("HEALTH_CHECK=http:http/api/v2/masters\n");
    expect(m.sidecarEnv).toContain("UPSTREAMS=postgres/pg:15435:master\n");
    expect(m.volumes.map((v) => [v.name, v.path])).toEqual([["master", "/srv/buildbot-%i"]]);
    const w = catalog.files.get("buildbot-worker@.service")!.manifest;
    expect(w.sidecarEnv).toContain("UPSTREAMS=buildbot/worker:19989\n");
    expect(w.sidecarEnv).toContain("HEALTH_CHECK=http:health/healthz\n");
  });

  it("selecting the worker brings the master it logs in to", () => {
    expect(selectedServiceNames(teamOnly, parseServiceSelection("buildbot-worker"))).toEqual([
      "buildbot",
      "buildbot-worker",
    ]);
  });

  it("the database service makes the master's database and password", () => {
    expect(all["postgres@.service"]).toMatch(/CLIENTS=[a-z,-]*\bbuildbot\b/);
  });
});
