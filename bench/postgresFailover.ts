// Failover of the catalog's Postgres in a local cluster: the node running postgres@1 is killed, and
// the time runs until its client (notes, through its ambassador) reads every committed row from the
// database on another node, the volume moved there. Each round also restarts postgres@1 in place
// (what `devcluster restart` runs: same node, same volume, no move) as the baseline, in the same
// cluster.
// While a kill is handled, a watcher notes when each step is first seen: the lifecycle answered
// (kill handled), the volume attached to the new node (EC2), mounted there (node ledger), the
// container running (podman), Postgres accepting connections on the node's address, presence's
// election of the new master, and the first good answer through the ambassador.
//   npx tsx bench/postgresFailover.ts [--rounds 3] [--rows 100]
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseArgs } from "node:util";
import { EC2Client } from "@aws-sdk/client-ec2";
import { Etcd3 } from "etcd3";
import { ec2Volumes } from "../functions/adapters/aws/ec2Volumes.ts";
import { etcdClientUrl } from "../functions/domain/model.ts";
import { unitVerbScript } from "../functions/domain/operatorScripts.ts";
import { createLocalCommands } from "../local/commands.ts";
import { pollUntil, sleep } from "../functions/domain/poll.ts";
import { down, kill, status, up } from "../local/cluster/cluster.ts";
import { addNote, databaseNode, listNotes, notesAddress } from "../local/cluster/database.ts";
import { readState } from "../local/cluster/state.ts";
import { CONTAINERS_CONF } from "../local/containers.ts";
import { reserveLocalClusterPrefix } from "../local/loopback.ts";
import { LOCAL_REGION } from "../local/moto.ts";
import { readLedger } from "../local/volumes.ts";

process.env.DEVCLUSTER_LOG ??= "silent";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { values } = parseArgs({ options: { rounds: { type: "string" }, rows: { type: "string" } } });
const ROUNDS = Number(values.rounds ?? 3);
const ROWS = Number(values.rows ?? 100);
const out = (l: string) => process.stdout.write(l + "\n");
const quiet = () => {};
const run = promisify(execFile);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host, port, timeout: 1000 });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
    s.once("timeout", () => (s.destroy(), resolve(false)));
  });

/** The node directory whose podman container postgres-1 runs, by podman's own labels. */
async function postgresContainerRoot(): Promise<string[]> {
  const { stdout } = await run(
    "podman",
    ["ps", "--filter", "label=devcluster.name=postgres-1", "--format", '{{index .Labels "devcluster.root"}}'],
    { env: { ...process.env, CONTAINERS_CONF } },
  );
  return stdout.split("\n").filter(Boolean);
}

const block = reserveLocalClusterPrefix();
const base = mkdtempSync(join(tmpdir(), "devcluster-bench-pgfail-"));
const dir = join(base, "cluster");
try {
  const tUp = performance.now();
  await up(dir, { main: 3, workers: 2, data: 0, prefix: block.prefix }, quiet);
  const upS = (performance.now() - tUp) / 1000;
  const state = readState(dir)!;
  const volumes = ec2Volumes(
    new EC2Client({ endpoint: state.motoEndpoint, region: LOCAL_REGION, credentials: state.admin }),
    state.clusterName,
  );
  const ready = async () =>
    pollUntil(
      async () => {
        const s = await status(dir);
        const node = databaseNode(s);
        const at = notesAddress(s);
        return node && at && (await listNotes(at)) ? { node, at, s } : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
  const write = async (at: string, round: number, rows: Map<number, string>) => {
    for (let i = 0; i < ROWS; i++) {
      const body = `round ${round} row ${i}`;
      const id = await addNote(at, body);
      if (id === undefined) throw new Error(`row ${i} not committed`);
      rows.set(id, body);
    }
  };
  const allBack = async (at: string | undefined, rows: Map<number, string>) => {
    const got = at ? await listNotes(at) : undefined;
    if (!got) return false;
    const m = new Map(got.map((r) => [r.id, r.body]));
    for (const [id, body] of rows) if (m.get(id) !== body) throw new Error(`row ${id} lost or changed`);
    return true;
  };
  const first = await ready();
  if (!first) throw new Error("postgres@1 and notes are not answering after up");
  out(
    `up ${upS.toFixed(1)} s; postgres@1 and notes answering ${((performance.now() - tUp) / 1000 - upS).toFixed(1)} s after up returned`,
  );
  const rows = new Map<number, string>();
  const samples = { restart: [] as number[], failover: [] as number[] };
  const steps: Record<string, number[]> = {};
  for (let round = 1; round <= ROUNDS; round++) {
    // Baseline: the same database restarted in place (no kill, no volume move).
    let r = await ready();
    if (!r) throw new Error("postgres@1 and notes are not answering");
    await write(r.at, round, rows);
    const t0 = performance.now();
    // What `devcluster restart postgres@1.service` runs on its node.
    const [restarted] = await createLocalCommands({ root: dir, containers: true }).run({
      instanceIds: [r.node.id],
      script: unitVerbScript("restart", "postgres@1.service"),
      comment: "bench: restart in place",
      timeoutSeconds: 120,
    });
    if (restarted?.status !== "Success") throw new Error(`restart failed: ${restarted?.stderr ?? ""}`);
    // The restarted server refuses connections while it stops: wait until the old one is gone.
    await pollUntil(async () => !(await accepts(r!.node.address, 5432)) || undefined, {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const at = r.at;
    const inPlace = await pollUntil(async () => (await allBack(at, rows)) || undefined, {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    if (!inPlace) throw new Error("postgres@1 did not answer after a restart in place");
    const restartS = (performance.now() - t0) / 1000;
    samples.restart.push(restartS);

    // The failover: the node running it is killed.
    r = await ready();
    if (!r) throw new Error("postgres@1 and notes are not answering");
    await write(r.at, round, rows);
    const from = r.node;
    const vol = (await volumes.list()).find((v) => v.instance === "postgres@1")!;
    const endpoints = r.s.nodes
      .filter((n) => n.role === "main" && n.address)
      .map((n) => etcdClientUrl(n.address));
    const etcd = new Etcd3({ hosts: endpoints });
    const seen: Record<string, number> = {};
    let t1 = 0;
    const mark = (k: string) => (seen[k] ??= (performance.now() - t1) / 1000);
    let watching = true;
    let newNode: { id: string; address: string } | undefined;
    t1 = performance.now();
    const killed = kill(dir, from.id, quiet).then(() => mark("kill handled (lifecycle, sync, push)"));
    const watcher = (async () => {
      while (watching) {
        const v = (await volumes.list()).find((x) => x.id === vol.id);
        if (v?.attachedTo && v.attachedTo !== from.id) mark("volume attached (EC2)");
        const s = await status(dir).catch(() => undefined);
        const node = s && databaseNode(s);
        if (node && node.id !== from.id) newNode = node;
        if (newNode) {
          const mount = readLedger(dir).find(
            (e) => e.op === "mount" && e.volume === vol.id && e.node === newNode!.id,
          );
          if (mount)
            seen["volume mounted"] ??= (Date.parse(mount.time) - (performance.timeOrigin + t1)) / 1000;
          if ((await postgresContainerRoot()).some((root) => root.endsWith(`/nodes/${newNode!.id}`)))
            mark("container running");
          if (await accepts(newNode.address, 5432)) mark("postgres accepting");
          const master = await etcd
            .get("/services/postgres/master")
            .string()
            .catch(() => null);
          if (master?.includes(newNode.address)) mark("presence elected");
          if (await allBack(s && notesAddress(s), rows)) {
            mark("every row read through the ambassador");
            return;
          }
        }
        await sleep(100);
      }
    })();
    const done = await pollUntil(async () => seen["every row read through the ambassador"], {
      timeoutMs: 300_000,
      intervalMs: 100,
    });
    watching = false;
    await Promise.all([killed, watcher]);
    etcd.close();
    if (done === undefined) throw new Error(`postgres@1 did not come back after ${from.id} was killed`);
    samples.failover.push(done);
    for (const [k, t] of Object.entries(seen)) (steps[k] ??= []).push(t);
    out(
      `round ${round}: restart in place ${restartS.toFixed(1)} s; kill ${from.id} (${from.zone}) -> ${rows.size} rows read on ${newNode?.id} in ${done.toFixed(1)} s (` +
        Object.entries(seen)
          .sort((a, b) => a[1] - b[1])
          .map(([k, t]) => `${k} ${t.toFixed(1)}`)
          .join(", ") +
        ")",
    );
  }
  const rs = median(samples.restart);
  const fs = median(samples.failover);
  out(
    `medians (s from the kill, first seen): ${Object.entries(steps)
      .map(([k, ts]) => `${k} ${median(ts).toFixed(1)}`)
      .join(", ")}`,
  );
  out(
    `median: restart in place ${rs.toFixed(1)} s, node killed -> every row read on the new node ${fs.toFixed(1)} s (ratio ${(fs / rs).toFixed(2)})`,
  );
} finally {
  await down(dir, quiet).catch(() => {});
  block.release();
  rmSync(base, { recursive: true, force: true });
}
