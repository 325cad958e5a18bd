// The operator's node scripts and the AWS target's pure parts: unit names are checked before they
// reach a shell, states parse back, Session Manager's plugin gets StartSession's answer, and a
// function's error comes back as its class. StartSession and Lambda's error payload are not in moto:
// the fixtures are the response shapes AWS documents (the SSM API reference's StartSession example,
// Lambda's Node.js runtime error format), not recordings.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  journalScript,
  parseUnitStates,
  unitStatesScript,
  unitVerbScript,
  unitWord,
} from "../../../functions/domain/operatorScripts.ts";
import { functionError, sessionPluginArgs } from "../../../bin/ops/awsTarget.ts";
import { InvalidInputError, NotFoundError } from "../../../functions/domain/errors.ts";
import { age, unitRows, UNREPORTED } from "../../../bin/ops/operate.ts";
import type { ClusterView, MachineView } from "../../../functions/domain/clusterView.ts";
import { parsePublishedStates } from "../../../functions/domain/unitStates.ts";

const fixture = (p: string) => readFileSync(new URL(`../../fixtures/${p}`, import.meta.url), "utf8");

describe("operator node scripts", () => {
  it("quote a unit name, and refuse what systemd would not take as one", () => {
    expect(unitWord("hello@1.service")).toBe("'hello@1.service'");
    expect(unitWord("a\\x2db.service")).toBe("'a\\x2db.service'");
    for (const bad of ["x;rm -rf /", "$(id).service", "-f.service", "hello@.service", "", "a b.service"])
      expect(() => unitWord(bad), bad).toThrow(InvalidInputError);
    expect(() => unitVerbScript("restart", "'; reboot; '.service")).toThrow(InvalidInputError);
    expect(() => journalScript("hello@1.service", { lines: 0 })).toThrow(InvalidInputError);
    expect(() => journalScript("hello@1.service", { lines: 5, cursorFile: "../x" })).toThrow(
      InvalidInputError,
    );
  });

  it("name every unit once, and the enabled ones only with all", () => {
    expect(unitStatesScript(["a.service", "b.service"], false)).toContain("units=('a.service' 'b.service')");
    expect(unitStatesScript([], false)).not.toContain("multi-user.target.wants");
    expect(unitStatesScript([], true)).toContain("multi-user.target.wants");
    expect(journalScript("hello@1.service", { lines: 5, cursorFile: "f-1" })).toContain(
      `--cursor-file="$ROOT/run/devcluster-journal/f-1"`,
    );
  });

  it("parse states back, with what the node enabled", () => {
    expect([...parseUnitStates("a.service active\nb.service failed enabled\nnoise line here\n")]).toEqual([
      ["a.service", { state: "active", enabled: false }],
      ["b.service", { state: "failed", enabled: true }],
    ]);
  });
});

describe("the AWS target's pure parts", () => {
  it("hands StartSession's answer to session-manager-plugin as the AWS CLI does", () => {
    const res = JSON.parse(fixture("ssm/start-session.json")) as Record<string, string>;
    const args = sessionPluginArgs(
      res,
      "eu-west-1",
      "i-0123456789abcdef0",
      "https://ssm.eu-west-1.amazonaws.com",
    );
    expect(args).toHaveLength(6);
    expect(JSON.parse(args[0]!)).toEqual(res);
    expect(args.slice(1, 4)).toEqual(["eu-west-1", "StartSession", ""]);
    expect(JSON.parse(args[4]!)).toEqual({ Target: "i-0123456789abcdef0" });
    expect(args[5]).toBe("https://ssm.eu-west-1.amazonaws.com");
  });

  it("rebuilds a function's error by its class (a user error stays one), and names unknown ones", () => {
    const e = functionError("restore", fixture("lambda/invoke-error.json"));
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toBe("restore: no valid snapshot 20260101T000000000Z-deadbeef");
    const other = functionError(
      "status",
      JSON.stringify({ errorType: "Runtime.ImportModuleError", errorMessage: "x" }),
    );
    expect(other.message).toBe("status: x (Runtime.ImportModuleError)");
    expect(functionError("status", "not json").message).toBe("status: not json");
  });

  it("says how old a snapshot is", () => {
    const now = new Date("2026-01-02T00:00:00Z");
    expect(age("2026-01-01T23:59:30Z", now)).toBe("30 s ago");
    expect(age("2026-01-01T23:00:00Z", now)).toBe("1 h 0 min ago");
    expect(age("2026-01-01T20:30:00Z", now)).toBe("3 h 30 min ago");
    expect(age("2025-12-20T00:00:00Z", now)).toBe("13 days ago");
  });
});

describe("unit rows from the view", () => {
  const machine = (id: string, units: string[], published: string | null): MachineView => ({
    id,
    role: "worker",
    group: "w",
    zone: "z1",
    address: "",
    publicAddress: "",
    lifecycle: "InService",
    health: "Healthy",
    registry: "active",
    member: "",
    units,
    unitStates: published === null ? null : parsePublishedStates(published),
  });
  const view = {
    machines: [
      machine(
        "i-1",
        ["hello@1.service", "etcd-amb.service"],
        "etcd-amb.service active enabled\nhello@1.service failed enabled\nsshd.service active enabled",
      ),
      machine("i-2", ["hello@2.service"], null),
      machine("i-3", ["hello@3.service"], ""),
    ],
    units: [
      { name: "etcd-amb.service", machines: ["i-1"] },
      { name: "hello@1.service", machines: ["i-1"] },
      { name: "hello@2.service", machines: ["i-2"] },
      { name: "hello@3.service", machines: ["i-3"] },
      { name: "late@1.service", machines: [] },
    ],
  } as unknown as ClusterView;
  const rows = (all: boolean) =>
    unitRows(view, { all }).map((r) => `${r.unit} ${r.machine} ${r.state}${r.placed ? "" : " (not placed)"}`);

  it("give each placed unit the state its node published; a node that publishes nothing is unreported", () => {
    expect(rows(false)).toEqual([
      "etcd-amb.service i-1 active",
      "hello@1.service i-1 failed",
      `hello@2.service i-2 ${UNREPORTED}`,
      "hello@3.service i-3 unknown",
      "late@1.service  unplaced",
    ]);
  });
  it("with all, add what a node enabled outside the placement", () => {
    expect(rows(true)).toContain("sshd.service i-1 active (not placed)");
    expect(rows(false).some((r) => r.startsWith("sshd.service"))).toBe(false);
  });
});

describe("the volume command", () => {
  it("volume: refuses bad usage before anything is contacted", async () => {
    const { opsCommand } = await import("../../../bin/ops/cli.ts");
    // --dir names no cluster: a usage that got past the check would fail on the target instead.
    const dir = ["--dir", "/nonexistent/devcluster-volume-usage"];
    const refused = async (args: string[], why: RegExp) => {
      const e = await opsCommand("volume", [...args, ...dir]).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InvalidInputError);
      expect((e as Error).message).toMatch(why);
    };
    await refused([], /is not snapshot, restore or move/);
    await refused(["format", "db@1"], /'format' is not snapshot, restore or move/);
    await refused(["restore", "db@1"], /needs a volume and a snapshot id/);
    await refused(["restore", "db@1", "latest", "--zone", "us-east-1b"], /no --zone/);
    await refused(["move", "db@1"], /needs a volume and --zone/);
    await refused(["snapshot", "db@1", "extra"], /at most a volume/);
    await refused(["restore", "db@1", "latest", "x", "y"], /./);
  });
});
