// A pid file's process is taken as running only if it is the process that file was written for:
// one that started after the file was written reused the number.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { livePidOf, processStartMs } from "../../../local/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "livepid-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("livePidOf", () => {
  it("names a process that started before its pid file was written", () => {
    const f = join(dir, "self.pid");
    writeFileSync(f, `${process.pid}\n`);
    expect(livePidOf(f)).toBe(process.pid);
    const started = processStartMs(process.pid)!;
    expect(started).toBeLessThanOrEqual(Date.now());
    expect(started).toBeGreaterThan(Date.now() - 24 * 3600_000 * 365);
  });

  it("refuses a live process that started after the file was written (a reused pid)", () => {
    const f = join(dir, "old.pid");
    writeFileSync(f, `${process.pid}\n`);
    const before = new Date(processStartMs(process.pid)! - 60_000);
    utimesSync(f, before, before);
    expect(livePidOf(f)).toBeUndefined();
  });

  it("refuses a pid no process has, and a missing or unreadable file", () => {
    const f = join(dir, "gone.pid");
    writeFileSync(f, "4194303\n");
    expect(livePidOf(f)).toBeUndefined();
    expect(livePidOf(join(dir, "absent.pid"))).toBeUndefined();
    writeFileSync(join(dir, "junk.pid"), "not a pid\n");
    expect(livePidOf(join(dir, "junk.pid"))).toBeUndefined();
  });
});
