// What the JVM data services (cassandra, opensearch) share: following their peers through the
// service's announced instances in etcd, and running the server's JVM in the foreground as the
// service's user, its exit watched while it starts and after.
import { spawn } from "node:child_process";
import { parsePresence, servicePrefix, type PresenceRecord } from "../../functions/domain/presence.ts";
import { etcdClient, etcdTlsFromEnv, followPrefix } from "./etcd.ts";
import type { Logger } from "./log.ts";

/**
 * Follows `service`'s announced instances: `peersOf` makes the peer list from them, and `onPeers`
 * runs for each list that differs from the last (`applied`: the list already in place, if any).
 * Resolves once the first list is read.
 */
export async function followPeers(o: {
  etcdEndpoints: string[];
  service: string;
  peersOf: (instances: PresenceRecord[]) => string[];
  onPeers: (peers: string[]) => void;
  applied?: string[];
  log: Logger;
}): Promise<{ close(): Promise<void> }> {
  const etcd = etcdClient(o.etcdEndpoints, etcdTlsFromEnv());
  let last = o.applied?.join("\n");
  const follower = followPrefix(
    etcd,
    servicePrefix(o.service),
    (kvs) => {
      const peers = o.peersOf(parsePresence(kvs).services.get(o.service)?.instances ?? []);
      const text = peers.join("\n");
      if (text === last) return;
      last = text;
      o.onPeers(peers);
    },
    { debounceMs: 500, log: o.log },
  );
  await follower.ready;
  return {
    close: async () => {
      await follower.close();
      etcd.close();
    },
  };
}

export interface Jvm {
  /** Throws when the server exited (for the start's readiness polls). */
  checkRunning(): void;
  /** Rejects when the server exits other than by `stop`. */
  failed: Promise<never>;
  /** SIGTERM, then its exit. */
  stop(): Promise<void>;
}

/** Starts `mainClass` with `heapMb` of heap and `options`, in the foreground, as `ids`. */
export function startJvm(o: {
  name: string;
  java: string;
  heapMb: number;
  options: string[];
  classpath: string;
  mainClass: string;
  ids: { uid: number; gid: number };
  cwd: string;
}): Jvm {
  const server = spawn(
    o.java,
    [`-Xms${o.heapMb}m`, `-Xmx${o.heapMb}m`, "-XX:+UseG1GC", ...o.options, "-cp", o.classpath, o.mainClass],
    {
      ...o.ids,
      cwd: o.cwd,
      stdio: ["ignore", "inherit", "inherit"],
      env: { PATH: process.env.PATH, LANG: "C.UTF-8" },
    },
  );
  const exited = new Promise<string>((resolve) =>
    server.once("exit", (code, signal) => resolve(String(code ?? signal))),
  );
  let stopping = false;
  const failed = exited.then((how) =>
    stopping ? new Promise<never>(() => {}) : Promise.reject(new Error(`${o.name} exited (${how})`)),
  );
  failed.catch(() => {});
  return {
    checkRunning: () => {
      if (server.exitCode !== null || server.signalCode !== null)
        throw new Error(`${o.name} exited (${server.exitCode ?? server.signalCode}) while starting`);
    },
    failed,
    stop: async () => {
      stopping = true;
      if (server.exitCode === null && server.signalCode === null) server.kill("SIGTERM");
      await exited;
    },
  };
}
