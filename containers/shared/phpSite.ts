// A PHP site behind the front door, as the PHP images run it (mediawiki, phpapp): php-fpm and nginx
// in the container, nginx letting in only the front doors announced in etcd (they set
// X-Remote-User), each configuration checked before it is used and every change of the front doors
// applied one after the other.
import { spawn, type ChildProcess } from "node:child_process";
import { renameSync, writeFileSync } from "node:fs";
import { etcdClient, etcdTlsFromEnv } from "./etcd.ts";
import { followFrontDoors } from "./frontDoors.ts";
import type { Logger } from "./log.ts";
import { run } from "./proc.ts";

/**
 * Run a server's check of its configuration with the container's stderr as its own (php-fpm opens
 * /proc/self/fd/2 for its log, which a socket pair would refuse); rejects on failure.
 */
const checkedConfig = (cmd: string, args: string[]) =>
  new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}: its configuration is refused`)),
    );
  });

export interface PhpSite {
  /** Rejects when php-fpm or nginx exits while not stopping. */
  failed: Promise<never>;
  stop(): Promise<void>;
}

/**
 * Starts php-fpm with `fpmFile` (checked first) and nginx with the configuration `nginxConf` makes
 * for the announced front doors (none before etcd is read: only the health check gets in), then
 * follows the front doors. `listening`: what the `listening` log line says besides the code.
 */
export async function servePhpSite(opts: {
  log: Logger;
  fpmBin: string;
  fpmFile: string;
  nginxFile: string;
  nginxConf: (doors: string[]) => string;
  etcdEndpoints: string[];
  frontDoorService: string;
  debounceMs: number;
  listening: Record<string, unknown>;
}): Promise<PhpSite> {
  const { log, nginxFile } = opts;
  const root = { uid: 0, gid: 0 };
  await checkedConfig(opts.fpmBin, ["--test", "--fpm-config", opts.fpmFile]);
  /** Write nginx.conf for `doors` beside the live one, check it, and only then put it in place. */
  const writeNginx = async (doors: string[]) => {
    writeFileSync(`${nginxFile}.next`, opts.nginxConf(doors));
    await run("nginx", ["-t", "-q", "-c", `${nginxFile}.next`], root);
    renameSync(`${nginxFile}.next`, nginxFile);
  };
  await writeNginx([]);

  const started: ChildProcess[] = [];
  const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;
  const stopAll = () =>
    Promise.all(
      started.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (exited(p)) return resolve();
            p.once("exit", () => resolve());
            p.kill("SIGQUIT"); // both finish the requests under way, then exit
          }),
      ),
    );
  let stopping = false;
  const failed = new Promise<never>((_, reject) => {
    const watch = (p: ChildProcess, what: string) =>
      p.once("exit", (code, signal) => {
        if (!stopping) reject(new Error(`${what} exited (${code ?? signal})`));
      });
    const fpm = spawn(opts.fpmBin, ["--nodaemonize", "--fpm-config", opts.fpmFile], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    started.push(fpm);
    watch(fpm, "php-fpm");
    const nginx = spawn("nginx", ["-c", nginxFile], { stdio: ["ignore", "inherit", "inherit"] });
    started.push(nginx);
    watch(nginx, "nginx");
  });
  failed.catch(() => {});

  const etcd = etcdClient(opts.etcdEndpoints, etcdTlsFromEnv());
  // Changes are applied one after the other, each checked before nginx reloads it.
  let applying = Promise.resolve();
  const doors = followFrontDoors(etcd, opts.frontDoorService, {
    debounceMs: opts.debounceMs,
    log,
    onChange: (addresses) => {
      applying = applying.then(async () => {
        try {
          await writeNginx(addresses);
          await run("nginx", ["-c", nginxFile, "-s", "reload"], root);
          log.info("nginx.reloaded", { code: "nginx.reloaded", frontDoors: addresses });
        } catch (e) {
          log.error("nginx.reload_failed", { code: "nginx.reload_failed", error: (e as Error).message });
        }
      });
    },
  });
  log.info("listening", { code: "listening", ...opts.listening });

  return {
    failed,
    stop: async () => {
      stopping = true;
      await doors.close();
      etcd.close();
      await applying;
      await stopAll();
    },
  };
}
