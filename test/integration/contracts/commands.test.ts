// The Commands contract against the in-memory fake and the local command runner (the same scripts
// SSM would run, in node directories).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { createLocalCommands } from "../../../local/commands.ts";
import { prepareLocalNode } from "../../../local/node.ts";
import { commandsContract } from "../../contracts/commands.ts";
import { FakeCommands } from "../../fakes/commands.ts";

const UP: [string, string] = ["i-0000000000000000a", "i-0000000000000000b"];
const GONE = "i-0000000000000000c";

const fake = new FakeCommands((req) => {
  const [kind, arg, code] = req.comment.split(":");
  return kind === "ok"
    ? { status: "Success", exitCode: 0, stdout: `${arg}\n`, stderr: "" }
    : { status: "Failed", exitCode: Number(code), stdout: "", stderr: `${arg}\n` };
});
fake.gone.add(GONE);
commandsContract("in-memory fake", () => ({
  commands: fake,
  up: UP,
  gone: GONE,
  succeeding: (instanceIds, out) => ({ instanceIds, script: "", comment: `ok:${out}` }),
  failing: (instanceIds, code, err) => ({ instanceIds, script: "", comment: `fail:${err}:${code}` }),
}));

const root = mkdtempSync(join(tmpdir(), "devcluster-commands-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
for (const id of UP) prepareLocalNode(root, id, "worker");
commandsContract("local command runner", () => ({
  commands: createLocalCommands({ root }),
  up: UP,
  gone: GONE,
  succeeding: (instanceIds, out) => ({ instanceIds, script: `echo ${out}`, comment: "contract" }),
  failing: (instanceIds, code, err) => ({
    instanceIds,
    script: `echo ${err} >&2; exit ${code}`,
    comment: "contract",
  }),
}));
