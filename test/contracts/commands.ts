// What every Commands port returns (one result per node, in request order, with status, exit code
// and output; Undeliverable for a node that is gone), run against the in-memory fake and the local
// command runner (test/integration/contracts/commands.test.ts).
import { describe, expect, it } from "vitest";
import type { CommandRequest } from "../../functions/domain/commands.ts";
import type { Commands } from "../../functions/ports/index.ts";

export interface CommandsSubject {
  commands: Commands;
  /** Two nodes that run commands, and one that is gone. */
  up: [string, string];
  gone: string;
  /** A request whose command prints `out` and exits 0 on every node it names. */
  succeeding(instanceIds: string[], out: string): CommandRequest;
  /** A request whose command writes `err` to stderr and exits with `code`. */
  failing(instanceIds: string[], code: number, err: string): CommandRequest;
}

export function commandsContract(name: string, subject: () => CommandsSubject): void {
  describe(`Commands contract: ${name}`, () => {
    it("answers every node in request order with Success, exit 0 and the output", async () => {
      const s = subject();
      const ids = [s.up[1], s.up[0]];
      const rs = await s.commands.run(s.succeeding(ids, "hello"));
      expect(rs.map((r) => r.instanceId)).toEqual(ids);
      for (const r of rs) expect(r).toMatchObject({ status: "Success", exitCode: 0, stdout: "hello\n" });
    });

    it("a failing command is Failed with its exit code and stderr", async () => {
      const s = subject();
      const [r] = await s.commands.run(s.failing([s.up[0]], 3, "broken"));
      expect(r).toMatchObject({ instanceId: s.up[0], status: "Failed", exitCode: 3 });
      expect(r!.stderr).toContain("broken");
    });

    it("a node that is gone is Undeliverable; the others still run", async () => {
      const s = subject();
      const rs = await s.commands.run(s.succeeding([s.gone, s.up[0]], "x"));
      expect(rs[0]).toMatchObject({ instanceId: s.gone, status: "Undeliverable" });
      expect(rs[0]!.exitCode).not.toBe(0);
      expect(rs[1]).toMatchObject({ instanceId: s.up[0], status: "Success" });
    });
  });
}
