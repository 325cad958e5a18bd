// Real etcd members as local processes, each on its own loopback address.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { etcdEnv, type EtcdStartSettings } from "../functions/domain/etcdEnv.ts";
import { etcdClientUrl } from "../functions/domain/model.ts";
import { ETCD_BIN, requireTool } from "./paths.ts";
import { httpOk, startDetached, waitUntil, type ManagedProcess } from "./processes.ts";

/** Settings that keep a loopback cluster quick to elect and light on disk. */
export const LOCAL_ETCD_TUNING: Record<string, string> = {
  ETCD_HEARTBEAT_INTERVAL: "50",
  ETCD_ELECTION_TIMEOUT: "500",
  ETCD_LOGGER: "zap",
  ETCD_LOG_LEVEL: "warn",
  ETCD_ENABLE_V2: "false",
  ETCD_UNSAFE_NO_FSYNC: "true",
  ETCD_EXPERIMENTAL_INITIAL_CORRUPT_CHECK: "false",
};

/** Start a member from an environment (ETCD_* variables); its log goes to `<logDir>/etcd.log`. */
export function spawnEtcd(env: Record<string, string>, logDir: string, pidFile?: string): ManagedProcess {
  requireTool(ETCD_BIN, "run scripts/install-deps.sh (it builds etcd from scripts/etcd)");
  mkdirSync(logDir, { recursive: true });
  return startDetached(ETCD_BIN, [], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...LOCAL_ETCD_TUNING, ...env },
    logFile: join(logDir, "etcd.log"),
    pidFile,
  });
}

export async function waitEtcdHealthy(ip: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(`etcd at ${ip}`, () => httpOk(`${etcdClientUrl(ip)}/health`), timeoutMs, 50);
}

export interface LocalEtcdCluster {
  members: { name: string; ip: string; dataDir: string; proc: ManagedProcess }[];
  endpoints: string[];
  stop(): Promise<void>;
}

/** Start an initial cluster of `ips.length` members and wait until it serves. */
export async function startEtcdCluster(opts: {
  ips: string[];
  dir: string;
  token: string;
  names?: string[];
}) {
  const names = opts.names ?? opts.ips.map((_, i) => `m${i + 1}`);
  const initialCluster = opts.ips.map((ip, i) => ({ name: names[i]!, ip }));
  const members = opts.ips.map((ip, i) => {
    const name = names[i]!;
    const dataDir = join(opts.dir, name, "data");
    const settings: EtcdStartSettings = {
      name,
      ip,
      dataDir,
      initialCluster,
      state: "new",
      token: opts.token,
    };
    return { name, ip, dataDir, proc: spawnEtcd(etcdEnv(settings), join(opts.dir, name)) };
  });
  await Promise.all(opts.ips.map((ip) => waitEtcdHealthy(ip)));
  const cluster: LocalEtcdCluster = {
    members,
    endpoints: opts.ips.map(etcdClientUrl),
    stop: async () => {
      await Promise.all(members.map((m) => m.proc.stop("SIGTERM", 3000)));
    },
  };
  return cluster;
}
