// Where the project's local tools live (the moto/cfn-lint venv, etcd binaries).
import { ConfigError } from "../functions/domain/errors.ts";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const VENV = process.env.DEVCLUSTER_VENV ?? join(PROJECT_ROOT, ".venv");
export const MOTO_SERVER = join(VENV, "bin", "moto_server");
export const CFN_LINT = join(VENV, "bin", "cfn-lint");
export const ETCD_BIN = process.env.ETCD_BIN ?? "/usr/bin/etcd";
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? "/usr/bin/etcdctl";

export function requireTool(path: string, hint: string): string {
  if (!existsSync(path)) throw new ConfigError(`${path} is missing: ${hint}`);
  return path;
}
