// Reserves a block of loopback addresses (127.A.B.0/24) so parallel clusters never collide.
import { DevclusterError, RefusedError } from "../functions/domain/errors.ts";
import { mkdirSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LOCK_ROOT = join(tmpdir(), "devcluster-loopback");

export interface LoopbackBlock {
  /** `127.A.B` */
  prefix: string;
  /** The address `127.A.B.<host>`; hosts 1-254. */
  address(host: number): string;
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Test blocks are /24s in 127.100-249.x; local clusters take whole /16s in 127.70-99 (their VPC is a
 * /16 cut into /20 subnets), so the two never overlap.
 *
 * Take a free block. `fixed` asks for one block by name (the local cluster uses a stable one);
 * otherwise a random one is chosen. A block whose holder died is taken over.
 */
export function reserveLoopbackBlock(fixed?: string): LoopbackBlock {
  mkdirSync(LOCK_ROOT, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const prefix =
      fixed ?? `127.${100 + Math.floor(Math.random() * 150)}.${1 + Math.floor(Math.random() * 250)}`;
    const dir = join(LOCK_ROOT, prefix);
    try {
      mkdirSync(dir);
    } catch {
      const owner = Number(existsSync(join(dir, "pid")) ? readFileSync(join(dir, "pid"), "utf8") : "0");
      if (owner && pidAlive(owner)) {
        if (fixed) throw new RefusedError(`loopback block ${fixed} is held by process ${owner}`);
        continue;
      }
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
    }
    writeFileSync(join(dir, "pid"), String(process.pid));
    return {
      prefix,
      address: (host) => `${prefix}.${host}`,
      release: () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  throw new DevclusterError("no free loopback block");
}

/** A /16 (`127.A`) for a local cluster started by a test; the default cluster uses 127.77. */
export function reserveLocalClusterPrefix(): LoopbackBlock {
  for (let attempt = 0; attempt < 100; attempt++) {
    const a = 70 + Math.floor(Math.random() * 30);
    if (a === 77) continue;
    try {
      return reserveLoopbackBlock(`127.${a}`);
    } catch {
      // held by a live process: try another
    }
  }
  throw new DevclusterError("no free loopback /16 for a local cluster");
}
