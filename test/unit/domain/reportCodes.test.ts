// Report codes: one family prefix each, no code shared between families, and the documented tables
// in docs/LIFECYCLE.md equal to the code's.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ALL_CODES,
  LIFECYCLE_CODES,
  RECONCILE_CODES,
  RESTORE_CODES,
  formatStep,
  reportStep,
} from "../../../functions/domain/reportCodes.ts";

describe("report codes", () => {
  it("each family has its own prefix, and no code is defined twice", () => {
    const families: [string, Record<string, string>][] = [
      ["LC_", LIFECYCLE_CODES],
      ["RC_", RECONCILE_CODES],
      ["RS_", RESTORE_CODES],
    ];
    let n = 0;
    for (const [prefix, codes] of families) {
      for (const c of Object.keys(codes)) expect(c).toMatch(new RegExp(`^${prefix}[A-Z_]+$`));
      n += Object.keys(codes).length;
    }
    expect(Object.keys(ALL_CODES)).toHaveLength(n);
  });

  it("docs/LIFECYCLE.md lists every code with its meaning, and no other", () => {
    const doc = readFileSync(new URL("../../../docs/LIFECYCLE.md", import.meta.url), "utf8");
    const rows = new Map(
      [...doc.matchAll(/^\| `([A-Z]{2}_[A-Z_]+)` \| (.+) \|$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    expect(Object.fromEntries(rows)).toEqual(ALL_CODES);
  });

  it("a step carries its detail as text, and reads as code then detail", () => {
    expect(reportStep("LC_DNS_SYNCED", 0)).toEqual({ code: "LC_DNS_SYNCED", detail: "0" });
    expect(reportStep("LC_MARKED_GONE")).toEqual({ code: "LC_MARKED_GONE" });
    expect(reportStep("RC_BLOCKED", "")).toEqual({ code: "RC_BLOCKED" });
    expect(formatStep(reportStep("LC_REGISTERED", "active"))).toBe("LC_REGISTERED active");
    expect(formatStep(reportStep("LC_MARKED_GONE"))).toBe("LC_MARKED_GONE");
  });
});
