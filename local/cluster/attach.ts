// Attaching to a running local cluster: its state, the environment pointed at it, and its deployed
// functions. Apart from cluster.ts (which starts, scales and stops clusters with the SDK's clients),
// so the operator's commands load only what reading a running cluster needs.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { NotFoundError } from "../../functions/domain/errors.ts";
import { nodeDir, nodePids } from "../node.ts";
import { readPidFile } from "../processes.ts";
import { loadFunctions, localEnv, type LocalFunctionSet } from "./functions.ts";
import { isRunning, motoPidPath, readState, type LocalState } from "./state.ts";

/** The running cluster's state; the environment is pointed at it (moto, names, local adapters). */
export function requireState(dir: string): LocalState {
  const state = readState(dir);
  if (state && !isRunning(dir)) {
    const moto = readPidFile(motoPidPath(dir));
    const left = liveNodeProcesses(dir);
    if (left.length) {
      // A crash (moto killed, the machine rebooted the shell...): say what is left, not "nothing runs".
      throw new NotFoundError(
        `the local cluster in ${dir} is down: moto${moto !== undefined ? ` (pid ${moto})` : ""} is not running, ` +
          `but node processes are: ${left.map((n) => `${n.id} (pid ${n.pids.join(", ")})`).join(", ")}; ` +
          `'npx devcluster local down' stops them, then 'npx devcluster local up' starts a new cluster`,
      );
    }
  }
  if (!state || !isRunning(dir)) {
    throw new NotFoundError(
      `no local cluster runs (state dir ${dir}); start one with 'npx devcluster local up'`,
    );
  }
  Object.assign(process.env, localEnv(dir, state));
  return state;
}

/** A running cluster's handle: its state and the real handlers pointed at it. */
export async function attach(dir: string): Promise<{ state: LocalState; fns: LocalFunctionSet }> {
  const state = requireState(dir);
  return { state, fns: await loadFunctions(dir, state) };
}

/** The cluster's node directories that still have live processes. */
export function liveNodeProcesses(dir: string): { id: string; pids: number[] }[] {
  const nodes = join(dir, "nodes");
  if (!existsSync(nodes)) return [];
  return readdirSync(nodes)
    .sort()
    .map((id) => ({ id, pids: nodePids(nodeDir(dir, id)) }))
    .filter((n) => n.pids.length > 0);
}
