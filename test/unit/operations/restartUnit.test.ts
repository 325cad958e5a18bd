// The restart function's use case over fakes: it restarts only a placed unit, only where the
// placement puts it, with the fixed restart script; anything else is refused before a command runs.
import { describe, expect, it } from "vitest";
import { InvalidInputError, NotFoundError } from "../../../functions/domain/errors.ts";
import { unitVerbScript } from "../../../functions/domain/operatorScripts.ts";
import { restartUnit, type RestartDeps } from "../../../functions/operations/restartUnit.ts";
import { createLogger } from "../../../functions/runtime/log.ts";
import { FakeCommands } from "../../fakes/commands.ts";

const log = createLogger({}, () => {});
const W1 = "i-0aa0000000000b001";
const W2 = "i-0aa0000000000b002";

function deps(commands = new FakeCommands()): RestartDeps & { commands: FakeCommands } {
  return {
    commands,
    placement: async () => ({
      load: async () => ({
        state: {
          placement: { "hello@1.service": [W2, W1], "etcd-amb.service": [W1] },
          files: {},
          pending: [],
          updatedAt: "",
        },
        revision: "3",
      }),
      save: async () => {
        throw new Error("restart never writes the placement");
      },
    }),
  };
}

describe("restartUnit", () => {
  it("runs the fixed restart script on every node the unit is placed on, and reports each state", async () => {
    const d = deps(
      new FakeCommands((_req, id) =>
        id === W2
          ? { status: "Failed", exitCode: 1, stdout: "failed\n", stderr: "Job failed" }
          : { status: "Success", exitCode: 0, stdout: "active\n", stderr: "" },
      ),
    );
    const r = await restartUnit(d, { unit: "hello@1.service" }, log);
    expect(d.commands.requests).toHaveLength(1);
    expect(d.commands.requests[0]).toMatchObject({
      instanceIds: [W1, W2],
      script: unitVerbScript("restart", "hello@1.service"),
    });
    expect(r).toEqual({
      unit: "hello@1.service",
      results: [
        { machine: W1, ok: true, state: "active", error: "" },
        { machine: W2, ok: false, state: "failed", error: "Job failed" },
      ],
    });
  });

  it("with a node, only there", async () => {
    const d = deps();
    await restartUnit(d, { unit: "hello@1.service", node: W2 }, log);
    expect(d.commands.requests.map((q) => q.instanceIds)).toEqual([[W2]]);
  });

  it.each([
    ["no unit", {}, InvalidInputError],
    ["another field (a script)", { unit: "hello@1.service", script: "rm -rf /" }, InvalidInputError],
    ["a malformed unit name", { unit: "hello; reboot" }, InvalidInputError],
    ["a node that is no instance id", { unit: "hello@1.service", node: "i-1;x" }, InvalidInputError],
    ["a unit that is not placed", { unit: "sshd.service" }, NotFoundError],
    ["a node the unit is not placed on", { unit: "etcd-amb.service", node: W2 }, NotFoundError],
  ])("refuses %s and runs nothing", async (_what, event, kind) => {
    const d = deps();
    await expect(restartUnit(d, event, log)).rejects.toBeInstanceOf(kind);
    expect(d.commands.requests).toEqual([]);
  });
});
