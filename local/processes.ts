// Starting, waiting for and stopping the local processes (moto, etcd) of a local cluster or test rig.
import { DeadlineError, DevclusterError } from "../functions/domain/errors.ts";
import { spawn } from "node:child_process";
import { openSync, closeSync, writeFileSync, readFileSync, existsSync, rmSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ManagedProcess {
  pid: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!pidAlive(pid)) return true;
    await sleep(20);
  }
  return !pidAlive(pid);
}

export async function stopPid(
  pid: number,
  signal: NodeJS.Signals = "SIGTERM",
  graceMs = 5000,
): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  if (await waitForExit(pid, graceMs)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitForExit(pid, 5000);
}

/**
 * Start a detached process whose output goes to `logFile`; it outlives the caller (the local
 * cluster's CLI exits while its processes run). `pidFile`, if given, records its pid.
 */
export function startDetached(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile: string; pidFile?: string; cwd?: string },
): ManagedProcess {
  const fd = openSync(opts.logFile, "a");
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    detached: true,
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new DevclusterError(`could not start ${cmd}`);
  child.unref();
  const pid = child.pid;
  // Reap the child if it dies while we still run, so pidAlive() does not see a zombie.
  child.on("exit", () => {});
  if (opts.pidFile) writeFileSync(opts.pidFile, String(pid));
  return {
    pid,
    stop: (signal, graceMs) => stopPid(pid, signal, graceMs),
  };
}

export function readPidFile(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const pid = Number(readFileSync(path, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The machine's boot time (s since the epoch): read once, it does not change. */
let bootSeconds: number | undefined;
const bootTime = () =>
  (bootSeconds ??= Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]));

/** When a live process started (ms since the epoch, to 10 ms and the boot time's second), from /proc. */
export function processStartMs(pid: number): number | undefined {
  try {
    // Field 22 (starttime, clock ticks since boot) follows the command, which may hold spaces.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const ticks = Number(fields[19]);
    const boot = bootTime();
    return Number.isFinite(ticks) && Number.isFinite(boot) ? boot * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid a pid file names, if that process still runs: one that started after the file was
 * written is another process that reused the number (pids wrap within seconds on a busy machine).
 */
export function livePidOf(path: string): number | undefined {
  const pid = readPidFile(path);
  if (pid === undefined || !pidAlive(pid)) return undefined;
  const started = processStartMs(pid);
  let written: number;
  try {
    written = statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
  // The boot time is whole seconds: allow that much.
  return started !== undefined && started > written + 1500 ? undefined : pid;
}

export async function stopPidFile(path: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const pid = readPidFile(path);
  if (pid !== undefined) await stopPid(pid, signal);
  rmSync(path, { force: true });
}

/** Poll `probe` until it returns true or `timeoutMs` passes. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
) {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new DeadlineError(
    `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
  );
}

export async function httpOk(url: string, timeoutMs = 1000): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return res.ok;
}
