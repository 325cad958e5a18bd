// etcd PKI and TLS costs, each measured against its baseline in the same run:
// - worker launch (the lifecycle handler, real etcd + moto + local runner, units pushed) with and
//   without the node certificate step (key and CSR on the node, signing, install), interleaved;
// - snapshot stream throughput from a member serving TLS with client-certificate authentication vs
//   one serving plain http, same data, runs interleaved (the etcd v3 Snapshot RPC, what the snapshot
//   function streams to S3);
// - and the snapshot function itself on each member (`takeSnapshot` with the function's adapters:
//   status and health, the stream hashed into S3 in moto, the manifest), interleaved the same way.
//   npx tsx bench/tls.ts [--samples 20] [--mb 64] [--runs 5]
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Etcd3 } from "etcd3";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { startMoto } from "../local/moto.ts";
import { nodeDir, prepareLocalNode, stopNodeProcessesUnder } from "../local/node.ts";
import { spawnEtcd } from "../local/etcd.ts";
import { createLocalCommands } from "../local/commands.ts";
import { handleLifecycle } from "../functions/operations/lifecycle.ts";
import { issueNodeCertificate } from "../functions/operations/nodeCertificate.ts";
import { etcdEnv } from "../functions/domain/etcdEnv.ts";
import { etcdClientUrl, etcdTlsClientUrl } from "../functions/domain/model.ts";
import { NODE_PKI_DIR } from "../functions/domain/nodeTls.ts";
import { CONTROL_PLANE_USER, createClientCertificate, createClusterCa } from "../functions/domain/pki.ts";
import type { ClusterPki } from "../functions/ports/pki.ts";
import { pollUntil } from "../functions/domain/poll.ts";
import { createWorld, worldUnitsHook, type World } from "../test/integration/operations/lifecycleWorld.ts";
import { createAwsClients } from "../functions/adapters/aws/clients.ts";
import { takeSnapshot } from "../functions/operations/snapshot.ts";
import { createWiring, snapshotDeps } from "../functions/runtime/snapshotWiring.ts";
import { createBucket, testConfig } from "../test/integration/operations/snapshotCluster.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SAMPLES = arg("samples", 20);
const MB = arg("mb", 64);
const RUNS = arg("runs", 5);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const quiet = { info() {}, warn() {}, error() {}, debug() {} } as never;

async function launches(w: World, pki: ClusterPki) {
  const ids = await w.scaleTo("worker", SAMPLES * 2);
  const plain: number[] = [];
  const withCert: number[] = [];
  for (const [i, id] of ids.entries()) {
    const cert = i % 2 === 1; // interleaved, so load drifts hit both alike
    const deps = { ...w.deps, pki: cert ? pki : undefined };
    const t0 = performance.now();
    const r = await handleLifecycle(w.event("launch", "worker", id), deps, w.log);
    (cert ? withCert : plain).push(performance.now() - t0);
    if (r.result !== "CONTINUE") throw new Error(`launch ${id}: ${JSON.stringify(r)}`);
  }
  return { plain, withCert };
}

async function snapshotThroughput(dir: string, ips: { plain: string; tls: string }, pki: ClusterPki) {
  const ca = await pki.ca();
  const cp = await pki.controlPlaneClient();
  // The TLS member's certificate, issued the launch's way on its node directory.
  const root = join(dir, "snap");
  const id = "i-0cc0000000000d001";
  prepareLocalNode(root, id, "main");
  await issueNodeCertificate(
    { commands: createLocalCommands({ root }), pki, now: () => new Date(), commandTimeoutSeconds: 30 },
    { instanceId: id, privateIp: ips.tls },
    quiet,
  );
  const members = [
    { name: "plain", ip: ips.plain, tlsDir: undefined },
    { name: id, ip: ips.tls, tlsDir: join(nodeDir(root, id), NODE_PKI_DIR) },
  ];
  const procs = members.map((m) => {
    const data = join(dir, `etcd-${m.name}`);
    mkdirSync(data, { recursive: true });
    const env = etcdEnv({
      name: m.name,
      ip: m.ip,
      dataDir: join(data, "data"),
      initialCluster: [{ name: m.name, ip: m.ip }],
      state: "new",
      token: `bench-${m.name}`,
      tlsDir: m.tlsDir,
    });
    return spawnEtcd({ ...env, ETCD_QUOTA_BACKEND_BYTES: String(4 * 1024 ** 3) }, data);
  });
  // The snapshot adapter's window (functions/adapters/etcd/snapshots.ts), so the stream is not round-trip bound.
  const window = { "grpc-node.flow_control_window": 4 * 1024 * 1024 } as Record<string, number>;
  const clients = {
    plain: new Etcd3({ hosts: [etcdClientUrl(ips.plain)], grpcOptions: window }),
    tls: new Etcd3({
      hosts: [etcdTlsClientUrl(ips.tls)],
      grpcOptions: window,
      credentials: {
        rootCertificate: Buffer.from(ca.certPem),
        certChain: Buffer.from(cp.certPem),
        privateKey: Buffer.from(cp.keyPem),
      },
    }),
  };
  try {
    for (const c of Object.values(clients)) {
      const up = await pollUntil(
        () =>
          c
            .put("/bench/probe")
            .value("x")
            .then(
              () => true,
              () => undefined,
            ),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      if (!up) throw new Error("a bench member did not start");
    }
    // Same data in both: MB of 64 KiB values.
    const value = Buffer.alloc(64 * 1024, 7);
    for (const c of Object.values(clients))
      for (let i = 0; i < MB * 16; i += 32)
        await Promise.all(
          Array.from({ length: 32 }, (_, j) =>
            c.put(`/bench/k${String(i + j).padStart(6, "0")}`).value(value),
          ),
        );
    const one = async (c: Etcd3) => {
      const t0 = performance.now();
      let bytes = 0;
      // The gRPC stream: an object-mode Readable of SnapshotResponse messages.
      const stream = (await c.maintenance.snapshot()) as unknown as Readable;
      for await (const m of stream) bytes += (m as { blob: Buffer }).blob.length;
      return { ms: performance.now() - t0, bytes };
    };
    const plain: number[] = [];
    const tls: number[] = [];
    let size = 0;
    for (let r = 0; r < RUNS; r++) {
      const a = await one(clients.plain);
      const b = await one(clients.tls);
      size = b.bytes;
      plain.push(a.bytes / 1024 ** 2 / (a.ms / 1000));
      tls.push(b.bytes / 1024 ** 2 / (b.ms / 1000));
    }
    // The snapshot function on each member: what an operator waits for, the stream into S3 included.
    const bucket = "bench-tls-snapshots";
    await createBucket(createAwsClients(), bucket);
    const cfg = testConfig({ SNAPSHOT_BUCKET: bucket, GROUP_MAIN: "bench-main", CLUSTER_NAME: "benchtls" });
    const deps = snapshotDeps(createWiring(cfg, { resolveSrv: null, etcdTls: async () => cp }), quiet);
    const fn = { plain: [] as number[], tls: [] as number[] };
    for (let r = 0; r < RUNS; r++)
      for (const [k, ip] of [
        ["plain", etcdClientUrl(ips.plain)],
        ["tls", etcdTlsClientUrl(ips.tls)],
      ] as const) {
        const t0 = performance.now();
        const snap = await takeSnapshot(deps, { endpoints: [ip] });
        fn[k].push(snap.size / 1024 ** 2 / ((performance.now() - t0) / 1000));
      }
    return { plain, tls, size, fn };
  } finally {
    for (const c of Object.values(clients)) c.close();
    await Promise.all(procs.map((p) => p.stop()));
  }
}

async function main() {
  const block = reserveLoopbackBlock();
  const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-tls-"));
  const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
  Object.assign(process.env, moto.env);
  const ca = await createClusterCa("bench", new Date());
  const cp = { ...(await createClientCertificate(ca, CONTROL_PLANE_USER, new Date())), caPem: ca.certPem };
  // In memory: the SSM round trip happens once per container (cold start), not per launch.
  const pki: ClusterPki = { ca: async () => ca, controlPlaneClient: async () => cp };
  let w: World | undefined;
  const out: string[] = [];
  try {
    w = await createWorld({ prefix: block.prefix, root: dir, name: `benchtls${process.pid}` });
    w.deps.units = worldUnitsHook(w);
    const mains = await w.scaleTo("main", 3);
    await Promise.all(mains.map((id) => handleLifecycle(w!.event("launch", "main", id), w!.deps, w!.log)));
    const l = await launches(w, pki);
    const p50 = { plain: pct(l.plain, 50), cert: pct(l.withCert, 50) };
    out.push(
      `worker launch p50: ${p50.plain.toFixed(0)} ms without the certificate step, ${p50.cert.toFixed(0)} ms with it (${(p50.cert / p50.plain).toFixed(2)}x); p95 ${pct(l.plain, 95).toFixed(0)} / ${pct(l.withCert, 95).toFixed(0)} ms; ${SAMPLES} launches each, interleaved`,
    );
    const s = await snapshotThroughput(dir, { plain: block.address(60), tls: block.address(61) }, pki);
    const med = { plain: pct(s.plain, 50), tls: pct(s.tls, 50) };
    out.push(
      `snapshot stream (${(s.size / 1024 ** 2).toFixed(1)} MiB): ${med.plain.toFixed(0)} MiB/s plain, ${med.tls.toFixed(0)} MiB/s over TLS with a client certificate (${(med.tls / med.plain).toFixed(2)}x); median of ${RUNS} interleaved runs; runs plain ${s.plain.map((x) => x.toFixed(0)).join(", ")}, TLS ${s.tls.map((x) => x.toFixed(0)).join(", ")}`,
    );
    const fnMed = { plain: pct(s.fn.plain, 50), tls: pct(s.fn.tls, 50) };
    out.push(
      `snapshot function (etcd -> S3 in moto, hashed, manifest): ${fnMed.plain.toFixed(0)} MiB/s plain, ${fnMed.tls.toFixed(0)} MiB/s over TLS (${(fnMed.tls / fnMed.plain).toFixed(2)}x); median of ${RUNS} interleaved runs; runs plain ${s.fn.plain.map((x) => x.toFixed(0)).join(", ")}, TLS ${s.fn.tls.map((x) => x.toFixed(0)).join(", ")}`,
    );
  } finally {
    w?.close();
    await stopNodeProcessesUnder(dir);
    await moto.stop();
    block.release();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(out.join("\n"));
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
