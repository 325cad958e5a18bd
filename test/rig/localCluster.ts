// The local cluster a test file runs against: `up` (3 main, 2 workers) on a private /16 before its
// tests, `down` and every leftover process and file removed after them.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";
import { down, up } from "../../local/cluster/cluster.ts";
import { readState, type LocalState } from "../../local/cluster/state.ts";
import { reserveLocalClusterPrefix, type LoopbackBlock } from "../../local/loopback.ts";
import { stopNodeProcessesUnder } from "../../local/node.ts";

export interface LocalClusterRig {
  block: LoopbackBlock;
  /** The test's own directory; the cluster's state lives in `dir` inside it. */
  base: string;
  dir: string;
  state: LocalState;
}

export function useLocalCluster(opts: {
  name: string;
  progress?: (line: string) => void;
  /** The front door serves HTTPS with the cluster's own CA (state.frontDoorTls.caFile). */
  frontDoorTls?: boolean;
  /** The team's services to run as well (`up --services`): "all" or names. */
  services?: string;
  /** etcd with TLS, client certificates and the nodes' roles (`up --etcd-tls`). */
  etcdTls?: boolean;
}): LocalClusterRig {
  const c = {} as LocalClusterRig;
  const progress = opts.progress ?? (() => {});
  beforeAll(async () => {
    c.block = reserveLocalClusterPrefix();
    c.base = mkdtempSync(join(tmpdir(), `devcluster-${opts.name}-`));
    c.dir = join(c.base, "cluster");
    // The first up on a machine builds the container images (minutes, once), and up builds and
    // packages the service when its sources changed.
    await up(
      c.dir,
      {
        main: 3,
        workers: 2,
        data: 0,
        prefix: c.block.prefix,
        ...(opts.frontDoorTls ? { frontDoorTls: true } : {}),
        ...(opts.services ? { services: opts.services } : {}),
        ...(opts.etcdTls ? { etcdTls: true } : {}),
      },
      progress,
    );
    c.state = readState(c.dir)!;
  }, 900_000);
  afterAll(async () => {
    if (c.dir) {
      await down(c.dir, () => {}).catch(() => {});
      await stopNodeProcessesUnder(c.base);
    }
    c.block?.release();
    if (c.base) rmSync(c.base, { recursive: true, force: true });
    // down stops every container of five nodes: minutes on a loaded machine.
  }, 240_000);
  return c;
}

/** Listening TCP sockets on the cluster's /16 (`ss -ltnH`, local address column). */
export async function listeners(prefix: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)("ss", ["-ltnH"]);
  return stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[3] ?? "")
    .filter((addr) => addr.startsWith(`${prefix}.`));
}
