// Runs the node programs as they run in their images: the esbuild bundle, `node main.mjs`, settings
// from the environment only. Bundles go under .build/test/ so Node finds etcd3 in the project.
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { PROJECT_ROOT } from "../../local/paths.ts";
import { buildPrograms } from "../../scripts/build-containers.ts";

export interface LogLine {
  level: string;
  msg: string;
  code?: string;
  [k: string]: unknown;
}

export interface RunningProgram {
  proc: ChildProcess;
  logs: LogLine[];
  /** Resolves with the first log line (already seen or to come) that matches. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** Send `signal` (default SIGTERM) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Build the programs once for a test file; `entry(name)` is the bundle to run. */
export function usePrograms(names: string[]) {
  const outRoot = join(
    PROJECT_ROOT,
    ".build",
    "test",
    `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  );
  const entries = new Map<string, string>();
  beforeAll(async () => {
    for (const b of await buildPrograms(names, { outRoot, deps: false })) entries.set(b.name, b.entry);
  }, 60_000);
  afterAll(() => rmSync(outRoot, { recursive: true, force: true }));
  return {
    entry: (name: string) => {
      const e = entries.get(name);
      if (!e) throw new Error(`program ${name} was not built`);
      return e;
    },
  };
}

const running = new Set<RunningProgram>();
afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
});

export function startProgram(entry: string, env: Record<string, string>): RunningProgram {
  const proc = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env, DEVCLUSTER_LOG: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buf = "";
  let stderr = "";
  proc.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let l: LogLine;
      try {
        l = JSON.parse(line) as LogLine;
      } catch {
        l = { level: "raw", msg: line };
      }
      logs.push(l);
      for (const w of [...waiters]) {
        if (w.pred(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    }
  });
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  // "close", not "exit": it comes after stdout is drained, so `logs` is complete once this resolves.
  const exited = new Promise<number | string>((resolve) =>
    proc.once("close", (code, sig) => resolve(code ?? sig ?? -1)),
  );
  const p: RunningProgram = {
    proc,
    logs,
    exited,
    waitLog(pred, timeoutMs = 30_000) {
      const seen = logs.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(
                `no matching log line within ${timeoutMs} ms; got:\n${logs.map((l) => JSON.stringify(l)).join("\n")}\n${stderr}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
      });
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const r = await exited;
      running.delete(p);
      return r;
    },
  };
  running.add(p);
  return p;
}

export const byCode = (code: string) => (l: LogLine) => l.code === code || l.msg === code;
