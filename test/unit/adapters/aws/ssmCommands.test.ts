import { describe, expect, it } from "vitest";
import { createSsmCommands } from "../../../../functions/adapters/aws/ssmCommands.ts";

type Cmd = { constructor: { name: string }; input: Record<string, unknown> };
/** A scripted SSM: statuses per instance per attempt; ids starting "i-unreg" are refused by SendCommand. */
function fakeSsm(
  statusOf: (
    id: string,
    attempt: number,
  ) => { Status: string; StatusDetails?: string; ResponseCode?: number },
) {
  const sends: string[][] = [];
  const attempts = new Map<string, number>();
  const commands = new Map<string, string[]>();
  return {
    sends,
    async send(c: Cmd) {
      const name = c.constructor.name;
      if (name === "SendCommandCommand") {
        const ids = c.input.InstanceIds as string[];
        if (ids.some((i) => i.startsWith("i-unreg")))
          throw Object.assign(new Error("Instances not in a valid state"), { name: "InvalidInstanceId" });
        sends.push(ids);
        const id = `cmd-${sends.length}`;
        commands.set(id, ids);
        for (const i of ids) attempts.set(i, (attempts.get(i) ?? 0) + 1);
        return { Command: { CommandId: id } };
      }
      if (name === "ListCommandInvocationsCommand") {
        const ids = commands.get(c.input.CommandId as string)!;
        return {
          CommandInvocations: ids.map((i) => {
            const s = statusOf(i, attempts.get(i)!);
            return {
              InstanceId: i,
              Status: s.Status,
              StatusDetails: s.StatusDetails,
              CommandPlugins: [{ ResponseCode: s.ResponseCode ?? 0, Output: `out ${i}` }],
            };
          }),
        };
      }
      throw new Error(`unexpected ${name}`);
    },
  };
}

const req = (ids: string[]) => ({ instanceIds: ids, script: "echo hi\n", comment: "t", timeoutSeconds: 5 });
const fast = { pollMs: 1, maxPollMs: 2, sleep: async () => {} };

describe("SSM commands adapter", () => {
  it("batches at most 50 instance ids per SendCommand", async () => {
    const ssm = fakeSsm(() => ({ Status: "Success" }));
    const c = createSsmCommands({ ssm: ssm as never, ...fast });
    const ids = Array.from({ length: 120 }, (_, i) => `i-${i}`);
    const res = await c.run(req(ids));
    expect(ssm.sends.map((s) => s.length)).toEqual([50, 50, 20]);
    expect(res.map((r) => r.instanceId)).toEqual(ids);
    expect(res.every((r) => r.status === "Success" && r.stdout === `out ${r.instanceId}`)).toBe(true);
  });

  it("retries only the failed nodes", async () => {
    const ssm = fakeSsm((id, attempt) =>
      id === "i-2" && attempt === 1 ? { Status: "Failed", ResponseCode: 1 } : { Status: "Success" },
    );
    const c = createSsmCommands({ ssm: ssm as never, ...fast, retries: 1 });
    const res = await c.run(req(["i-1", "i-2", "i-3"]));
    expect(ssm.sends).toEqual([["i-1", "i-2", "i-3"], ["i-2"]]);
    expect(res.map((r) => r.status)).toEqual(["Success", "Success", "Success"]);
  });

  it("reports TimedOut and Undeliverable nodes after the retries", async () => {
    const ssm = fakeSsm((id) =>
      id === "i-slow"
        ? { Status: "TimedOut", StatusDetails: "ExecutionTimedOut" }
        : id === "i-dead"
          ? { Status: "Failed", StatusDetails: "Undeliverable" }
          : { Status: "Success" },
    );
    const c = createSsmCommands({ ssm: ssm as never, ...fast, retries: 2 });
    const res = await c.run(req(["i-ok", "i-slow", "i-dead"]));
    expect(res.map((r) => [r.instanceId, r.status])).toEqual([
      ["i-ok", "Success"],
      ["i-slow", "TimedOut"],
      ["i-dead", "Undeliverable"],
    ]);
    expect(ssm.sends).toHaveLength(3);
  });

  it("splits a batch SSM refuses for an unregistered instance and sends to the others", async () => {
    const ssm = fakeSsm(() => ({ Status: "Success" }));
    const c = createSsmCommands({ ssm: ssm as never, ...fast, retries: 0 });
    const res = await c.run(req(["i-1", "i-2", "i-unreg-3", "i-4"]));
    expect(res.find((r) => r.instanceId === "i-unreg-3")!.status).toBe("Undeliverable");
    expect(res.filter((r) => r.status === "Success").map((r) => r.instanceId)).toEqual(["i-1", "i-2", "i-4"]);
  });

  it("gives up waiting at the deadline with TimedOut", async () => {
    let t = 0;
    const ssm = fakeSsm(() => ({ Status: "InProgress" }));
    const c = createSsmCommands({
      ssm: ssm as never,
      pollMs: 1000,
      sleep: async (ms) => void (t += ms),
      now: () => t,
      graceMs: 0,
      retries: 0,
    });
    const res = await c.run(req(["i-1"]));
    expect(res[0]!.status).toBe("TimedOut");
  });
});
