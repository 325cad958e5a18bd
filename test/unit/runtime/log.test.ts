// Logged errors keep what a reader needs to find the failure: stack, cause, source; secrets never appear.
import { describe, expect, it } from "vitest";
import { createLogger, redact } from "../../../functions/runtime/log.ts";
import { RefusedError } from "../../../functions/domain/errors.ts";

describe("log", () => {
  it("keeps an error's stack, cause and source, and redacts secrets inside the cause", () => {
    const cause = Object.assign(new Error("inner"), { detail: { password: "hunter2" } });
    const e = new RefusedError("outer", { cause });
    const out = redact({ error: e }) as { error: Record<string, unknown> };
    expect(out.error.name).toBe("RefusedError");
    expect(out.error.message).toBe("outer");
    expect(out.error.source).toBe("user");
    expect(String(out.error.stack)).toContain("log.test.ts");
    expect((out.error.cause as Record<string, unknown>).message).toBe("inner");
    expect(JSON.stringify(out)).not.toContain("hunter2");
  });

  it("writes one JSON line per call with the error in it", () => {
    const lines: string[] = [];
    const prev = process.env.DEVCLUSTER_LOG;
    delete process.env.DEVCLUSTER_LOG;
    try {
      createLogger({ fn: "t" }, (l) => lines.push(l)).error("failed", {
        error: new Error("boom", { cause: new Error("root") }),
      });
    } finally {
      process.env.DEVCLUSTER_LOG = prev;
    }
    const rec = JSON.parse(lines[0]!) as {
      error: { message: string; stack: string; cause: { message: string } };
    };
    expect(rec.error.message).toBe("boom");
    expect(rec.error.stack).toMatch(/^Error: boom/);
    expect(rec.error.cause.message).toBe("root");
  });
});
