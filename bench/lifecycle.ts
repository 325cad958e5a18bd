// Lifecycle bench: AWS API calls per event by type (counted by an SDK middleware on every client the
// handlers use, plus the CompleteLifecycleAction call the port stands for), handler latency p50/p95,
// and a burst of 100 worker launches with Route 53 limited to 5 requests/s by a throttling proxy on
// loopback (AWS_ENDPOINT_URL_ROUTE_53 points the SDK at it; moto serves everything else).
//   npx tsx bench/lifecycle.ts [--samples 30] [--burst 100]
import { createServer, request as httpRequest, type Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Route53Client } from "@aws-sdk/client-route-53";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { stopNodeProcessesUnder } from "../local/node.ts";
import { handleLifecycle } from "../functions/operations/lifecycle.ts";
import { route53Dns } from "../functions/adapters/aws/route53Dns.ts";
import { awsGroups } from "../functions/adapters/aws/groups.ts";
import { createWorld, worldUnitsHook, type World } from "../test/integration/operations/lifecycleWorld.ts";
import type { Role } from "../functions/domain/model.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SAMPLES = arg("samples", 30);
const ONLY_BURST = process.argv.includes("--only-burst");
const BURST = arg("burst", 100);

type Counts = Map<string, number>;
const counts: Counts = new Map();
let counting = false;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function countCalls(client: { middlewareStack: { add: (...a: any[]) => void } }, service: string) {
  client.middlewareStack.add(
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (next: any, ctx: any) => async (args: any) => {
      if (counting) {
        const k = `${service}:${String(ctx.commandName).replace(/Command$/, "")}`;
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      return next(args);
    },
    { step: "finalizeRequest", name: `count-${service}` }, // after retries' build: one per HTTP attempt
  );
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function measure(
  w: World,
  label: string,
  role: Role,
  kind: "launch" | "terminate",
  ids: string[],
  out: string[],
) {
  const lat: number[] = [];
  let calls = 0;
  const breakdown: Counts = new Map();
  for (const id of ids) {
    counts.clear();
    const completes = w.actions.completions.length;
    counting = true;
    const t0 = performance.now();
    const r = await handleLifecycle(w.event(kind, role, id), w.deps, w.log);
    lat.push(performance.now() - t0);
    counting = false;
    if (r.result !== "CONTINUE") throw new Error(`${label}: ${JSON.stringify(r)}`);
    const n = [...counts.values()].reduce((a, b) => a + b, 0) + (w.actions.completions.length - completes);
    calls += n;
    for (const [k, v] of counts) breakdown.set(k, (breakdown.get(k) ?? 0) + v);
  }
  const per = [...breakdown].map(([k, v]) => `${k} ${(v / ids.length).toFixed(1)}`).join(", ");
  process.stderr.write(`${label} done\n`);
  out.push(
    `| ${label} | ${ids.length} | ${(calls / ids.length).toFixed(1)} (${per}, autoscaling:CompleteLifecycleAction 1.0) | ${pct(lat, 50).toFixed(0)} | ${pct(lat, 95).toFixed(0)} |`,
  );
}

/** A proxy that lets `perSecond` requests through (token bucket) and answers the rest like Route 53 does. */
function throttlingProxy(host: string, port: number, target: string, perSecond: number) {
  const stats = { requests: 0, passed: 0, throttled: 0 };
  let tokens = perSecond;
  let last = Date.now();
  const t = new URL(target);
  const server: Server = createServer((req, res) => {
    stats.requests++;
    const now = Date.now();
    tokens = Math.min(perSecond, tokens + ((now - last) / 1000) * perSecond);
    last = now;
    if (tokens < 1) {
      stats.throttled++;
      req.resume();
      res.writeHead(400, { "content-type": "text/xml" });
      res.end(
        '<?xml version="1.0"?>\n<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>bench</RequestId></ErrorResponse>',
      );
      return;
    }
    tokens -= 1;
    stats.passed++;
    const up = httpRequest(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  return {
    stats,
    listen: () => new Promise<void>((r) => server.listen(port, host, r)),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function main() {
  const block = reserveLoopbackBlock();
  const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-"));
  const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
  Object.assign(process.env, moto.env);
  const out: string[] = [];
  let w: World | undefined;
  try {
    w = await createWorld({ prefix: block.prefix, root: dir, name: `bench${process.pid}` });
    // As deployed: units are pushed to a launching node before its action completes (through the local
    // runner here; on AWS that push is one SendCommand plus its result polls per batch of 50 nodes).
    if (!process.argv.includes("--no-units")) w.deps.units = worldUnitsHook(w);
    countCalls(w.aws.autoscaling, "autoscaling");
    countCalls(w.aws.ec2, "ec2");
    countCalls(w.route53, "route53");
    // Form the cluster (not measured), then measure each event type.
    const mains = await w.scaleTo("main", 3);
    await Promise.all(mains.map((id) => handleLifecycle(w!.event("launch", "main", id), w!.deps, w!.log)));

    out.push(
      "| event | samples | AWS API calls per event | p50 ms | p95 ms |",
      "| --- | --- | --- | --- | --- |",
    );
    if (!ONLY_BURST) {
      const workers = await w.scaleTo("worker", SAMPLES);
      await measure(w, "worker launch", "worker", "launch", workers, out);
      const datas = await w.scaleTo("data", 5);
      await measure(w, "data launch", "data", "launch", datas, out);
      const tw = workers.slice(0, Math.min(10, workers.length));
      for (const id of tw) await w.terminate("worker", id);
      await measure(w, "worker terminate", "worker", "terminate", tw, out);
      // main launch: one at a time (each later launch first promotes the previous learner).
      const extra = await w.scaleTo("main", 5);
      await measure(w, "main launch (learner add + start settings)", "main", "launch", extra, out);
      for (const id of extra) await w.terminate("main", id);
      await measure(w, "main terminate (member remove)", "main", "terminate", extra, out);
    }

    // Burst: 100 worker launches at once, Route 53 at 5 req/s through the proxy.
    const proxyPort = 5353;
    const proxy = throttlingProxy(block.address(2), proxyPort, moto.endpoint, 5);
    await proxy.listen();
    process.env.AWS_ENDPOINT_URL_ROUTE_53 = `http://${block.address(2)}:${proxyPort}`;
    // The SDK resolves the endpoint per request: the variable stays set for the whole burst.
    const limited = new Route53Client({ maxAttempts: 1 });
    const dns = route53Dns(limited, w.zoneId);
    const burstDeps = {
      ...w.deps,
      dns,
      groups: awsGroups(w.aws),
      timing: { ...w.deps.timing, dnsDeadlineMs: 180_000 },
    };
    const before = (await w.ids("worker")).length;
    const fresh = await w.scaleTo("worker", before + BURST);
    const t0 = performance.now();
    const results = await Promise.all(
      fresh.map((id) => handleLifecycle(w!.event("launch", "worker", id), burstDeps, w!.log)),
    );
    const handlersMs = performance.now() - t0;
    delete process.env.AWS_ENDPOINT_URL_ROUTE_53;
    const errors = new Map<string, number>();
    for (const r of results) if (r.error) errors.set(r.error, (errors.get(r.error) ?? 0) + 1);
    const recs = await w.records();
    const names = new Set(recs.map((r) => r.name));
    const lost = fresh.filter((id) => !names.has(`${id}.${w!.domain}.`)).length;
    const failed = results.filter((r) => r.result !== "CONTINUE").length;
    await proxy.close();
    out.push(
      "",
      `Burst: ${BURST} worker launches at once, Route 53 limited to 5 req/s`,
      "",
      "| figure | value |",
      "| --- | --- |",
      `| time until every handler completed and every record is in the zone | ${(handlersMs / 1000).toFixed(1)} s |`,
      `| Route 53 requests sent (passed / throttled) | ${proxy.stats.requests} (${proxy.stats.passed} / ${proxy.stats.throttled}) |`,
      `| ChangeResourceRecordSets / ListResourceRecordSets attempts (adapter) | ${dns.stats.calls} calls, ${dns.stats.retries} retries |`,
      `| records lost | ${lost} |`,
      `| handlers not CONTINUE | ${failed} |`,
      ...[...errors].map(([e, n]) => `| error (${n}x) | ${e.slice(0, 160)} |`),
    );
    await new Promise<void>((r) => process.stdout.write(out.join("\n") + "\n", () => r()));
  } finally {
    w?.close();
    await stopNodeProcessesUnder(dir);
    await moto.stop();
    block.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
