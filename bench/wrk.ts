// What the HTTP benches share: wrk runs parsed into figures, a small JSON service, and status codes.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";

const sh = promisify(execFile);

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  /** Non-2xx/3xx answers plus socket errors: a run with errors measured something else. */
  errors: number;
}

const ms = (v: string, unit: string) => Number(v) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);

/** One wrk run (2 threads) against url with the given request headers. */
export async function wrk(
  url: string,
  headers: string[],
  run: { seconds: number; connections: number },
): Promise<WrkResult> {
  const { stdout } = await sh(
    "wrk",
    [
      "-t2",
      `-c${run.connections}`,
      `-d${run.seconds}s`,
      "--latency",
      ...headers.flatMap((h) => ["-H", h]),
      url,
    ],
    { timeout: (run.seconds + 30) * 1000 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const lat = (pct: string) => {
    const m = new RegExp(`\\s${pct}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
  return { rps, p50: lat("50"), p99: lat("99"), errors };
}

/** A plain node HTTP server answering a small JSON body, in its own process; resolves once listening. */
export async function startJsonService(ip: string, port: number): Promise<ChildProcess> {
  const service = spawn(
    process.execPath,
    [
      "-e",
      `require("http").createServer((q,s)=>{s.setHeader("content-type","application/json");s.end('{"hello":"world"}')}).listen(${port},"${ip}",()=>console.log("up"))`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise((r) => service.stdout!.once("data", r));
  return service;
}

/** The HTTP status code curl gets for url with these headers ("" when it cannot connect). */
export const httpCode = async (url: string, headers: string[] = []): Promise<string> =>
  (
    await sh("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      ...headers.flatMap((h) => ["-H", h]),
      url,
    ]).catch(() => ({ stdout: "" }))
  ).stdout;

/** Stops every child with SIGTERM and waits for each to exit. */
export async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const c of children) c.kill("SIGTERM");
  await Promise.all(
    children.map((c) =>
      c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once("exit", r)) : undefined,
    ),
  );
}
