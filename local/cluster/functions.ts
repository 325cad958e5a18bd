// The real Lambda handlers, invoked the way Lambda would, for the local cluster: each deployed function
// runs in its own worker thread (its "container": own environment, SDK clients and warm state) with the
// credentials of its own role from the deployed stack, so moto, enforcing IAM, refuses what the role
// does not allow, as AWS would. The local stand-ins for SSM commands and lifecycle actions are
// composed inside each worker (functionHost.ts).
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { FUNCTION_NAMES, type FunctionName } from "../../cloudformation/options.ts";
import * as errors from "../../functions/domain/errors.ts";
import { awsEnvFor, type AwsCredentials } from "../awsEnv.ts";
import { logGroupOf } from "../../bin/ops/cloudWatchEvents.ts";
import type { Answer } from "./functionHost.ts";
import type { LocalState } from "./state.ts";

const base = (dir: string, state: LocalState) => ({
  ...state.functionEnv,
  DEVCLUSTER_LOG_FILE: join(dir, "functions.log"),
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
});

/**
 * What the local cluster's own commands run with (the operator's side: status, scaling, the stand-in
 * for Auto Scaling): the deployed functions' settings and the administrator's credentials.
 */
export function localEnv(dir: string, state: LocalState): Record<string, string> {
  return { ...base(dir, state), ...awsEnvFor(state.motoEndpoint, state.admin) };
}

/**
 * What one function runs with: the deployed functions' own environment (read back from moto after
 * `sls deploy`), its role's credentials, and what differs on this machine: the endpoint and the log file.
 */
export function functionEnv(dir: string, state: LocalState, fn: FunctionName): Record<string, string> {
  const name = state.functions[fn]?.name;
  return {
    ...base(dir, state),
    ...awsEnvFor(state.motoEndpoint, roleCredentials(state, fn)),
    // What Lambda sets in a function's environment; the host ships the handler's lines to this group.
    ...(name ? { AWS_LAMBDA_FUNCTION_NAME: name, AWS_LAMBDA_LOG_GROUP_NAME: logGroupOf(name) } : {}),
  };
}

export function roleCredentials(state: LocalState, principal: FunctionName | "node"): AwsCredentials {
  const c = state.credentials[principal];
  if (!c) throw new errors.DevclusterError(`the local cluster holds no credentials for ${principal}`);
  return c;
}

export interface LocalFunctionSet {
  lifecycle(event: unknown): Promise<unknown>;
  reconcile(): Promise<unknown>;
  snapshot(): Promise<unknown>;
  restore(input: unknown): Promise<unknown>;
  units(input: unknown): Promise<unknown>;
  /** The function called with this payload, as `sls invoke -f <function> --data <payload>` calls it on AWS. */
  invoke(fn: FunctionName, payload: unknown): Promise<unknown>;
}

/** A function's container: started on first use, kept warm while the process drives the same cluster. */
class FunctionContainer {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private next = 1;
  private pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();

  constructor(
    private readonly fn: FunctionName,
    private readonly dir: string,
    private readonly env: Record<string, string>,
  ) {}

  private start(): Promise<void> {
    const env: Record<string, string | undefined> = { ...process.env, ...this.env };
    // A role's credentials are complete without the operator's session token, if it had one.
    if (!("AWS_SESSION_TOKEN" in this.env)) delete env.AWS_SESSION_TOKEN;
    const worker = new Worker(new URL("./functionHost.mjs", import.meta.url), {
      workerData: { fn: this.fn, dir: this.dir, host: new URL("./functionHost.ts", import.meta.url).href },
      env,
    });
    this.worker = worker;
    worker.unref(); // an idle container never keeps the command line from exiting
    return new Promise((resolve, reject) => {
      worker.on("message", (m: Answer | { ready: true }) => {
        if ("ready" in m) return resolve();
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (!this.pending.size) worker.unref();
        if ("error" in m) p.fail(rebuildError(m.error));
        else p.ok(m.result);
      });
      const died = (e: Error) => {
        reject(e);
        for (const p of this.pending.values()) p.fail(e);
        this.pending.clear();
        this.worker = undefined;
        this.ready = undefined;
      };
      worker.on("error", died);
      worker.on("exit", (code) =>
        died(new errors.DevclusterError(`the ${this.fn} function's worker exited (${code})`)),
      );
    });
  }

  async invoke(payload: unknown): Promise<unknown> {
    await (this.ready ??= this.start());
    const worker = this.worker!;
    const id = this.next++;
    worker.ref(); // an invocation in flight keeps the process alive until it answers
    return new Promise((ok, fail) => {
      this.pending.set(id, { ok, fail });
      worker.postMessage({ id, payload });
    });
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    if (w) await w.terminate();
  }
}

/** The error class the handler threw, by name (a worker hands errors over as plain data). */
export function rebuildError(e: { name: string; message: string; stack?: string }): Error {
  const Known = (errors as Record<string, unknown>)[e.name];
  const err =
    typeof Known === "function" && Known.prototype instanceof Error
      ? (new (Known as new (m: string) => Error)(e.message) as Error)
      : Object.assign(new Error(e.message), { name: e.name });
  // InvalidInputError's constructor would append issues again: keep the handler's message as thrown.
  err.message = e.message;
  if (e.stack) err.stack = e.stack;
  return err;
}

/** The cluster the warm containers serve, and those containers. */
let warm: { cluster: string; containers: Record<FunctionName, FunctionContainer> } | undefined;

/** Stop every function's container (a process that drives another cluster next, or ends). */
export async function stopFunctions(): Promise<void> {
  const w = warm;
  warm = undefined;
  if (w) await Promise.all(Object.values(w.containers).map((c) => c.stop()));
}

/** The deployed functions of the local cluster in `dir`, each in its own container with its own role. */
export async function loadFunctions(dir: string, state: LocalState): Promise<LocalFunctionSet> {
  // Like Lambda containers, the functions keep their dependencies (clients) across calls; a process
  // that drives another cluster (tests, bench: up after down) needs fresh containers.
  const cluster = `${dir}|${state.createdAt}`;
  if (warm?.cluster !== cluster) {
    await stopFunctions();
    warm = {
      cluster,
      containers: Object.fromEntries(
        FUNCTION_NAMES.map((fn) => [fn, new FunctionContainer(fn, dir, functionEnv(dir, state, fn))]),
      ) as Record<FunctionName, FunctionContainer>,
    };
  }
  const c = warm.containers;
  const scheduled = { source: "aws.events", "detail-type": "Scheduled Event" };
  return {
    lifecycle: (e) => c.lifecycle.invoke(e),
    reconcile: () => c.reconcile.invoke(scheduled),
    snapshot: () => c.snapshot.invoke(scheduled),
    restore: (input) => c.restore.invoke(input),
    units: (input) => c.units.invoke(input),
    invoke: (fn, payload) => c[fn].invoke(payload),
  };
}
