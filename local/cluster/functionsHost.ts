// The local cluster's warm functions: a process started by `local up` keeps each deployed function's
// container (functions.ts) between invocations, as Lambda keeps a container warm, and answers Lambda's
// Invoke call (POST /2015-03-31/functions/<name>/invocations) on a unix socket in the state directory.
// The operator's commands invoke through it, so a command line pays no function cold start.
import { existsSync, rmSync } from "node:fs";
import { createServer, request } from "node:http";
import { join } from "node:path";
import { FUNCTION_NAMES, type FunctionName } from "../../cloudformation/options.ts";
import { PROJECT_ROOT } from "../paths.ts";
import { pidAlive, readPidFile, stopPidFile, startDetached } from "../processes.ts";
import { requireState } from "./attach.ts";
import { loadFunctions, rebuildError, stopFunctions } from "./functions.ts";
import { isRunning, readState } from "./state.ts";

export const functionsSocketPath = (dir: string) => join(dir, "functions.sock");
export const functionsHostPidPath = (dir: string) => join(dir, "functions-host.pid");
/** A unix socket's path is at most 107 bytes; a deeper state directory goes without the warm host. */
const SOCKET_PATH_MAX = 107;
const INVOKE_PATH = /^\/2015-03-31\/functions\/([a-z]+)\/invocations$/;
/** Which cluster answers: a host left from an earlier cluster in the same directory is not used. */
const CLUSTER_HEADER = "x-devcluster-created-at";

/**
 * Start the host for the cluster in `dir`, detached (it outlives `local up`, like moto): the same
 * command line (bin/devcluster.js, so the prebuilt bundle) with `local functions-host`.
 */
export function startFunctionsHost(dir: string): void {
  if (Buffer.byteLength(functionsSocketPath(dir)) > SOCKET_PATH_MAX) return;
  startDetached(
    process.execPath,
    [join(PROJECT_ROOT, "bin", "devcluster.js"), "local", "functions-host", "--dir", dir],
    {
      logFile: join(dir, "functions-host.log"),
      pidFile: functionsHostPidPath(dir),
      cwd: PROJECT_ROOT,
    },
  );
}

/** Stop the host; the pid it had if it was running. */
export async function stopFunctionsHost(dir: string): Promise<number | undefined> {
  const pid = readPidFile(functionsHostPidPath(dir));
  const alive = pid !== undefined && pidAlive(pid);
  await stopPidFile(functionsHostPidPath(dir));
  rmSync(functionsSocketPath(dir), { force: true });
  return alive ? pid : undefined;
}

/** Serve the cluster's functions until stopped, or until its cluster is gone (moto stopped, replaced). */
export async function serveFunctions(dir: string, log: (line: string) => void): Promise<void> {
  const state = requireState(dir);
  const fns = await loadFunctions(dir, state);
  const socket = functionsSocketPath(dir);
  rmSync(socket, { force: true });
  const server = createServer((req, res) => {
    const fn = INVOKE_PATH.exec(req.url ?? "")?.[1] as FunctionName | undefined;
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, {
        "content-type": "application/json",
        [CLUSTER_HEADER]: state.createdAt,
        ...headers,
      });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST" || !fn || !FUNCTION_NAMES.includes(fn))
      return answer(404, { Type: "User", message: `no function at ${req.method} ${req.url}` });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let payload: unknown;
      try {
        payload = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      } catch {
        return answer(400, { Type: "User", message: "the payload is not JSON" });
      }
      fns.invoke(fn, payload).then(
        (result) => answer(200, result ?? null),
        // What Lambda answers when the handler threw: 200, the error's type and message.
        (e: unknown) => {
          const err = e instanceof Error ? e : new Error(String(e));
          answer(
            200,
            { errorType: err.name, errorMessage: err.message },
            { "x-amz-function-error": "Unhandled" },
          );
        },
      );
    });
  });
  server.requestTimeout = 0; // a restore may run for minutes
  await new Promise<void>((ok, fail) => server.once("error", fail).listen(socket, ok));
  log(`functions of the cluster in ${dir} served on ${socket}`);
  // Provisioned concurrency, in effect: the read-only status function's container starts now.
  await fns.invoke("status", {}).catch((e: Error) => log(`warming status failed: ${e.message}`));
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    const watch = setInterval(() => {
      if (!isRunning(dir) || readState(dir)?.createdAt !== state.createdAt) stop();
    }, 5000);
    watch.unref();
  });
  server.close();
  rmSync(socket, { force: true });
  await stopFunctions();
}

/**
 * Invoke through the cluster's warm host; `undefined` when none serves this cluster (none started,
 * stopped, or left from an earlier cluster), and the caller runs the function in its own process.
 */
export function invokeWarm(
  dir: string,
  createdAt: string,
  fn: FunctionName,
  payload: unknown,
): Promise<{ result: unknown } | undefined> {
  const socketPath = functionsSocketPath(dir);
  const pid = readPidFile(functionsHostPidPath(dir));
  if (!existsSync(socketPath) || pid === undefined || !pidAlive(pid)) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method: "POST", path: `/2015-03-31/functions/${fn}/invocations` },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          if (res.headers[CLUSTER_HEADER] !== createdAt || res.statusCode !== 200) return resolve(undefined);
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
          if (res.headers["x-amz-function-error"]) {
            const { errorType, errorMessage } = body as { errorType: string; errorMessage: string };
            return reject(rebuildError({ name: errorType, message: errorMessage }));
          }
          resolve({ result: body });
        });
      },
    );
    // A host gone between the check and the call (nothing was sent): the caller runs the function
    // itself. A connection lost during an invocation is an error, not a second invocation.
    req.on("error", (e: NodeJS.ErrnoException) =>
      e.code === "ECONNREFUSED" || e.code === "ENOENT" ? resolve(undefined) : reject(e),
    );
    req.end(JSON.stringify(payload ?? {}));
  });
}

/** `local functions-host`, run by startFunctionsHost: serve until stopped. */
export async function functionsHostCommand(dir: string): Promise<number> {
  await serveFunctions(dir, (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  return 0;
}
