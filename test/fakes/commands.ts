// Node commands recorded in memory (the Commands port): every request is kept, and each node
// answers what the test told it to (Success with empty output unless set), for operation tests.
// test/integration/contracts/commands.test.ts runs the same suite against it and the local runner.
import type { CommandRequest, CommandResult } from "../../functions/domain/commands.ts";
import type { Commands } from "../../functions/ports/index.ts";

export type NodeBehaviour = (req: CommandRequest, instanceId: string) => Omit<CommandResult, "instanceId">;

export class FakeCommands implements Commands {
  readonly requests: CommandRequest[] = [];
  /** Nodes that are gone: their commands are Undeliverable. */
  readonly gone = new Set<string>();
  constructor(
    private behaviour: NodeBehaviour = () => ({ status: "Success", exitCode: 0, stdout: "", stderr: "" }),
  ) {}

  answer(b: NodeBehaviour): void {
    this.behaviour = b;
  }

  async run(req: CommandRequest): Promise<CommandResult[]> {
    this.requests.push(req);
    return req.instanceIds.map((instanceId) =>
      this.gone.has(instanceId)
        ? { instanceId, status: "Undeliverable", exitCode: -1, stdout: "", stderr: "node is gone" }
        : { instanceId, ...this.behaviour(req, instanceId) },
    );
  }
}
