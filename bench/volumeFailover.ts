// Failover of a unit with a volume against one without, in the same local cluster: each round, for
// each of the two in turn, pushes a catalog with that unit, kills the node running it and times
// kill -> its container running again on another node (for the volume unit: its volume attached and
// mounted there, and written to). The lifecycle syncs with the deployed catalog, which lacks these
// probes, so the catalog is pushed again right after the kill, as the test does; that push is in
// the time. Prints each sample, the medians, and the ratio volume / plain.
//   npx tsx bench/volumeFailover.ts [--rounds 3]
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EC2Client } from "@aws-sdk/client-ec2";
import { readCatalogDir } from "../functions/catalog/index.ts";
import { ec2Volumes } from "../functions/adapters/aws/ec2Volumes.ts";
import { pollUntil } from "../functions/domain/poll.ts";
import { attach, down, kill, status, up } from "../local/cluster/cluster.ts";
import { readState } from "../local/cluster/state.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { LOCAL_REGION } from "../local/moto.ts";
import { localVolumeDir } from "../local/volumes.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { rounds: { type: "string" } } });
const ROUNDS = Number(values.rounds ?? 3);
const out = (l: string) => process.stdout.write(l + "\n");
const quiet = () => {};

/** The same container with and without a volume; either may run on any node, so a zone keeps one. */
const unit = (volume: boolean) =>
  "[Unit]\nDescription=failover probe\n\n[Service]\nEnvironmentFile=-/etc/devcluster/node.env\n" +
  "ExecStartPre=-/usr/bin/docker rm -f %p-%i\n" +
  `ExecStart=/usr/bin/docker run --rm --name %p-%i --net host -u 0 -e NODE_ID=\${INSTANCE_ID} ${volume ? "-v /srv/%p-%i:/data " : ""}` +
  `--entrypoint /bin/sh {{image:hello}} -c '${volume ? "printenv NODE_ID >>/data/starts; " : ""}exec sleep infinity'\n` +
  "ExecStop=/usr/bin/docker stop -t 1 %p-%i\nRestart=always\nRestartSec=2s\n\n[Install]\nWantedBy=multi-user.target\n\n" +
  "[X-Fleet]\nMachineMetadata=role=worker\nMachineMetadata=role=main\n\n[X-Devcluster]\nInstances=1\n" +
  (volume ? "Volume=data:1:/srv/%p-%i\n" : "");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-volfail-"));
const dir = join(base, "cluster");
try {
  await up(dir, { main: 3, workers: 2, data: 0, prefix: block.prefix }, quiet);
  const state = readState(dir)!;
  const { fns } = await attach(dir);
  const catalogWith = (name: "plain" | "keeper") => ({
    ...readCatalogDir(),
    [`${name}@.service`]: unit(name === "keeper"),
  });
  const volumes = ec2Volumes(
    new EC2Client({ endpoint: state.motoEndpoint, region: LOCAL_REGION, credentials: state.admin }),
    state.clusterName,
  );
  const runningOn = async (name: string, not?: string) => {
    const s = await status(dir);
    const n = s.nodes.find(
      (x) =>
        x.up &&
        x.units.some((u) => u.name === `${name}@1.service` && u.state === "active") &&
        x.containers.some((c) => c.name === `${name}-1` && c.state === "running"),
    );
    return n && n.id !== not ? n : undefined;
  };
  const starts = async () => {
    const v = (await volumes.list()).find((x) => x.instance === "keeper@1");
    const f = v && join(localVolumeDir(dir, v.id), "fs/starts");
    return f && existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  };
  const samples: Record<string, number[]> = { plain: [], keeper: [] };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of ["plain", "keeper"] as const) {
      await fns.units({ catalog: catalogWith(name), confirm: true });
      const from = await pollUntil(() => runningOn(name), { timeoutMs: 180_000, intervalMs: 500 });
      if (!from) throw new Error(`${name}@1 is not running`);
      const before = (await starts()).length;
      const t = performance.now();
      await kill(dir, from.id, quiet);
      await fns.units({ catalog: catalogWith(name), confirm: true });
      const to = await pollUntil(
        async () => {
          const n = await runningOn(name, from.id);
          // The volume unit counts as back once its container wrote to the volume on the new node.
          if (n && name === "keeper" && (await starts()).length <= before) return undefined;
          return n;
        },
        { timeoutMs: 300_000, intervalMs: 250 },
      );
      const s = (performance.now() - t) / 1000;
      if (!to) throw new Error(`${name}@1 did not come back after ${from.id} was killed`);
      samples[name]!.push(s);
      out(
        `round ${round} ${name}: ${from.id} (${from.role}, ${from.zone}) killed -> running on ${to.id} (${to.role}, ${to.zone}) in ${s.toFixed(1)} s`,
      );
    }
  }
  const p = median(samples.plain!);
  const k = median(samples.keeper!);
  out(
    `median kill -> running again: without a volume ${p.toFixed(1)} s, with a volume ${k.toFixed(1)} s (ratio ${(k / p).toFixed(2)})`,
  );
} finally {
  await down(dir, quiet).catch(() => {});
  block.release();
  rmSync(base, { recursive: true, force: true });
}
