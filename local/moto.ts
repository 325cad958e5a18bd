// A moto server (the AWS API emulator) on a loopback address, as the AWS endpoint.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { httpOk, startDetached, waitUntil, type ManagedProcess } from "./processes.ts";
import { MOTO_SERVER, requireTool } from "./paths.ts";

export interface MotoServer {
  endpoint: string;
  process: ManagedProcess;
  /** The environment that points the AWS SDK at this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export const LOCAL_REGION = "eu-west-1";

export function awsEnvFor(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    // moto accepts any credentials; these are not secrets.
    AWS_ACCESS_KEY_ID: "local",
    AWS_SECRET_ACCESS_KEY: "local",
    S3_FORCE_PATH_STYLE: "true",
    AWS_NODEJS_CONNECTION_REUSE_ENABLED: "1",
  };
}

export async function startMoto(opts: {
  host: string;
  port?: number;
  dir: string;
  pidFile?: string;
}): Promise<MotoServer> {
  requireTool(MOTO_SERVER, "run scripts/install-deps.sh");
  mkdirSync(opts.dir, { recursive: true });
  const port = opts.port ?? 5000;
  const endpoint = `http://${opts.host}:${port}`;
  const proc = startDetached(MOTO_SERVER, ["-H", opts.host, "-p", String(port)], {
    logFile: join(opts.dir, "moto.log"),
    pidFile: opts.pidFile,
    env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: "true" },
  });
  await waitUntil(`moto at ${endpoint}`, () => httpOk(`${endpoint}/moto-api/`), 30_000, 100);
  return { endpoint, process: proc, env: awsEnvFor(endpoint), stop: () => proc.stop("SIGTERM", 3000) };
}
