// Commands port for local mode: stands in for the SSM agent by running the same script on a node
// directory, with `$ROOT` set to it and a systemctl stand-in on PATH. The scripts run in a small
// agent process (commandAgent.mjs), as SSM's agent runs them on an instance, not in this one.
import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
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
/** Runs the commands, so this process never forks per command (decision 81). */
const AGENT = join(PROJECT_ROOT, "local", "commandAgent.mjs");

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
  if (!isNodeUp(root, instanceId)) {
    return Promise.resolve<CommandResult>({
      instanceId,
      status: "Undeliverable",
      exitCode: -1,
      stdout: "",
      stderr: "node is not running",
    });
  }
  const dir = nodeDir(root, instanceId);
  return commandAgent()
    .run({
      script: req.script,
      cwd: dir,
      env: {
        PATH: `${join(dir, "opt/bin")}:${SHIM_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        HOME: dir,
        ROOT: dir,
        INSTANCE_ID: instanceId,
        ...LOCAL_ETCD_TUNING,
        ...extraEnv,
      },
      timeoutMs: (req.timeoutSeconds ?? 600) * 1000,
    })
    .then((a): CommandResult => {
      const exitCode = a.code ?? -1;
      const status = a.timedOut ? "TimedOut" : exitCode === 0 ? "Success" : "Failed";
      return { instanceId, status, exitCode, stdout: a.stdout, stderr: a.stderr };
    });
}

interface AgentRequest {
  script: string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
}
interface AgentAnswer {
  id: number;
  code: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** The command agent (commandAgent.mjs), started once per process at its first command. */
let agent: ReturnType<typeof startAgent> | undefined;
const commandAgent = () => (agent ??= startAgent());

function startAgent() {
  const proc = spawn(process.execPath, [AGENT], { stdio: ["pipe", "pipe", "inherit"] });
  const pending = new Map<number, (a: AgentAnswer) => void>();
  let next = 1;
  // Held only while a command runs: an idle agent never keeps this process alive.
  const hold = (on: boolean) => {
    for (const h of [proc, proc.stdin as unknown as Socket, proc.stdout as unknown as Socket])
      if (on) h.ref();
      else h.unref();
  };
  hold(false);
  const settle = (a: AgentAnswer) => {
    const done = pending.get(a.id);
    pending.delete(a.id);
    if (pending.size === 0) hold(false);
    done?.(a);
  };
  createInterface({ input: proc.stdout! }).on("line", (line) => settle(JSON.parse(line) as AgentAnswer));
  // Every command still waiting fails with the reason; the next command starts another agent.
  const lost = (why: string) => {
    if (agent === self) agent = undefined;
    for (const id of [...pending.keys()])
      settle({ id, code: null, timedOut: false, stdout: "", stderr: `the command agent ended (${why})` });
  };
  proc.on("exit", (code, signal) => lost(String(signal ?? code)));
  proc.on("error", (e) => lost(e.message));
  // A request written as the agent dies fails by its exit above, not by an EPIPE thrown here.
  proc.stdin!.on("error", () => {});
  const self = {
    run(req: AgentRequest): Promise<AgentAnswer> {
      return new Promise((resolve) => {
        const id = next++;
        pending.set(id, resolve);
        hold(true);
        proc.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
      });
    },
  };
  return self;
}
