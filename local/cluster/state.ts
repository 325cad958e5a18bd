// The state of a running local cluster: one directory (default .devcluster/) holding state.json,
// moto's log and pid, and one directory per node.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { livePidOf } from "../processes.ts";

export const DEFAULT_STATE_DIR = ".devcluster";

const Credentials = z.object({
  accessKeyId: z.string(),
  secretAccessKey: z.string(),
  sessionToken: z.string().optional(),
});

export const LocalStateSchema = z.object({
  version: z.literal(3),
  clusterName: z.string(),
  domain: z.string(),
  prefix: z.string(), // 127.A: the /16 the cluster's VPC and moto live in
  motoEndpoint: z.string(),
  stackName: z.string(),
  /** The cached package the stack was deployed from (`.build/local/packages/<key>`). */
  packageKey: z.string(),
  zoneId: z.string(),
  /** The user pool the auth service signs users in against (made through cognito-idp: moto's CloudFormation has no Cognito). */
  userPool: z.object({ userPoolId: z.string(), clientId: z.string() }).optional(),
  bucket: z.string(),
  /**
   * The front door's HTTPS (when `up` was asked for it): its certificate and key in SSM, issued by a
   * CA made for this cluster, whose certificate is `caFile` (what a client of the cluster trusts).
   */
  frontDoorTls: z.object({ certParam: z.string(), keyParam: z.string(), caFile: z.string() }).optional(),
  groups: z.object({ main: z.string(), worker: z.string(), data: z.string() }),
  hooks: z.record(z.string(), z.object({ launch: z.string(), terminate: z.string() })),
  /** Each deployed function's name and role, as moto holds them. */
  functions: z.record(z.string(), z.object({ name: z.string(), role: z.string() })),
  /** The deployed functions' environment, read back from moto: what the handlers run with. */
  functionEnv: z.record(z.string(), z.string()),
  /** Whether moto enforces IAM (it does unless the cluster was started to measure the difference). */
  iam: z.boolean(),
  /** moto's administrator: the operator's side (deploy, status, the stand-in for Auto Scaling). */
  admin: Credentials,
  /** Each deployed function's role's credentials, and the nodes' role's ("node"), from sts:AssumeRole. */
  credentials: z.record(z.string(), Credentials),
  createdAt: z.string(),
});
export type LocalState = z.infer<typeof LocalStateSchema>;

export const stateDir = (dir = process.env.DEVCLUSTER_STATE_DIR ?? DEFAULT_STATE_DIR) => resolve(dir);
export const statePath = (dir: string) => join(dir, "state.json");
export const motoPidPath = (dir: string) => join(dir, "moto.pid");

export function readState(dir: string): LocalState | undefined {
  if (!existsSync(statePath(dir))) return undefined;
  return LocalStateSchema.parse(JSON.parse(readFileSync(statePath(dir), "utf8")));
}

export function writeState(dir: string, state: LocalState) {
  mkdirSync(dir, { recursive: true });
  const tmp = statePath(dir) + ".tmp";
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, statePath(dir));
}

/** A cluster runs when its moto server does (moto holds all of the emulated AWS state). */
export function isRunning(dir: string): boolean {
  return livePidOf(motoPidPath(dir)) !== undefined;
}
