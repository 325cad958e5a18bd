// The command line as a user meets it, through the package's `devcluster` bin (`npx devcluster`):
// usage errors in its own terms with "did you mean", --help on every command, exit code 2 for bad
// usage, clean stdout for machine-readable output. None of these needs a running cluster.
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { nearest } from "../../../bin/args.ts";
import { PROJECT_ROOT } from "../../../local/paths.ts";
import { CATALOG_DIR } from "../../../functions/catalog/index.ts";

const exec = promisify(execFile);

/** The bin as npm links it (`npx devcluster` runs this same file; one test goes through npx itself). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return bin("node", ["bin/devcluster.js", ...args]);
}

async function bin(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(cmd, args, {
      cwd: PROJECT_ROOT,
      env: { ...process.env, DEVCLUSTER_LOG: "silent" },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe("nearest", () => {
  it("finds typos, swaps and prefixes, and nothing for an unrelated word", () => {
    expect(nearest("--jsno", ["--json", "--dir", "--help"])).toBe("--json");
    expect(nearest("statsu", ["status", "scale", "snapshot"])).toBe("status");
    expect(nearest("recon", ["reconcile", "restore"])).toBe("reconcile");
    expect(nearest("banana", ["status", "scale", "snapshot"])).toBeUndefined();
  });
});

describe.concurrent("devcluster (npx bin)", () => {
  it("npx devcluster synth prints only the template on stdout (no npm banner): it parses as JSON", async () => {
    const r = await bin("npx", ["devcluster", "synth"]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("{")).toBe(true);
    expect((JSON.parse(r.stdout) as { AWSTemplateFormatVersion: string }).AWSTemplateFormatVersion).toBe(
      "2010-09-09",
    );
  }, 60_000);

  it.each([
    [["synth", "--help"], /usage: npx devcluster synth/],
    [["validate", "--help"], /usage: npx devcluster validate/],
    [["--help"], /usage: npx devcluster <command>/],
    [["local", "--help"], /usage: npx devcluster local <subcommand>/],
    [["local", "status", "--help"], /usage: npx devcluster local status/],
    [["local", "scale", "--help"], /scale <main\|worker\|data> <n>[\s\S]*0 to 50/],
    [
      ["local", "restore", "--help"],
      /--force[\s\S]*--survivor recovers from the most up-to-date surviving member/,
    ],
    [["local", "units", "--help"], /units \[--dry-run\] \[--catalog DIR\][\s\S]*placement\s+diff/],
  ])(
    "%j prints its usage and exits 0",
    async (args, usage) => {
      const r = await cli(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(usage);
    },
    60_000,
  );

  it.each([
    [
      ["local", "status", "--jsno"],
      "devcluster: local status: unknown option --jsno (did you mean --json?); 'npx devcluster local status --help' lists the options",
    ],
    [
      ["local", "statsu"],
      "devcluster: local: unknown subcommand 'statsu' (did you mean status?); 'npx devcluster local --help' lists them",
    ],
    [
      ["synht"],
      "devcluster: unknown command 'synht' (did you mean synth?); 'npx devcluster --help' lists them",
    ],
    [
      ["local", "scale", "worker"],
      "devcluster: scale worker: say how many nodes, e.g. 'npx devcluster local scale worker 3'",
    ],
    [
      ["local", "scale", "wroker", "3"],
      "devcluster: scale: no group 'wroker' (did you mean worker?); groups: main, worker, data",
    ],
    [
      ["local", "restore", "--froce"],
      "devcluster: local restore: unknown option --froce (did you mean --force?); 'npx devcluster local restore --help' lists the options",
    ],
    [
      ["local", "restore", "--survivor", "latest"],
      "devcluster: restore --survivor takes no snapshot and no --force",
    ],
    [
      ["local", "kill", "a", "b"],
      "devcluster: local kill: unexpected argument 'b'; 'npx devcluster local kill --help' shows the usage",
    ],
    [["synth", "--main-size", "x"], "devcluster: synth: --main-size must be a whole number (got 'x')"],
    [
      ["local", "units", "--dryrun"],
      "devcluster: local units: unknown option --dryrun (did you mean --dry-run?); 'npx devcluster local units --help' lists the options",
    ],
  ])(
    "%j is a usage error in the CLI's terms (exit 2)",
    async (args, message) => {
      const r = await cli(...args);
      expect(r.stderr.trim()).toBe(message);
      expect(r.stderr).not.toMatch(/positional|NaN|ERR_PARSE_ARGS/);
      expect(r.code).toBe(2);
    },
    60_000,
  );
});

describe("devcluster local units, before it touches a cluster", () => {
  /** A copy of the repository's catalog, changed by `edit`, in a fresh directory. */
  const catalogCopy = (edit: (dir: string) => void) => {
    const base = mkdtempSync(join(tmpdir(), "devcluster-catalog-"));
    const dir = join(base, "catalog");
    cpSync(CATALOG_DIR, dir, { recursive: true, filter: (f) => !f.endsWith(".ts") });
    edit(dir);
    return { dir, done: () => rmSync(base, { recursive: true, force: true }) };
  };
  // A state directory where no cluster ever ran.
  const empty = mkdtempSync(join(tmpdir(), "devcluster-none-"));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));
  const noCluster = () => empty;

  it("when the catalog holds several problems, it prints each as file:line: reason, exits 2, and never reaches a cluster", async () => {
    const c = catalogCopy((d) => {
      writeFileSync(
        join(d, "web@.service"),
        "[Unit]\nDescription=web\n[Service]\nExecStart=/bin/web %z\nExec Stop=x\n[X-Fleet]\nMachineOf=nowhere.service\n",
      );
      writeFileSync(join(d, "db.service"), "[Unit]\n[Servce]\nExecStart=/bin/db\n");
    });
    try {
      const r = await cli("local", "units", "--dry-run", "--catalog", c.dir, "--dir", noCluster());
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n").filter(Boolean)).toEqual([
        "devcluster: invalid unit catalog:",
        "  db.service:2: unknown section [Servce] for a .service unit",
        "  db.service:0: a service needs ExecStart=",
        "  web@.service:4: unknown specifier %z in ExecStart= (write %% for a literal %)",
        "  web@.service:5: invalid key 'Exec Stop'",
        "  web@.service:1: a template needs Instances=N (or InstanceNames=, or Sidecar=true) in [X-Devcluster]",
      ]);
    } finally {
      c.done();
    }
  }, 60_000);

  it("refuses a catalog without etcd's own unit (it would stop etcd on every main node)", async () => {
    const c = catalogCopy((d) => unlinkSync(join(d, "etcd-member.service")));
    try {
      const r = await cli("local", "units", "--catalog", c.dir, "--dir", noCluster());
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/has no etcd-member\.service; a catalog declares every unit of the cluster/);
    } finally {
      c.done();
    }
  }, 60_000);

  it("with a valid catalog and no cluster running, says so", async () => {
    const r = await cli("local", "units", "--dry-run", "--dir", noCluster());
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no local cluster runs/);
  }, 60_000);

  it("names a missing catalog directory", async () => {
    const r = await cli("local", "units", "--catalog", "/nonexistent/catalog", "--dir", noCluster());
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("devcluster: units: no catalog directory at /nonexistent/catalog");
  }, 60_000);
});

describe("devcluster local up --services, before it starts anything", () => {
  const base = mkdtempSync(join(tmpdir(), "devcluster-up-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("refuses a name no team service has, or one that is not a name, and leaves no state", async () => {
    for (const [arg, msg] of [
      ["nosuch", /services: no team service named 'nosuch' \(the team's services: /],
      ["all;rm", /services: 'all;rm' is not a service name/],
    ] as const) {
      const dir = join(base, "state");
      const r = await cli("local", "up", "--services", arg, "--dir", dir, "--prefix", "127.93");
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(existsSync(dir), "no state directory made").toBe(false);
    }
  }, 60_000);
});

describe("devcluster local up and demo: etcd's scheme", () => {
  const base = mkdtempSync(join(tmpdir(), "devcluster-scheme-"));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it("refuses --plain-etcd with --etcd-tls before it starts anything, and says TLS is the default", async () => {
    for (const sub of ["up", "demo"]) {
      const dir = join(base, sub);
      const r = await cli("local", sub, "--plain-etcd", "--etcd-tls", "--dir", dir, "--prefix", "127.93");
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--plain-etcd and --etcd-tls contradict each other/);
      expect(existsSync(dir), "no state directory made").toBe(false);
      const help = await cli("local", sub, "--help");
      expect(help.stdout + help.stderr).toMatch(/--plain-etcd/);
      expect(help.stdout + help.stderr).toMatch(/TLS with client certificates/);
    }
  }, 60_000);
});
