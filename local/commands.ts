// Commands port for local mode: stands in for the SSM agent by running the same script on a node
// directory, with `$ROOT` set to it and a systemctl stand-in on PATH.
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { CommandRequest, CommandResult, Commands } from "../functions/ports/index.ts";
import { isNodeUp, nodeDir } from "./node.ts";
import { PROJECT_ROOT } from "./paths.ts";
import { LOCAL_ETCD_TUNING } from "./etcd.ts";
import { presentVolumes, type Attachments } from "./volumes.ts";

/** The systemctl stand-in and the node's docker (rootful podman). */
const SHIM_DIR = join(PROJECT_ROOT, "local", "bin");
/** What a node with a container engine has: the project's podman settings. */
const CONTAINER_ENV = {
  DEVCLUSTER_CONTAINERS: "podman",
  CONTAINERS_CONF: join(PROJECT_ROOT, "containers", "podman", "containers.conf"),
};
/** SSM keeps at most this much of a command's output; keep the same bound. */
const OUTPUT_LIMIT = 24_000;

export function createLocalCommands(opts: {
  root: string;
  env?: Record<string, string>;
  containers?: boolean;
  /** Where the machines learn which volumes are attached to them (EC2's answer): the volumes then
   * show up on their nodes as devices before each command, as they would on an instance. */
  attachments?: Attachments;
}): Commands & {
  calls: number;
} {
  const self = {
    calls: 0,
    async run(req: CommandRequest): Promise<CommandResult[]> {
      self.calls++;
      const env = opts.containers ? { ...CONTAINER_ENV, ...opts.env } : (opts.env ?? {});
      if (opts.attachments) {
        // Unanswered, the devices stay as they were (a machine's devices do not vanish with an API call).
        const attached = await opts.attachments(req.instanceIds).catch(() => undefined);
        for (const id of attached ? req.instanceIds : [])
          if (isNodeUp(opts.root, id)) presentVolumes(opts.root, id, attached![id] ?? []);
      }
      return Promise.all(req.instanceIds.map((id) => runOne(opts.root, id, req, env)));
    },
  };
  return self;
}

function runOne(root: string, instanceId: string, req: CommandRequest, extraEnv: Record<string, string>) {
  return new Promise<CommandResult>((resolve) => {
    if (!isNodeUp(root, instanceId)) {
      resolve({
        instanceId,
        status: "Undeliverable",
        exitCode: -1,
        stdout: "",
        stderr: "node is not running",
      });
      return;
    }
    const dir = nodeDir(root, instanceId);
    const child = spawn("bash", ["-euo", "pipefail", "-c", req.script], {
      cwd: dir,
      env: {
        PATH: `${join(dir, "opt/bin")}:${SHIM_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        HOME: dir,
        ROOT: dir,
        INSTANCE_ID: instanceId,
        ...LOCAL_ETCD_TUNING,
        ...extraEnv,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout = (stdout + c.toString()).slice(-OUTPUT_LIMIT)));
    child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-OUTPUT_LIMIT)));
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        child.kill("SIGKILL");
      },
      (req.timeoutSeconds ?? 600) * 1000,
    );
    child.on("close", (code) => {
      clearTimeout(timer);
      const exitCode = code ?? -1;
      const status = timedOut ? "TimedOut" : exitCode === 0 ? "Success" : "Failed";
      resolve({ instanceId, status, exitCode, stdout, stderr });
    });
  });
}
