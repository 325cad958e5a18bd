// A local volume's snapshot and restore, against a plain copy of the same directory in the same run:
// a volume of N MiB (files of 1 MiB in its fs/) is snapshotted through the EC2 API (moto, whose local
// EBS data side copies the directory) and a volume is made from that snapshot (a second copy), as
// `devcluster volume restore` does; the baseline is `cp -a` of the same directory, twice.
//   npx tsx bench/volumeSnapshot.ts [--mib 256] [--runs 5]
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ec2Volumes } from "../functions/adapters/aws/ec2Volumes.ts";
import { ec2VolumeSnapshots } from "../functions/adapters/aws/ec2VolumeSnapshots.ts";
import { pollUntil } from "../functions/domain/poll.ts";
import { reserveLoopbackBlock } from "../local/loopback.ts";
import { LOCAL_REGION, startMoto } from "../local/moto.ts";
import { localVolumeDir } from "../local/volumes.ts";
import { median, out } from "./lib.ts";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { mib: { type: "string" }, runs: { type: "string" } } });
const MIB = Number(values.mib ?? 256);
const RUNS = Number(values.runs ?? 5);

const block = reserveLoopbackBlock();
const dir = mkdtempSync(join(tmpdir(), "devcluster-bench-vs-"));
const moto = await startMoto({ host: block.address(1), dir });
Object.assign(process.env, moto.env);
try {
  const ec2 = new EC2Client({ region: LOCAL_REGION });
  const cluster = `bvs${process.pid}`;
  const volumes = ec2Volumes(ec2, cluster);
  const snapshots = ec2VolumeSnapshots(ec2, cluster);
  const v = await volumes.create({
    unit: "db@1.service",
    service: "db",
    instance: "db@1",
    volume: "data",
    sizeGiB: 1,
    path: "/srv/db-1",
    zone: `${LOCAL_REGION}a`,
  });
  // The volume's directory as the node stand-ins lay it out, filled with N MiB of incompressible data.
  const vol = localVolumeDir(dir, v.id);
  mkdirSync(join(vol, "fs"), { recursive: true });
  writeFileSync(join(vol, ".devcluster-volume"), `${v.id}\n`);
  writeFileSync(join(vol, "fstype"), "ext4\n");
  for (let i = 0; i < MIB; i++) writeFileSync(join(vol, "fs", `f${i}`), randomBytes(1 << 20));
  const [api, copy]: [number[], number[]] = [[], []];
  for (let run = 0; run < RUNS; run++) {
    let t = performance.now();
    const s = await snapshots.create(v);
    const done = await pollUntil(
      async () =>
        (await snapshots.list()).find((x) => x.id === s.id)?.state === "completed" ? true : undefined,
      { timeoutMs: 120_000, intervalMs: 20 },
    );
    if (!done) throw new Error(`snapshot ${s.id} did not complete`);
    const made = await snapshots.createFrom({ ...s, state: "completed" }, v, v.zone, `bench-${run}`);
    api.push(performance.now() - t);
    rmSync(localVolumeDir(dir, made.id), { recursive: true, force: true });
    await snapshots.delete(s.id);
    t = performance.now();
    for (const n of ["a", "b"]) {
      execFileSync("cp", ["-a", "--reflink=auto", join(vol, "fs"), join(dir, `copy-${n}`)]);
    }
    copy.push(performance.now() - t);
    for (const n of ["a", "b"]) rmSync(join(dir, `copy-${n}`), { recursive: true, force: true });
  }
  const [a, c] = [median(api), median(copy)];
  out(`volume of ${MIB} MiB, ${RUNS} runs (medians):`);
  out(`  snapshot + volume from it (EC2 API, moto's local EBS copies): ${a.toFixed(0)} ms`);
  out(`  baseline, cp -a --reflink=auto twice (as moto's copies):     ${c.toFixed(0)} ms`);
  out(`  ratio: ${(a / c).toFixed(2)}x`);
} finally {
  await moto.stop();
  rmSync(dir, { recursive: true, force: true });
}
