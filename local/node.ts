// A local node: a directory standing in for an instance's disk, laid out as first boot leaves it.
import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { BOOT_KEY_SCRIPT } from "../functions/domain/nodeTls.ts";
import {
  clusterEnvFile,
  envFileText,
  ETCD_MEMBER_UNIT,
  ETCD_MEMBER_UNIT_NAME,
} from "../functions/domain/firstBoot.ts";
import type { Role } from "../functions/domain/model.ts";
import {
  UNIT_STATES_PROGRAM,
  UNIT_STATES_PROGRAM_PATH,
  UNIT_STATES_UNIT,
  UNIT_STATES_UNIT_NAME,
} from "../functions/domain/unitStates.ts";
import { ETCD_BIN, ETCDCTL_BIN } from "./paths.ts";
import { livePidOf, stopPid } from "./processes.ts";
import { killNodeContainers, removeContainersUnder } from "./containers.ts";
import { dropNodeMounts, unmountAllUnder } from "./volumes.ts";

export const nodeDir = (root: string, instanceId: string) => join(root, "nodes", instanceId);
const DOWN_MARK = "DOWN";

/** What first boot and the instance give a real node: its addresses, its cluster, its AWS settings. */
export interface LocalNodeEnv {
  address: string;
  zone: string;
  clusterName: string;
  /** The stack in moto (the dashboard service reads it). */
  stackName: string;
  domain: string;
  /** The private hosted zone's id (presence-dns writes service names there). */
  zoneId: string;
  /** The user pool and its app client, when the cluster has one (the auth service reads them). */
  userPool?: { userPoolId: string; clientId: string };
  /** The snapshot bucket (database dumps go below db-dumps/ there). */
  snapshotBucket: string;
  /** The members serve TLS (the stack's EtcdTls): etcd-amb reaches them with the node's certificate. */
  etcdTls: boolean;
  /** The front door's certificate and key parameters, when the cluster serves HTTPS. */
  frontDoorTls?: { certParam: string; keyParam: string };
  /** AWS_* settings for programs on the node (the instance role and the VPC's endpoints on AWS). */
  aws: Record<string, string>;
}

/**
 * Lay out a node directory as Ignition would: units, /opt/bin tools, empty state; with `env`, also
 * /etc/devcluster/{node,cluster,aws}.env (what units and their containers read). Idempotent.
 */
export function prepareLocalNode(root: string, instanceId: string, role: Role, env?: LocalNodeEnv): string {
  const dir = nodeDir(root, instanceId);
  for (const d of ["etc/systemd/system", "etc/etcd", "var/lib", "var/log", "run/systemd", "opt/bin"]) {
    mkdirSync(join(dir, d), { recursive: true });
  }
  for (const [name, target] of [
    ["etcd", ETCD_BIN],
    ["etcdctl", ETCDCTL_BIN],
  ] as const) {
    if (!existsSync(join(dir, "opt/bin", name))) symlinkSync(target, join(dir, "opt/bin", name));
  }
  if (role === "main")
    writeFileSync(join(dir, "etc/systemd/system", ETCD_MEMBER_UNIT_NAME), ETCD_MEMBER_UNIT);
  writeFileSync(join(dir, "role"), role);
  // First boot's etcd key and CSR (the instance's devcluster-node-key.service). As there, a failure
  // only leaves the key to the launch's CSR step.
  spawnSync("bash", ["-c", BOOT_KEY_SCRIPT], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ROOT: dir, INSTANCE_ID: instanceId },
    stdio: "ignore",
  });
  if (env) {
    mkdirSync(join(dir, "etc/devcluster"), { recursive: true });
    writeFileSync(
      join(dir, "etc/devcluster/node.env"),
      envFileText({
        INSTANCE_ID: instanceId,
        PRIVATE_IP: env.address,
        PUBLIC_IP: "",
        ZONE: env.zone,
        // The node's 127.0.0.1: nodes share this machine's loopback, so each has its own address
        // (what local/bin/docker maps a container's 127.0.0.1 to).
        LOOPBACK: env.address,
      }),
    );
    // What first boot installs on every node: the program that publishes its unit states.
    writeFileSync(join(dir, UNIT_STATES_PROGRAM_PATH), UNIT_STATES_PROGRAM, { mode: 0o755 });
    writeFileSync(join(dir, "etc/systemd/system", UNIT_STATES_UNIT_NAME), UNIT_STATES_UNIT);
    writeFileSync(
      join(dir, "etc/devcluster/cluster.env"),
      clusterEnvFile({
        CLUSTER_NAME: env.clusterName,
        STACK_NAME: env.stackName,
        CLUSTER_DOMAIN: env.domain,
        NODE_ROLE: role,
        AWS_REGION: env.aws.AWS_REGION ?? "",
        PRIVATE_ZONE_ID: env.zoneId,
        USER_POOL_ID: env.userPool?.userPoolId ?? "",
        USER_POOL_CLIENT_ID: env.userPool?.clientId ?? "",
        SNAPSHOT_BUCKET: env.snapshotBucket,
        FILEDROP_SENDER: localFileDropSender(env.domain),
        ETCD_TLS: String(env.etcdTls),
        ...(env.frontDoorTls
          ? { TLS_CERT_PARAM: env.frontDoorTls.certParam, TLS_KEY_PARAM: env.frontDoorTls.keyParam }
          : {}),
      }),
    );
    writeNodeAwsEnv(root, instanceId, env.aws);
  }
  rmSync(join(dir, DOWN_MARK), { force: true });
  return dir;
}

/** The file drop's sender on a local cluster: the stack parameter FileDropSender's default. */
export const localFileDropSender = (domain: string) => `filedrop@${domain}`;

/**
 * A node's AWS settings (`/etc/devcluster/aws.env`): the credentials of the role its programs and
 * scripts act as (the instance profile's on EC2), and the endpoint.
 */
export function writeNodeAwsEnv(root: string, instanceId: string, aws: Record<string, string>): void {
  const dir = join(nodeDir(root, instanceId), "etc/devcluster");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "aws.env"), envFileText(aws), { mode: 0o600 });
}

export function isNodeUp(root: string, instanceId: string): boolean {
  const dir = nodeDir(root, instanceId);
  return existsSync(dir) && !existsSync(join(dir, DOWN_MARK));
}

/**
 * Every process a node runs (from the systemctl stand-in's pid files): only those still running, and
 * never a process that reused a pid after its unit ended (nothing may signal a stranger).
 */
export function nodePids(dir: string): number[] {
  const state = join(dir, "run/systemd");
  if (!existsSync(state)) return [];
  return readdirSync(state)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => livePidOf(join(state, f)))
    .filter((p): p is number => p !== undefined);
}

/**
 * The machine dies: its processes get `signal` (SIGKILL by default: no clean shutdown) and the
 * node stops answering commands. Its disk (the directory) stays, as an EBS volume would.
 */
export async function killLocalNode(root: string, instanceId: string, signal: NodeJS.Signals = "SIGKILL") {
  const dir = nodeDir(root, instanceId);
  if (!existsSync(dir)) return;
  writeFileSync(join(dir, DOWN_MARK), new Date().toISOString());
  const pids = nodePids(dir);
  await Promise.all([...pids.map((pid) => stopSession(pid, signal)), killNodeContainers(dir)]);
  // Its mounts die with it; the volumes' contents stay in their directories, as on EBS.
  dropNodeMounts(root, instanceId);
}

/** A unit's process and its session (a container unit's supervisor and the docker client it waits on). */
async function stopSession(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    // not a session leader, or gone
  }
  await stopPid(pid, signal, 2000);
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // gone
  }
}

/** Stop every node process found below `dir` (any depth): cleanup after tests or a crashed cluster. */
export async function stopNodeProcessesUnder(dir: string): Promise<void> {
  const pids: number[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 6 || !existsSync(d)) return;
    if (existsSync(join(d, "run/systemd"))) pids.push(...nodePids(d));
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      try {
        if (statSync(p).isDirectory() && e !== "var" && e !== "etc" && e !== "opt") walk(p, depth + 1);
      } catch {
        // vanished while walking
      }
    }
  };
  walk(dir, 0);
  await Promise.all(pids.map((pid) => stopSession(pid, "SIGKILL")));
  await removeContainersUnder(dir);
  unmountAllUnder(dir);
}
