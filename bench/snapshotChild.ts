// The snapshot function as the Lambda bundle runs it (bench/snapshot.ts bundles this with esbuild and
// runs it in a child process to measure its peak RSS). Prints one JSON line.
import { loadConfig } from "../functions/runtime/config.ts";
import { createLogger } from "../functions/runtime/log.ts";
import { takeSnapshot } from "../functions/operations/snapshot.ts";
import { createWiring, snapshotDeps } from "../functions/runtime/wiring.ts";

// argv[2]: an endpoint (standing in for the discovery record, which needs a DNS server), or "group"
// to find the members through the main group's instances (the fallback that loads the EC2 client).
const endpoint = process.argv[2]!;
const deps = snapshotDeps(createWiring(loadConfig()), createLogger());
deps.resolveSrv = async () => {
  throw new Error("no DNS server in local mode");
};
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const s = await takeSnapshot(deps, endpoint === "group" ? {} : { endpoints: [endpoint] });
const ms = performance.now() - t0;
process.stdout.write(
  JSON.stringify({ ms, size: s.size, id: s.id, rssBefore, maxRss: process.resourceUsage().maxRSS * 1024 }) +
    "\n",
);
process.exit(0);
