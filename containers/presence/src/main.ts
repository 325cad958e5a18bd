// presence: announces one unit's instance under /services/<service>/instances/<id> on an etcd lease
// that lives only while the instance passes its health check (containers/README.md).
import { etcdClient, etcdTlsFromEnv } from "../../shared/etcd.ts";
import { checkHealth } from "../../shared/health.ts";
import { programLogger } from "../../shared/log.ts";
import { runProgram } from "../../shared/run.ts";
import { Announcer } from "./announcer.ts";
import { loadPresenceConfig } from "./config.ts";

const log = programLogger("presence");

await runProgram(log, async () => {
  const cfg = loadPresenceConfig();
  const etcd = etcdClient(cfg.etcdEndpoints, etcdTlsFromEnv());
  const announcer = new Announcer(etcd, cfg.record, { ttl: cfg.leaseTtl, election: cfg.election, log });
  log.info("starting", {
    service: cfg.record.service,
    instance: cfg.record.instance,
    ports: cfg.record.ports,
    check: cfg.check,
    ttl: cfg.leaseTtl,
  });

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastProblem: string | undefined = "starting";
  let current: Promise<void> = Promise.resolve();

  const tick = async () => {
    const problem = await checkHealth(cfg.check, cfg.timeoutMs);
    if (stopped) return;
    try {
      if (problem === undefined) {
        if (lastProblem !== undefined) log.info("health.ok", { code: "health.ok" });
        await announcer.refresh();
      } else {
        if (lastProblem === undefined || lastProblem === "starting")
          log.warn("health.failed", { code: "health.failed", reason: problem });
        await announcer.withdraw("unhealthy");
      }
      lastProblem = problem;
    } catch (e) {
      // etcd unreachable: the lease expires on its own if this lasts; try again next tick.
      log.warn("etcd.unreachable", {
        code: "etcd.unreachable",
        error: e instanceof Error ? e.message : String(e),
      });
    }
  };
  const loop = () => {
    if (stopped) return;
    current = tick().finally(() => {
      if (!stopped) timer = setTimeout(loop, cfg.intervalMs);
    });
  };
  loop();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await current.catch(() => undefined);
      await announcer
        .withdraw("stopping")
        .catch((e: unknown) => log.warn("withdraw.failed", { error: (e as Error).message }));
      etcd.close();
    },
  };
});
