// Runs a node program: configuration errors exit 2, fatal errors 1; SIGTERM/SIGINT run the
// program's stop once (presence revokes its lease there) and exit 0.
import { ConfigError } from "../../functions/domain/errors.ts";
import type { Logger } from "./log.ts";

export interface Running {
  /** Stop cleanly: release what others can see (leases, listeners, nginx) before returning. */
  stop(): Promise<void>;
  /** Settles if the program fails on its own after starting (then the process exits 1). */
  failed?: Promise<never>;
}

/** Longest a stop may take before the process exits anyway (systemd/podman would SIGKILL later). */
const STOP_LIMIT_MS = 20_000;

export async function runProgram(log: Logger, start: () => Promise<Running>): Promise<void> {
  let running: Running;
  try {
    running = await start();
  } catch (e) {
    const config = e instanceof ConfigError;
    log.error(config ? "config.invalid" : "start.failed", {
      error: e instanceof Error ? e.message : String(e),
      code: config ? "config.invalid" : "start.failed",
    });
    process.exit(config ? 2 : 1);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    const limit = setTimeout(() => {
      log.error("stop.timeout", { ms: STOP_LIMIT_MS });
      process.exit(1);
    }, STOP_LIMIT_MS);
    limit.unref();
    try {
      await running.stop();
      log.info("stopped", { signal });
      process.exit(0);
    } catch (e) {
      log.error("stop.failed", { error: e instanceof Error ? e.message : String(e) });
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  running.failed?.catch((e: unknown) => {
    log.error("failed", { error: e instanceof Error ? e.message : String(e) });
    void running.stop().finally(() => process.exit(1));
  });
}
