// Reserves a block of loopback addresses (127.A.B.0/24) so parallel clusters never collide.
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
 * Take a free block. `fixed` asks for one block by name (the local cluster uses a stable one);
 * otherwise a random one is chosen. A block whose holder died is taken over.
 */
export function reserveLoopbackBlock(fixed?: string): LoopbackBlock {
  mkdirSync(LOCK_ROOT, { recursive: true });
  for (let attempt = 0; attempt < 200; attempt++) {
    const prefix =
      fixed ?? `127.${20 + Math.floor(Math.random() * 200)}.${1 + Math.floor(Math.random() * 250)}`;
    const dir = join(LOCK_ROOT, prefix);
    try {
      mkdirSync(dir);
    } catch {
      const owner = Number(existsSync(join(dir, "pid")) ? readFileSync(join(dir, "pid"), "utf8") : "0");
      if (owner && pidAlive(owner)) {
        if (fixed) throw new Error(`loopback block ${fixed} is held by process ${owner}`);
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
  throw new Error("no free loopback block");
}
