// The scripted demo (the README's first command): a whole cluster's life on one machine, each step
// checked; it exits non-zero if any step fails, and always tears the cluster down.
import { DevclusterError } from "../../functions/domain/errors.ts";
import { localEtcdClient } from "./etcdTls.ts";
import { attach, down, kill, killAllMain, scale, status, up } from "./cluster.ts";
import { waitForAnswer } from "./frontdoor.ts";
import type { Progress } from "./driver.ts";
import { formatStatus } from "./status.ts";
import { addNote, databaseNode, listNotes, notesAddress } from "./database.ts";
import { pollUntil } from "../../functions/domain/poll.ts";

const KEYS = 200;
const ROWS = 100;

export async function runDemo(
  dir: string,
  print: (l: string) => void,
  progress: Progress,
  opts: { prefix?: string; etcdTls?: boolean } = {},
): Promise<number> {
  const t0 = Date.now();
  let step = 0;
  const stepStart = (what: string) =>
    print(`\n[${++step}] ${what}  (+${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new DevclusterError(`check failed: ${what}`);
    progress(`ok: ${what}`);
  };
  /** An operator's client of the main nodes' members (with the control plane's certificate on TLS). */
  const mainClient = async () =>
    localEtcdClient(
      (await attach(dir)).state,
      (await status(dir)).nodes.filter((n) => n.role === "main" && n.address).map((n) => n.address),
    );
  try {
    stepStart(
      "bring a cluster up: 3 main nodes (etcd), 2 workers, their containers (images built or reused)",
    );
    await up(
      dir,
      { main: 3, workers: 2, data: 0, prefix: opts.prefix, ...(opts.etcdTls ? { etcdTls: true } : {}) },
      progress,
    );
    let s = await status(dir);
    check(
      s.etcd.members.length === 3 && s.etcd.members.every((m) => m.healthy && !m.learner),
      "3 healthy etcd voters",
    );
    check(
      s.nodes.every((n) => s.dns.some((r) => r.type === "A" && r.values.includes(n.address))),
      "an A record for every node",
    );

    const host = `hello.${(await attach(dir)).state.domain}`;
    stepStart(`the sample service answers through the front door as ${host}`);
    const helloNode = () => s.services.find((x) => x.name === "hello")?.instances[0]?.node;
    const first = await waitForAnswer(
      async () => {
        s = await status(dir);
        const on = helloNode();
        // A front door on another worker than the one running hello: it must survive the kill.
        const door = s.nodes.find(
          (n) =>
            n.role === "worker" &&
            n.up &&
            n.id !== on &&
            n.units.some((u) => u.name.startsWith("nginx@") && u.state === "active"),
        );
        return on && door ? { address: door.address, avoid: "" } : undefined;
      },
      host,
      60_000,
    );
    check(/^hello from hello@1 on i-/.test(first.body), `${first.body.trim()} (front door ${first.address})`);
    const servedBy = first.body.trim().split(" on ")[1]!;

    stepStart(
      `kill ${servedBy}, the worker running hello; time until the front door answers from another node`,
    );
    const killedAt = Date.now();
    const killing = kill(dir, servedBy, progress);
    const again = await waitForAnswer(
      async () => ({ address: first.address, avoid: servedBy }),
      host,
      60_000,
    );
    const failoverS = (Date.now() - killedAt) / 1000;
    await killing;
    check(
      !again.body.includes(servedBy),
      `${again.body.trim()} after ${failoverS.toFixed(1)} s (front door ${first.address})`,
    );
    print(
      `  failover: ${failoverS.toFixed(1)} s from the kill to the first good answer through the front door`,
    );

    stepStart(`write ${ROWS} rows into Postgres through its client service (notes)`);
    const db = await pollUntil(
      async () => {
        s = await status(dir);
        const node = databaseNode(s);
        const at = notesAddress(s);
        return node && at && (await listNotes(at)) ? { node, at } : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1_000 },
    );
    check(db !== undefined, "postgres@1 running, notes answering through its ambassador");
    const rows = new Map<number, string>();
    for (let i = 0; i < ROWS; i++) {
      const body = `demo row ${i}`;
      const id = await addNote(db!.at, body);
      if (id === undefined) throw new DevclusterError(`check failed: row ${i} was not committed`);
      rows.set(id, body);
    }
    check(rows.size === ROWS, `${ROWS} rows committed on ${db!.node.id} (${db!.node.zone})`);

    stepStart(`kill ${db!.node.id}, the node running the database; its volume follows it`);
    const dbKilledAt = Date.now();
    await kill(dir, db!.node.id, progress);
    const moved = await pollUntil(
      async () => {
        s = await status(dir);
        const node = databaseNode(s);
        const at = notesAddress(s);
        if (!node || node.id === db!.node.id || !at) return undefined;
        const got = await listNotes(at);
        return got ? { node, got } : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 500 },
    );
    const dbFailoverS = (Date.now() - dbKilledAt) / 1000;
    check(moved !== undefined, "postgres@1 answering again on another node");
    check(
      moved!.node.zone === db!.node.zone,
      `moved to ${moved!.node.id}, in the same zone (${moved!.node.zone})`,
    );
    const volume = s.volumes.find((v) => v.service === "postgres" && v.instance === "postgres@1");
    check(volume?.node === moved!.node.id, `its volume ${volume?.id ?? "?"} attached there`);
    const back = new Map(moved!.got.map((r) => [r.id, r.body]));
    const same = [...rows].filter(([id, body]) => back.get(id) === body).length;
    check(same === ROWS, `${same}/${ROWS} rows read back`);
    print(
      `  database failover: ${dbFailoverS.toFixed(1)} s from the kill to every row read back on ${moved!.node.id}`,
    );

    stepStart(`write ${KEYS} keys into etcd`);
    const client = await mainClient();
    try {
      for (let i = 0; i < KEYS; i++)
        await client.put(`/demo/key-${String(i).padStart(4, "0")}`).value(`value-${i}`);
    } finally {
      client.close();
    }
    progress(`wrote /demo/key-0000 .. /demo/key-${String(KEYS - 1).padStart(4, "0")}`);

    stepStart("scale workers from 2 to 4");
    await scale(dir, "worker", 4, progress);
    s = await status(dir);
    check(s.nodes.filter((n) => n.role === "worker").length === 4, "4 workers registered");

    stepStart("take a snapshot to S3");
    const { fns } = await attach(dir);
    const snap = (await fns.snapshot()) as { id?: string; keyCount?: number };
    progress(`snapshot ${brief(snap)}`);
    s = await status(dir);
    check(s.snapshots.length >= 1, "a valid snapshot is listed");

    stepStart("kill every etcd member at once (SIGKILL)");
    await killAllMain(dir, progress);
    s = await status(dir);
    check(!s.etcd.reachable, "no etcd member answers");

    stepStart("restore from the latest snapshot");
    const summary = await fns.restore({ snapshot: "latest", confirm: s.cluster });
    progress(`restore: ${brief(summary)}`);
    s = await status(dir);
    check(
      s.etcd.members.length === 3 && s.etcd.members.every((m) => m.healthy),
      "3 healthy members after restore",
    );

    stepStart("read every key back");
    const after = await mainClient();
    try {
      const got = await after.getAll().prefix("/demo/").strings();
      let same = 0;
      for (let i = 0; i < KEYS; i++)
        if (got[`/demo/key-${String(i).padStart(4, "0")}`] === `value-${i}`) same++;
      check(same === KEYS, `${same}/${KEYS} keys back with their values`);
    } finally {
      after.close();
    }
    print("\n" + formatStatus(s));
    print(`\ndemo passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    print(`\ndemo FAILED at step ${step}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    stepStart("tear the cluster down");
    await down(dir, progress);
  }
}

/** A function result on one line: its scalar fields whole, lists and objects by their size (never cut mid-value). */
export function brief(result: unknown): string {
  if (typeof result !== "object" || result === null) return String(result);
  return Object.entries(result)
    .map(([k, v]) => {
      if (Array.isArray(v)) return `${k}: ${v.length} item${v.length === 1 ? "" : "s"}`;
      if (typeof v === "object" && v !== null) return `${k}: {${Object.keys(v).length} fields}`;
      return `${k}: ${String(v)}`;
    })
    .join(", ");
}
