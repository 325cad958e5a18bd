// Runs nginx as a child process (foreground master) and changes its configuration only through a
// candidate file that passed `nginx -t`; a reload is SIGHUP to the master (what `nginx -s reload`
// sends), so open connections finish on the old workers: nginx is never restarted.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, statSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Logger } from "../../shared/log.ts";

export interface NginxPaths {
  bin: string;
  prefix: string;
}

export const confPath = (prefix: string) => join(prefix, "conf", "nginx.conf");

/** The folders nginx needs under its prefix; temp folders belong to the worker user (`uid`). */
export function preparePrefix(prefix: string, workerUid?: number) {
  for (const d of ["conf", "tls", "logs"]) mkdirSync(join(prefix, d), { recursive: true, mode: 0o700 });
  for (const t of ["tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "cache/auth"]) {
    const dir = join(prefix, t);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (workerUid !== undefined) chownSync(dir, workerUid, workerUid);
  }
  // The worker user must pass through the parents to reach its own folders (search, not read).
  for (const d of ["", "tmp", "cache"]) chmodSync(join(prefix, d), 0o711);
  if (workerUid !== undefined) {
    for (let d = dirname(resolve(prefix)); ; d = dirname(d)) {
      const st = statSync(d);
      if (!(st.mode & 0o001) && st.uid !== workerUid)
        throw new Error(
          `nginx's workers (uid ${workerUid}) cannot reach ${prefix}: ${d} is mode ${(st.mode & 0o777).toString(8)}; give others search (x) permission or choose another NGINX_PREFIX`,
        );
      if (d === dirname(d)) break;
    }
  }
}

/** `nginx -t` on `file`; resolves with nginx's own words when it refuses. */
export function testConfig(
  n: NginxPaths,
  file: string,
): Promise<{ ok: true } | { ok: false; output: string }> {
  return new Promise((resolve) => {
    execFile(
      n.bin,
      ["-t", "-q", "-p", n.prefix, "-c", file, "-e", "stderr"],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        resolve(err ? { ok: false, output: `${stderr}${stdout}`.trim() || err.message } : { ok: true });
      },
    );
  });
}

/**
 * Write `text` as a candidate beside the live file, test it, and only then make it the live file.
 * Returns false (the live file untouched) when nginx refuses it.
 */
export async function installConfig(n: NginxPaths, text: string, log: Logger): Promise<boolean> {
  const live = confPath(n.prefix);
  const candidate = `${live}.candidate`;
  writeFileSync(candidate, text, { mode: 0o600 });
  const r = await testConfig(n, candidate);
  if (!r.ok) {
    log.error("config.rejected", { code: "config.rejected", output: r.output.slice(0, 2000) });
    return false;
  }
  renameSync(candidate, live);
  return true;
}

export interface NginxMaster {
  proc: ChildProcess;
  reload(): void;
  /** Graceful stop (SIGQUIT: workers finish their requests), SIGKILL after `ms`. */
  stop(ms?: number): Promise<void>;
  /** Rejects if nginx exits without being asked to. */
  exited: Promise<never>;
}

export function startNginx(n: NginxPaths, log: Logger): NginxMaster {
  const proc = spawn(n.bin, ["-p", n.prefix, "-c", confPath(n.prefix), "-e", "stderr", "-g", "daemon off;"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const relay = (d: Buffer) => {
    for (const line of d.toString().split("\n"))
      if (line.trim()) log.warn("nginx", { code: "nginx.log", line });
  };
  proc.stdout!.on("data", relay);
  proc.stderr!.on("data", relay);
  let stopping = false;
  const done = new Promise<number | string>((resolve) =>
    proc.once("exit", (code, sig) => resolve(code ?? sig ?? -1)),
  );
  const exited = done.then((c) => {
    if (stopping) return new Promise<never>(() => {});
    throw new Error(`nginx exited (${c})`);
  });
  exited.catch(() => undefined);
  log.info("nginx.started", { code: "nginx.started", pid: proc.pid });
  return {
    proc,
    exited,
    reload() {
      proc.kill("SIGHUP");
    },
    async stop(ms = 10_000) {
      stopping = true;
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGQUIT");
      const t = setTimeout(() => proc.kill("SIGKILL"), ms);
      await done;
      clearTimeout(t);
    },
  };
}
