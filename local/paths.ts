// Where the project's local tools live (the moto/cfn-lint venv, etcd binaries).
import { ConfigError } from "../functions/domain/errors.ts";
import { existsSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const VENV = process.env.DEVCLUSTER_VENV ?? join(PROJECT_ROOT, ".venv");
export const MOTO_SERVER = join(VENV, "bin", "moto_server");
export const CFN_LINT = join(VENV, "bin", "cfn-lint");
/** etcd and etcdctl as scripts/install-deps.sh builds them (scripts/etcd: the main nodes' release). */
export const ETCD_BIN = process.env.ETCD_BIN ?? join(PROJECT_ROOT, ".tools", "etcd", "etcd");
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? join(PROJECT_ROOT, ".tools", "etcd", "etcdctl");

export function requireTool(path: string, hint: string): string {
  if (!existsSync(path)) throw new ConfigError(`${path} is missing: ${hint}`);
  return path;
}

/**
 * checkov lives in a venv of its own (its pins conflict with moto's): the project's `.venv-checkov`,
 * else the one beside wherever `.venv` really is (a checkout whose `.venv` links to another's).
 */
export const CHECKOV =
  process.env.DEVCLUSTER_CHECKOV ??
  [PROJECT_ROOT, dirname(existsSync(VENV) ? realpathSync(VENV) : VENV)]
    .map((d) => join(d, ".venv-checkov", "bin", "checkov"))
    .find((p) => existsSync(p)) ??
  join(PROJECT_ROOT, ".venv-checkov", "bin", "checkov");
