// File drop upload throughput: a file sent as the page sends it (the service plans the upload and
// presigns one URL per part, the parts go straight to S3 with the page's part size and parallelism,
// the service completes it, checks the size and mails the link) against a direct multipart upload of
// the same bytes to the same S3 (moto, IAM enforced, the SDK with the same part size and
// parallelism, the administrator's keys), alternated in the same run. The service is the bundled
// program (.build/containers/filedrop/main.mjs, what its image runs) on a loopback address.
//   npx tsx bench/filedrop.ts [--mib 256] [--rounds 3]
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { SESClient, VerifyEmailIdentityCommand } from "@aws-sdk/client-ses";
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { Etcd3 } from "etcd3";
import { startEtcdCluster } from "../local/etcd.ts";
import { pollUntil } from "../functions/domain/poll.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { assumeRoles, makeRoleEvaluable, startMoto } from "../local/moto.ts";
import { templateRoleStatements } from "../test/rig/roles.ts";
import { median, out } from "./lib.ts";

const { values } = parseArgs({ options: { mib: { type: "string" }, rounds: { type: "string" } } });
const MIB = 1024 * 1024;
const SIZE = Number(values.mib ?? 256) * MIB;
const ROUNDS = Number(values.rounds ?? 3);
/** The page's defaults (containers/filedrop/src/main.ts): 16 MiB parts, 4 at a time. */
const PART = 16 * MIB;
const PARALLEL = 4;
const BUCKET = "bench-filedrop";
const CLUSTER = "bench";
const SENDER = "filedrop@bench.test";

const dir = mkdtempSync(join(tmpdir(), "bench-filedrop-"));
const block = reserveLoopbackBlock();
const moto = await startMoto({ host: block.address(1), dir: join(dir, "moto") });
const region = "eu-west-1";
const admin = { endpoint: moto.endpoint, region, credentials: moto.admin };
const s3 = new S3Client({ ...admin, forcePathStyle: true });
// The service trusts X-Remote-User from announced front doors only: the bench's requests leave from
// 127.0.0.1 (the kernel's source for any 127.x destination), announced as one.
const etcdCluster = await startEtcdCluster({
  ips: [block.address(11)],
  dir: join(dir, "etcd"),
  token: `bench-${process.pid}`,
});
{
  const etcd = new Etcd3({ hosts: etcdCluster.endpoints });
  await etcd.put("/services/nginx/instances/nginx@1.service").value(
    JSON.stringify({
      service: "nginx",
      instance: "nginx@1.service",
      privateIp: "127.0.0.1",
      port: 80,
      ports: { http: 80 },
    }),
  );
  etcd.close();
}
let child: ReturnType<typeof spawn> | undefined;
try {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await new SESClient(admin).send(new VerifyEmailIdentityCommand({ EmailAddress: SENDER }));
  // The service runs as the nodes' role, as on a node.
  const iam = new IAMClient({ ...admin, region: "us-east-1" });
  const role = await iam.send(
    new CreateRoleCommand({
      RoleName: "bench-node",
      AssumeRolePolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
        ],
      }),
    }),
  );
  await iam.send(
    new PutRolePolicyCommand({
      RoleName: "bench-node",
      PolicyName: "node",
      PolicyDocument: JSON.stringify({
        Version: "2012-10-17",
        Statement: templateRoleStatements("node", { bucket: BUCKET, cluster: CLUSTER, sender: SENDER }),
      }),
    }),
  );
  await makeRoleEvaluable(moto, "bench-node");
  const node = (await assumeRoles(moto, { n: role.Role!.Arn! })).n!;

  const program = join(".build", "containers", "filedrop", "main.mjs");
  if (!existsSync(program))
    execFileSync("npx", ["tsx", "scripts/build-containers.ts", "filedrop"], { stdio: "inherit" });
  const ip = block.address(2);
  const port = 18_197;
  const started = performance.now();
  child = spawn("node", [program], {
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      PATH: process.env.PATH,
      LISTEN_ADDRESS: ip,
      PORT: String(port),
      ROLE: "app",
      CLUSTER_NAME: CLUSTER,
      BUCKET,
      SENDER,
      LINK_BASE_URL: `http://${ip}:18198`,
      ETCD_ENDPOINTS: etcdCluster.endpoints.join(","),
      MAX_FILE_BYTES: String(SIZE),
      AWS_REGION: region,
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_ACCESS_KEY_ID: node.accessKeyId,
      AWS_SECRET_ACCESS_KEY: node.secretAccessKey,
      AWS_SESSION_TOKEN: node.sessionToken ?? "",
    },
  });
  const base = `http://${ip}:${port}`;
  const up = await pollUntil(
    // Up, and it has read the front doors (a signed-in request is served).
    async () =>
      (await fetch(`${base}/api/limits`, { headers: { "x-remote-user": "bench" } }).catch(() => undefined))
        ?.ok
        ? true
        : undefined,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  if (!up) throw new Error("the file drop did not start");
  const startMs = performance.now() - started;

  const data = randomBytes(SIZE);
  const parts = Math.ceil(SIZE / PART);
  const slice = (n: number) => data.subarray((n - 1) * PART, n * PART);
  /** Run `send(partNumber)` for every part, PARALLEL at a time; the ETags in order. */
  const pool = async (send: (n: number) => Promise<string>) => {
    const etags: string[] = new Array(parts);
    let next = 1;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next <= parts) {
          const n = next++;
          etags[n - 1] = await send(n);
        }
      }),
    );
    return etags;
  };
  const json = { "content-type": "application/json", "x-remote-user": "bench" };

  const viaDrop = async () => {
    const t0 = performance.now();
    const r = await fetch(`${base}/api/uploads`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "bench.bin", size: SIZE, recipients: ["to@bench.test"] }),
    });
    if (r.status !== 201) throw new Error(`create: ${r.status} ${await r.text()}`);
    const plan = (await r.json()) as { id: string; parts: { partNumber: number; url: string }[] };
    const etags = await pool(async (n) => {
      const p = await fetch(plan.parts[n - 1]!.url, { method: "PUT", body: slice(n) });
      if (!p.ok) throw new Error(`part ${n}: ${p.status}`);
      return p.headers.get("etag")!;
    });
    const c = await fetch(`${base}/api/uploads/${plan.id}/complete`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })) }),
    });
    if (!c.ok) throw new Error(`complete: ${c.status} ${await c.text()}`);
    return performance.now() - t0;
  };

  const direct = async (round: number) => {
    const t0 = performance.now();
    const Key = `direct/${round}`;
    const mp = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key }));
    const etags = await pool(
      async (n) =>
        (
          await s3.send(
            new UploadPartCommand({
              Bucket: BUCKET,
              Key,
              UploadId: mp.UploadId,
              PartNumber: n,
              Body: slice(n),
            }),
          )
        ).ETag!,
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key,
        UploadId: mp.UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    return performance.now() - t0;
  };

  // One unmeasured round each warms moto and both clients.
  await viaDrop();
  await direct(0);
  const drop: number[] = [];
  const plain: number[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    drop.push(await viaDrop());
    plain.push(await direct(i));
  }
  const mibps = (ms: number) => (SIZE / MIB / (ms / 1000)).toFixed(1);
  const d = median(drop);
  const p = median(plain);
  out(
    `file drop upload, ${SIZE / MIB} MiB in ${parts} parts of ${PART / MIB} MiB, ${PARALLEL} at a time, ${ROUNDS} rounds`,
  );
  out(`  through the file drop (presigned parts): median ${d.toFixed(0)} ms = ${mibps(d)} MiB/s`);
  out(`  direct multipart upload (SDK):           median ${p.toFixed(0)} ms = ${mibps(p)} MiB/s`);
  out(`  ratio (file drop throughput / direct): ${(p / d).toFixed(2)}x (goal >= 0.8x)`);
  // What the service costs a cluster: from start to healthy, and its resident memory after the runs.
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1];
  out(
    `  service: healthy ${startMs.toFixed(0)} ms after start; resident memory ${(Number(rss) / 1024).toFixed(0)} MiB`,
  );
} finally {
  child?.kill("SIGTERM");
  await moto.stop();
  await etcdCluster.stop();
  block.release();
  rmSync(dir, { recursive: true, force: true });
}
