// Timed steps: each begin ends the step before it; the log names the step's place and meaning.
import { describe, expect, it } from "vitest";
import { RESTORE_CODES, type RestoreStepCode } from "../../../functions/domain/reportCodes.ts";
import type { LogFields, Logger } from "../../../functions/ports/log.ts";
import { spans } from "../../../functions/operations/spans.ts";

function recordingLog() {
  const lines: { msg: string; fields?: LogFields }[] = [];
  const log: Logger = {
    info: (msg, fields) => lines.push({ msg, fields }),
    warn: () => {},
    error: () => {},
    child: () => log,
  };
  return { log, lines };
}

describe("spans", () => {
  it("times each step until the next begins, and the last until end", () => {
    let now = 1000;
    const { log, lines } = recordingLog();
    const s = spans<RestoreStepCode>(log, { label: "restore", total: 3, clock: () => now });
    s.begin("RS_SNAPSHOT_RESOLVED", { snapshot: "latest" });
    now += 30;
    s.begin("RS_CHECKSUM_VERIFIED");
    now += 12;
    s.begin("RS_NODES_OBSERVED");
    now += 7;
    expect(s.end()).toEqual([
      { code: "RS_SNAPSHOT_RESOLVED", ms: 30 },
      { code: "RS_CHECKSUM_VERIFIED", ms: 12 },
      { code: "RS_NODES_OBSERVED", ms: 7 },
    ]);
    expect(lines[0]).toEqual({
      msg: `restore: step 1/3: ${RESTORE_CODES.RS_SNAPSHOT_RESOLVED}`,
      fields: { step: 1, of: 3, code: "RS_SNAPSHOT_RESOLVED", snapshot: "latest" },
    });
    expect(lines.map((l) => l.fields?.step)).toEqual([1, 2, 3]);
  });

  it("end is idempotent: a second end does not re-time the last step", () => {
    let now = 0;
    const s = spans<RestoreStepCode>(recordingLog().log, { label: "x", total: 1, clock: () => now });
    s.begin("RS_STARTED");
    now = 5;
    s.end();
    now = 50;
    expect(s.end()).toEqual([{ code: "RS_STARTED", ms: 5 }]);
  });
});
