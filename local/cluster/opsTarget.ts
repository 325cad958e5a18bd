// The operator's commands against a local cluster: its deployed functions run through the local
// function host (each with its own role, IAM enforced by moto), node scripts through the local
// command runner, a node's shell in its directory, events from the handlers' log file.
import { spawn } from "node:child_process";
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { NotFoundError } from "../../functions/domain/errors.ts";
import type { ControlPlaneEvent, OpsTarget } from "../../bin/ops/target.ts";
import { createLocalCommands } from "../commands.ts";
import { isNodeUp, nodeDir } from "../node.ts";
import { PROJECT_ROOT } from "../paths.ts";
import { attach } from "./attach.ts";
import { invokeWarm } from "./functionsHost.ts";

/** The last `bytes` of a file (a log's tail without reading all of it). */
function tailOf(file: string, bytes: number): string {
  if (!existsSync(file)) return "";
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString("utf8");
    // A cut in the middle of a line drops that partial line.
    return start > 0 ? text.slice(text.indexOf("\n") + 1) : text;
  } finally {
    closeSync(fd);
  }
}

/** Handler log lines (JSON) as events, newest last. */
export function parseEvents(text: string, limit: number): ControlPlaneEvent[] {
  const out: ControlPlaneEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const { time, level, msg, fn, ...fields } = JSON.parse(line) as Record<string, unknown>;
      out.push({
        time: String(time ?? ""),
        level: String(level ?? ""),
        fn: String(fn ?? ""),
        msg: String(msg ?? ""),
        fields,
      });
    } catch {
      // a line cut while it was written
    }
  }
  return out.slice(-limit);
}

export async function localOpsTarget(dir: string): Promise<OpsTarget> {
  const { state, fns } = await attach(dir);
  return {
    describe: `local cluster in ${dir}`,
    cluster: state.clusterName,
    // Through the cluster's warm host when it runs (as a Lambda container stays warm), else here.
    invoke: async (fn, payload) =>
      ((await invokeWarm(dir, state.createdAt, fn, payload)) ?? { result: await fns.invoke(fn, payload) })
        .result,
    commands: createLocalCommands({ root: dir, containers: true }),
    shell(instanceId) {
      if (!isNodeUp(dir, instanceId)) throw new NotFoundError(`node ${instanceId} is not running`);
      const root = nodeDir(dir, instanceId);
      return new Promise((resolve, reject) => {
        // What SSM Session Manager gives on a node: a root shell; here the node is its directory.
        const child = spawn("bash", ["-i"], {
          cwd: root,
          stdio: "inherit",
          env: {
            ...process.env,
            ROOT: root,
            INSTANCE_ID: instanceId,
            PATH: `${join(root, "opt/bin")}:${join(PROJECT_ROOT, "local", "bin")}:${process.env.PATH ?? ""}`,
            PS1: `${instanceId}:\\w# `,
          },
        });
        child.on("error", reject);
        child.on("exit", (code) => resolve(code ?? 1));
      });
    },
    recentEvents: async (limit) => parseEvents(tailOf(join(dir, "functions.log"), 512 * 1024), limit),
    close: async () => {},
  };
}
